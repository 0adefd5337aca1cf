// Hasura's update operators apply to some columns only (`updateOperatorApplicableColumn` in its
// Postgres schema: `_inc` to numeric columns, `_append` / `_prepend` / `_delete_key` / `_delete_elem` /
// `_delete_at_path` to jsonb ones), so `<table>_inc_input` has no field for a text column and a table
// without such a column has no `_inc` argument at all. The compiler accepted `_inc: {note: "x"}` and
// sent `note + 'x'` to Postgres; now it is refused as Hasura refuses it, before anything runs.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { as, type GqlAnswer, gql, ORG_A, startFixtureEngine, USER_A } from './helpers.ts';

const db = await useTestDatabase();
const engine = await startFixtureEngine(db);

function refused(answer: GqlAnswer, message: string, path: string) {
  expect(answer.body).toEqual({ errors: [{ message, extensions: { code: 'validation-failed', path } }] });
}

const notes = async () => (await db.pool.query('select note from t.entries order by id')).rows.map((r) => r.note);

describe('update operators only on the columns they apply to', () => {
  it('_inc on a text column is not a field of <table>_inc_input', async () => {
    const before = await notes();
    refused(
      await gql(engine, 'mutation { update_entries(where: {id: {_eq: 1}}, _inc: {note: "x"}) { affected_rows } }'),
      `field "note" not found in type: 'entries_inc_input'`,
      '$.selectionSet.update_entries.args._inc.note',
    );
    refused(
      await gql(engine, 'mutation { update_entries_by_pk(pk_columns: {id: 1}, _inc: {note: "x"}) { id } }'),
      `field "note" not found in type: 'entries_inc_input'`,
      '$.selectionSet.update_entries_by_pk.args._inc.note',
    );
    refused(
      await gql(engine, 'mutation { update_entries_many(updates: [{where: {id: {_eq: 1}}, _inc: {kind: "x"}}]) { affected_rows } }'),
      `field "kind" not found in type: 'entries_inc_input'`,
      '$.selectionSet.update_entries_many.args.updates[0]._inc.kind',
    );
    expect(await notes()).toEqual(before);
  });

  it('a jsonb operator on a text column is not a field of its input', async () => {
    refused(
      await gql(engine, `mutation { update_orgs(where: {id: {_eq: "${ORG_A}"}}, _append: {name: "x"}) { affected_rows } }`),
      `field "name" not found in type: 'orgs_append_input'`,
      '$.selectionSet.update_orgs.args._append.name',
    );
  });

  it('a table without a column the operator applies to has no such argument', async () => {
    refused(
      await gql(engine, 'mutation { update_entries(where: {id: {_eq: 1}}, _append: {note: "x"}) { affected_rows } }'),
      '"update_entries" has no argument named "_append"',
      '$.selectionSet.update_entries',
    );
    // The member may update `note` only: no numeric column, so no `_inc` (introspection agrees).
    const member = as('member', { 'user-id': USER_A });
    refused(
      await gql(engine, 'mutation { update_entries(where: {id: {_eq: 1}}, _inc: {note: "x"}) { affected_rows } }', { headers: member }),
      '"update_entries" has no argument named "_inc"',
      '$.selectionSet.update_entries',
    );
    refused(
      await gql(engine, 'mutation { update_entries_many(updates: [{where: {id: {_eq: 1}}, _inc: {note: "x"}}]) { affected_rows } }', {
        headers: member,
      }),
      `field "_inc" not found in type: 'entries_updates'`,
      '$.selectionSet.update_entries_many.args.updates[0]._inc',
    );
    const args = await gql(engine, '{ __type(name: "mutation_root") { fields { name args { name } } } }', { headers: member });
    const fields = (args.body.data as { __type: { fields: { name: string; args: { name: string }[] }[] } }).__type.fields;
    expect(fields.find((f) => f.name === 'update_entries')?.args.map((a) => a.name)).toEqual(['_set', 'where']);
  });

  it('_inc on a numeric column still works', async () => {
    const answer = await gql(engine, 'mutation { update_entries(where: {id: {_eq: 1}}, _inc: {amount: 1}) { returning { amount } } }');
    expect(answer.body).toEqual({ data: { update_entries: { returning: [{ amount: 11 }] } } });
  });
});
