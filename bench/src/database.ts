// A benchmark's own database: always an embedded Postgres of its own (DATABASE_URL is not used, so
// the durability measured is known: fsync, synchronous_commit and full_page_writes stay on) in a
// temporary folder, with one database that has the migrations and seeds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, freePort, migrate, seed, startDatabaseServer } from '@org-credits/db';

export interface BenchDatabase {
  url: string;
  /** Stops the server and removes its folder. */
  stop: () => Promise<void>;
}

/** Starts the server (on `port`, or a free one) and makes database `name` from the migrations and seeds. */
export async function startBenchDatabase(name: string, port?: number): Promise<BenchDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), `org-credits-${name}-`));
  const server = await startDatabaseServer({ dataDir, port: port ?? (await freePort()) });
  const stop = async () => {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const url = await createDatabase(server.adminUrl, name, { replace: true });
    await migrate(url);
    await seed(url);
    return { url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
