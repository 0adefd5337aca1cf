#!/usr/bin/env tsx
// `pnpm bench:engine`: the dashboard query (an org's balance with its 20 latest ledger entries, as a
// member, through the user role's row filter) through the engine over HTTP with a JWT, beside the
// same SQL statements the engine compiles sent straight through `pg` — p50/p99 latency and
// throughput at 1 and 16 connections. Starts its own embedded Postgres (migrated and seeded) in a
// temporary folder and the engine as a separate process, prints a markdown table, and stops.
//
// BENCH_SECONDS (default 5) sets the time of each cell.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { freePort, pg, repoRoot } from '@org-credits/db';
import { configFromEnv } from '../../engine/src/config.ts';
import { EngineCore } from '../../engine/src/engine.ts';
import { compileStatements } from '../../engine/src/graphql/plan.ts';
import { startBenchDatabase } from './database.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connectionCounts = [1, 16];
const JWT_KEY = 'bench-jwt-key-that-is-at-least-thirty-two-characters';
const ADMIN_SECRET = 'bench-admin-secret';

const QUERY = `query Dashboard($org: uuid!) {
  organization_credit_balances(where: {organization_id: {_eq: $org}}) {
    available_credits reserved_credits balance_credits next_expiry_at
  }
  credit_ledger_entries(order_by: {created_at: desc}, limit: 20) {
    id entry_type amount_credits balance_after_credits description created_at
  }
}`;

interface Cell {
  path: 'engine (HTTP + JWT)' | 'direct SQL (pg)' | 'direct SQL (pg, prepared)';
  connections: number;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** A compact HS256 JWT (the engine verifies it with jose). */
function signHs256(payload: Record<string, unknown>, key: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

async function measure(
  connections: number,
  once: () => Promise<void>,
): Promise<{ requests: number; perSecond: number; p50: number; p99: number }> {
  // Warm up (plan cache, connections).
  for (let i = 0; i < 50; i += 1) await once();
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await once();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

function post(agent: Agent, port: number, body: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/graphql',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function waitForHealth(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (child.exitCode !== null) throw new Error(`engine exited with ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return;
    } catch {
      // not yet listening
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('engine did not become healthy');
}

const database = await startBenchDatabase('bench_engine');
let engine: ChildProcess | undefined;
try {
  const url = database.url;
  const db = new pg.Pool({ connectionString: url, max: 16 });
  // A member's org with at least 20 ledger entries (grants added when the seeds have fewer).
  const member = (
    await db.query<{ organization_id: string; user_id: string }>(
      'select organization_id, user_id from public.organization_members order by created_at limit 1',
    )
  ).rows[0];
  if (!member) throw new Error('the seeds have no organization member');
  for (let i = 0; i < 25; i += 1) {
    await db.query(`select public.grant_credits($1, 1.5, 'promotion', $2)`, [member.organization_id, `bench-grant-${i}`]);
  }
  const env = {
    ...process.env,
    HASURA_GRAPHQL_DATABASE_URL: url,
    HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
    HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: JWT_KEY }),
    HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
    ORG_CREDITS_ENGINE_METADATA_DIR: join(repoRoot, 'hasura', 'metadata'),
    ACTIONS_BASE_URL: 'http://127.0.0.1:1',
  };
  const port = await freePort();
  engine = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'engine', 'src', 'main.ts')], {
    env: { ...env, HASURA_GRAPHQL_SERVER_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForHealth(port, engine);

  const claims = {
    'x-hasura-allowed-roles': ['user'],
    'x-hasura-default-role': 'user',
    'x-hasura-user-id': member.user_id,
    'x-hasura-org-id': member.organization_id,
  };
  const token = signHs256({ 'https://hasura.io/jwt/claims': claims, exp: Math.floor(Date.now() / 1000) + 7200 }, JWT_KEY);
  const body = JSON.stringify({ query: QUERY, variables: { org: member.organization_id }, operationName: 'Dashboard' });
  const answer = JSON.parse(await post(new Agent({ keepAlive: true }), port, body, { authorization: `Bearer ${token}` })) as {
    data?: { credit_ledger_entries: unknown[] };
    errors?: unknown;
  };
  if (answer.data?.credit_ledger_entries.length !== 20) throw new Error(`unexpected answer: ${JSON.stringify(answer).slice(0, 500)}`);

  // The same SQL the engine runs: compile the operation with the engine's own compiler.
  const core = new EngineCore(configFromEnv(env), db, () => undefined);
  await core.start();
  const statements = compileStatements(
    { model: core.model, role: 'user', isAdmin: false, stringifyNumeric: true, backendOnly: false },
    QUERY,
    'Dashboard',
    { org: member.organization_id },
    { 'x-hasura-role': 'user', 'x-hasura-user-id': member.user_id, 'x-hasura-org-id': member.organization_id },
  );
  const direct = await Promise.all(statements.map((s) => db.query(s)));
  if (direct.some((r) => !r.rows[0]?.root)) throw new Error('direct SQL returned nothing');

  const cells: Cell[] = [];
  for (const connections of connectionCounts) {
    const agent = new Agent({ keepAlive: true, maxSockets: connections });
    const viaEngine = await measure(connections, async () => {
      await post(agent, port, body, { authorization: `Bearer ${token}` });
    });
    cells.push({ path: 'engine (HTTP + JWT)', connections, ...viaEngine });
    const viaPg = await measure(connections, async () => {
      await Promise.all(statements.map((s) => db.query(s)));
    });
    cells.push({ path: 'direct SQL (pg)', connections, ...viaPg });
    // The engine prepares its statements (the metadata says use_prepared_statements: true): the same here.
    const viaPrepared = await measure(connections, async () => {
      await Promise.all(statements.map((s, i) => db.query({ name: `bench_${i}`, ...s })));
    });
    cells.push({ path: 'direct SQL (pg, prepared)', connections, ...viaPrepared });
    agent.destroy();
  }
  await db.end();

  const lines = [
    `dashboard query: balance + 20 latest ledger entries as role user (row filter), ${seconds}s per cell`,
    '',
    '| path | connections | requests | req/s | p50 ms | p99 ms |',
    '|---|---:|---:|---:|---:|---:|',
    ...cells.map(
      (c) => `| ${c.path} | ${c.connections} | ${c.requests} | ${c.perSecond.toFixed(0)} | ${c.p50.toFixed(2)} | ${c.p99.toFixed(2)} |`,
    ),
    '',
  ];
  for (const connections of connectionCounts) {
    const e = cells.find((c) => c.connections === connections && c.path.startsWith('engine')) as Cell;
    for (const path of ['direct SQL (pg)', 'direct SQL (pg, prepared)'] as const) {
      const d = cells.find((c) => c.connections === connections && c.path === path) as Cell;
      lines.push(
        `${connections} connection(s) vs ${path}: engine p50 = ${(e.p50 / d.p50).toFixed(2)}× (goal ≤ 1.5×), throughput = ${((e.perSecond / d.perSecond) * 100).toFixed(0)}% (goal ≥ 60%)`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  if (engine && engine.exitCode === null) {
    const exited = new Promise((resolve) => engine?.once('exit', resolve));
    engine.kill('SIGTERM');
    await exited;
  }
  await database.stop();
}
