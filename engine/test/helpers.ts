// Test helpers: an engine in-process on port 0 against the test file's own database.
import type { TestDatabase } from '@org-credits/db/testing';
import { afterAll } from 'vitest';
import { configFromEnv, createEngine, type Engine } from '../src/index.ts';

export const ADMIN_SECRET = 'test-admin-secret';

export async function startEngine(
  db: TestDatabase,
  env: Record<string, string> = {},
  options: { httpDrainMs?: number } = {},
): Promise<Engine> {
  const config = configFromEnv(
    {
      HASURA_GRAPHQL_DATABASE_URL: db.url,
      HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
      ORG_CREDITS_ENGINE_METADATA_DIR: '',
      ...env,
    },
    process.cwd(),
  );
  const engine = await createEngine(config, { log: () => undefined, poolSize: 4, ...options });
  await engine.listen(0, '127.0.0.1');
  return engine;
}

export interface GqlAnswer {
  status: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions: { code: string; path: string } }[];
  };
}

export async function gql(
  engine: Engine,
  query: string,
  options: { variables?: Record<string, unknown>; headers?: Record<string, string>; operationName?: string } = {},
): Promise<GqlAnswer> {
  const res = await fetch(`${engine.url}/v1/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.headers ?? { 'x-hasura-admin-secret': ADMIN_SECRET }) },
    body: JSON.stringify({ query, variables: options.variables, operationName: options.operationName }),
  });
  const body = (await res.json()) as GqlAnswer['body'];
  if (process.env.ENGINE_TEST_DEBUG && body.errors) console.log(query, JSON.stringify(body.errors));
  return { status: res.status, body };
}

/** Headers acting as a role through the admin secret, as Hasura allows. */
export function as(role: string, vars: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { 'x-hasura-admin-secret': ADMIN_SECRET, 'x-hasura-role': role };
  for (const [k, v] of Object.entries(vars)) headers[`x-hasura-${k}`] = v;
  return headers;
}

export async function metadata(
  engine: Engine,
  op: unknown,
  path = '/v1/metadata',
  secret = ADMIN_SECRET,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${engine.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hasura-admin-secret': secret },
    body: JSON.stringify(op),
  });
  return { status: res.status, body: await res.json() };
}

export async function ok(engine: Engine, op: unknown, path = '/v1/metadata'): Promise<unknown> {
  const answer = await metadata(engine, op, path);
  if (answer.status !== 200) throw new Error(`metadata call failed: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** A small multi-tenant schema: orgs, members, ledger entries, in schema `t`. */
export const fixtureSql = `
create schema t;
create table t.orgs (id uuid primary key, name text not null, balance numeric(20,3) not null default 0, meta jsonb not null default '{}');
create table t.members (org_id uuid not null references t.orgs(id), user_id uuid not null, role text not null, primary key (org_id, user_id));
create table t.entries (id bigserial primary key, org_id uuid not null references t.orgs(id), amount numeric(20,3) not null,
  kind text not null, note text, created_at timestamptz not null default '2026-01-01T00:00:00Z', tags text[] not null default '{}');
create function t.entry_double(e t.entries) returns numeric language sql stable as $$ select e.amount * 2 $$;
create function t.org_entries_over(o t.orgs, min numeric) returns setof t.entries language sql stable as $$ select * from t.entries where org_id = o.id and amount > min $$;
create function t.search_entries(q text) returns setof t.entries language sql stable as $$ select * from t.entries where note ilike '%' || q || '%' $$;
create function t.my_entries(hasura_session json) returns setof t.entries language sql stable as $$
  select e.* from t.entries e join t.members m on m.org_id = e.org_id where m.user_id = (hasura_session->>'x-hasura-user-id')::uuid $$;
create function t.add_entry(org uuid, amount numeric) returns t.entries language sql volatile as $$
  insert into t.entries (org_id, amount, kind) values (org, amount, 'grant') returning * $$;
insert into t.orgs values ('00000000-0000-0000-0000-00000000000a', 'Acme', 10.500, '{"tier":"pro"}'), ('00000000-0000-0000-0000-00000000000b', 'Beta', 3.250, '{}');
insert into t.members values ('00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a1', 'owner'),
  ('00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000b1', 'member');
insert into t.entries (org_id, amount, kind, note, created_at, tags) values
  ('00000000-0000-0000-0000-00000000000a', 10.000, 'grant', 'first grant', '2026-01-01T00:00:00Z', '{a,b}'),
  ('00000000-0000-0000-0000-00000000000a', -2.500, 'consume', 'summary', '2026-01-02T00:00:00Z', '{}'),
  ('00000000-0000-0000-0000-00000000000a', 3.000, 'grant', null, '2026-01-03T00:00:00Z', '{b}'),
  ('00000000-0000-0000-0000-00000000000b', 3.250, 'grant', 'beta grant', '2026-01-01T00:00:00Z', '{}');
`;

const orgFilter = { org: { members: { user_id: { _eq: 'X-Hasura-User-Id' } } } };

export const fixtureMetadata = [
  { type: 'pg_track_table', args: { table: { schema: 't', name: 'orgs' }, configuration: { custom_name: 'orgs' } } },
  { type: 'pg_track_table', args: { table: { schema: 't', name: 'members' }, configuration: { custom_name: 'members' } } },
  {
    type: 'pg_track_table',
    args: {
      table: { schema: 't', name: 'entries' },
      configuration: { custom_name: 'entries', custom_root_fields: { select_by_pk: 'entry' } },
    },
  },
  {
    type: 'pg_create_object_relationship',
    args: { table: { schema: 't', name: 'entries' }, name: 'org', using: { foreign_key_constraint_on: 'org_id' } },
  },
  {
    type: 'pg_create_object_relationship',
    args: { table: { schema: 't', name: 'members' }, name: 'org', using: { foreign_key_constraint_on: 'org_id' } },
  },
  {
    type: 'pg_create_array_relationship',
    args: {
      table: { schema: 't', name: 'orgs' },
      name: 'entries',
      using: { foreign_key_constraint_on: { table: { schema: 't', name: 'entries' }, column: 'org_id' } },
    },
  },
  {
    type: 'pg_create_array_relationship',
    args: {
      table: { schema: 't', name: 'orgs' },
      name: 'members',
      using: { manual_configuration: { remote_table: { schema: 't', name: 'members' }, column_mapping: { id: 'org_id' } } },
    },
  },
  {
    type: 'pg_add_computed_field',
    args: { table: { schema: 't', name: 'entries' }, name: 'double', definition: { function: { schema: 't', name: 'entry_double' } } },
  },
  {
    type: 'pg_add_computed_field',
    args: {
      table: { schema: 't', name: 'orgs' },
      name: 'entries_over',
      definition: { function: { schema: 't', name: 'org_entries_over' }, table_argument: 'o' },
    },
  },
  { type: 'pg_track_function', args: { function: { schema: 't', name: 'search_entries' } } },
  {
    type: 'pg_track_function',
    args: { function: { schema: 't', name: 'my_entries' }, configuration: { session_argument: 'hasura_session' } },
  },
  { type: 'pg_track_function', args: { function: { schema: 't', name: 'add_entry' } } },
  {
    type: 'pg_create_select_permission',
    args: {
      table: { schema: 't', name: 'orgs' },
      role: 'member',
      permission: {
        columns: ['id', 'name', 'balance'],
        filter: { members: { user_id: { _eq: 'X-Hasura-User-Id' } } },
        computed_fields: ['entries_over'],
      },
    },
  },
  {
    type: 'pg_create_select_permission',
    args: {
      table: { schema: 't', name: 'members' },
      role: 'member',
      permission: { columns: '*', filter: { user_id: { _eq: 'X-Hasura-User-Id' } } },
    },
  },
  {
    type: 'pg_create_select_permission',
    args: {
      table: { schema: 't', name: 'entries' },
      role: 'member',
      permission: {
        columns: ['id', 'org_id', 'amount', 'kind', 'note', 'created_at'],
        filter: orgFilter,
        allow_aggregations: true,
        limit: 100,
        computed_fields: ['double'],
      },
    },
  },
  {
    type: 'pg_create_insert_permission',
    args: {
      table: { schema: 't', name: 'entries' },
      role: 'member',
      permission: { columns: ['org_id', 'amount', 'note'], check: orgFilter, set: { kind: 'adjustment' } },
    },
  },
  {
    type: 'pg_create_update_permission',
    args: {
      table: { schema: 't', name: 'entries' },
      role: 'member',
      permission: { columns: ['note'], filter: orgFilter, check: { note: { _neq: 'forbidden' } } },
    },
  },
  {
    type: 'pg_create_delete_permission',
    args: {
      table: { schema: 't', name: 'entries' },
      role: 'member',
      permission: { filter: { _and: [orgFilter, { kind: { _eq: 'adjustment' } }] } },
    },
  },
];

export const ORG_A = '00000000-0000-0000-0000-00000000000a';
export const ORG_B = '00000000-0000-0000-0000-00000000000b';
export const USER_A = '00000000-0000-0000-0000-0000000000a1';
export const USER_B = '00000000-0000-0000-0000-0000000000b1';

/** An engine serving the fixture (schema `t` and its metadata) on `db` for a whole test file, closed after it. */
export async function startFixtureEngine(db: TestDatabase): Promise<Engine> {
  const engine = await startEngine(db);
  await setupFixture(engine);
  afterAll(() => engine.close());
  return engine;
}

export async function setupFixture(engine: Engine): Promise<void> {
  await ok(engine, { type: 'run_sql', args: { sql: fixtureSql } }, '/v2/query');
  await ok(engine, { type: 'bulk', args: fixtureMetadata });
}
