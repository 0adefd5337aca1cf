import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { as, gql, ORG_A, ok, startEngine, startFixtureEngine, USER_A, USER_B } from './helpers.ts';

const db = await useTestDatabase();
const engine = await startFixtureEngine(db);

describe('select queries as the admin', () => {
  it('lists rows with where, order_by, limit and offset', async () => {
    const { body } = await gql(
      engine,
      `{ entries(where: {kind: {_eq: "grant"}}, order_by: {amount: desc}, limit: 2, offset: 1) { id amount kind } }`,
    );
    expect(body).toEqual({
      data: {
        entries: [
          { id: 4, amount: 3.25, kind: 'grant' },
          { id: 3, amount: 3, kind: 'grant' },
        ],
      },
    });
  });

  it('follows object and array relationships with their own arguments', async () => {
    const { body } = await gql(
      engine,
      `{ orgs(order_by: {name: asc}) { name entries(order_by: {id: desc}, limit: 1) { id org { name } } } }`,
    );
    expect(body.data).toEqual({
      orgs: [
        { name: 'Acme', entries: [{ id: 3, org: { name: 'Acme' } }] },
        { name: 'Beta', entries: [{ id: 4, org: { name: 'Beta' } }] },
      ],
    });
  });

  it('answers _by_pk with the row or null, under a custom root field name', async () => {
    const found = await gql(engine, '{ entry(id: 2) { id note } }');
    const missing = await gql(engine, '{ entry(id: 999) { id } }');
    expect(found.body).toEqual({ data: { entry: { id: 2, note: 'summary' } } });
    expect(missing.body).toEqual({ data: { entry: null } });
  });

  it('computes aggregates and nodes in one root field', async () => {
    const { body } = await gql(
      engine,
      `{ entries_aggregate(where: {org_id: {_eq: "${ORG_A}"}}) { aggregate { count sum { amount } max { amount } min { created_at } } nodes { id } } }`,
    );
    expect(body.data).toEqual({
      entries_aggregate: {
        aggregate: { count: 3, sum: { amount: 10.5 }, max: { amount: 10 }, min: { created_at: '2026-01-01T00:00:00+00:00' } },
        nodes: [{ id: 1 }, { id: 2 }, { id: 3 }],
      },
    });
  });

  it('filters with text, null, _in, _not, _or, jsonb and relationship operators', async () => {
    const q = async (where: string) =>
      (
        (await gql(engine, `{ entries(where: ${where}, order_by: {id: asc}) { id } }`)).body.data?.entries as { id: number }[] | undefined
      )?.map((e) => e.id);
    expect(await q('{note: {_ilike: "%GRANT%"}}')).toEqual([1, 4]);
    expect(await q('{note: {_is_null: true}}')).toEqual([3]);
    expect(await q('{id: {_in: [1, 4]}}')).toEqual([1, 4]);
    expect(await q('{id: {_nin: []}}')).toEqual([1, 2, 3, 4]);
    expect(await q('{id: {_in: []}}')).toEqual([]);
    expect(await q('{_not: {kind: {_eq: "grant"}}}')).toEqual([2]);
    expect(await q('{_or: [{id: {_eq: 1}}, {amount: {_lt: 0}}]}')).toEqual([1, 2]);
    expect(await q('{org: {meta: {_contains: {tier: "pro"}}}}')).toEqual([1, 2, 3]);
    expect(await q('{org: {meta: {_has_key: "tier"}}, amount: {_gt: 5}}')).toEqual([1]);
    // As in Hasura v2, a null operand is refused rather than dropped (it would widen the filter).
    expect((await gql(engine, '{ entries(where: {note: {_eq: null}}) { id } }')).body.errors?.[0]?.message).toBe(
      'unexpected null value for type "String"',
    );
    expect(await q('{note: {_regex: "^f"}}')).toEqual([1]);
  });

  it('orders through object relationships and by array relationship aggregates', async () => {
    const byOrg = await gql(engine, '{ entries(order_by: [{org: {name: desc}}, {id: asc}]) { id } }');
    expect((byOrg.body.data?.entries as { id: number }[] | undefined)?.map((e) => e.id)).toEqual([4, 1, 2, 3]);
    const byCount = await gql(engine, '{ orgs(order_by: {entries_aggregate: {count: asc}}) { name } }');
    expect(byCount.body.data).toEqual({ orgs: [{ name: 'Beta' }, { name: 'Acme' }] });
  });

  it('keeps one row per distinct_on value, following order_by', async () => {
    const { body } = await gql(engine, '{ entries(distinct_on: [org_id], order_by: [{org_id: asc}, {amount: desc}]) { id } }');
    expect(body.data).toEqual({ entries: [{ id: 1 }, { id: 4 }] });
  });

  it('refuses distinct_on that does not lead the order_by', async () => {
    const { body } = await gql(engine, '{ entries(distinct_on: [org_id], order_by: [{amount: desc}]) { id } }');
    expect(body.errors?.[0]?.message).toBe('"distinct_on" columns must match initial "order_by" columns');
  });

  it('serves computed fields, scalar and table-returning, with arguments', async () => {
    const { body } = await gql(
      engine,
      '{ orgs(where: {name: {_eq: "Acme"}}) { entries_over(args: {min: "2.9"}, order_by: {id: asc}) { id double } } }',
    );
    expect(body.data).toEqual({
      orgs: [
        {
          entries_over: [
            { id: 1, double: 20 },
            { id: 3, double: 6 },
          ],
        },
      ],
    });
  });

  it('serves tracked functions with args and aggregates', async () => {
    const { body } = await gql(
      engine,
      '{ t_search_entries(args: {q: "grant"}, order_by: {id: asc}) { id } t_search_entries_aggregate(args: {q: "grant"}) { aggregate { count } } }',
    );
    expect(body.data).toEqual({ t_search_entries: [{ id: 1 }, { id: 4 }], t_search_entries_aggregate: { aggregate: { count: 2 } } });
  });

  it('uses variables, fragments, aliases, @skip and @include', async () => {
    const { body } = await gql(
      engine,
      `query Q($id: bigint!, $no: Boolean!) { first: entry(id: $id) { ...F note @skip(if: $no) } second: entry(id: 2) { ...F kind @include(if: $no) } __typename }
       fragment F on entries { id }`,
      { variables: { id: 1, no: true } },
    );
    expect(body.data).toEqual({ first: { id: 1 }, second: { id: 2, kind: 'consume' }, __typename: 'query_root' });
  });

  it('answers an unknown field with validation-failed and its path', async () => {
    const { status, body } = await gql(engine, '{ entries { id nope } }');
    expect(status).toBe(200);
    expect(body.errors).toEqual([
      {
        message: `field "nope" not found in type: 'entries'`,
        extensions: { code: 'validation-failed', path: '$.selectionSet.entries.selectionSet.nope' },
      },
    ]);
  });

  it('refuses a negative limit and a string where an Int is expected', async () => {
    const neg = await gql(engine, '{ entries(limit: -1) { id } }');
    expect(neg.body.errors?.[0]?.extensions).toEqual({ code: 'validation-failed', path: '$.selectionSet.entries.args.limit' });
    const str = await gql(engine, 'query($l: Int) { entries(limit: $l) { id } }', { variables: { l: '1' } });
    expect(str.body.errors?.[0]?.extensions.code).toBe('validation-failed');
  });
});

describe('select permissions', () => {
  it('shows a member only the rows of their own org, and only allowed columns', async () => {
    const { body } = await gql(engine, '{ entries(order_by: {id: asc}) { id org_id } }', { headers: as('member', { 'user-id': USER_B }) });
    expect(body.data).toEqual({ entries: [{ id: 4, org_id: '00000000-0000-0000-0000-00000000000b' }] });
    const hidden = await gql(engine, '{ entries { tags } }', { headers: as('member', { 'user-id': USER_B }) });
    expect(hidden.body.errors?.[0]?.message).toBe(`field "tags" not found in type: 'entries'`);
  });

  it('applies the filter through relationships too', async () => {
    const { body } = await gql(engine, '{ orgs { name entries_aggregate { aggregate { count } } } }', {
      headers: as('member', { 'user-id': USER_A }),
    });
    expect(body.data).toEqual({ orgs: [{ name: 'Acme', entries_aggregate: { aggregate: { count: 3 } } }] });
  });

  it('hides aggregates where allow_aggregations is not set', async () => {
    const { body } = await gql(engine, '{ orgs_aggregate { aggregate { count } } }', { headers: as('member', { 'user-id': USER_A }) });
    expect(body.errors?.[0]?.message).toBe(`field "orgs_aggregate" not found in type: 'query_root'`);
  });

  it('passes the session to a function with a session argument', async () => {
    const { body } = await gql(engine, '{ t_my_entries(order_by: {id: asc}) { id } }', { headers: as('member', { 'user-id': USER_B }) });
    expect(body.data).toEqual({ t_my_entries: [{ id: 4 }] });
  });

  it('answers not-found when a session variable the permission needs is missing', async () => {
    const { body } = await gql(engine, '{ entries { id } }', { headers: as('member') });
    expect(body.errors).toEqual([
      { message: 'missing session variable: "x-hasura-user-id"', extensions: { code: 'not-found', path: '$' } },
    ]);
  });

  it('gives a role without permissions no root fields', async () => {
    const { body } = await gql(engine, '{ entries { id } }', { headers: as('stranger', { 'user-id': USER_A }) });
    expect(body.errors?.[0]?.message).toBe(`field "entries" not found in type: 'query_root'`);
  });

  it('never lets a session variable or argument change the SQL: injection attempts match nothing', async () => {
    const attack = `${USER_A}' or '1'='1`;
    const viaSession = await gql(engine, '{ entries { id } }', { headers: as('member', { 'user-id': attack }) });
    expect(viaSession.body.errors?.[0]?.extensions.code).toBe('data-exception');
    const viaArg = await gql(engine, `{ entries(where: {note: {_eq: "x' or 1=1 --"}}) { id } }`);
    expect(viaArg.body.data).toEqual({ entries: [] });
    const viaVar = await gql(engine, 'query($n: String) { entries(where: {note: {_like: $n}}) { id } }', {
      variables: { n: "%'; drop table t.entries; --" },
    });
    expect(viaVar.body.data).toEqual({ entries: [] });
    const viaFnArg = await gql(engine, `{ t_search_entries(args: {q: "'); delete from t.entries; --"}) { id } }`);
    expect(viaFnArg.body.data).toEqual({ t_search_entries: [] });
    const viaAlias = await gql(engine, '{ a: entries(limit: 1, order_by: {id: asc}) { b: id } }');
    expect(viaAlias.body.data).toEqual({ a: [{ b: 1 }] });
    const count = await db.pool.query('select count(*)::int as n from t.entries');
    expect(count.rows[0].n).toBe(4);
  });
});

describe('error detail', () => {
  it('shows Postgres detail to the admin by default and hides it when HASURA_GRAPHQL_ADMIN_INTERNAL_ERRORS is false', async () => {
    const query = '{ entries(where: {org_id: {_eq: "not-a-uuid"}}) { id } }';
    const withDetail = await gql(engine, query);
    expect(withDetail.body.errors?.[0]?.extensions).toMatchObject({ code: 'data-exception', internal: expect.any(Object) });
    const quiet = await startEngine(db, { HASURA_GRAPHQL_ADMIN_INTERNAL_ERRORS: 'false' });
    try {
      const withoutDetail = await gql(quiet, query);
      expect(withoutDetail.body.errors).toEqual([
        { message: 'invalid input syntax for type uuid: "not-a-uuid"', extensions: { code: 'data-exception', path: '$' } },
      ]);
    } finally {
      await quiet.close();
    }
  });
});

describe('plan cache', () => {
  it('answers the same query text right whether a variable is null or not, in either order', async () => {
    const query = 'query($note: String, $limit: Int) { entries(where: {note: {_eq: $note}}, limit: $limit, order_by: {id: asc}) { id } }';
    const ids = async (variables: Record<string, unknown>) =>
      ((await gql(engine, query, { variables })).body.data?.entries as { id: number }[] | undefined)?.map((e) => e.id);
    expect(await ids({ note: 'summary', limit: 5 })).toEqual([2]);
    expect(await ids({ note: 'summary', limit: null })).toEqual([2]);
    // A null operand is refused (as Hasura v2 refuses it) whether or not a plan for the text is cached.
    const refused = await gql(engine, query, { variables: { note: null, limit: null } });
    expect(refused.body.errors?.[0]?.message).toBe('unexpected null value for type "String"');
    expect(await ids({ note: 'first grant', limit: 1 })).toEqual([1]);
    expect((await gql(engine, query, { variables: {} })).body.errors?.[0]?.message).toBe('unexpected null value for type "String"');
    const byLimit = 'query($limit: Int) { entries(limit: $limit, order_by: {id: asc}) { id } }';
    const limited = async (variables: Record<string, unknown>) =>
      ((await gql(engine, byLimit, { variables })).body.data?.entries as { id: number }[] | undefined)?.map((e) => e.id);
    expect(await limited({ limit: 1 })).toEqual([1]);
    expect(await limited({ limit: null })).toEqual([1, 2, 3, 4]);
    expect(await limited({ limit: 2 })).toEqual([1, 2]);
    expect(await limited({})).toEqual([1, 2, 3, 4]);
  });
});

describe('object relationship nullability, as Hasura types it', () => {
  it('is non-null only on the table’s own foreign key with NOT NULL columns; nullable foreign keys, reverse and manual ones are nullable', async () => {
    await db.pool.query(`
      create table t.notes (id serial primary key, entry_id bigint references t.entries(id), org_id uuid not null references t.orgs(id));
      create table t.org_profiles (org_id uuid primary key references t.orgs(id), bio text);`);
    const table = (name: string) => ({ schema: 't', name });
    await ok(engine, {
      type: 'bulk',
      args: [
        { type: 'pg_track_table', args: { table: table('notes') } },
        { type: 'pg_track_table', args: { table: table('org_profiles') } },
        {
          type: 'pg_create_object_relationship',
          args: { table: table('notes'), name: 'entry', using: { foreign_key_constraint_on: 'entry_id' } },
        },
        {
          type: 'pg_create_object_relationship',
          args: { table: table('notes'), name: 'org', using: { foreign_key_constraint_on: 'org_id' } },
        },
        {
          type: 'pg_create_object_relationship',
          args: {
            table: table('notes'),
            name: 'org_by_hand',
            using: { manual_configuration: { remote_table: table('orgs'), column_mapping: { org_id: 'id' } } },
          },
        },
        {
          type: 'pg_create_object_relationship',
          args: {
            table: table('orgs'),
            name: 'profile',
            using: { foreign_key_constraint_on: { table: table('org_profiles'), column: 'org_id' } },
          },
        },
      ],
    });
    const typeOf = async (typeName: string, field: string) => {
      const { body } = await gql(engine, `{ __type(name: "${typeName}") { fields { name type { kind name ofType { name } } } } }`);
      const found = body.data?.__type as { fields: { name: string; type: unknown }[] } | undefined;
      return found?.fields.find((f) => f.name === field)?.type ?? body.errors;
    };
    expect(await typeOf('t_notes', 'org')).toEqual({ kind: 'NON_NULL', name: null, ofType: { name: 'orgs' } });
    expect(await typeOf('t_notes', 'entry')).toEqual({ kind: 'OBJECT', name: 'entries', ofType: null });
    expect(await typeOf('t_notes', 'org_by_hand')).toEqual({ kind: 'OBJECT', name: 'orgs', ofType: null });
    expect(await typeOf('orgs', 'profile')).toEqual({ kind: 'OBJECT', name: 't_org_profiles', ofType: null });
    expect(await typeOf('entries', 'org')).toEqual({ kind: 'NON_NULL', name: null, ofType: { name: 'orgs' } });
  });
});
