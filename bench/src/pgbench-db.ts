#!/usr/bin/env tsx
// `pnpm bench:pgbench-db`: a database for measuring the ledger functions with pgbench (a C client,
// so the numbers are the server's): an embedded Postgres with the migrations, the seeds and
// bench:ledger's organizations (the hot one is bench_orgs n = 0, the 100 others n = 1..100), left
// running until Ctrl-C, with the controls in bench/pgbench/queues.sql (the ledger's two queues with
// nothing else in them) and writes.sql (a pair's writes alone). It prints the pgbench commands for
// the scripts in bench/pgbench/.
// BENCH_PG_PORT (default 55432) is its port; the data goes to a temporary folder, removed at exit.
import { join } from 'node:path';
import { repoRoot } from '@org-credits/db';
import { startBenchDatabase } from './database.ts';
import { createControls, setUp } from './ledger.ts';

const port = Number(process.env.BENCH_PG_PORT ?? 55432);
const database = await startBenchDatabase('bench_pgbench', port);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await database.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const { url } = database;
const scripts = join(repoRoot, 'bench', 'pgbench');
const orgs = await setUp(url);
await createControls(url, orgs);

process.stdout.write(
  [
    `ready: ${url} (${orgs.length} organizations; Ctrl-C stops and removes it)`,
    '',
    `  pgbench -n -M prepared -c 8 -j 2 -T 8 -f ${join(scripts, 'pair-spread.sql')} ${url}   # 100 orgs`,
    `  pgbench -n -M prepared -c 8 -j 2 -T 8 -f ${join(scripts, 'pair-hot.sql')} ${url}      # the hot org`,
    `  pgbench -n -M prepared -c 1 -T 2 -f ${join(scripts, 'limit.sql')} ${url}                # the limit`,
    `  pgbench -n -M prepared -c 8 -j 2 -T 8 -f ${join(scripts, 'queues-hot.sql')} ${url}    # the queues alone, hot org (queues.sql)`,
    `  pgbench -n -M prepared -c 8 -j 2 -T 8 -f ${join(scripts, 'writes-hot.sql')} ${url}    # a pair's writes alone, hot org (writes.sql)`,
    '',
    'tps is pairs per second for the pair scripts (each pair is two transactions).',
    '',
  ].join('\n'),
);
setInterval(() => undefined, 1 << 30);
