#!/usr/bin/env tsx
// The api's share of a metered call, until the engine serves actions (then `pnpm bench:actions`
// measures the whole path through /v1/graphql). In one run, on one embedded Postgres, across 100
// orgs at 32 connections:
//   - direct:  reserve_credits then settle_reservation sent straight to SQL (the same arguments the
//              api passes);
//   - api:     reserveCredits then settleCredits as Hasura would POST them to the api (a child
//              process, role `service`), over HTTP with keep-alive;
//   - healthz: GET /healthz (HTTP + Express + `select 1`), the floor of one api round trip.
// Prints a markdown table. BENCH_SECONDS (default 5) sets the length of each cell.
//
//   pnpm --filter @org-credits/api exec tsx bench/actions-direct.ts
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, freePort, migrate, pg, repoRoot, seed, startDatabaseServer } from '@org-credits/db';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 32;
const ORGS = 100;
const SECRET = 'bench-action-secret-0123456789';
const BENCH_PLAN = 'b0000000-0000-4000-8000-000000000001';
const PRICING = {
  pricing_mode: 'per_token',
  model_id: 'openai/gpt-4.1-nano',
  base_cost_credits: '0.100',
  input_credits_per_1k_tokens: '0.005000',
  output_credits_per_1k_tokens: '0.020000',
};

interface Cell {
  path: string;
  operations: number;
  failures: number;
  perSecond: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function setUp(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // A plan without rate limits, so the benchmark measures the path, not the limiter.
    await client.query(
      `insert into public.plans (id, code, version, name, monthly_allowance_credits, rank, is_active) values ($1, 'bench', 1, 'Benchmark', 0, 99, false)`,
      [BENCH_PLAN],
    );
    await client.query("insert into public.plan_capabilities (plan_id, capability_code) values ($1, 'question_suggestions')", [BENCH_PLAN]);
    await client.query(
      `insert into public.plan_capability_quality_levels (plan_id, capability_code, quality_level_code, model_id)
       values ($1, 'question_suggestions', 'fast', 'openai/gpt-4.1-nano')`,
      [BENCH_PLAN],
    );
    const orgs: string[] = [];
    for (let i = 0; i < ORGS; i++) {
      const id = randomUUID();
      orgs.push(id);
      await client.query('insert into public.organizations (id, name, slug) values ($1, $2, $3)', [id, `Bench ${i}`, `bench-${i}`]);
      await client.query(
        `insert into public.organization_subscriptions (organization_id, plan_id, current_period_start, current_period_end)
         values ($1, $2, now() - interval '1 day', now() + interval '29 days')`,
        [id, BENCH_PLAN],
      );
      await client.query("select public.grant_credits($1, 1000000000, 'promotion', 'bench')", [id]);
    }
    await client.query('vacuum analyze');
    return orgs;
  } finally {
    await client.end();
  }
}

/** Runs `op` from CONNECTIONS workers for `seconds`, timing each. */
async function drive(path: string, op: (worker: number, i: number) => Promise<void>): Promise<Cell> {
  const latencies: number[] = [];
  let failures = 0;
  const until = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, worker) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        try {
          await op(worker, i);
          latencies.push(performance.now() - t);
        } catch (error) {
          failures++;
          if (failures === 1) console.error(`[bench] ${path}: ${(error as Error).message}`);
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    path,
    operations: latencies.length,
    failures,
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`the api exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the api did not become healthy');
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'org-credits-bench-api-'));
  const server = await startDatabaseServer({ dataDir, port: await freePort(), onLog: () => undefined });
  let api: ChildProcess | undefined;
  try {
    const url = await createDatabase(server.adminUrl, 'bench_actions', { replace: true });
    await migrate(url);
    await seed(url);
    const orgs = await setUp(url);
    const orgOf = (worker: number, i: number) => orgs[(worker * 7 + i) % orgs.length]!;

    // Direct: the two SQL calls a client of the ledger makes.
    const pool = new pg.Pool({ connectionString: url, max: CONNECTIONS });
    const direct = await drive('direct SQL (reserve_credits → settle_reservation)', async (worker, i) => {
      const org = orgOf(worker, i);
      const { rows } = await pool.query<{ id: string }>(
        `select id from public.reserve_credits(p_org_id => $1, p_amount => 0.114, p_idempotency_key => $2, p_capability_code => 'question_suggestions',
           p_quality_level_code => 'fast', p_model_id => 'openai/gpt-4.1-nano', p_pricing => $3::jsonb)`,
        [org, randomUUID(), PRICING],
      );
      await pool.query(
        `select 1 from public.settle_reservation(p_reservation_id => $1, p_actual_amount => 0.105, p_org_id => $2,
           p_usage => '{"input_tokens":350,"output_tokens":120,"calls":1}'::jsonb)`,
        [rows[0]!.id, org],
      );
    });
    await pool.end();

    // The api as its own process, as in production.
    const port = await freePort();
    const apiUrl = `http://127.0.0.1:${port}`;
    api = spawn(join(repoRoot, 'node_modules', '.bin', 'tsx'), [join(repoRoot, 'api', 'src', 'main.ts')], {
      env: {
        ...process.env,
        NODE_ENV: 'development',
        PORT: String(port),
        DATABASE_URL: url,
        DATABASE_POOL_SIZE: String(CONNECTIONS),
        ACTION_SECRET: SECRET,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitForHealth(apiUrl, api);
    const action = async (name: string, input: Record<string, unknown>, orgId: string) => {
      const response = await fetch(`${apiUrl}/actions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-org-credits-secret': SECRET },
        body: JSON.stringify({
          action: { name },
          input,
          session_variables: { 'x-hasura-role': 'service', 'x-hasura-org-id': orgId },
          request_query: '',
        }),
      });
      const body = (await response.json()) as Record<string, unknown>;
      if (response.status !== 200) throw new Error(`${name}: HTTP ${response.status} ${JSON.stringify(body)}`);
      return body;
    };
    const healthz = await drive('api GET /healthz (HTTP + select 1)', async () => {
      const response = await fetch(`${apiUrl}/healthz`);
      await response.arrayBuffer();
    });
    const viaApi = await drive('api POST /actions (reserveCredits → settleCredits)', async (worker, i) => {
      const org = orgOf(worker, i);
      const reserved = await action(
        'reserveCredits',
        { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: randomUUID(), inputTokens: 400 },
        org,
      );
      await action('settleCredits', { reservationId: reserved.reservationId, usage: { inputTokens: 350, outputTokens: 120 } }, org);
    });

    const rows = [direct, viaApi, healthz];
    console.log(`\n${ORGS} orgs, ${CONNECTIONS} connections, ${seconds} s a cell, Postgres ${process.env.ORG_CREDITS_PG_MAJOR ?? '18'}\n`);
    console.log('| path | ops | failures | ops/s | p50 ms | p99 ms |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const c of rows) {
      console.log(
        `| ${c.path} | ${c.operations} | ${c.failures} | ${c.perSecond.toFixed(0)} | ${c.p50.toFixed(2)} | ${c.p99.toFixed(2)} |`,
      );
    }
    console.log(`\napi pairs/s as a share of direct: ${((viaApi.perSecond / direct.perSecond) * 100).toFixed(0)}%`);
  } finally {
    if (api && api.exitCode === null) {
      const exited = new Promise((resolve) => api?.once('exit', resolve));
      api.kill('SIGTERM');
      await exited;
    }
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
