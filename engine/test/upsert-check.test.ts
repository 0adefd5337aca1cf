// Upserts: a row that on_conflict updated is checked against the update permission's `check`, a row
// that was inserted against the insert permission's, as Hasura v2's `insertOrUpdateCheckExpr`
// (Translate/Insert.hs: `CASE WHEN xmax = 0 THEN <insert check> ELSE <update check> END`); when the
// update permission has no `check`, every row against the insert permission's. The engine checked
// updated rows against the insert permission's `check` always.
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { as, gql, ok, startEngine } from './helpers.ts';

const db = await useTestDatabase();
let engine: Engine;

const table = { schema: 'u', name: 'caps' };
const insertCheck = { _and: [{ cap: { _lte: 100 } }, { note: { _neq: 'update-only' } }] };
const updateCheck = { cap: { _lte: 50 } };

beforeAll(async () => {
  engine = await startEngine(db);
  await ok(
    engine,
    { type: 'run_sql', args: { sql: 'create schema u; create table u.caps (id int primary key, cap int not null, note text);' } },
    '/v2/query',
  );
  await ok(engine, {
    type: 'bulk',
    args: [
      { type: 'pg_track_table', args: { table, configuration: { custom_name: 'caps' } } },
      ...['checked', 'unchecked'].map((role) => ({
        type: 'pg_create_insert_permission',
        args: { table, role, permission: { columns: ['id', 'cap', 'note'], check: insertCheck } },
      })),
      ...['checked', 'unchecked'].map((role) => ({
        type: 'pg_create_select_permission',
        args: { table, role, permission: { columns: ['id', 'cap', 'note'], filter: {} } },
      })),
      {
        type: 'pg_create_update_permission',
        args: { table, role: 'checked', permission: { columns: ['cap', 'note'], filter: {}, check: updateCheck } },
      },
      { type: 'pg_create_update_permission', args: { table, role: 'unchecked', permission: { columns: ['cap', 'note'], filter: {} } } },
    ],
  });
});
afterAll(async () => {
  await engine?.close();
});
beforeEach(async () => {
  await db.pool.query("truncate u.caps; insert into u.caps values (1, 10, 'old')");
});

const rows = async () => (await db.pool.query('select id, cap, note from u.caps order by id')).rows;

const upsert = `mutation($o: [caps_insert_input!]!) {
  insert_caps(objects: $o, on_conflict: {constraint: caps_pkey, update_columns: [cap, note]}) { affected_rows returning { id cap note } }
}`;
const upsertOne = `mutation($o: caps_insert_input!) {
  insert_caps_one(object: $o, on_conflict: {constraint: caps_pkey, update_columns: [cap, note]}) { id cap note }
}`;
// Hasura's answer (tests-py graphql_mutation/insert/permissions/user_insert_account_fail.yaml).
const violation = {
  errors: [
    {
      message: 'Check constraint violation. insert/update check constraint failed',
      extensions: { code: 'permission-error', path: '$.selectionSet.insert_caps.args.objects' },
    },
  ],
};

const oneViolation = {
  errors: [{ ...violation.errors[0], extensions: { code: 'permission-error', path: '$.selectionSet.insert_caps_one.args.objects' } }],
};

describe('an upsert by a role whose update permission has a check', () => {
  const checked = { headers: as('checked') };

  it('checks an updated row against the update check: refused when only the insert check holds', async () => {
    const answer = await gql(engine, upsert, { ...checked, variables: { o: [{ id: 1, cap: 80, note: 'x' }] } });
    expect(answer.body).toEqual(violation);
    expect(await rows()).toEqual([{ id: 1, cap: 10, note: 'old' }]);
    const one = await gql(engine, upsertOne, { ...checked, variables: { o: { id: 1, cap: 80, note: 'x' } } });
    expect(one.body).toEqual(oneViolation);
    expect(await rows()).toEqual([{ id: 1, cap: 10, note: 'old' }]);
  });

  it('lets an updated row through when the update check holds and the insert check does not', async () => {
    const answer = await gql(engine, upsert, { ...checked, variables: { o: [{ id: 1, cap: 40, note: 'update-only' }] } });
    expect(answer.body).toEqual({ data: { insert_caps: { affected_rows: 1, returning: [{ id: 1, cap: 40, note: 'update-only' }] } } });
    expect(await rows()).toEqual([{ id: 1, cap: 40, note: 'update-only' }]);
  });

  it('checks an inserted row against the insert check only', async () => {
    const answer = await gql(engine, upsert, { ...checked, variables: { o: [{ id: 2, cap: 80, note: 'new' }] } });
    expect(answer.body).toEqual({ data: { insert_caps: { affected_rows: 1, returning: [{ id: 2, cap: 80, note: 'new' }] } } });
    const refused = await gql(engine, upsert, { ...checked, variables: { o: [{ id: 3, cap: 40, note: 'update-only' }] } });
    expect(refused.body).toEqual(violation);
    expect(await rows()).toEqual([
      { id: 1, cap: 10, note: 'old' },
      { id: 2, cap: 80, note: 'new' },
    ]);
  });

  it('checks each row of one upsert by what happened to it', async () => {
    const both = [
      { id: 1, cap: 50, note: 'update-only' },
      { id: 2, cap: 100, note: 'new' },
    ];
    const answer = await gql(engine, upsert, { ...checked, variables: { o: both } });
    expect(answer.body).toEqual({ data: { insert_caps: { affected_rows: 2, returning: both } } });
    const swapped = [
      { id: 2, cap: 100, note: 'again' },
      { id: 3, cap: 1, note: 'new' },
    ];
    expect((await gql(engine, upsert, { ...checked, variables: { o: swapped } })).body).toEqual(violation);
    expect(await rows()).toEqual(both);
  });

  it('an insert without on_conflict checks the insert check only', async () => {
    const answer = await gql(engine, 'mutation { insert_caps(objects: [{id: 2, cap: 80}]) { affected_rows } }', checked);
    expect(answer.body).toEqual({ data: { insert_caps: { affected_rows: 1 } } });
  });
});

describe('an upsert by a role whose update permission has no check', () => {
  const unchecked = { headers: as('unchecked') };

  it('checks updated rows against the insert check, as Hasura does for backwards compatibility', async () => {
    const answer = await gql(engine, upsert, { ...unchecked, variables: { o: [{ id: 1, cap: 80, note: 'x' }] } });
    expect(answer.body).toEqual({ data: { insert_caps: { affected_rows: 1, returning: [{ id: 1, cap: 80, note: 'x' }] } } });
    const refused = await gql(engine, upsert, { ...unchecked, variables: { o: [{ id: 1, cap: 40, note: 'update-only' }] } });
    expect(refused.body).toEqual(violation);
    const tooBig = await gql(engine, upsertOne, { ...unchecked, variables: { o: { id: 1, cap: 101 } } });
    expect(tooBig.body).toEqual(oneViolation);
    expect(await rows()).toEqual([{ id: 1, cap: 80, note: 'x' }]);
  });
});
