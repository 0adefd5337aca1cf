// Selection sets parsed as Hasura v2 parses them. Fields with the same response name are merged by
// Hasura's mergeFields (Parser/Collect.hs), which refuses different fields and different arguments
// at the selection set's path; a field of scalar type refuses a selection set (the field parser's
// `rawSelection`: "unexpected subselection set for non-object field") before its arguments are read,
// and refuses unknown arguments at the field's own path. The engine ran such operations with the first
// selection's arguments, ignored a selection set on a column, a computed field, `count` or
// `affected_rows`, and named the `args` key in the unknown-argument path.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { type GqlAnswer, gql, startFixtureEngine } from './helpers.ts';

const db = await useTestDatabase();
const engine = await startFixtureEngine(db);

function refused(answer: GqlAnswer, message: string, path: string) {
  expect(answer.status).toBe(200);
  expect(answer.body).toEqual({ errors: [{ message, extensions: { code: 'validation-failed', path } }] });
}

const inconsistent = (field: string) => `inconsistent arguments between multiple selections of field "${field}"`;

describe('selections with the same response name', () => {
  it('are refused when their arguments differ, at the selection set', async () => {
    refused(await gql(engine, '{ orgs(limit: 1) { id } orgs(limit: 2) { id } }'), inconsistent('orgs'), '$.selectionSet');
    refused(await gql(engine, '{ orgs(limit: 1) { id } orgs { id } }'), inconsistent('orgs'), '$.selectionSet');
    refused(
      await gql(engine, '{ x: orgs(where: {name: {_eq: "Acme"}}) { id } x: orgs(where: {name: {_eq: "Beta"}}) { name } }'),
      inconsistent('orgs'),
      '$.selectionSet',
    );
    refused(
      await gql(engine, '{ orgs { entries(limit: 1) { id } entries(limit: 2) { id } } }'),
      inconsistent('entries'),
      '$.selectionSet.orgs.selectionSet',
    );
    refused(
      await gql(engine, 'query($l: Int) { orgs(limit: $l) { id } orgs(limit: 1) { name } }', { variables: { l: 1 } }),
      inconsistent('orgs'),
      '$.selectionSet',
    );
    refused(
      await gql(engine, '{ entries(where: {amount: {_gt: 1}}) { id } entries(where: {amount: {_gt: 1.0}}) { kind } }'),
      inconsistent('entries'),
      '$.selectionSet',
    );
  });

  it('are refused when their arguments differ through a fragment', async () => {
    refused(
      await gql(engine, 'fragment F on orgs { entries(limit: 2) { id } } { orgs { entries(limit: 1) { id } ...F } }'),
      inconsistent('entries'),
      '$.selectionSet.orgs.selectionSet',
    );
  });

  it('are refused when they name different fields', async () => {
    refused(
      await gql(engine, '{ a: orgs { id } a: entries { id } }'),
      'selection of both "orgs" and "entries" specify the same response name, "a"',
      '$.selectionSet',
    );
    refused(
      await gql(engine, '{ orgs { id: name id } }'),
      'selection of both "name" and "id" specify the same response name, "id"',
      '$.selectionSet.orgs.selectionSet',
    );
  });

  it('are merged when their arguments are equal: object fields in any order, the same variable, equal numbers', async () => {
    const merged = await gql(
      engine,
      `query($l: Int) {
        orgs(where: {name: {_eq: "Acme"}, id: {_is_null: false}}, limit: $l) { id }
        orgs(limit: $l, where: {id: {_is_null: false}, name: {_eq: "Acme"}}) { name }
        entries(where: {amount: {_gt: 2.50}}, order_by: {id: asc}) { id }
        entries(where: {amount: {_gt: 25e-1}}, order_by: {id: asc}) { kind }
      }`,
      { variables: { l: 5 } },
    );
    expect(merged.body).toEqual({
      data: {
        orgs: [{ id: '00000000-0000-0000-0000-00000000000a', name: 'Acme' }],
        entries: [
          { id: 1, kind: 'grant' },
          { id: 3, kind: 'grant' },
          { id: 4, kind: 'grant' },
        ],
      },
    });
  });

  it('are not compared when @skip leaves one out', async () => {
    const answer = await gql(engine, '{ orgs(order_by: {name: asc}, limit: 1) { name } orgs(limit: 2) @skip(if: true) { id } }');
    expect(answer.body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
  });
});

describe('a selection set on a field of scalar type', () => {
  const message = 'unexpected subselection set for non-object field';

  it('is refused on a column, a computed field, count, an aggregate of a column and affected_rows', async () => {
    refused(await gql(engine, '{ orgs { id { x } } }'), message, '$.selectionSet.orgs.selectionSet.id');
    refused(await gql(engine, '{ orgs { name @include(if: true) name { x } } }'), message, '$.selectionSet.orgs.selectionSet.name');
    refused(await gql(engine, '{ entries { double { x } } }'), message, '$.selectionSet.entries.selectionSet.double');
    refused(
      await gql(engine, '{ entries_aggregate { aggregate { count { x } } } }'),
      message,
      '$.selectionSet.entries_aggregate.selectionSet.aggregate.selectionSet.count',
    );
    refused(
      await gql(engine, '{ entries_aggregate { aggregate { sum { amount { x } } } } }'),
      message,
      '$.selectionSet.entries_aggregate.selectionSet.aggregate.selectionSet.sum.selectionSet.amount',
    );
    refused(
      await gql(engine, 'mutation { delete_entries(where: {id: {_eq: 1}}) { affected_rows { x } } }'),
      message,
      '$.selectionSet.delete_entries.selectionSet.affected_rows',
    );
    expect((await db.pool.query('select count(*)::int as n from t.entries')).rows).toEqual([{ n: 4 }]);
  });

  it('is refused before the field’s arguments are read', async () => {
    refused(await gql(engine, '{ orgs { id(foo: 1) { x } } }'), message, '$.selectionSet.orgs.selectionSet.id');
  });
});

describe('an unknown argument of a field', () => {
  it('is refused at the field’s path, as Hasura (tests-py agg_perm/article_agg_with_role_without_select_access.yaml)', async () => {
    refused(
      await gql(engine, '{ entries_aggregate { aggregate { count(foo: 1) } } }'),
      '"count" has no argument named "foo"',
      '$.selectionSet.entries_aggregate.selectionSet.aggregate.selectionSet.count',
    );
    refused(await gql(engine, '{ orgs(foo: 1) { id } }'), '"orgs" has no argument named "foo"', '$.selectionSet.orgs');
    refused(await gql(engine, '{ orgs { name(foo: 1) } }'), '"name" has no argument named "foo"', '$.selectionSet.orgs.selectionSet.name');
    refused(
      await gql(engine, '{ entries_aggregate { aggregate { max(foo: 1) { amount } } } }'),
      '"max" has no argument named "foo"',
      '$.selectionSet.entries_aggregate.selectionSet.aggregate.selectionSet.max',
    );
    refused(
      await gql(engine, 'mutation { delete_entries(where: {id: {_eq: 1}}) { affected_rows(foo: 1) } }'),
      '"affected_rows" has no argument named "foo"',
      '$.selectionSet.delete_entries.selectionSet.affected_rows',
    );
    expect((await db.pool.query('select count(*)::int as n from t.entries')).rows).toEqual([{ n: 4 }]);
  });
});
