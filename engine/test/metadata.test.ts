import { join } from 'node:path';
import { useTestDatabase } from '@org-credits/db/testing';
import { buildClientSchema, getIntrospectionQuery, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv, createEngine, type Engine } from '../src/index.ts';
import { loadMetadataDir } from '../src/metadata/load.ts';
import type { Metadata } from '../src/metadata/types.ts';
import { metadataValidator } from '../src/metadata/validate.ts';
import { ADMIN_SECRET, as, gql, metadata, ok, setupFixture, startEngine, USER_A } from './helpers.ts';

const db = await useTestDatabase();
let engine: Engine;
const repoMetadata = join(import.meta.dirname, '..', '..', 'hasura', 'metadata');
const validateMetadata = metadataValidator();

beforeAll(async () => {
  engine = await startEngine(db);
  await setupFixture(engine);
});
afterAll(async () => {
  await engine?.close();
});

describe('the metadata API', () => {
  it('stores the metadata in hdb_catalog.hdb_metadata with a resource version that grows', async () => {
    const before = (await db.pool.query('select resource_version from hdb_catalog.hdb_metadata where id = 1')).rows[0].resource_version;
    await ok(engine, {
      type: 'pg_create_select_permission',
      args: { table: { schema: 't', name: 'orgs' }, role: 'auditor', permission: { columns: ['id'], filter: {} } },
    });
    const after = (await db.pool.query('select resource_version, metadata from hdb_catalog.hdb_metadata where id = 1')).rows[0];
    expect(after.resource_version).toBe(before + 1);
    expect(JSON.stringify(after.metadata)).toContain('auditor');
    await ok(engine, { type: 'pg_drop_select_permission', args: { table: { schema: 't', name: 'orgs' }, role: 'auditor' } });
  });

  it('exports metadata that validates against Hasura’s metadata schema', async () => {
    const exported = (await ok(engine, { type: 'export_metadata', args: {} })) as Metadata;
    expect(exported.version).toBe(3);
    expect(exported.sources[0]?.tables.map((t) => t.table.name).sort()).toEqual(['entries', 'members', 'orgs']);
    expect(validateMetadata(exported)).toEqual([]);
    expect(validateMetadata({ version: 3, sources: [{ name: 1 }] }).length).toBeGreaterThan(0);
  });

  it('round-trips replace_metadata and export_metadata', async () => {
    const exported = await ok(engine, { type: 'export_metadata', args: {} });
    await ok(engine, { type: 'replace_metadata', args: exported });
    expect(await ok(engine, { type: 'export_metadata', args: {} })).toEqual(exported);
  });

  it('rejects an inconsistent change and keeps the metadata as it was', async () => {
    const before = await ok(engine, { type: 'export_metadata', args: {} });
    const answer = await metadata(engine, {
      type: 'bulk',
      args: [
        {
          type: 'pg_create_select_permission',
          args: { table: { schema: 't', name: 'orgs' }, role: 'x', permission: { columns: '*', filter: {} } },
        },
        { type: 'pg_track_table', args: { table: { schema: 't', name: 'no_such_table' } } },
      ],
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ code: 'invalid-configuration', error: 'no such table/view exists in source: "no_such_table"' });
    expect(await ok(engine, { type: 'export_metadata', args: {} })).toEqual(before);
  });

  it('refuses metadata it does not support, naming it', async () => {
    const answer = await metadata(engine, {
      type: 'replace_metadata',
      args: { version: 3, sources: [], remote_schemas: [{ name: 'rs', definition: { url: 'http://x' } }] },
    });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toContain('remote_schemas');
    const unknown = await metadata(engine, { type: 'add_remote_schema', args: {} });
    expect(unknown.body).toMatchObject({ code: 'not-supported' });
  });

  it('refuses introspection turned off for a role, which it would still answer', async () => {
    const before = await ok(engine, { type: 'export_metadata', args: {} });
    const answer = await metadata(engine, {
      type: 'replace_metadata',
      args: { version: 3, sources: [], graphql_schema_introspection: { disabled_for_roles: ['anonymous'] } },
    });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toContain('graphql_schema_introspection (disabled_for_roles)');
    expect(await ok(engine, { type: 'export_metadata', args: {} })).toEqual(before);
  });

  it('is admin only (a wrong admin secret is a 401, as Hasura answers)', async () => {
    const answer = await metadata(engine, { type: 'export_metadata', args: {} }, '/v1/metadata', 'wrong');
    expect(answer).toEqual({
      status: 401,
      body: { path: '$', error: 'invalid x-hasura-admin-secret/x-hasura-access-key', code: 'access-denied' },
    });
  });

  it('runs SQL through run_sql, answering rows as text, and purges dropped tables from the metadata', async () => {
    const rows = await ok(engine, { type: 'run_sql', args: { sql: 'select 1 as a, null::text as b, 2.50::numeric as c' } }, '/v2/query');
    expect(rows).toEqual({
      result_type: 'TuplesOk',
      result: [
        ['a', 'b', 'c'],
        ['1', null, '2.50'],
      ],
    });
    await ok(
      engine,
      {
        type: 'bulk',
        args: [
          { type: 'run_sql', args: { sql: 'create table t.tmp (id int primary key)' } },
          { type: 'track_table', args: { schema: 't', name: 'tmp' } },
        ],
      },
      '/v1/query',
    );
    expect((await gql(engine, '{ t_tmp { id } }')).body).toEqual({ data: { t_tmp: [] } });
    await ok(engine, { type: 'run_sql', args: { sql: 'drop table t.tmp' } }, '/v2/query');
    const exported = (await ok(engine, { type: 'export_metadata', args: {} })) as Metadata;
    expect(exported.sources[0]?.tables.some((t) => t.table.name === 'tmp')).toBe(false);
  });

  it('answers a failing run_sql with postgres-error and changes nothing', async () => {
    const answer = await metadata(
      engine,
      { type: 'run_sql', args: { sql: 'create table t.x (id int); select * from nowhere' } },
      '/v2/query',
    );
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ code: 'postgres-error', error: 'query execution failed' });
    const exists = await db.pool.query(`select to_regclass('t.x') as r`);
    expect(exists.rows[0].r).toBeNull();
  });

  it('serves /healthz and /v1/version', async () => {
    expect(await (await fetch(`${engine.url}/healthz`)).text()).toBe('OK');
    expect(await (await fetch(`${engine.url}/v1/version`)).json()).toMatchObject({ version: expect.stringMatching(/^v2\./) });
  });
});

describe('introspection per role', () => {
  const introspect = async (headers: Record<string, string>) => {
    const { body } = await gql(engine, getIntrospectionQuery(), { headers });
    return buildClientSchema(body.data as never);
  };

  it('gives the admin every table and mutation, and a client schema that validates queries', async () => {
    const schema = await introspect({ 'x-hasura-admin-secret': ADMIN_SECRET });
    expect(Object.keys(schema.getQueryType()?.getFields() ?? {})).toEqual(
      expect.arrayContaining(['orgs', 'entries', 'entry', 'entries_aggregate', 't_search_entries']),
    );
    expect(Object.keys(schema.getMutationType()?.getFields() ?? {})).toEqual(
      expect.arrayContaining(['insert_entries', 'update_entries_many', 'delete_orgs_by_pk', 't_add_entry']),
    );
    const errors = validate(
      schema,
      parse('{ orgs(where: {name: {_ilike: "%a%"}}, order_by: {name: asc}) { id entries(limit: 2) { amount } } }'),
    );
    expect(errors).toEqual([]);
  });

  it('shows a role exactly the fields its permissions allow', async () => {
    const schema = await introspect(as('member', { 'user-id': USER_A }));
    const query = schema.getQueryType()?.getFields() ?? {};
    expect(Object.keys(query).sort()).toEqual([
      'entries',
      'entries_aggregate',
      'entry',
      'members',
      'members_by_pk',
      'orgs',
      'orgs_by_pk',
      't_my_entries',
      't_my_entries_aggregate',
      't_search_entries',
      't_search_entries_aggregate',
    ]);
    const entries = schema.getType('entries') as import('graphql').GraphQLObjectType;
    expect(Object.keys(entries.getFields()).sort()).toEqual(['amount', 'created_at', 'double', 'id', 'kind', 'note', 'org', 'org_id']);
    expect(Object.keys(schema.getMutationType()?.getFields() ?? {}).sort()).toEqual([
      'delete_entries',
      'delete_entries_by_pk',
      'insert_entries',
      'insert_entries_one',
      'update_entries',
      'update_entries_by_pk',
      'update_entries_many',
    ]);
  });
});

describe('start-up from a metadata directory', () => {
  it('loads the project’s hasura/metadata into the same model export_metadata returns, actions served', async () => {
    const fromDir = loadMetadataDir(repoMetadata);
    expect(validateMetadata(fromDir)).toEqual([]);
    const logs: Record<string, unknown>[] = [];
    const dirEngine = await createEngine(
      configFromEnv({
        HASURA_GRAPHQL_DATABASE_URL: db.url,
        HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
        ORG_CREDITS_ENGINE_METADATA_DIR: repoMetadata,
      }),
      { log: (e) => logs.push(e), poolSize: 2 },
    );
    try {
      await dirEngine.listen(0, '127.0.0.1');
      const exported = await ok(dirEngine, { type: 'export_metadata', args: {} });
      expect(exported).toEqual(fromDir);
      // Every role's schema introspects into a valid client schema (what Apollo and codegen read).
      for (const role of ['admin', ...dirEngine.core.model.roles]) {
        const { body } = await gql(dirEngine, getIntrospectionQuery(), {
          headers: as(role, { 'org-id': '00000000-0000-0000-0000-000000000000', 'user-id': USER_A }),
        });
        expect(body.errors, role).toBeUndefined();
        expect(() => buildClientSchema(body.data as never), role).not.toThrow();
      }
      // Actions are served (src/actions): no warning about them, none in /healthz.
      expect(logs.some((l) => /not serve|not served/.test(String(l.message)))).toBe(false);
      expect(await (await fetch(`${dirEngine.url}/healthz`)).text()).not.toMatch(/unsupported metadata/);
    } finally {
      await dirEngine.close();
    }
  });
});

describe('CORS', () => {
  it('answers a browser preflight and echoes an allowed origin, as Hasura does by default', async () => {
    const preflight = await fetch(`${engine.url}/v1/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization,content-type');
    const post = await fetch(`${engine.url}/v1/graphql`, {
      method: 'POST',
      headers: { origin: 'http://localhost:5173', 'content-type': 'application/json', 'x-hasura-admin-secret': ADMIN_SECRET },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(post.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(await post.json()).toEqual({ data: { __typename: 'query_root' } });
  });

  it('allows only the configured origins when HASURA_GRAPHQL_CORS_DOMAIN is set', async () => {
    const { originAllowed } = await import('../src/server.ts');
    expect(originAllowed('https://app.example.com', ['https://*.example.com'])).toBe(true);
    expect(originAllowed('https://evil.com', ['https://*.example.com', 'http://localhost:5173'])).toBe(false);
  });
});
