// Per-test-file databases: a clone of the migrated and seeded template, dropped afterwards.
// The drop never forces connections closed: a server or pool a test left open (an engine, an api)
// would otherwise see its connections killed and report it as an uncaught error in the worker.
// A database still in use is left for the global teardown, which drops every database of the run.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, inject } from 'vitest';
import { createDatabase, dropDatabase, pg } from './index.ts';

export interface TestDatabase {
  /** Connection string of this file's own database. */
  url: string;
  name: string;
  /** A pool on it, closed when the file's tests end. */
  pool: pg.Pool;
  /** A fresh pool with its own connections (for races), closed with the database. */
  newPool(max?: number): pg.Pool;
}

/**
 * Gives the calling test file a database of its own, cloned from the template, and drops it
 * when the file's tests are done. Call it at the top level of a test file.
 */
export async function useTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('pgAdminUrl');
  const template = inject('pgTemplate');
  const name = `${inject('pgRunPrefix')}${randomBytes(6).toString('hex')}`;
  const url = await createDatabase(adminUrl, name, { template });
  const pools: pg.Pool[] = [];
  const newPool = (max = 10) => {
    const pool = new pg.Pool({ connectionString: url, max });
    pools.push(pool);
    return pool;
  };
  const pool = newPool();
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await dropDatabase(adminUrl, name, { force: false }).catch((error: { code?: string }) => {
      // 55006 object_in_use: another connection is still open; the global teardown drops it.
      if (error.code !== '55006') throw error;
    });
  });
  return { url, name, pool, newPool };
}

/**
 * A GET of `url`/healthz on a connection of its own (no keep-alive pool), for the tests of a
 * server's drain (http-drain.ts): resolves with the status, or the connection error's code
 * (`ECONNREFUSED` once the server stopped accepting).
 */
export function healthzOnNewConnection(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(`${url}/healthz`, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}
