#!/usr/bin/env tsx
// `pnpm bench:subscriptions`: 1,000 WebSocket subscribers (graphql-transport-ws, one connection each,
// role `user` with a JWT per member) to the balance of their org, across 100 orgs of 10 members, on
// the engine started as a separate process with the project's metadata. Reports:
//   - SQL statements per refetch interval (the engine's poller counter from /healthz?verbose=true),
//     beside the distinct queries × roles (goal: at most one statement per query and role per interval);
//   - the time from a committed change (grant_credits on one org) to every affected subscriber's
//     update, in ms and in intervals (goal: p99 under 1.5 intervals);
//   - the engine's memory per subscriber (RSS and heap growth with the subscribers connected).
// Starts its own embedded Postgres in a temporary folder, prints a markdown table, and stops;
// BENCH_TIMEOUT_SECONDS (default 300) bounds the whole run.
//
// BENCH_SUBSCRIBERS (1000), BENCH_ORGS (100), BENCH_ROUNDS (20: changes, each to BENCH_ORGS_PER_ROUND=5 orgs),
// BENCH_INTERVAL_MS (1000, the engine's HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL),
// BENCH_BATCH_SIZE (1000, HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_BATCH_SIZE; Hasura's default is 100).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { freePort, pg, repoRoot } from '@org-credits/db';
import { WebSocket } from 'ws';
import { startBenchDatabase } from './database.ts';

const env = process.env;
const SUBSCRIBERS = Number(env.BENCH_SUBSCRIBERS ?? 1000);
const ORGS = Number(env.BENCH_ORGS ?? 100);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 20);
const ORGS_PER_ROUND = Number(env.BENCH_ORGS_PER_ROUND ?? 5);
const INTERVAL_MS = Number(env.BENCH_INTERVAL_MS ?? 1000);
const BATCH_SIZE = Number(env.BENCH_BATCH_SIZE ?? 1000);
const TIMEOUT_S = Number(env.BENCH_TIMEOUT_SECONDS ?? 300);
const JWT_KEY = 'bench-jwt-key-that-is-at-least-thirty-two-characters';
const ADMIN_SECRET = 'bench-admin-secret';

const QUERY = `subscription Balance {
  organization_credit_balances { organization_id available_credits balance_credits }
}`;

function signHs256(payload: Record<string, unknown>, key: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

interface Verbose {
  subscriptions: { connections: number; pollers: number; cohorts: number; subscribers: number; statements: number };
  process: { rss_bytes: number; heap_used_bytes: number };
}

async function verbose(port: number): Promise<Verbose> {
  return (await (await fetch(`http://127.0.0.1:${port}/healthz?verbose=true`)).json()) as Verbose;
}

async function waitForHealth(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    if (child.exitCode !== null) throw new Error(`engine exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) return;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('engine did not become healthy');
}

interface Subscriber {
  org: string;
  socket: WebSocket;
  /** The latest available_credits seen, and waiters for the next change. */
  last: string | null;
  onChange: ((value: string, at: number) => void) | null;
}

function subscribe(port: number, org: string, user: string): Promise<Subscriber> {
  const token = signHs256(
    {
      'https://hasura.io/jwt/claims': {
        'x-hasura-allowed-roles': ['user'],
        'x-hasura-default-role': 'user',
        'x-hasura-user-id': user,
        'x-hasura-org-id': org,
      },
      exp: Math.floor(Date.now() / 1000) + 3600,
    },
    JWT_KEY,
  );
  const socket = new WebSocket(`ws://127.0.0.1:${port}/v1/graphql`, 'graphql-transport-ws');
  const sub: Subscriber = { org, socket, last: null, onChange: null };
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.on('open', () =>
      socket.send(JSON.stringify({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${token}` } } })),
    );
    socket.on('message', (raw) => {
      const at = performance.now();
      const m = JSON.parse(raw.toString()) as {
        type: string;
        payload?: { data?: { organization_credit_balances: { available_credits: string }[] } };
      };
      if (m.type === 'connection_ack') socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: QUERY } }));
      else if (m.type === 'ping') socket.send('{"type":"pong"}');
      else if (m.type === 'next') {
        const rows = m.payload?.data?.organization_credit_balances;
        if (rows?.length !== 1) return reject(new Error(`unexpected answer: ${raw.toString().slice(0, 300)}`));
        const value = (rows[0] as { available_credits: string }).available_credits;
        const first = sub.last === null;
        sub.last = value;
        if (first) resolve(sub);
        else sub.onChange?.(value, at);
      } else if (m.type === 'error') reject(new Error(`subscription refused: ${raw.toString().slice(0, 300)}`));
    });
  });
}

const timeout = setTimeout(() => {
  process.stderr.write(`bench:subscriptions: over ${TIMEOUT_S}s, stopping\n`);
  process.exit(1);
}, TIMEOUT_S * 1000);
timeout.unref();

const database = await startBenchDatabase('bench_subscriptions');
let engine: ChildProcess | undefined;
const sockets: WebSocket[] = [];
try {
  const url = database.url;
  const db = new pg.Pool({ connectionString: url, max: 8 });
  // 100 orgs of 10 members (the organizations trigger creates each balance row).
  const perOrg = Math.ceil(SUBSCRIBERS / ORGS);
  const members: { org: string; user: string }[] = [];
  for (let o = 0; o < ORGS; o += 1) {
    const org = randomUUID();
    await db.query('insert into public.organizations (id, name, slug) values ($1, $2, $3)', [
      org,
      `Bench ${o}`,
      `bench-${o}-${org.slice(0, 8)}`,
    ]);
    await db.query(`select public.grant_credits($1, 100, 'promotion', $2)`, [org, `bench-start-${o}`]);
    for (let m = 0; m < perOrg && members.length < SUBSCRIBERS; m += 1) {
      const user = randomUUID();
      await db.query('insert into public.users (id, email, display_name) values ($1, $2, $3)', [
        user,
        `b${o}-${m}@bench.test`,
        `B ${o} ${m}`,
      ]);
      await db.query(`insert into public.organization_members (organization_id, user_id, role) values ($1, $2, 'member')`, [org, user]);
      members.push({ org, user });
    }
  }

  const port = await freePort();
  engine = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'engine', 'src', 'main.ts')], {
    env: {
      ...env,
      HASURA_GRAPHQL_DATABASE_URL: url,
      HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: JWT_KEY }),
      HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
      HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL: String(INTERVAL_MS),
      HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_BATCH_SIZE: String(BATCH_SIZE),
      HASURA_GRAPHQL_ENABLED_LOG_TYPES: 'startup',
      HASURA_GRAPHQL_SERVER_PORT: String(port),
      ORG_CREDITS_ENGINE_METADATA_DIR: join(repoRoot, 'hasura', 'metadata'),
      ACTIONS_BASE_URL: 'http://127.0.0.1:1',
      ACTION_SECRET: 'bench-action-secret',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForHealth(port, engine);
  const before = await verbose(port);

  // Connect in waves of 100 so the engine's accept queue stays short.
  const subs: Subscriber[] = [];
  const connectStarted = performance.now();
  for (let i = 0; i < members.length; i += 100) {
    const wave = await Promise.all(members.slice(i, i + 100).map((m) => subscribe(port, m.org, m.user)));
    for (const s of wave) {
      subs.push(s);
      sockets.push(s.socket);
    }
  }
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  const connected = await verbose(port);

  // Statements per interval over a quiet window of 5 intervals.
  const windowStart = performance.now();
  const statementsBefore = (await verbose(port)).subscriptions.statements;
  await new Promise((r) => setTimeout(r, 5 * INTERVAL_MS));
  const statementsAfter = (await verbose(port)).subscriptions.statements;
  const intervals = (performance.now() - windowStart) / INTERVAL_MS;
  const statementsPerInterval = (statementsAfter - statementsBefore) / intervals;

  // Commit a change to a few orgs, then time every affected subscriber's update.
  const byOrg = new Map<string, Subscriber[]>();
  for (const s of subs) byOrg.set(s.org, [...(byOrg.get(s.org) ?? []), s]);
  const orgs = [...byOrg.keys()];
  const latencies: number[] = [];
  let missed = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const chosen = orgs.slice((round * ORGS_PER_ROUND) % orgs.length, ((round * ORGS_PER_ROUND) % orgs.length) + ORGS_PER_ROUND);
    const waits: Promise<void>[] = [];
    const committedAt = new Map<string, number>();
    for (const org of chosen) {
      for (const s of byOrg.get(org) ?? []) {
        waits.push(
          new Promise<void>((resolve) => {
            const limit = setTimeout(() => {
              missed += 1;
              s.onChange = null;
              resolve();
            }, 10 * INTERVAL_MS);
            s.onChange = (_value, at) => {
              clearTimeout(limit);
              s.onChange = null;
              latencies.push(at - (committedAt.get(org) as number));
              resolve();
            };
          }),
        );
      }
    }
    await Promise.all(
      chosen.map(async (org) => {
        await db.query(`select public.grant_credits($1, 1, 'promotion', $2)`, [org, `bench-round-${round}-${org}`]);
        committedAt.set(org, performance.now());
      }),
    );
    await Promise.all(waits);
    // A pause that is not a multiple of the interval, so changes land at every phase of the poll.
    await new Promise((r) => setTimeout(r, INTERVAL_MS * (0.3 + (round % 7) / 10)));
  }
  const after = await verbose(port);
  await db.end();

  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  const max = latencies[latencies.length - 1] ?? Number.NaN;
  const rssPer = (connected.process.rss_bytes - before.process.rss_bytes) / subs.length;
  const heapPer = (connected.process.heap_used_bytes - before.process.heap_used_bytes) / subs.length;
  const lines = [
    `subscriptions: ${subs.length} WebSocket subscribers (role user, JWT each) to one balance query across ${byOrg.size} orgs;`,
    `refetch interval ${INTERVAL_MS} ms, batch size ${BATCH_SIZE}; connected in ${connectSeconds.toFixed(1)} s`,
    '',
    '| measure | value | goal |',
    '|---|---:|---|',
    `| distinct queries × roles (pollers) | ${connected.subscriptions.pollers} | |`,
    `| cohorts (distinct variables + session variables read) | ${connected.subscriptions.cohorts} | |`,
    `| SQL statements per interval | ${statementsPerInterval.toFixed(2)} | ≤ ${connected.subscriptions.pollers} (one per query and role) |`,
    `| change → update, p50 | ${p50.toFixed(0)} ms (${(p50 / INTERVAL_MS).toFixed(2)} intervals) | |`,
    `| change → update, p99 | ${p99.toFixed(0)} ms (${(p99 / INTERVAL_MS).toFixed(2)} intervals) | < 1.5 intervals |`,
    `| change → update, max | ${max.toFixed(0)} ms | |`,
    `| updates measured / missed (none within 10 intervals) | ${latencies.length} / ${missed} | 0 missed |`,
    `| engine RSS per subscriber | ${(rssPer / 1024).toFixed(1)} KiB | |`,
    `| engine heap per subscriber | ${(heapPer / 1024).toFixed(1)} KiB | |`,
    `| engine RSS with subscribers / heap | ${(connected.process.rss_bytes / 2 ** 20).toFixed(0)} MiB / ${(connected.process.heap_used_bytes / 2 ** 20).toFixed(0)} MiB | |`,
    `| statements in the whole run | ${after.subscriptions.statements} | |`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  for (const s of sockets) s.terminate();
  if (engine && engine.exitCode === null) {
    const exited = new Promise((resolve) => engine?.once('exit', resolve));
    engine.kill('SIGTERM');
    await exited;
  }
  await database.stop();
  clearTimeout(timeout);
}
