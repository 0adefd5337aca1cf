#!/usr/bin/env tsx
// `pnpm bench:actions`: reserve → settle pairs of a metered AI call, across 100 orgs at 32
// concurrent clients, in one run on one embedded Postgres:
//   - direct:     reserve_credits then settle_reservation sent straight to SQL (the arguments the api
//                 passes);
//   - api:        reserveCredits then settleCredits POSTed to the api's /actions as Hasura sends them
//                 (the api's share of the path);
//   - full path:  the GraphQL mutations through the engine's /v1/graphql (role `service`: admin
//                 secret + x-hasura-role + x-hasura-org-id, as another backend calls) → the engine's
//                 action call → the api → SQL.
// The api and the engine run as their own processes (as in production; in-process they would share
// one event loop with each other and with this load generator), with keep-alive HTTP everywhere.
//   - full path, open loop: the same pairs started at a fixed rate, 40% of the direct rate measured
//                 in the same run, over the same keep-alive connections (at most one pair in flight
//                 on each; pairs that had to wait for a free one are counted).
// Prints a markdown table (pairs/s, p50, p99 of a pair, ratio to direct) against the goal: the full
// path at least 40% of the direct rate, p99 under 50 ms. Closed loop, the clients fix the mean
// latency at clients / rate (Little's law); the open-loop cell gives the latency at the goal rate.
//
// BENCH_SECONDS (default 10) is the length of each cell, after a 2 s warm-up; BENCH_CONNECTIONS (32) the clients. BENCH_PROFILE=<dir>
// runs the engine and the api under `node --cpu-prof` (writing their profiles to <dir>) and prints
// the top self-time frames of each; the rates of a profiled run are lower than without it.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join, resolve } from 'node:path';
import { freePort, pg, repoRoot } from '@org-credits/db';
import { startBenchDatabase } from './database.ts';
import { createBenchOrgs } from './ledger.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARM_UP_SECONDS = 2;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ORGS = 100;
/** The goal: the full path at least this share of the direct rate, and p99 of a pair under 50 ms. */
const GOAL_SHARE = 0.4;
const PROFILE_DIR = process.env.BENCH_PROFILE ? resolve(process.env.BENCH_PROFILE) : undefined;
const ACTION_SECRET = 'bench-action-secret-0123456789';
const ADMIN_SECRET = 'bench-admin-secret';
// What the api saves on a reservation for question_suggestions at fast with gpt-4.1-nano.
const PRICING = {
  pricing_mode: 'per_token',
  model_id: 'openai/gpt-4.1-nano',
  base_cost_credits: '0.100',
  input_credits_per_1k_tokens: '0.005000',
  output_credits_per_1k_tokens: '0.020000',
};
const RESERVE = `mutation Reserve($key: String!) {
  reserveCredits(capability: "question_suggestions", qualityLevel: "fast", idempotencyKey: $key, inputTokens: 400) {
    reservationId amountCredits availableCredits
  }
}`;
const SETTLE = `mutation Settle($id: uuid!) {
  settleCredits(reservationId: $id, usage: { inputTokens: 350, outputTokens: 120 }) { chargedCredits availableCredits }
}`;

interface Cell {
  path: string;
  /** Open loop only: the rate pairs were started at, and how many had to wait for a free connection. */
  open?: { offered: number; started: number; waited: number };
  /** Event trigger rows (hdb_catalog.event_log) written during the cell (warm-up included), per pair. */
  eventsPerPair: number;
  /** CPU time (user + system) per pair of each process during the cell (warm-up included), ms. */
  cpuPerPair: Record<string, number>;
  pairs: number;
  failures: number;
  perSecond: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/** A plan without rate limits (the benchmark measures the path, not the limiter) and 100 orgs on it. */
async function setUp(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const orgs = await createBenchOrgs(client, ORGS);
    // Auto top-up on, far below the balance: every settle pays the ledger's auto top-up check
    // (settings, recent attempts, available at commit), none writes a check or an event.
    await client.query(
      `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id)
       select o.id, true, 100, (select id from public.topup_packages where is_active order by sort_order limit 1)
       from unnest($1::uuid[]) as o (id)`,
      [orgs],
    );
    await client.query('vacuum analyze');
    return orgs;
  } finally {
    await client.end();
  }
}

interface Counters {
  events: number;
  /** CPU ms used so far by each process. */
  cpu: Record<string, number>;
}

/**
 * One cell: `run` for a warm-up, then for SECONDS timed; the counters are read before the warm-up
 * and after the timed run (so per pair figures include the warm-up). `run` calls `count` for each
 * pair done and records each timed pair's latency.
 */
async function measure<T extends { failures: number }>(
  path: string,
  probe: () => Promise<Counters>,
  run: (seconds: number, latencies: number[] | null, count: () => void) => Promise<T>,
): Promise<{ cell: Cell; result: T }> {
  let done = 0;
  const count = () => {
    done++;
  };
  const before = await probe();
  await run(WARM_UP_SECONDS, null, count);
  const latencies: number[] = [];
  const started = performance.now();
  const result = await run(SECONDS, latencies, count);
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const after = await probe();
  const cell: Cell = {
    path,
    eventsPerPair: (after.events - before.events) / done,
    cpuPerPair: Object.fromEntries(Object.entries(after.cpu).map(([name, ms]) => [name, (ms - (before.cpu[name] ?? 0)) / done])),
    pairs: latencies.length,
    failures: result.failures,
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
  return { cell, result };
}

/** Closed loop: `pair` from CONNECTIONS clients, each starting a pair when its last one ends, each timed end to end. */
async function drive(path: string, probe: () => Promise<Counters>, pair: (client: number, i: number) => Promise<void>): Promise<Cell> {
  const { cell } = await measure(path, probe, async (seconds, latencies, count) => {
    let failures = 0;
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, client) => {
        for (let i = 0; performance.now() < until; i++) {
          const t = performance.now();
          try {
            await pair(client, i);
            count();
            latencies?.push(performance.now() - t);
          } catch (error) {
            failures++;
            if (failures === 1) console.error(`[bench] ${path}: ${(error as Error).message}`);
          }
        }
      }),
    );
    return { failures };
  });
  return cell;
}

/**
 * Open loop: pairs started at a fixed rate (`perSecond`), whatever the answers do, over at most
 * CONNECTIONS in flight (one per keep-alive connection). A pair due while all are busy waits for
 * the next free one and is counted; its latency runs from when it was due, so waiting is counted
 * too (no coordinated omission). A warm-up at the same rate, then SECONDS timed.
 */
async function driveOpen(
  path: string,
  probe: () => Promise<Counters>,
  perSecond: number,
  pair: (client: number, i: number) => Promise<void>,
): Promise<Cell> {
  const { cell, result } = await measure(path, probe, async (seconds, latencies, count) => {
    let failures = 0;
    let waited = 0;
    const free = Array.from({ length: CONNECTIONS }, (_, i) => i);
    const queue: number[] = [];
    const inFlight = new Set<Promise<void>>();
    const total = Math.floor(seconds * perSecond);
    const startAt = performance.now();
    const launch = (due: number, client: number, i: number) => {
      const task = pair(client, i).then(
        () => {
          count();
          latencies?.push(performance.now() - due);
        },
        (error: unknown) => {
          failures++;
          if (failures === 1) console.error(`[bench] ${path}: ${(error as Error).message}`);
        },
      );
      const tracked: Promise<void> = task.finally(() => {
        inFlight.delete(tracked);
        const next = queue.shift();
        if (next === undefined) free.push(client);
        else launch(next, client, i + 1);
      });
      inFlight.add(tracked);
    };
    for (let k = 0; k < total; k++) {
      const due = startAt + (k * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const client = free.pop();
      if (client === undefined) {
        waited++;
        queue.push(due);
      } else launch(due, client, k);
    }
    while (inFlight.size) await Promise.race(inFlight);
    return { failures, waited, started: total };
  });
  return { ...cell, open: { offered: perSecond, started: result.started, waited: result.waited } };
}

/** POSTs JSON over a keep-alive agent; rejects on a status other than 200. */
function postJson(agent: Agent, port: number, path: string, body: unknown, headers: Record<string, string>): Promise<unknown> {
  const text = JSON.stringify(body);
  return new Promise((resolvePost, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const answer = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`${path}: HTTP ${res.statusCode} ${answer.slice(0, 300)}`));
          else resolvePost(JSON.parse(answer));
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** utime, stime, cutime, cstime and the parent of a process, from /proc (Linux). */
function procStat(pid: number): { ppid: number; ms: number; childrenMs: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    return {
      ppid: Number(f[1]),
      ms: (Number(f[11]) + Number(f[12])) * TICK_MS,
      childrenMs: (Number(f[13]) + Number(f[14])) * TICK_MS,
    };
  } catch {
    return undefined;
  }
}

/** CPU ms of a Postgres server: the postmaster, its children alive now, and those it has reaped. */
function postgresCpu(postmaster: number): number {
  const root = procStat(postmaster);
  let ms = root ? root.ms + root.childrenMs : 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat?.ppid === postmaster) ms += stat.ms;
  }
  return ms;
}

async function waitForHealth(name: string, port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not become healthy`);
}

/** A TypeScript entry point as its own Node process (tsx as a loader), under the profiler when asked. */
function spawnNode(name: string, entry: string, env: Record<string, string>): ChildProcess {
  const profile = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, name)}`] : [];
  return spawn(process.execPath, [...profile, '--import', 'tsx', entry], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(`${repoRoot}/`, '')
    .replace(/^.*node_modules\/\.pnpm\/[^/]+\/node_modules\//, '');

/** Where a frame's code lives: node internals, a dependency, engine/src, api/src, or a V8 pseudo-frame. */
function areaOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) return functionName; // (idle), (program), (garbage collector), natives such as writev
  if (url.startsWith('node:')) return 'node internals';
  const dep = /node_modules\/\.pnpm\/((?:@[^+/]+\+)?[^@/]+)@/.exec(url)?.[1]?.replace('+', '/');
  if (dep) return `dep: ${dep}`;
  if (url.includes('/engine/src/')) return 'engine/src';
  if (url.includes('/api/src/')) return 'api/src';
  return 'other';
}

/**
 * The busy (non-idle) self time of a .cpuprofile: by where the code lives, the top frames, and the
 * native socket writes (writev) by the first caller outside Node's internals.
 */
function summarize(name: string, dir: string): string[] {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return [`${name}: no profile written`];
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfMs = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  let total = 0;
  let idle = 0;
  const byFrame = new Map<string, number>();
  const byArea = new Map<string, number>();
  const writes = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms);
  for (const [id, ms] of selfMs) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    total += ms;
    if (functionName === '(idle)') {
      idle += ms;
      continue;
    }
    add(byFrame, `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim(), ms);
    add(byArea, areaOf(node.callFrame), ms);
    if (functionName === 'writev' || functionName === 'writeBuffer' || functionName === 'writeUtf8String') {
      let up = parent.get(id);
      let caller = 'unknown';
      while (up !== undefined) {
        const frame = byId.get(up)!.callFrame;
        if (frame.url && !frame.url.startsWith('node:')) {
          caller = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
          break;
        }
        up = parent.get(up);
      }
      add(writes, caller, ms);
    }
  }
  const busy = total - idle;
  const pct = (ms: number) => `${((ms / busy) * 100).toFixed(1)}%`;
  const sorted = (map: Map<string, number>, n: number) => [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return [
    `### ${name}: ${(busy / 1000).toFixed(1)} s busy of ${(total / 1000).toFixed(1)} s sampled, the whole process lifetime (${file}); shares of busy time`,
    '',
    '| self time by area | share |',
    '| --- | ---: |',
    ...sorted(byArea, 12).map(([area, ms]) => `| ${area} | ${pct(ms)} |`),
    '',
    '| top self-time frames | share |',
    '| --- | ---: |',
    ...sorted(byFrame, 15).map(([frame, ms]) => `| \`${frame}\` | ${pct(ms)} |`),
    '',
    '| socket writes (writev, writeBuffer, writeUtf8String) by caller | share |',
    '| --- | ---: |',
    ...sorted(writes, 5).map(([caller, ms]) => `| \`${caller}\` | ${pct(ms)} |`),
    '',
  ];
}

async function main() {
  const db = await startBenchDatabase('bench_actions');
  let api: ChildProcess | undefined;
  let engine: ChildProcess | undefined;
  if (PROFILE_DIR) {
    rmSync(PROFILE_DIR, { recursive: true, force: true });
    mkdirSync(PROFILE_DIR, { recursive: true });
  }
  try {
    const url = db.url;
    const orgs = await setUp(url);
    const orgOf = (client: number, i: number) => orgs[(client * 7 + i) % orgs.length]!;
    const stats = new pg.Client({ connectionString: url });
    await stats.connect();

    const apiPort = await freePort();
    api = spawnNode('api', join(repoRoot, 'api', 'src', 'main.ts'), {
      NODE_ENV: 'development',
      PORT: String(apiPort),
      DATABASE_URL: url,
      DATABASE_POOL_SIZE: String(CONNECTIONS),
      ACTION_SECRET,
    });
    await waitForHealth('the api', apiPort, api);
    const enginePort = await freePort();
    engine = spawnNode('engine', join(repoRoot, 'engine', 'src', 'main.ts'), {
      HASURA_GRAPHQL_DATABASE_URL: url,
      HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
      HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
      HASURA_GRAPHQL_SERVER_PORT: String(enginePort),
      ORG_CREDITS_ENGINE_METADATA_DIR: join(repoRoot, 'hasura', 'metadata'),
      ACTIONS_BASE_URL: `http://127.0.0.1:${apiPort}`,
      ACTION_SECRET,
    });
    await waitForHealth('the engine', enginePort, engine);

    const backend = (await stats.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    const postmaster = procStat(backend)!.ppid;
    const apiPid = api.pid!;
    const enginePid = engine.pid!;
    const probe = async (): Promise<Counters> => {
      const events = Number((await stats.query<{ n: string }>('select count(*) as n from hdb_catalog.event_log')).rows[0]!.n);
      const own = process.cpuUsage();
      return {
        events,
        cpu: {
          postgres: postgresCpu(postmaster),
          api: procStat(apiPid)?.ms ?? Number.NaN,
          engine: procStat(enginePid)?.ms ?? Number.NaN,
          'load generator': (own.user + own.system) / 1000,
        },
      };
    };

    // Direct: the two SQL functions, as a client of the ledger calls them. Measured with the engine
    // running, so its event trigger (on auto_topup_checks, installed when it starts) would log and
    // deliver the checks of every cell alike, as Hasura would in production; with every org far
    // above its threshold there are none (the table's last column says so).
    const pool = new pg.Pool({ connectionString: url, max: CONNECTIONS });
    const direct = await drive('direct SQL (reserve_credits → settle_reservation)', probe, async (client, i) => {
      const org = orgOf(client, i);
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

    // The api's share: the envelopes Hasura POSTs to /actions.
    const apiAgent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const action = (name: string, input: Record<string, unknown>, orgId: string) =>
      postJson(
        apiAgent,
        apiPort,
        '/actions',
        {
          action: { name },
          input,
          session_variables: { 'x-hasura-role': 'service', 'x-hasura-org-id': orgId },
          request_query: '',
        },
        { 'x-org-credits-secret': ACTION_SECRET },
      ) as Promise<Record<string, unknown>>;
    const viaApi = PROFILE_DIR
      ? undefined
      : await drive('api POST /actions (reserveCredits → settleCredits)', probe, async (client, i) => {
          const org = orgOf(client, i);
          const held = await action(
            'reserveCredits',
            { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: randomUUID(), inputTokens: 400 },
            org,
          );
          await action('settleCredits', { reservationId: held.reservationId, usage: { inputTokens: 350, outputTokens: 120 } }, org);
        });
    apiAgent.destroy();

    // The full path: GraphQL through the engine.
    const engineAgent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const graphql = async (query: string, variables: Record<string, unknown>, orgId: string) => {
      const answer = (await postJson(
        engineAgent,
        enginePort,
        '/v1/graphql',
        { query, variables },
        { 'x-hasura-admin-secret': ADMIN_SECRET, 'x-hasura-role': 'service', 'x-hasura-org-id': orgId },
      )) as { data?: Record<string, Record<string, unknown>>; errors?: unknown };
      if (answer.errors || !answer.data) throw new Error(`GraphQL errors: ${JSON.stringify(answer.errors).slice(0, 300)}`);
      return answer.data;
    };
    const fullPair = async (client: number, i: number) => {
      const org = orgOf(client, i);
      const held = await graphql(RESERVE, { key: randomUUID() }, org);
      await graphql(SETTLE, { id: held.reserveCredits!.reservationId }, org);
    };
    const full = await drive(`full path /v1/graphql (engine → api → SQL), closed loop: ${CONNECTIONS} clients`, probe, fullPair);
    // The same path offered the goal's rate (40% of direct, as measured above) on the same connections.
    const goalRate = GOAL_SHARE * direct.perSecond;
    const open = await driveOpen(
      `full path /v1/graphql, open loop: pairs started at ${goalRate.toFixed(0)}/s (${GOAL_SHARE * 100}% of direct), ≤ ${CONNECTIONS} in flight`,
      probe,
      goalRate,
      fullPair,
    );
    engineAgent.destroy();

    const pgMajor = (await stats.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
    await stats.end();
    const cells = [direct, ...(viaApi ? [viaApi] : []), full, open];
    const openInfo = open.open!;
    const lines = [
      '',
      `reserve → settle pairs, ${ORGS} orgs, ${CONNECTIONS} concurrent clients, ${SECONDS} s a cell after ${WARM_UP_SECONDS} s warm-up, Postgres ${pgMajor}; api and engine as their own processes${PROFILE_DIR ? ' UNDER THE PROFILER' : ''}`,
      '',
      '| path | pairs | failures | pairs/s | p50 ms | p99 ms | share of direct | events logged / pair |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...cells.map(
        (c) =>
          `| ${c.path} | ${c.pairs} | ${c.failures} | ${c.perSecond.toFixed(0)} | ${c.p50.toFixed(2)} | ${c.p99.toFixed(2)} | ${((c.perSecond / direct.perSecond) * 100).toFixed(0)}% | ${c.eventsPerPair.toFixed(2)} |`,
      ),
      '',
      'CPU time per pair, ms (user + system, warm-up included; the machine has 2 cores):',
      '',
      '| path | postgres | api | engine | load generator | total |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      ...cells.map((c) => {
        const v = c.cpuPerPair;
        const total = Object.values(v).reduce((a, b) => a + b, 0);
        return `| ${c.path} | ${v.postgres!.toFixed(2)} | ${v.api!.toFixed(2)} | ${v.engine!.toFixed(2)} | ${v['load generator']!.toFixed(2)} | ${total.toFixed(2)} |`;
      }),
      '',
      `open loop: ${openInfo.started} pairs due at ${openInfo.offered.toFixed(0)}/s, ${openInfo.waited} of them waited for a free connection (their latency counts from when they were due).`,
      `closed loop: ${CONNECTIONS} clients each start a pair when their last one ends, so the mean pair latency is ${CONNECTIONS} / rate (Little's law): ${((CONNECTIONS / full.perSecond) * 1000).toFixed(1)} ms at ${full.perSecond.toFixed(0)} pairs/s; a p99 under 50 ms closed loop needs well over ${((CONNECTIONS / 0.05) | 0).toString()} pairs/s.`,
      '',
      `goal, rate (closed loop): the full path at least ${GOAL_SHARE * 100}% of the direct rate: ${((full.perSecond / direct.perSecond) * 100).toFixed(0)}%: ${full.perSecond / direct.perSecond >= GOAL_SHARE ? 'met' : 'NOT met'}`,
      `goal, latency (closed loop, ${CONNECTIONS} clients): p99 under 50 ms: ${full.p99.toFixed(1)} ms: ${full.p99 < 50 ? 'met' : 'NOT met'}`,
      `goal, latency (open loop at the goal rate, ${openInfo.offered.toFixed(0)} pairs/s): p99 under 50 ms: ${open.p99.toFixed(1)} ms: ${open.p99 < 50 && open.failures === 0 ? 'met' : 'NOT met'}`,
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await stop(engine);
    await stop(api);
    await db.stop();
  }
  if (PROFILE_DIR) {
    const out = [...summarize('engine', join(PROFILE_DIR, 'engine')), ...summarize('api', join(PROFILE_DIR, 'api'))];
    process.stdout.write(`${out.join('\n')}\n`);
  }
}

await main();
