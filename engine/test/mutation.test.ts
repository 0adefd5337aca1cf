import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { as, gql, ORG_A, ORG_B, setupFixture, startEngine, USER_A, USER_B } from './helpers.ts';

const db = await useTestDatabase();
let engine: Engine;

beforeAll(async () => {
  engine = await startEngine(db, { HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true' });
  await setupFixture(engine);
});
afterAll(async () => {
  await engine?.close();
});

const snapshot = async () => (await db.pool.query('select id, org_id, amount::text, kind, note from t.entries order by id')).rows;
const member = (user: string) => as('member', { 'user-id': user });

describe('inserts', () => {
  it('inserts rows, applies the preset, and returns them with numeric as strings', async () => {
    const { body } = await gql(
      engine,
      `mutation($o: [entries_insert_input!]!) { insert_entries(objects: $o) { affected_rows returning { amount kind note org { name } } } }`,
      { variables: { o: [{ org_id: ORG_A, amount: '1.125', note: 'n1' }] }, headers: member(USER_A) },
    );
    expect(body).toEqual({
      data: {
        insert_entries: { affected_rows: 1, returning: [{ amount: '1.125', kind: 'adjustment', note: 'n1', org: { name: 'Acme' } }] },
      },
    });
  });

  it('fails the check for another org and leaves the database unchanged', async () => {
    const before = await snapshot();
    const { body } = await gql(engine, `mutation { insert_entries_one(object: {org_id: "${ORG_B}", amount: "5"}) { id } }`, {
      headers: member(USER_A),
    });
    expect(body.errors?.[0]?.extensions.code).toBe('permission-error');
    expect(body.errors?.[0]?.message).toBe('Check constraint violation. insert/update check constraint failed');
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a column the role may not insert', async () => {
    const { body } = await gql(engine, `mutation { insert_entries_one(object: {org_id: "${ORG_A}", amount: "5", kind: "grant"}) { id } }`, {
      headers: member(USER_A),
    });
    expect(body.errors?.[0]?.message).toBe(`field "kind" not found in type: 'entries_insert_input'`);
  });

  it('maps constraint violations to constraint-violation', async () => {
    const { body } = await gql(
      engine,
      'mutation { insert_orgs_one(object: {id: "00000000-0000-0000-0000-00000000000a", name: "dup"}) { id } }',
    );
    expect(body.errors?.[0]?.extensions.code).toBe('constraint-violation');
    expect(body.errors?.[0]?.message).toMatch(/^Uniqueness violation\. duplicate key value violates unique constraint "orgs_pkey"/);
  });

  it('upserts with on_conflict', async () => {
    const { body } = await gql(
      engine,
      `mutation { insert_orgs_one(object: {id: "${ORG_B}", name: "Beta 2"}, on_conflict: {constraint: orgs_pkey, update_columns: [name]}) { name balance } }`,
    );
    expect(body).toEqual({ data: { insert_orgs_one: { name: 'Beta 2', balance: '3.250' } } });
  });

  it('inserts nested object and array relationships in one request', async () => {
    const { body } = await gql(
      engine,
      `mutation { insert_members_one(object: {user_id: "00000000-0000-0000-0000-0000000000c1", role: "owner",
          org: {data: {id: "00000000-0000-0000-0000-00000000000c", name: "Gamma", entries: {data: [{amount: "1", kind: "grant"}, {amount: "2", kind: "grant"}]}}}}) {
          role org { name } } }`,
    );
    expect(body).toEqual({ data: { insert_members_one: { role: 'owner', org: { name: 'Gamma' } } } });
    const rows = await db.pool.query(
      `select amount::text from t.entries where org_id = '00000000-0000-0000-0000-00000000000c' order by amount`,
    );
    expect(rows.rows).toEqual([{ amount: '1.000' }, { amount: '2.000' }]);
  });
});

describe('updates and deletes', () => {
  it('updates only the rows the filter allows, with _set', async () => {
    const { body } = await gql(engine, 'mutation { update_entries(where: {}, _set: {note: "seen"}) { affected_rows } }', {
      headers: member(USER_B),
    });
    expect(body).toEqual({ data: { update_entries: { affected_rows: 1 } } });
    const notes = await db.pool.query(`select count(*)::int as n from t.entries where note = 'seen'`);
    expect(notes.rows[0].n).toBe(1);
  });

  it('fails the update check and rolls back every root field of the request', async () => {
    const before = await snapshot();
    const { body } = await gql(
      engine,
      `mutation { a: update_entries(where: {id: {_eq: 1}}, _set: {note: "ok"}) { affected_rows } b: update_entries_by_pk(pk_columns: {id: 1}, _set: {note: "forbidden"}) { id } }`,
      { headers: member(USER_A) },
    );
    expect(body.errors?.[0]?.extensions.code).toBe('permission-error');
    expect(await snapshot()).toEqual(before);
  });

  it('increments numbers and edits jsonb as the admin', async () => {
    const { body } = await gql(
      engine,
      `mutation { update_orgs_by_pk(pk_columns: {id: "${ORG_A}"}, _inc: {balance: "0.001"}, _append: {meta: {x: 1}}, _delete_key: {meta: "tier"}) { balance meta } }`,
    );
    expect(body).toEqual({ data: { update_orgs_by_pk: { balance: '10.501', meta: { x: 1 } } } });
  });

  it('runs update_many in order', async () => {
    const { body } = await gql(
      engine,
      `mutation { update_entries_many(updates: [{where: {id: {_eq: 2}}, _set: {note: "one"}}, {where: {note: {_eq: "one"}}, _set: {note: "two"}}]) { affected_rows } }`,
    );
    expect(body.data).toEqual({ update_entries_many: [{ affected_rows: 1 }, { affected_rows: 1 }] });
  });

  it('deletes only what the delete filter allows', async () => {
    const denied = await gql(engine, 'mutation { delete_entries(where: {id: {_eq: 1}}) { affected_rows } }', { headers: member(USER_A) });
    expect(denied.body).toEqual({ data: { delete_entries: { affected_rows: 0 } } });
    const created = await gql(engine, `mutation { insert_entries_one(object: {org_id: "${ORG_A}", amount: "1"}) { id } }`, {
      headers: member(USER_A),
    });
    const id = (created.body.data?.insert_entries_one as { id: string } | undefined)?.id;
    const allowed = await gql(engine, `mutation { delete_entries_by_pk(id: ${id}) { id } }`, { headers: member(USER_A) });
    expect(allowed.body).toEqual({ data: { delete_entries_by_pk: { id } } });
  });

  it('calls a volatile tracked function as a mutation', async () => {
    const { body } = await gql(engine, `mutation { t_add_entry(args: {org: "${ORG_B}", amount: "7.5"}) { amount kind } }`);
    expect(body).toEqual({ data: { t_add_entry: { amount: '7.500', kind: 'grant' } } });
  });

  it('tells a role with no mutations that none exist', async () => {
    const { body } = await gql(engine, 'mutation { insert_orgs(objects: []) { affected_rows } }', { headers: as('nobody') });
    expect(body.errors?.[0]?.message).toBe('no mutations exist');
  });
});

describe('SQL injection attempts through arguments', () => {
  const evil = `x'); delete from t.entries; --`;

  it('stores hostile text as text in inserts and updates, and leaves every other row alone', async () => {
    const before = await snapshot();
    const inserted = await gql(
      engine,
      'mutation($n: String) { insert_entries_one(object: {org_id: "00000000-0000-0000-0000-00000000000a", amount: "1", note: $n}) { id note } }',
      {
        variables: { n: evil },
        headers: member(USER_A),
      },
    );
    const row = inserted.body.data?.insert_entries_one as { id: string; note: string } | undefined;
    expect(row?.note).toBe(evil);
    const updated = await gql(
      engine,
      `mutation { update_entries_by_pk(pk_columns: {id: ${row?.id}}, _set: {note: "${evil.replaceAll('"', '\\"')}"}) { note } }`,
      {
        headers: member(USER_A),
      },
    );
    expect(updated.body.data).toEqual({ update_entries_by_pk: { note: evil } });
    const after = await snapshot();
    expect(after.filter((r) => r.id !== row?.id)).toEqual(before);
    await db.pool.query('delete from t.entries where id = $1', [row?.id]);
  });

  it('refuses hostile names where the SQL needs an identifier: order_by, distinct_on, on_conflict, columns', async () => {
    const checks = [
      '{ entries(order_by: {id: "asc; drop table t.entries"}) { id } }',
      '{ entries(distinct_on: ["id) ; drop table t.entries; --"]) { id } }',
      '{ entries_aggregate { aggregate { count(columns: ["id\\"; drop table t.entries; --"]) } } }',
      `mutation { insert_orgs_one(object: {id: "00000000-0000-0000-0000-0000000000ff", name: "x"}, on_conflict: {constraint: "orgs_pkey\\" do nothing; drop table t.entries; --", update_columns: []}) { id } }`,
      '{ entries(where: {_and: [{id: {_eq: 1}}], "x\\" or 1=1": {_eq: 1}}) { id } }',
    ];
    for (const query of checks) {
      const { body } = await gql(engine, query);
      expect(body.errors?.[0]?.extensions.code, query).toBe('validation-failed');
    }
    const count = await db.pool.query('select count(*)::int as n from t.entries');
    expect(count.rows[0].n).toBeGreaterThan(0);
  });

  it('treats a hostile json path as keys, never as SQL', async () => {
    const asKey = await gql(engine, `{ orgs(where: {name: {_eq: "Acme"}}) { meta(path: "$[\\"x'); drop table t.orgs; --\\"]") } }`);
    expect(asKey.body.data).toEqual({ orgs: [{ meta: null }] });
    const malformed = await gql(engine, `{ orgs { meta(path: "$['x'']); drop table t.orgs; --']") } }`);
    expect(malformed.body.errors?.[0]?.extensions.code).toBe('validation-failed');
    const count = await db.pool.query('select count(*)::int as n from t.orgs');
    expect(count.rows[0].n).toBeGreaterThan(0);
  });
});

describe('a connection lost during a mutation', () => {
  it('answers the mutation with an error, writes nothing, and keeps serving on a new connection', async () => {
    const before = await snapshot();
    const blocker = await db.pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table t.entries in access exclusive mode');
      const blockerPid = (await blocker.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const pending = gql(engine, `mutation { insert_entries_one(object: {org_id: "${ORG_A}", amount: "2.5", note: "lost"}) { id } }`);
      // The mutation's connection, once it waits for the lock: the server ends it.
      let pid: number | undefined;
      for (let i = 0; i < 200 && pid === undefined; i++) {
        const { rows } = await db.pool.query<{ pid: number }>(
          `select pid from pg_stat_activity where wait_event_type = 'Lock' and query like '%entries%' and pid <> $1`,
          [blockerPid],
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await new Promise((r) => setTimeout(r, 25));
      }
      expect(pid).toBeDefined();
      await db.pool.query('select pg_terminate_backend($1)', [pid]);
      const { body } = await pending;
      expect(body.data).toBeUndefined();
      expect(body.errors?.[0]?.message).toBe('database query error');
      expect(body.errors?.[0]?.extensions.code).toBe('unexpected');
    } finally {
      await blocker.query('rollback');
      blocker.release();
    }
    expect(await snapshot()).toEqual(before);
    const { body } = await gql(engine, '{ orgs(order_by: {name: asc}) { name } }');
    expect(body.errors).toBeUndefined();
  });
});
