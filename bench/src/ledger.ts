#!/usr/bin/env tsx
// `pnpm bench:ledger`: reserve -> settle pairs per second and their latency, as two separate calls
// the way a client makes them, on one hot organization and across 100, at 1, 8 and 32
// connections; and, in the same run and on the same server, the limit: single-row UPDATE commits
// per second on one row from one connection (a pair on a hot org needs two such commits, each
// holding the org's lock until it is durable). Starts its own embedded Postgres with default
// durability settings in a temporary folder, prints a markdown table, and stops.
//
// BENCH_SECONDS (default 5) sets the pair time of each cell. The machine may be shared, so each
// cell alternates half-second slices of pairs with quarter-second slices of the limit, and is
// compared with the limit measured alongside it.
//
// BENCH_CALLS=writes, bare or queues runs a control in place of the ledger: the same cells with
// less in each call (see CALLS).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pg, repoRoot } from '@org-credits/db';
import { startBenchDatabase } from './database.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connectionCounts = [1, 8, 32];
const BENCH_PLAN = 'b0000000-0000-4000-8000-000000000001';

interface Cell {
  scenario: 'hot org' | '100 orgs';
  connections: number;
  /** Single-row UPDATE commits/s measured alongside this cell. */
  limit: number;
  pairs: number;
  failures: number;
  pairsPerSecond: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

/**
 * The benchmark plan (question_suggestions at fast, no rate limits, so a benchmark measures the
 * ledger) and `count` organizations on it, each with 1,000,000,000 promotion credits.
 */
export async function createBenchOrgs(client: pg.Client, count: number): Promise<string[]> {
  await client.query(
    `insert into public.plans (id, code, version, name, monthly_allowance_credits, rank, is_active)
     values ($1, 'bench', 1, 'Benchmark', 0, 99, true)`,
    [BENCH_PLAN],
  );
  await client.query(`insert into public.plan_capabilities (plan_id, capability_code) values ($1, 'question_suggestions')`, [BENCH_PLAN]);
  await client.query(
    `insert into public.plan_capability_quality_levels (plan_id, capability_code, quality_level_code, model_id)
     values ($1, 'question_suggestions', 'fast', 'openai/gpt-4.1-nano')`,
    [BENCH_PLAN],
  );
  const orgs: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    orgs.push(id);
    await client.query('insert into public.organizations (id, name, slug) values ($1, $2, $3)', [id, `Bench ${i}`, `bench-${i}`]);
    await client.query(
      `insert into public.organization_subscriptions (organization_id, plan_id, current_period_start, current_period_end)
       values ($1, $2, now() - interval '1 day', now() + interval '29 days')`,
      [id, BENCH_PLAN],
    );
    await client.query(`select public.grant_credits($1, 1000000000, 'promotion', 'bench')`, [id]);
  }
  return orgs;
}

export async function setUp(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const orgs = await createBenchOrgs(client, 101);
    // History, as a system that has been running has: 200 settled reservations per org, so the
    // planner sees tables of a realistic size (on near-empty tables it rightly prefers scans,
    // and plpgsql would keep those plans as the tables grow during the run).
    await client.query(
      `insert into public.credit_reservations
         (organization_id, capability_code, quality_level_code, model_id, idempotency_key, amount_credits, status,
          settled_amount_credits, expires_at, created_at, resolved_at)
       select o.id, 'question_suggestions', 'fast', 'openai/gpt-4.1-nano', 'history-' || n, 1.5, 'settled', 1.25,
         now() - interval '1 day' + interval '10 minutes', now() - interval '1 day', now() - interval '1 day'
       from unnest($1::uuid[]) as o (id), generate_series(1, 200) as n`,
      [orgs],
    );
    await client.query('create table bench_limit (id int primary key, n bigint not null)');
    await client.query('insert into bench_limit values (1, 0)');
    await client.query('vacuum analyze');
    return orgs;
  } finally {
    await client.end();
  }
}

/**
 * What a pair calls (BENCH_CALLS; the default is `ledger`). The others are controls: the same
 * cells, client and machine with less in each call, to show how far any reserve and settle could
 * go here.
 * - `ledger`: reserve_credits and settle_reservation.
 * - `writes`: only the writes a pair cannot do without, on the ledger's tables as they are
 *   (bench/pgbench/writes.sql).
 * - `bare`: `writes` with those five tables' CHECKs, foreign keys and triggers dropped.
 * - `queues`: the ledger's two queues with one row update each (bench/pgbench/queues.sql).
 *
 * The reserve's arguments are (org, amount, idempotency key), the settle's (the reserve's `id`,
 * actual amount, org); `reserveValues` and `settleValues` pick those a statement uses.
 */
interface PairCalls {
  title: string;
  reserve: string;
  settle: string;
  reserveValues?: (org: string, amount: string, key: string) => string[];
  settleValues?: (id: string, amount: string, org: string) => string[];
}
const WRITES = {
  reserve: 'select writes_reserve($1, $2, $3) as id',
  settle: 'select writes_settle($1, $2, $3) as status',
};
const CALLS = {
  ledger: {
    title: 'reserve_credits -> settle_reservation',
    reserve: `select id from public.reserve_credits($1, $2, $3, p_capability_code => 'question_suggestions', p_quality_level_code => 'fast')`,
    settle: 'select status from public.settle_reservation($1, $2, p_org_id => $3)',
  },
  writes: { title: "control: the pair's writes alone", ...WRITES },
  bare: { title: "control: the pair's writes alone, without the tables' CHECKs, foreign keys and triggers", ...WRITES },
  queues: {
    title: 'control: the two queues alone',
    reserve: 'select queue_reserve($1)',
    settle: 'select queue_settle($1)',
    reserveValues: (org: string) => [org],
    settleValues: (_id: string, _amount: string, org: string) => [org],
  },
} satisfies Record<string, PairCalls>;
const calls = (process.env.BENCH_CALLS ?? 'ledger') as keyof typeof CALLS;
if (!Object.hasOwn(CALLS, calls)) throw new Error(`BENCH_CALLS must be one of ${Object.keys(CALLS).join(', ')}, not ${calls}`);

/**
 * The controls, as `pnpm bench:pgbench-db` has them too: bench_orgs (the hot org is n = 0, the
 * 100 others n = 1..100) and the functions of bench/pgbench/queues.sql and writes.sql; with
 * `bare`, the hot tables' CHECKs, foreign keys and triggers dropped.
 */
export async function createControls(url: string, orgs: string[], bare = false): Promise<void> {
  const scripts = join(repoRoot, 'bench', 'pgbench');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('create table bench_orgs (n int primary key, id uuid not null)');
    await client.query('insert into bench_orgs (n, id) select n - 1, id from unnest($1::uuid[]) with ordinality as o(id, n)', [orgs]);
    await client.query(readFileSync(join(scripts, 'queues.sql'), 'utf8'));
    await client.query(readFileSync(join(scripts, 'writes.sql'), 'utf8'));
    if (bare) {
      await client.query(
        `do $$
         declare
           r record;
           hot regclass[] := array['public.credit_reservations', 'public.credit_holds', 'public.credit_grants',
             'public.credit_ledger_entries', 'public.credit_balances']::regclass[];
         begin
           for r in select conrelid::regclass as t, conname from pg_constraint where conrelid = any (hot) and contype in ('c', 'f') loop
             execute format('alter table %s drop constraint %I', r.t, r.conname);
           end loop;
           for r in select tgrelid::regclass as t, tgname from pg_trigger where tgrelid = any (hot) and not tgisinternal loop
             execute format('drop trigger %I on %s', r.tgname, r.t);
           end loop;
         end;
         $$`,
      );
    }
    await client.query('vacuum analyze');
  } finally {
    await client.end();
  }
}

/** The limit's statement: one row, one connection, autocommit (each UPDATE is a durable commit). */
const LIMIT_UPDATE = { name: 'limit', text: 'update bench_limit set n = n + 1 where id = 1' };
const PAIRS_SLICE_MS = 500;
const LIMIT_SLICE_MS = 250;

/**
 * One cell: reserve -> settle pairs on `connections` connections, in slices of PAIRS_SLICE_MS,
 * each followed (once the pairs in flight have finished) by LIMIT_SLICE_MS of the limit on its
 * own connection. Alternating this way, the pairs and the limit they are compared with see the
 * same machine, even when other work on it comes and goes.
 */
export async function measureCell(
  url: string,
  scenario: Cell['scenario'],
  orgs: string[],
  connections: number,
  run: string,
): Promise<Cell> {
  const pool = new pg.Pool({ connectionString: url, max: connections });
  pool.on('error', () => undefined); // idle clients see the server stop at the very end
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  const limitClient = new pg.Client({ connectionString: url });
  await limitClient.connect();
  for (let i = 0; i < 100; i++) await limitClient.query(LIMIT_UPDATE);
  const pair: PairCalls = CALLS[calls];
  const reserveValues = pair.reserveValues ?? ((org, amount, key) => [org, amount, key]);
  const settleValues = pair.settleValues ?? ((id, amount, org) => [id, amount, org]);
  const latencies: number[][] = clients.map(() => []);
  let failures = 0;
  let running = true;
  let done = false;
  let inFlight = 0;
  let resume: () => void = () => undefined;
  let resumed = Promise.resolve();
  let idle: () => void = () => undefined; // called when the last pair in flight finishes
  const workers = clients.map(async (client, worker) => {
    let i = 0;
    while (!done) {
      if (!running) {
        await resumed;
        continue;
      }
      // Hot: every worker on org 0. Spread: worker w starts at org w and walks round 100 orgs.
      const org = scenario === 'hot org' ? orgs[0]! : orgs[1 + ((worker + i * connections) % 100)]!;
      inFlight++;
      const t0 = performance.now();
      try {
        const { rows } = await client.query<{ id?: string }>({
          name: 'reserve',
          text: pair.reserve,
          values: reserveValues(org, '1.500', `${run}-${worker}-${i}`),
        });
        await client.query({ name: 'settle', text: pair.settle, values: settleValues(rows[0]?.id ?? '', '1.250', org) });
        latencies[worker]!.push(performance.now() - t0);
      } catch (error) {
        failures++;
        if (failures === 1) process.stderr.write(`first failure: ${(error as Error).message}\n`);
      } finally {
        inFlight--;
        if (inFlight === 0) idle();
      }
      i++;
    }
  });
  // Waits for the pairs in flight without polling: a polling loop would keep a core busy that the
  // server needs to finish them.
  const drained = () =>
    inFlight === 0
      ? Promise.resolve()
      : new Promise<void>((r) => {
          idle = r;
        });
  let pairsTime = 0;
  let limitTime = 0;
  let commits = 0;
  const slices = Math.max(1, Math.round((seconds * 1000) / PAIRS_SLICE_MS));
  for (let slice = 0; slice < slices; slice++) {
    const sliceStart = performance.now();
    await new Promise((r) => setTimeout(r, PAIRS_SLICE_MS));
    resumed = new Promise((r) => {
      resume = r;
    });
    running = false;
    await drained();
    pairsTime += performance.now() - sliceStart;
    const limitStart = performance.now();
    while (performance.now() - limitStart < LIMIT_SLICE_MS) {
      await limitClient.query(LIMIT_UPDATE);
      commits++;
    }
    limitTime += performance.now() - limitStart;
    running = true;
    resume();
  }
  done = true;
  running = false;
  resume();
  await Promise.all(workers);
  for (const client of clients) client.release();
  await pool.end();
  await limitClient.end();
  const all = latencies.flat().sort((a, b) => a - b);
  return {
    scenario,
    connections,
    limit: commits / (limitTime / 1000),
    pairs: all.length,
    failures,
    pairsPerSecond: all.length / (pairsTime / 1000),
    p50: percentile(all, 50),
    p99: percentile(all, 99),
  };
}

async function main() {
  const { url, stop } = await startBenchDatabase('bench');
  try {
    const orgs = await setUp(url);
    if (calls !== 'ledger') await createControls(url, orgs, calls === 'bare');
    process.stdout.write(
      `ledger benchmark (${CALLS[calls].title}): ${seconds} s per cell, Postgres ${await serverVersion(url)}, default durability\n`,
    );

    const cells: Cell[] = [];
    for (const connections of connectionCounts) {
      for (const scenario of ['hot org', '100 orgs'] as const) {
        const cell = await measureCell(url, scenario, orgs, connections, `${scenario === 'hot org' ? 'h' : 's'}${connections}`);
        cells.push(cell);
        process.stdout.write(
          `  ${scenario} x ${connections}: ${cell.pairsPerSecond.toFixed(0)} pairs/s (limit alongside: ${cell.limit.toFixed(0)} commits/s)\n`,
        );
      }
    }
    const limits = cells.map((c) => c.limit).sort((a, b) => a - b);
    const ratioToLimit = (c: Cell) => c.pairsPerSecond / (c.limit / 2);
    const hot = (connections: number) => cells.find((c) => c.scenario === 'hot org' && c.connections === connections)!;
    const spread = (connections: number) => cells.find((c) => c.scenario === '100 orgs' && c.connections === connections)!;
    const lines = [
      '',
      `limit: single-row UPDATE commits/s on one row from one connection, measured alongside each cell: ${limits
        .map((l) => l.toFixed(0))
        .join(', ')} (median ${percentile(limits, 50).toFixed(0)}); a pair needs two, so the pair limit is half`,
      '',
      '| scenario | connections | pairs/s | p50 ms | p99 ms | limit commits/s (alongside) | vs limit pair rate | vs hot org, same connections | failures |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...cells.map((c) =>
        [
          '',
          c.scenario,
          c.connections,
          c.pairsPerSecond.toFixed(0),
          c.p50.toFixed(2),
          c.p99.toFixed(2),
          c.limit.toFixed(0),
          `${ratioToLimit(c).toFixed(2)}x`,
          c.scenario === 'hot org' ? '1.00x' : `${(c.pairsPerSecond / hot(c.connections).pairsPerSecond).toFixed(2)}x`,
          c.failures,
          '',
        ]
          .join(' | ')
          .trim(),
      ),
      '',
      'goals:',
      ...[8, 32].map(
        (n) =>
          `  hot org at ${n} connections >= 0.5x the limit's pair rate: ${ratioToLimit(hot(n)).toFixed(2)}x ${ratioToLimit(hot(n)) >= 0.5 ? 'met' : 'NOT met'}`,
      ),
      `  hot org no fall from 8 to 32 connections: pairs/s ${(hot(32).pairsPerSecond / hot(8).pairsPerSecond).toFixed(2)}x, ` +
        `share of the limit measured alongside ${(ratioToLimit(hot(32)) / ratioToLimit(hot(8))).toFixed(2)}x ` +
        `${ratioToLimit(hot(32)) >= ratioToLimit(hot(8)) * 0.95 ? 'met' : 'NOT met'} (judged on the share: the machine's speed moves between cells)`,
      ...[8, 32].map((n) => {
        const ratio = spread(n).pairsPerSecond / hot(n).pairsPerSecond;
        return `  100 orgs at ${n} connections >= 2x the hot org: ${ratio.toFixed(2)}x ${ratio >= 2 ? 'met' : 'NOT met'}`;
      }),
      `  (load average when done: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ${availableParallelism()} cores)`,
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await stop();
  }
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  } finally {
    await client.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: Error) => {
    process.stderr.write(`bench failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}
