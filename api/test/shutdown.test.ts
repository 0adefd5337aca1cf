// Graceful shutdown: requests in flight finish (and settle) after the stop began, new connections
// are refused, /healthz answers 503 to a load balancer still connected, and a request longer than
// the drain is cut with its hold released before the pool ends. The server objects over real HTTP,
// then the real process (src/main.ts) with SIGTERM and an AI vendor of the test's own.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { healthzOnNewConnection, useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import type { AIProvider } from '../src/ai/index.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { AppError } from '../src/errors.ts';
import { ACTION_SECRET, available, createOrg, envelope, startApi } from './helpers.ts';

const db = await useTestDatabase();
const prompt = 'Summarize: the team shipped the billing page and planned the next sprint.';

/** An AI vendor whose calls wait until the test lets them go, and stop when told to (the outer edge). */
function gatedAI() {
  let started: () => void = () => undefined;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const ai: AIProvider = {
    name: 'gated',
    async complete(request) {
      started();
      await new Promise<void>((resolve, reject) => {
        request.signal?.addEventListener('abort', () => reject(new AppError('AI_PROVIDER_ERROR', 'the AI call was stopped')));
        void gate.then(resolve);
      });
      return { text: `answer to: ${request.prompt.slice(0, 20)}`, inputTokens: 20, outputTokens: 10 };
    },
  };
  const called = new Promise<void>((resolve) => {
    started = resolve;
  });
  return { ai, called, release };
}

/** The api's server with `ai` as its AI vendor and a drain of `shutdownDrainMs`. */
const startServer = async (ai: AIProvider, shutdownDrainMs: number) => (await startApi(db, { ai, overrides: { shutdownDrainMs } })).server;

function runPlayground(url: string, session: { userId: string; orgId: string }, idempotencyKey: string) {
  return fetch(`${url}/actions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-org-credits-secret': ACTION_SECRET },
    body: JSON.stringify(
      envelope(
        'runPlayground',
        { capability: 'summarization', qualityLevel: 'enhanced', prompt, idempotencyKey },
        { role: 'user', ...session },
      ),
    ),
  }).then(
    async (res) => ({ status: res.status, body: await res.json() }),
    (error: unknown) => ({ status: 0, body: { error: String(error) } }),
  );
}

async function reservation(idempotencyKey: string) {
  const { rows } = await db.pool.query<{ status: string; charged: string | null }>(
    'select status, settled_amount_credits::text as charged from public.credit_reservations where idempotency_key = $1',
    [idempotencyKey],
  );
  return rows;
}

describe('stop() drains requests in flight', () => {
  it('lets a playground run in flight finish and settle, refuses new connections, answers /healthz 503 on an open one', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const { ai, called, release } = gatedAI();
    const server = await startServer(ai, 10_000);
    const key = randomUUID();
    const run = runPlayground(server.url, org, key);
    await called;
    // A load balancer's connection with a health check under way (its headers not finished yet).
    const probe = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => probe.once('connect', resolve));
    probe.write('GET /healthz HTTP/1.1\r\nHost: api\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const startedAt = Date.now();
    const stopped = server.stop();
    let probeAnswer = '';
    probe.on('data', (chunk: Buffer) => {
      probeAnswer += chunk.toString('utf8');
    });
    const probeClosed = new Promise<void>((resolve) => probe.once('close', () => resolve()));
    probe.write('\r\n');
    await probeClosed;
    expect(probeAnswer).toMatch(/^HTTP\/1\.1 503 /);
    expect(probeAnswer.toLowerCase()).toContain('connection: close');
    expect(probeAnswer).toContain('"ok":false');
    // The stop began: nothing new gets in.
    expect(await healthzOnNewConnection(server.url)).toBe('ECONNREFUSED');
    let done = false;
    void stopped.then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done).toBe(false); // still waiting for the run
    release();
    const answer = await run;
    expect(answer.status).toBe(200);
    expect(answer.body.reservationId).toBeTruthy();
    await stopped;
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(await reservation(key)).toEqual([{ status: 'settled', charged: answer.body.chargedCredits }]);
    expect(server.db.ended).toBe(true);
  });

  it('cuts a request longer than the drain, and its hold is released before the pool ends', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const before = await available(db.pool, org.orgId);
    const { ai, called } = gatedAI(); // never let go
    const server = await startServer(ai, 300);
    const key = randomUUID();
    const run = runPlayground(server.url, org, key);
    await called;
    expect((await reservation(key))[0]?.status).toBe('open');
    const startedAt = Date.now();
    await server.stop();
    const took = Date.now() - startedAt;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3_000);
    expect((await run).status).toBe(0); // the connection was cut
    expect(await reservation(key)).toEqual([{ status: 'released', charged: null }]);
    expect(await available(db.pool, org.orgId)).toBe(before);
  });

  it('with nothing in flight stops at once, idle keep-alive connections included', async () => {
    const server = await startServer(gatedAI().ai, 10_000);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200); // leaves a keep-alive socket open
    const startedAt = Date.now();
    await server.stop();
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });
});

/** An OpenAI-compatible vendor (the outer edge) whose completions wait for the test. */
async function fakeVendor() {
  let calls = 0;
  let started: () => void = () => undefined;
  const called = new Promise<void>((resolve) => {
    started = resolve;
  });
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server: Server = createServer((req, res) => {
    req.resume();
    calls++;
    started();
    void gate.then(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ choices: [{ message: { content: 'a short summary' } }], usage: { prompt_tokens: 20, completion_tokens: 5 } }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/v1`, called, release, calls: () => calls, close: () => server.close() };
}

describe('the api process on SIGTERM', () => {
  it('finishes the run in flight, then exits 0', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const vendor = await fakeVendor();
    const child: ChildProcess = spawn(
      join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'tsx'),
      [join(import.meta.dirname, '..', 'src', 'main.ts')],
      {
        env: {
          ...process.env,
          NODE_ENV: 'test',
          PORT: '0',
          HOST: '127.0.0.1',
          DATABASE_URL: db.url,
          DATABASE_POOL_SIZE: '4',
          ACTION_SECRET,
          OPENAI_API_KEY: 'test-key',
          AI_BASE_URL: vendor.url,
          SHUTDOWN_DRAIN_SECONDS: '10',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString('utf8');
          const found = /listening on (http:\/\/\S+)/.exec(output);
          if (found) resolve(found[1]!);
        });
        void exited.then(() => reject(new Error(`the api exited before listening:\n${output}`)));
      });
      const key = randomUUID();
      const run = runPlayground(url, org, key);
      await vendor.called;
      child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await healthzOnNewConnection(url)).toBe('ECONNREFUSED');
      expect(child.exitCode).toBeNull(); // still draining
      vendor.release();
      const answer = await run;
      expect(answer.status).toBe(200);
      expect(await exited).toBe(0);
      expect(await reservation(key)).toEqual([{ status: 'settled', charged: answer.body.chargedCredits }]);
      expect(output).not.toContain('Cannot use a pool after calling end');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      vendor.close();
    }
  }, 30_000);
});

describe('SHUTDOWN_DRAIN_SECONDS', () => {
  it('defaults to 25 s, takes seconds (fractions too), and refuses what is not 0–600 seconds', () => {
    expect(loadConfig({}).shutdownDrainMs).toBe(25_000);
    expect(loadConfig({ SHUTDOWN_DRAIN_SECONDS: '2.5' }).shutdownDrainMs).toBe(2_500);
    expect(loadConfig({ SHUTDOWN_DRAIN_SECONDS: '0' }).shutdownDrainMs).toBe(0);
    for (const [value, message] of [
      ['-1', 'SHUTDOWN_DRAIN_SECONDS must be at least 0'],
      ['601', 'SHUTDOWN_DRAIN_SECONDS must be at most 600'],
      ['soon', 'SHUTDOWN_DRAIN_SECONDS must be a number'],
    ]) {
      expect(() => loadConfig({ SHUTDOWN_DRAIN_SECONDS: value })).toThrow(ConfigError);
      expect(() => loadConfig({ SHUTDOWN_DRAIN_SECONDS: value })).toThrow(message!);
    }
  });
});
