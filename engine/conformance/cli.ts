// `pnpm --filter ./engine conformance [--mode jwt|admin-secret|both] [folder…]`: runs Hasura's
// fixtures against the engine on an embedded Postgres (or DATABASE_URL) and prints, per folder,
// passed / failed / skipped with the reason of each skip. Exits non-zero on an unexpected failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, dropDatabase, freePort, startDatabaseServer } from '@org-credits/db';
import { type Mode, newDatabaseName, runConformance } from './runner.ts';

const args = process.argv.slice(2);
const modeIndex = args.indexOf('--mode');
const modeArg = modeIndex >= 0 ? args[modeIndex + 1] : 'both';
const folders = args.filter((a, i) => !a.startsWith('--') && (modeIndex < 0 || i !== modeIndex + 1));
const modes: Mode[] = modeArg === 'both' ? ['admin-secret', 'jwt'] : [modeArg as Mode];

const dataDir = mkdtempSync(join(tmpdir(), 'engine-conformance-pg-'));
const server = await startDatabaseServer({ dataDir, port: await freePort(), settings: { fsync: 'off', synchronous_commit: 'off' } });
let failed = 0;
try {
  for (const mode of modes) {
    process.stdout.write(`\n== mode: ${mode}\n`);
    const summary = await runConformance({
      mode,
      ...(folders.length ? { folders } : {}),
      log: (line) => process.stdout.write(`${line}\n`),
      createDatabase: async () => {
        const name = newDatabaseName();
        const url = await createDatabase(server.adminUrl, name);
        return { url, drop: () => dropDatabase(server.adminUrl, name) };
      },
    });
    process.stdout.write(
      `== ${mode}: ${summary.passed} passed, ${summary.failed} failed, ${summary.expectedFailures} expected failures, ${summary.skipped} skipped\n`,
    );
    failed += summary.failed;
  }
} finally {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
