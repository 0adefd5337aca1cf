// Starts the whole stack on free ports against a fresh database in a temporary folder, and hands
// its URLs to the journeys through the environment. Playwright calls the returned function at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeStackPorts, startStack } from '../scripts/stack.ts';

export default async function globalSetup() {
  const dataDir = mkdtempSync(join(tmpdir(), 'org-credits-e2e-pg-'));
  const lines: string[] = [];
  const stack = await startStack({
    ports: await freeStackPorts(),
    dataDir,
    reset: true,
    webMode: 'dev',
    log: (component, line) => {
      lines.push(`[${component}] ${line}`);
      if (process.env.E2E_VERBOSE) process.stdout.write(`[${component}] ${line}\n`);
    },
  }).catch((error: Error) => {
    process.stdout.write(`${lines.slice(-80).join('\n')}\n`);
    throw error;
  });
  process.env.E2E_WEB_URL = stack.urls.web;
  process.env.E2E_GRAPHQL_URL = stack.urls.graphql;
  process.env.E2E_API_URL = stack.urls.api;
  process.env.E2E_DATABASE_URL = stack.urls.database;
  process.env.E2E_ADMIN_SECRET = stack.secrets.adminSecret;
  process.env.E2E_JWT_KEY = stack.secrets.jwtKey;
  process.env.E2E_ACTION_SECRET = stack.secrets.actionSecret;
  return async () => {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
