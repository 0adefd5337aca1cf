// Nulls inside `where`, empty inserts and updates, and variables checked against the operation: each
// answered as Hasura v2 answers it. Every case here once differed (a null comparison was dropped,
// so a delete with a null `$id` deleted every row the role could see).
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { as, type GqlAnswer, gql, startFixtureEngine, USER_A } from './helpers.ts';
import { firstAnswer } from './subscriptions-client.ts';

const db = await useTestDatabase();
const engine = await startFixtureEngine(db);

const member = { headers: as('member', { 'user-id': USER_A }) };

/** The one validation error of an answer, with no data. */
function refused(answer: GqlAnswer, message: string, path: string, code = 'validation-failed') {
  expect(answer.status).toBe(200);
  expect(answer.body).toEqual({ errors: [{ message, extensions: { code, path } }] });
}

const table = async (name: string) => (await db.pool.query(`select * from t.${name} order by 1, 2`)).rows;

describe('a null inside a where', () => {
  const byNote = 'query($n: String) { entries(where: {note: {_eq: $n}}) { id } }';
  const notePath = '$.selectionSet.entries.args.where.note._eq';

  it('is refused for a comparison operator given a null variable, or a variable not sent', async () => {
    refused(await gql(engine, byNote, { variables: { n: null } }), 'unexpected null value for type "String"', notePath);
    refused(await gql(engine, byNote, { variables: {} }), 'unexpected null value for type "String"', notePath);
    refused(await gql(engine, byNote), 'unexpected null value for type "String"', notePath);
  });

  it('is refused after the same operation ran with a value (the cached plan does not skip the check)', async () => {
    const first = await gql(engine, byNote, { variables: { n: 'first grant' } });
    expect(first.body).toEqual({ data: { entries: [{ id: 1 }] } });
    refused(await gql(engine, byNote, { variables: { n: null } }), 'unexpected null value for type "String"', notePath);
    refused(await gql(engine, byNote, member), 'unexpected null value for type "String"', notePath);
  });

  it('is refused for a literal null, naming the column’s scalar', async () => {
    const cases: [string, string, string][] = [
      ['{ entries(where: {note: {_eq: null}}) { id } }', 'unexpected null value for type "String"', 'where.note._eq'],
      ['{ entries(where: {org_id: {_neq: null}}) { id } }', 'unexpected null value for type "uuid"', 'where.org_id._neq'],
      ['{ entries(where: {amount: {_gt: null}}) { id } }', 'unexpected null value for type "numeric"', 'where.amount._gt'],
      ['{ entries(where: {note: {_ilike: null}}) { id } }', 'unexpected null value for type "String"', 'where.note._ilike'],
      ['{ entries(where: {note: {_in: null}}) { id } }', 'expected a list, but found null', 'where.note._in'],
      ['{ entries(where: {note: {_nin: ["a", null]}}) { id } }', 'unexpected null value for type "String"', 'where.note._nin[1]'],
      [
        '{ entries(where: {note: {_is_null: null}}) { id } }',
        'expected a boolean for type "Boolean", but found null',
        'where.note._is_null',
      ],
      ['{ entries(where: {note: null}) { id } }', 'expected an object for type "String_comparison_exp", but found null', 'where.note'],
      ['{ entries(where: {_and: null}) { id } }', 'expected a list, but found null', 'where._and'],
      ['{ entries(where: {_or: null}) { id } }', 'expected a list, but found null', 'where._or'],
      ['{ entries(where: {_not: null}) { id } }', 'expected an object for type "entries_bool_exp", but found null', 'where._not'],
      ['{ entries(where: {org: null}) { id } }', 'expected an object for type "orgs_bool_exp", but found null', 'where.org'],
      [
        '{ entries(where: {_or: [{kind: {_eq: "grant"}}, {note: {_eq: null}}]}) { id } }',
        'unexpected null value for type "String"',
        'where._or[1].note._eq',
      ],
      ['{ orgs(where: {entries: {note: {_like: null}}}) { id } }', 'unexpected null value for type "String"', 'where.entries.note._like'],
    ];
    for (const [query, message, path] of cases) {
      const root = query.includes('orgs(') ? 'orgs' : 'entries';
      refused(await gql(engine, query), message, `$.selectionSet.${root}.args.${path}`);
    }
  });

  it('is refused inside a list variable of _in', async () => {
    const query = 'query($l: [String!]) { entries(where: {note: {_in: $l}}) { id } }';
    refused(
      await gql(engine, query, { variables: { l: ['x', null] } }),
      'unexpected null value for type "String"',
      '$.selectionSet.entries.args.where.note._in[1]',
    );
    refused(
      await gql(engine, query, { variables: { l: null } }),
      'expected a list, but found null',
      '$.selectionSet.entries.args.where.note._in',
    );
  });

  it('is refused inside a whole where sent as a variable', async () => {
    const query = 'query($w: entries_bool_exp) { entries(where: $w) { id } }';
    refused(
      await gql(engine, query, { variables: { w: { _and: [{ id: { _eq: null } }] } } }),
      'unexpected null value for type "bigint"',
      '$.selectionSet.entries.args.where._and[0].id._eq',
    );
  });

  it('is refused for a null primary key of a _by_pk field', async () => {
    refused(await gql(engine, '{ entry(id: null) { id } }'), 'unexpected null value for type "bigint"', '$.selectionSet.entry.args.id');
  });

  it('still means no filter when the where argument itself is null', async () => {
    const all = { data: { entries: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }] } };
    expect((await gql(engine, '{ entries(where: null, order_by: {id: asc}) { id } }')).body).toEqual(all);
    const query = 'query($w: entries_bool_exp) { entries(where: $w, order_by: {id: asc}) { id } }';
    expect((await gql(engine, query, { variables: { w: null } })).body).toEqual(all);
    expect((await gql(engine, query)).body).toEqual(all);
  });

  it('keeps _has_key: null as a key no row has (Hasura’s parser takes a nullable String there)', async () => {
    const { body } = await gql(engine, '{ orgs(where: {meta: {_has_key: null}}) { id } }');
    expect(body).toEqual({ data: { orgs: [] } });
  });

  it('is refused in a mutation, which then changes nothing', async () => {
    const before = await table('entries');
    const del = 'mutation($id: bigint) { delete_entries(where: {id: {_eq: $id}}) { affected_rows } }';
    const delPath = '$.selectionSet.delete_entries.args.where.id._eq';
    refused(await gql(engine, del, { variables: { id: null } }), 'unexpected null value for type "bigint"', delPath);
    refused(await gql(engine, del), 'unexpected null value for type "bigint"', delPath);
    const memberDel = 'mutation($k: String) { delete_entries(where: {kind: {_eq: $k}}) { affected_rows } }';
    refused(
      await gql(engine, memberDel, { ...member, variables: { k: null } }),
      'unexpected null value for type "String"',
      '$.selectionSet.delete_entries.args.where.kind._eq',
    );
    refused(
      await gql(engine, 'mutation { delete_entries(where: null) { affected_rows } }'),
      'expected an object for type "entries_bool_exp", but found null',
      '$.selectionSet.delete_entries.args.where',
    );
    refused(
      await gql(engine, 'mutation { delete_entries(where: {_and: null}) { affected_rows } }'),
      'expected a list, but found null',
      '$.selectionSet.delete_entries.args.where._and',
    );
    refused(
      await gql(engine, 'mutation { delete_entries_by_pk(id: null) { id } }'),
      'unexpected null value for type "bigint"',
      '$.selectionSet.delete_entries_by_pk.args.id',
    );
    const upd = 'mutation($n: String) { update_entries(where: {note: {_eq: $n}}, _set: {note: "x"}) { affected_rows } }';
    refused(
      await gql(engine, upd, { variables: { n: null } }),
      'unexpected null value for type "String"',
      '$.selectionSet.update_entries.args.where.note._eq',
    );
    refused(
      await gql(engine, 'mutation { update_entries(where: {_not: null}, _set: {note: "x"}) { affected_rows } }'),
      'expected an object for type "entries_bool_exp", but found null',
      '$.selectionSet.update_entries.args.where._not',
    );
    expect(await table('entries')).toEqual(before);
  });

  it('is refused in a subscription', async () => {
    const answer = await firstAnswer(`${engine.url}/v1/graphql`, member, {
      query: 'subscription($n: String) { entries(where: {note: {_eq: $n}}) { id } }',
      variables: { n: null },
    });
    expect(answer).toEqual({
      type: 'error',
      id: 's1',
      payload: [
        {
          message: 'unexpected null value for type "String"',
          extensions: { code: 'validation-failed', path: '$.selectionSet.entries.args.where.note._eq' },
        },
      ],
    });
  });
});

describe('inserts and updates with nothing to write', () => {
  it('insert with objects: [] answers no rows and inserts nothing', async () => {
    const before = await table('entries');
    const { body } = await gql(engine, 'mutation { insert_entries(objects: []) { affected_rows returning { id } } }');
    expect(body).toEqual({ data: { insert_entries: { affected_rows: 0, returning: [] } } });
    const viaVariable = await gql(engine, 'mutation($o: [entries_insert_input!]!) { insert_entries(objects: $o) { affected_rows } }', {
      ...member,
      variables: { o: [] },
    });
    expect(viaVariable.body).toEqual({ data: { insert_entries: { affected_rows: 0 } } });
    expect(await table('entries')).toEqual(before);
  });

  it('a nested array relationship with data: [] inserts the parent only', async () => {
    const { body } = await gql(
      engine,
      'mutation { insert_orgs_one(object: {id: "00000000-0000-0000-0000-0000000000cc", name: "Gamma", entries: {data: []}}) { name entries { id } } }',
    );
    expect(body).toEqual({ data: { insert_orgs_one: { name: 'Gamma', entries: [] } } });
    expect(
      (await db.pool.query(`select count(*)::int as n from t.entries where org_id = '00000000-0000-0000-0000-0000000000cc'`)).rows,
    ).toEqual([{ n: 0 }]);
  });

  it('insert with objects: null is refused', async () => {
    refused(
      await gql(engine, 'mutation { insert_entries(objects: null) { affected_rows } }'),
      'expected a list, but found null',
      '$.selectionSet.insert_entries.args.objects',
    );
  });

  it('an update with no operator answers affected_rows 0 and returning [], even when rows match', async () => {
    const before = await table('entries');
    for (const args of ['_set: {}', '', '_set: {}, _inc: {}']) {
      const sep = args ? ', ' : '';
      const { body } = await gql(
        engine,
        `mutation { update_entries(where: {kind: {_eq: "grant"}}${sep}${args}) { affected_rows returning { id } } }`,
      );
      expect(body).toEqual({ data: { update_entries: { affected_rows: 0, returning: [] } } });
    }
    const asMember = await gql(engine, 'mutation { update_entries(where: {}, _set: {}) { affected_rows returning { id } } }', member);
    expect(asMember.body).toEqual({ data: { update_entries: { affected_rows: 0, returning: [] } } });
    const byPk = await gql(engine, 'mutation { update_entries_by_pk(pk_columns: {id: 1}, _set: {}) { id } }');
    expect(byPk.body).toEqual({ data: { update_entries_by_pk: null } });
    const many = await gql(engine, 'mutation { update_entries_many(updates: [{where: {id: {_eq: 1}}, _set: {}}]) { affected_rows } }');
    expect(many.body).toEqual({ data: { update_entries_many: [{ affected_rows: 0 }] } });
    expect(await table('entries')).toEqual(before);
  });
});

describe('variables checked against the operation', () => {
  it('refuses a null or missing non-null variable with Hasura 2.36+ messages, at $', async () => {
    const byId = 'query($id: bigint!) { entry(id: $id) { id } }';
    refused(await gql(engine, byId, { variables: { id: null } }), 'null value found for non-nullable type: "bigint!"', '$');
    refused(await gql(engine, byId, { variables: {} }), 'expecting a value for non-nullable variable: "id"', '$');
    // An explicit null is refused even when the variable has a default; leaving it out takes the default.
    const withDefault = 'query($l: Int! = 1) { entries(limit: $l, order_by: {id: asc}) { id } }';
    refused(await gql(engine, withDefault, { variables: { l: null } }), 'null value found for non-nullable type: "Int!"', '$');
    expect((await gql(engine, withDefault, { variables: {} })).body).toEqual({ data: { entries: [{ id: 1 }] } });
  });

  it('refuses a variable sent but not used by the operation', async () => {
    refused(await gql(engine, '{ entries { id } }', { variables: { x: 1 } }), 'unexpected variables in variableValues: x', '$');
    refused(
      await gql(engine, 'query($n: String) { entries { id } }', { variables: { n: 'a', m: 2 } }),
      'unexpected variables in variableValues: n, m',
      '$',
    );
  });

  it('refuses a variable used but not defined', async () => {
    refused(await gql(engine, '{ entries(where: {note: {_eq: $n}}) { id } }', { variables: { n: 'x' } }), 'unbound variable "n"', '$');
    refused(await gql(engine, '{ entries(limit: $l) { id } }'), 'unbound variable "l"', '$');
  });

  it('refuses a variable defined twice', async () => {
    refused(
      await gql(engine, 'query($l: Int, $l: Int) { entries(limit: $l) { id } }', { variables: { l: 1 } }),
      'multiple definitions for variable "l"',
      '$',
      'parse-failed',
    );
  });

  it('counts variables used in directives and in the fragments the operation spreads', async () => {
    const query =
      'query($s: Boolean!, $k: String!) { entries(order_by: {id: asc}, limit: 1) { ...F note @include(if: $s) } } fragment F on entries { id org { entries(where: {kind: {_eq: $k}}) { id } } }';
    const { body } = await gql(engine, query, { variables: { s: false, k: 'consume' } });
    expect(body).toEqual({ data: { entries: [{ id: 1, org: { entries: [{ id: 2 }] } }] } });
  });
});
