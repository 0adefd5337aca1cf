// The event and cron catalog, as Hasura keeps it in `hdb_catalog`: the same tables, columns and
// the `insert_event_log` function its Postgres triggers call, created idempotently so that a
// database Hasura itself prepared is used as it is. One addition: `hdb_cron_events.locked_at`,
// the time a worker claimed a cron event, so that a claim left by a crashed engine can be taken
// over (Hasura's `event_log.locked` already is such a time).

import { inTransaction } from '@org-credits/db';
import type pg from 'pg';

/** A claim older than this is taken to belong to a worker that died (Hasura's rule for `event_log.locked`). */
export const STALE_LOCK_SECONDS = 30 * 60;

/** Serializes catalog creation and trigger DDL between engine processes sharing a database. */
export const CATALOG_LOCK_KEY = 7311042;

const CATALOG_SQL = `
create schema if not exists hdb_catalog;

create or replace function hdb_catalog.gen_hasura_uuid() returns uuid
  language sql volatile as 'select gen_random_uuid()';

create table if not exists hdb_catalog.event_log (
  id text default hdb_catalog.gen_hasura_uuid() primary key,
  schema_name text not null,
  table_name text not null,
  trigger_name text not null,
  payload jsonb not null,
  delivered boolean not null default false,
  error boolean not null default false,
  tries integer not null default 0,
  created_at timestamp default now(),
  -- null: free to deliver; otherwise when a worker claimed it
  locked timestamptz,
  next_retry_at timestamp,
  archived boolean not null default false
);
create index if not exists event_log_trigger_name_idx on hdb_catalog.event_log (trigger_name);
create index if not exists event_log_fetch_events
  on hdb_catalog.event_log (locked nulls first, next_retry_at nulls first, created_at)
  where delivered = 'f' and error = 'f' and archived = 'f';

create table if not exists hdb_catalog.event_invocation_logs (
  id text default hdb_catalog.gen_hasura_uuid() primary key,
  trigger_name text,
  event_id text,
  status integer,
  request json,
  response json,
  created_at timestamp default now()
);
create index if not exists event_invocation_logs_event_id_idx on hdb_catalog.event_invocation_logs (event_id);

-- Called by every event trigger's Postgres trigger, in the transaction of the change. The session
-- variables are those the engine set for the mutation with set_config('hasura.user', <json>, true).
create or replace function hdb_catalog.insert_event_log(schema_name text, table_name text, trigger_name text, op text, row_data json)
  returns text
  language plpgsql volatile
as $fn$
declare
  v_id text := hdb_catalog.gen_hasura_uuid()::text;
begin
  insert into hdb_catalog.event_log (id, schema_name, table_name, trigger_name, payload, created_at)
  values (
    v_id, schema_name, table_name, trigger_name,
    jsonb_build_object(
      'op', op,
      'data', row_data,
      'session_variables', nullif(current_setting('hasura.user', true), '')::jsonb
    ),
    now() at time zone 'utc'
  );
  return v_id;
end
$fn$;

create table if not exists hdb_catalog.hdb_cron_events (
  id text default hdb_catalog.gen_hasura_uuid() primary key,
  trigger_name text not null,
  scheduled_time timestamptz not null,
  status text not null default 'scheduled',
  tries integer not null default 0,
  created_at timestamptz default now(),
  next_retry_at timestamptz,
  constraint valid_status check (status in ('scheduled', 'locked', 'delivered', 'error', 'dead'))
);
alter table hdb_catalog.hdb_cron_events add column if not exists locked_at timestamptz;
create unique index if not exists hdb_cron_events_unique_scheduled
  on hdb_catalog.hdb_cron_events (trigger_name, scheduled_time) where status = 'scheduled';
create index if not exists hdb_cron_event_status on hdb_catalog.hdb_cron_events (status);

create table if not exists hdb_catalog.hdb_cron_event_invocation_logs (
  id text default hdb_catalog.gen_hasura_uuid() primary key,
  event_id text references hdb_catalog.hdb_cron_events (id) on update cascade on delete cascade,
  status integer,
  request json,
  response json,
  created_at timestamptz default now()
);
create index if not exists hdb_cron_event_invocation_event_id on hdb_catalog.hdb_cron_event_invocation_logs (event_id);
`;

/** Creates the catalog if it is missing; safe to run from several engines at once. */
export async function ensureCatalog(pool: pg.Pool): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query('select pg_advisory_xact_lock($1)', [CATALOG_LOCK_KEY]);
    await client.query(CATALOG_SQL);
  });
}
