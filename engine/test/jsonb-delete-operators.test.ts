// The update operators `_delete_elem` and `_delete_at_path` in the role schema, as Hasura v2's Postgres
// schema has them (`<table>_delete_elem_input { <jsonb column>: Int }`, `<table>_delete_at_path_input
// { <jsonb column>: [String!] }`, on update_<t>, update_<t>_by_pk and <t>_updates). The compiler ran them,
// but introspection did not show them, so a variable in them was refused as not-supported (its type
// could not be checked); now it is typed as Hasura types it.
import { useTestDatabase } from '@org-credits/db/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { type GqlAnswer, gql, ORG_A, startFixtureEngine } from './helpers.ts';

const db = await useTestDatabase();
const engine = await startFixtureEngine(db);
beforeEach(async () => {
  await db.pool.query(`update t.orgs set meta = '{"tier": "pro", "tags": ["a", "b", "c"]}' where id = $1`, [ORG_A]);
});

const meta = async () => (await db.pool.query('select meta from t.orgs where id = $1', [ORG_A])).rows[0]?.meta;

function refused(answer: GqlAnswer, message: string, path: string) {
  expect(answer.body).toEqual({ errors: [{ message, extensions: { code: 'validation-failed', path } }] });
}

describe('_delete_elem and _delete_at_path', () => {
  it('are in introspection with Hasura’s input types', async () => {
    const answer = await gql(
      engine,
      `{ m: __type(name: "mutation_root") { fields { name args { name type { name } } } }
         e: __type(name: "orgs_delete_elem_input") { inputFields { name type { kind name ofType { name } } } }
         p: __type(name: "orgs_delete_at_path_input") { inputFields { name type { kind name ofType { kind name ofType { name } } } } }
         u: __type(name: "orgs_updates") { inputFields { name type { name } } } }`,
    );
    const data = answer.body.data as {
      m: { fields: { name: string; args: { name: string; type: { name: string } }[] }[] };
      e: unknown;
      p: unknown;
      u: { inputFields: { name: string; type: { name: string } }[] };
    };
    for (const root of ['update_orgs', 'update_orgs_by_pk']) {
      const args = data.m.fields.find((f) => f.name === root)?.args ?? [];
      expect(args.filter((a) => a.name.startsWith('_delete_'))).toEqual([
        { name: '_delete_key', type: { name: 'orgs_delete_key_input' } },
        { name: '_delete_elem', type: { name: 'orgs_delete_elem_input' } },
        { name: '_delete_at_path', type: { name: 'orgs_delete_at_path_input' } },
      ]);
    }
    expect(data.e).toEqual({ inputFields: [{ name: 'meta', type: { kind: 'SCALAR', name: 'Int', ofType: null } }] });
    expect(data.p).toEqual({
      inputFields: [
        { name: 'meta', type: { kind: 'LIST', name: null, ofType: { kind: 'NON_NULL', name: null, ofType: { name: 'String' } } } },
      ],
    });
    expect(data.u.inputFields.filter((f) => f.name.startsWith('_delete_'))).toEqual([
      { name: '_delete_key', type: { name: 'orgs_delete_key_input' } },
      { name: '_delete_elem', type: { name: 'orgs_delete_elem_input' } },
      { name: '_delete_at_path', type: { name: 'orgs_delete_at_path_input' } },
    ]);
  });

  it('take variables of the declared types (they were refused as not-supported)', async () => {
    const atPath = await gql(
      engine,
      'mutation($id: uuid!, $p: [String!]) { update_orgs_by_pk(pk_columns: {id: $id}, _delete_at_path: {meta: $p}) { meta } }',
      { variables: { id: ORG_A, p: ['tags', '0'] } },
    );
    expect(atPath.body).toEqual({ data: { update_orgs_by_pk: { meta: { tier: 'pro', tags: ['b', 'c'] } } } });
    expect(await meta()).toEqual({ tier: 'pro', tags: ['b', 'c'] });

    await db.pool.query(`update t.orgs set meta = '["x", "y", "z"]' where id = $1`, [ORG_A]);
    const elem = await gql(
      engine,
      'mutation($id: uuid!, $i: Int) { update_orgs(where: {id: {_eq: $id}}, _delete_elem: {meta: $i}) { affected_rows } }',
      { variables: { id: ORG_A, i: -1 } },
    );
    expect(elem.body).toEqual({ data: { update_orgs: { affected_rows: 1 } } });
    expect(await meta()).toEqual(['x', 'y']);

    const many = await gql(
      engine,
      'mutation($id: uuid!, $i: Int!) { update_orgs_many(updates: [{where: {id: {_eq: $id}}, _delete_elem: {meta: $i}}]) { affected_rows } }',
      { variables: { id: ORG_A, i: 0 } },
    );
    expect(many.body).toEqual({ data: { update_orgs_many: [{ affected_rows: 1 }] } });
    expect(await meta()).toEqual(['y']);
  });

  it('refuse a variable of another type before anything runs', async () => {
    refused(
      await gql(engine, 'mutation($i: String) { update_orgs(where: {}, _delete_elem: {meta: $i}) { affected_rows } }', {
        variables: { i: '0' },
      }),
      'variable "i" is declared as String, but used where Int is expected',
      '$.selectionSet.update_orgs.args._delete_elem.meta',
    );
    refused(
      await gql(engine, 'mutation($p: String) { update_orgs(where: {}, _delete_at_path: {meta: $p}) { affected_rows } }', {
        variables: { p: 'tags' },
      }),
      'variable "p" is declared as String, but used where [String!] is expected',
      '$.selectionSet.update_orgs.args._delete_at_path.meta',
    );
    expect(await meta()).toEqual({ tier: 'pro', tags: ['a', 'b', 'c'] });
  });
});
