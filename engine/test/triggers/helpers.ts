// Test helpers for the trigger service: a real HTTP webhook receiver on 127.0.0.1, a settable
// clock, and metadata builders.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestDatabase } from '@org-credits/db/testing';
import type pg from 'pg';
import { type CronTrigger, type EventTrigger, emptyMetadata, type Metadata } from '../../src/metadata/types.ts';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as sent. */
  body: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface Receiver {
  url: string;
  port: number;
  requests: Received[];
  /** How the next requests are answered (default 200 `{}`); may wait on a promise. */
  reply: (request: Received) => Reply | Promise<Reply>;
  /** Resolves with the next request to arrive. */
  nextRequest(): Promise<Received>;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const waiting: ((r: Received) => void)[] = [];
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests: [],
    reply: () => ({ status: 200, body: '{}' }),
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const received: Received = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      receiver.requests.push(received);
      for (const resolve of waiting.splice(0)) resolve(received);
      const reply = await receiver.reply(received);
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.body ?? '{}');
    });
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}`;
  return receiver;
}

/** A port on 127.0.0.1 where nothing listens (a webhook that is down). */
export async function closedPort(): Promise<number> {
  const r = await startReceiver();
  await r.close();
  return r.port;
}

export class Clock {
  constructor(public current: Date) {}
  now = () => this.current;
  set(iso: string) {
    this.current = new Date(iso);
  }
  advanceSeconds(seconds: number) {
    this.current = new Date(this.current.getTime() + seconds * 1000);
  }
}

export function metadataWith(
  options: { cron?: CronTrigger[]; tables?: { schema?: string; name: string; event_triggers?: EventTrigger[] }[] } = {},
): Metadata {
  const metadata = emptyMetadata();
  metadata.sources[0]!.tables = (options.tables ?? []).map((t) => ({
    table: { schema: t.schema ?? 'public', name: t.name },
    ...(t.event_triggers ? { event_triggers: t.event_triggers } : {}),
  }));
  if (options.cron) metadata.cron_triggers = options.cron;
  return metadata;
}

/** Collects the service's structured log entries. */
export function logSink() {
  const entries: Record<string, unknown>[] = [];
  return { entries, log: (entry: Record<string, unknown>) => void entries.push(entry) };
}

/**
 * A test database whose pools tolerate teardown: dropping the database cuts connections that
 * pg's `pool.end()` has asked to close but not yet closed, and pg reports that as an idle-client
 * `error` event on the pool — an uncaught exception when nobody listens.
 */
export function tolerateTeardown(db: TestDatabase): TestDatabase {
  const quiet = (pool: pg.Pool) => {
    pool.on('error', () => undefined);
    return pool;
  };
  quiet(db.pool);
  return { ...db, newPool: (max?: number) => quiet(db.newPool(max)) };
}
