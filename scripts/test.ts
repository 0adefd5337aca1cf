// `pnpm test`: every test of the workspace, then one closing line with the counts.
// Stages run in order; the first failing stage fails the run (after the summary is printed).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];

function stage(name: string, cmd: string, args: string[], env: Record<string, string> = {}): number {
  process.stdout.write(`\n\x1b[36m[test]\x1b[0m ${name}: ${cmd} ${args.join(' ')}\n`);
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  const status = result.status ?? 1;
  if (status !== 0) failures.push(`${name} (exit ${status})`);
  return status;
}

// Adds up a JSON report: Vitest's (numPassedTests, …) or Playwright's (stats.expected, …).
function countReport(file: string) {
  if (!existsSync(file)) return;
  const report = JSON.parse(readFileSync(file, 'utf8')) as {
    numPassedTests?: number;
    numFailedTests?: number;
    numPendingTests?: number;
    numTodoTests?: number;
    stats?: { expected: number; unexpected: number; flaky: number; skipped: number };
  };
  if (report.stats) {
    passed += report.stats.expected + report.stats.flaky;
    failed += report.stats.unexpected;
    skipped += report.stats.skipped;
    return;
  }
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}

const out = mkdtempSync(join(tmpdir(), 'org-credits-test-'));

// 1. Static checks.
stage('typecheck', 'pnpm', ['-r', '--include-workspace-root', '--if-present', 'typecheck']);
stage('lint', 'pnpm', ['exec', 'biome', 'check', '.']);

// 2. Every Node package's Vitest project, in one run (Postgres 18, the default).
const vitestReport = join(out, 'vitest.json');
stage('vitest', 'pnpm', ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestReport}`]);
countReport(vitestReport);

// 3. The ledger's SQL again on Postgres 15, the oldest version we support.
const pg15Report = join(out, 'vitest-pg15.json');
stage(
  'ledger on Postgres 15',
  'pnpm',
  ['exec', 'vitest', 'run', '--project', 'db', '--reporter=dot', '--reporter=json', `--outputFile.json=${pg15Report}`],
  {
    ORG_CREDITS_PG_MAJOR: '15',
  },
);
countReport(pg15Report);

// 4. Stages that later packages add (web build, end-to-end journeys, compose check).
for (const extra of ['web', 'e2e', 'deploy']) {
  if (existsSync(join(root, extra, 'package.json'))) {
    const pkg = JSON.parse(readFileSync(join(root, extra, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    if (pkg.scripts?.ci) {
      const report = join(out, `${extra}.json`);
      stage(`${extra} ci`, 'pnpm', ['--filter', `./${extra}`, 'run', 'ci'], { ORG_CREDITS_TEST_REPORT: report });
      countReport(report);
    }
  }
}

if (failures.length) process.stdout.write(`\nfailed stages: ${failures.join(', ')}\n`);
if (failures.length && failed === 0) failed = failures.length;
process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(failures.length ? 1 : 0);
