// Metadata kept in the database as Hasura keeps it: hdb_catalog.hdb_metadata (one row, id 1) with
// a resource version bumped on every change.
import { withClient } from '@org-credits/db';
import type pg from 'pg';
import type { Metadata } from './types.ts';

export const bootstrapSql = `
create schema if not exists hdb_catalog;
create table if not exists hdb_catalog.hdb_metadata (
  id integer primary key,
  metadata json not null,
  resource_version integer not null default 1 unique
);
create or replace function hdb_catalog.check_violation(hasura_error_message text) returns boolean
language plpgsql as $$
begin
  raise exception using errcode = 'HC001', message = hasura_error_message;
end;
$$;
`;

export async function bootstrap(db: pg.Pool | pg.PoolClient): Promise<void> {
  if (!('release' in db)) return withClient(db, (client) => bootstrap(client));
  // One engine at a time creates the catalog.
  await db.query('select pg_advisory_lock(7311002)');
  try {
    await db.query(bootstrapSql);
  } finally {
    await db.query('select pg_advisory_unlock(7311002)');
  }
}

export async function readMetadata(db: pg.Pool | pg.PoolClient): Promise<{ metadata: Metadata; resourceVersion: number } | null> {
  const { rows } = await db.query<{ metadata: Metadata; resource_version: number }>(
    'select metadata, resource_version from hdb_catalog.hdb_metadata where id = 1',
  );
  const row = rows[0];
  return row ? { metadata: row.metadata, resourceVersion: row.resource_version } : null;
}

/** Saves the metadata, returning the new resource version. */
export async function writeMetadata(db: pg.Pool | pg.PoolClient, metadata: Metadata): Promise<number> {
  const { rows } = await db.query<{ resource_version: number }>(
    `insert into hdb_catalog.hdb_metadata (id, metadata, resource_version) values (1, $1::json, 1)
     on conflict (id) do update set metadata = excluded.metadata, resource_version = hdb_catalog.hdb_metadata.resource_version + 1
     returning resource_version`,
    [JSON.stringify(metadata)],
  );
  return (rows[0] as { resource_version: number }).resource_version;
}
