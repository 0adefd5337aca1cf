// The workspace's one database tool: where the database is, how its schema gets there, and
// how tests get databases of their own.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type PostgresMajor, type RunningPostgres, startPostgres } from './server.ts';

export { freePort, freePorts, isPortFree, type PostgresMajor, type RunningPostgres, startPostgres } from './server.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const migrationsDir = join(repoRoot, 'hasura', 'migrations', 'default');
export const seedsDir = join(repoRoot, 'hasura', 'seeds', 'default');

// Numeric columns come back from pg as exact strings (pg's default for numeric, oid 1700);
// bigint (oid 20) too. We never let either become a JavaScript float.
export { pg };

/**
 * Runs `work` on a connection checked out of `pool` and hands the connection back after it. A
 * connection the server drops meanwhile is closed rather than handed back, and its error reaches
 * `work` through the query that was running instead of crashing the process: a checked-out pg
 * client that loses its connection emits 'error', which nothing else listens for.
 */
export async function withClient<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, markBroken: (error: Error) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const markBroken = (error: Error) => {
    broken ??= error;
  };
  client.on('error', markBroken);
  try {
    return await work(client, markBroken);
  } finally {
    client.off('error', markBroken);
    client.release(broken);
  }
}

/**
 * Runs `work` in one transaction on a connection of `pool` (see withClient): commits what it
 * returns, rolls back what it throws and throws it on. A connection whose rollback fails is closed,
 * so no later caller gets one stuck in a failed transaction. `readOnly` starts it READ ONLY;
 * `rollBack` rolls it back even when `work` succeeds (to see what a change would do, writing nothing).
 */
export function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: { readOnly?: boolean; rollBack?: boolean } = {},
): Promise<T> {
  return withClient(pool, async (client, markBroken) => {
    await client.query(options.readOnly ? 'begin read only' : 'begin');
    try {
      const result = await work(client);
      if (options.rollBack) await client.query('rollback').catch(markBroken);
      else await client.query('commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch(markBroken);
      throw error;
    }
  });
}

export interface Migration {
  version: string;
  name: string;
  /** Its folder, which also holds its down.sql. */
  dir: string;
  upSql: string;
}

/** Migrations in `hasura/migrations/default/<version>_<name>/up.sql`, oldest first. */
export function listMigrations(dir = migrationsDir): Migration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && /^\d+_/.test(entry.name))
    .map((entry) => {
      const [version, ...rest] = entry.name.split('_');
      const folder = join(dir, entry.name);
      return { version: version as string, name: rest.join('_'), dir: folder, upSql: readFileSync(join(folder, 'up.sql'), 'utf8') };
    })
    .sort((a, b) => (BigInt(a.version) < BigInt(b.version) ? -1 : 1));
}

/** Seed files in `hasura/seeds/default/*.sql`, in name order. */
export function listSeeds(dir = seedsDir): { name: string; sql: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), 'utf8') }));
}

/** A hash of every migration and seed: a template database built from other files is stale. */
export function schemaFingerprint(): string {
  const hash = createHash('sha256');
  for (const m of listMigrations()) hash.update(`${m.version}\0${m.upSql}\0`);
  for (const s of listSeeds()) hash.update(`${s.name}\0${s.sql}\0`);
  return hash.digest('hex').slice(0, 16);
}

/**
 * A migration's file changed after a database applied it. The database keeps what the old file
 * made (migrations run once), so carrying on would leave it silently different from the files.
 */
export class MigrationChangedError extends Error {
  readonly code = 'MIGRATION_CHANGED';
  constructor(readonly migrations: string[]) {
    super(
      `MIGRATION_CHANGED: ${migrations.join(', ')} changed after this database applied ${migrations.length === 1 ? 'it' : 'them'}, ` +
        'and a migration runs once, so the database still has what the old version made. Rebuild the database, or put the ' +
        'change in a new migration.',
    );
    this.name = 'MigrationChangedError';
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Applies every migration not yet applied, each in its own transaction, recording it in
 * `hdb_catalog.schema_migrations` — the table the Hasura CLI itself keeps — so that a database
 * prepared here is seen as up to date by `hasura migrate apply` in production. Beside it,
 * `hdb_catalog.org_credits_migration_files` keeps each applied file's SHA-256, and a file that no
 * longer matches stops the run before anything is applied (MigrationChangedError). A migration
 * applied by another tool is recorded as it is the first time this one sees it.
 */
export async function migrate(url: string, log: (line: string) => void = () => undefined, dir = migrationsDir): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query(`create schema if not exists hdb_catalog;
      create table if not exists hdb_catalog.schema_migrations (version bigint primary key, dirty boolean not null);
      create table if not exists hdb_catalog.org_credits_migration_files (version bigint primary key, sha256 text not null)`);
    // One migrator at a time on a database.
    await client.query('select pg_advisory_lock(7311001)');
    const done = new Set(
      (await client.query<{ version: string }>('select version::text from hdb_catalog.schema_migrations')).rows.map((r) => r.version),
    );
    const recorded = new Map(
      (
        await client.query<{ version: string; sha256: string }>('select version::text, sha256 from hdb_catalog.org_credits_migration_files')
      ).rows.map((r) => [r.version, r.sha256]),
    );
    const migrations = listMigrations(dir).map((m) => ({ ...m, sha256: sha256(m.upSql) }));
    const changed = migrations.filter((m) => done.has(m.version) && recorded.has(m.version) && recorded.get(m.version) !== m.sha256);
    if (changed.length > 0) throw new MigrationChangedError(changed.map((m) => `${m.version}_${m.name}`));
    const record = 'insert into hdb_catalog.org_credits_migration_files (version, sha256) values ($1, $2) on conflict (version) do nothing';
    for (const migration of migrations) {
      if (done.has(migration.version)) {
        if (!recorded.has(migration.version)) await client.query(record, [migration.version, migration.sha256]);
        continue;
      }
      await client.query('begin');
      try {
        await client.query(migration.upSql);
        await client.query('insert into hdb_catalog.schema_migrations (version, dirty) values ($1, false)', [migration.version]);
        await client.query(record, [migration.version, migration.sha256]);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw new Error(`migration ${migration.version}_${migration.name} failed: ${(error as Error).message}`);
      }
      applied.push(`${migration.version}_${migration.name}`);
      log(`applied migration ${migration.version}_${migration.name}`);
    }
  } finally {
    await client.query('select pg_advisory_unlock(7311001)').catch(() => undefined);
    await client.end();
  }
  return applied;
}

/** Runs every seed file, each in its own transaction. Seeds are written to be re-runnable. */
export async function seed(url: string, log: (line: string) => void = () => undefined): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const file of listSeeds()) {
      await client.query('begin');
      try {
        await client.query(file.sql);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw new Error(`seed ${file.name} failed: ${(error as Error).message}`);
      }
      log(`applied seed ${file.name}`);
    }
  } finally {
    await client.end();
  }
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Creates a database (dropping one of that name first when `replace`). */
export async function createDatabase(
  adminUrl: string,
  name: string,
  options: { template?: string; replace?: boolean } = {},
): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    if (options.replace) await client.query(`drop database if exists ${quoteIdent(name)} with (force)`);
    const template = options.template ? ` template ${quoteIdent(options.template)}` : '';
    await client.query(`create database ${quoteIdent(name)}${template}`);
  } finally {
    await client.end();
  }
  return withDatabase(adminUrl, name);
}

/** Drops a database; `force` (the default) first ends every connection to it. */
export async function dropDatabase(adminUrl: string, name: string, options: { force?: boolean } = {}): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists ${quoteIdent(name)}${options.force === false ? '' : ' with (force)'}`);
  } finally {
    await client.end();
  }
}

/** Drops every database whose name starts with `prefix` (ending its connections). */
export async function dropDatabasesWithPrefix(adminUrl: string, prefix: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(`select datname from pg_database where starts_with(datname, $1)`, [prefix]);
    for (const row of rows) await client.query(`drop database if exists ${quoteIdent(row.datname)} with (force)`);
  } finally {
    await client.end();
  }
}

export async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    return (rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

/**
 * A template database with every migration and seed applied, named after the fingerprint of
 * those files, built once and cloned per test file (`create database … template …` copies files,
 * which is far faster than migrating again).
 */
export async function ensureTemplate(adminUrl: string, log: (line: string) => void = () => undefined): Promise<string> {
  const name = `org_credits_tpl_${schemaFingerprint()}`;
  if (await databaseExists(adminUrl, name)) return name;
  const building = `${name}_building_${process.pid}`;
  const url = await createDatabase(adminUrl, building, { replace: true });
  await migrate(url, log);
  await seed(url, log);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`alter database ${quoteIdent(building)} rename to ${quoteIdent(name)}`);
    await client.query(`alter database ${quoteIdent(name)} with is_template true`);
  } catch (error) {
    // Another process built the same template meanwhile: use theirs.
    await client.query(`drop database if exists ${quoteIdent(building)} with (force)`);
    if (!(await databaseExists(adminUrl, name))) throw error;
  } finally {
    await client.end();
  }
  return name;
}

export interface DatabaseServerOptions {
  /** Where the embedded cluster keeps its files. @default `<repo>/.data/pg` */
  dataDir?: string;
  /** TCP port. @default ORG_CREDITS_PG_PORT or 54329 */
  port?: number;
  major?: PostgresMajor;
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
}

export interface DatabaseServer {
  /** Superuser connection to the server's maintenance database. */
  adminUrl: string;
  /** True when we started it (and so `stop()` stops it). */
  embedded: boolean;
  stop(): Promise<void>;
}

/**
 * The database server to use: the one at `DATABASE_URL` when that is set, otherwise an embedded
 * Postgres that we start.
 */
export async function startDatabaseServer(options: DatabaseServerOptions = {}): Promise<DatabaseServer> {
  const external = process.env.DATABASE_URL;
  if (external) return { adminUrl: external, embedded: false, stop: async () => undefined };
  const server: RunningPostgres = await startPostgres({
    dataDir: options.dataDir ?? join(repoRoot, '.data', 'pg'),
    port: options.port ?? Number(process.env.ORG_CREDITS_PG_PORT ?? 54329),
    major: options.major ?? pgMajorFromEnv(),
    ...(options.settings ? { settings: options.settings } : {}),
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  return { adminUrl: server.url, embedded: true, stop: () => server.stop() };
}

export function pgMajorFromEnv(): PostgresMajor {
  const value = process.env.ORG_CREDITS_PG_MAJOR;
  if (value === undefined || value === '' || value === '18') return 18;
  if (value === '15') return 15;
  throw new Error(`ORG_CREDITS_PG_MAJOR must be 15 or 18, not ${value}`);
}
