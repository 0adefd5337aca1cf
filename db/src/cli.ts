#!/usr/bin/env tsx
// `pnpm db:start` — start the dev database (embedded, data in .data/pg), migrate, seed, and stay up.
// `pnpm db:reset` — the same from an empty database.
// `pnpm db:migrate` — apply pending migrations to DATABASE_URL (or the embedded server) and exit.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createDatabase, databaseExists, migrate, repoRoot, seed, startDatabaseServer, withDatabase } from './index.ts';

const command = process.argv[2] ?? 'start';
const log = (line: string) => process.stdout.write(`[db] ${line}\n`);
const databaseName = process.env.ORG_CREDITS_DB_NAME ?? 'org_credits';

async function main() {
  if (command === 'reset' && !process.env.DATABASE_URL) {
    rmSync(join(repoRoot, '.data', 'pg'), { recursive: true, force: true });
    log('removed .data/pg');
  }
  const server = await startDatabaseServer();
  let url = server.adminUrl;
  if (server.embedded) {
    if (!(await databaseExists(server.adminUrl, databaseName))) await createDatabase(server.adminUrl, databaseName);
    url = withDatabase(server.adminUrl, databaseName);
  }
  await migrate(url, log);
  await seed(url, log);
  if (command === 'migrate') {
    await server.stop();
    return;
  }
  log(`ready: ${url}`);
  log(`connect with: psql ${url}`);
  if (!server.embedded) return;
  const stop = async () => {
    log('stopping');
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await new Promise(() => undefined);
}

main().catch((error: Error) => {
  process.stderr.write(`[db] ${error.message}\n`);
  process.exit(1);
});
