// Vitest global setup shared by every package's tests: one Postgres server for the whole run
// (embedded in a fresh temporary folder, or DATABASE_URL), and a template database with the
// migrations and seeds applied. Each test file then clones the template (see testing.ts).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { dropDatabasesWithPrefix, ensureTemplate, freePort, pgMajorFromEnv, startDatabaseServer } from './index.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    /** Every test database of this run starts with it, so the teardown can drop them all. */
    pgRunPrefix: string;
  }
}

export default async function setup(project: TestProject) {
  const dataDir = mkdtempSync(join(tmpdir(), 'org-credits-test-pg-'));
  const server = await startDatabaseServer({
    dataDir,
    port: await freePort(),
    major: pgMajorFromEnv(),
    // Test clusters are thrown away: trade durability for speed.
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
  });
  const template = await ensureTemplate(server.adminUrl);
  project.provide('pgAdminUrl', server.adminUrl);
  project.provide('pgTemplate', template);
  const runPrefix = `t_${randomBytes(4).toString('hex')}_`;
  project.provide('pgRunPrefix', runPrefix);
  return async () => {
    // Test files drop their own databases; one still in use then is dropped here, after every worker ended.
    await dropDatabasesWithPrefix(server.adminUrl, runPrefix).catch(() => undefined);
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
