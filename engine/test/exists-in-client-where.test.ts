// `_exists` belongs to permissions in Hasura v2: it is not a field of any `<table>_bool_exp` a
// client can send. The engine once accepted it in a client's `where` and compiled it without the
// target table's select permission, so any role could ask yes/no questions about another
// organization's rows (its balance, its members, its users' emails). A client's `_exists` is now
// refused like any unknown field, for every role and the admin, in queries, mutations and
// subscriptions; permissions keep using it.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { as, gql, ORG_B, startFixtureEngine, USER_A } from './helpers.ts';
import { firstAnswer } from './subscriptions-client.ts';

const db = await useTestDatabase();
const engine = await startFixtureEngine(db);

const member = { headers: as('member', { 'user-id': USER_A }) };
const aboutOrgB = `_exists: {_table: {schema: "t", name: "entries"}, _where: {org_id: {_eq: "${ORG_B}"}}}`;
const notFound = (type: string, path: string) => ({
  errors: [{ message: `field "_exists" not found in type: '${type}'`, extensions: { code: 'validation-failed', path } }],
});

describe('_exists in a client where', () => {
  it('is refused in a query, for a role and for the admin', async () => {
    const query = `{ orgs(where: {${aboutOrgB}}) { id } }`;
    for (const options of [member, {}]) {
      const answer = await gql(engine, query, options);
      expect(answer.body).toEqual(notFound('orgs_bool_exp', '$.selectionSet.orgs.args.where._exists'));
    }
  });

  it('is refused inside _and, _not and a relationship, where it once answered about another org', async () => {
    const cases: [string, string, string][] = [
      [`{ orgs(where: {_and: [{${aboutOrgB}}]}) { id } }`, 'orgs_bool_exp', '$.selectionSet.orgs.args.where._and[0]._exists'],
      [`{ orgs(where: {_not: {${aboutOrgB}}}) { id } }`, 'orgs_bool_exp', '$.selectionSet.orgs.args.where._not._exists'],
      [`{ entries(where: {org: {${aboutOrgB}}}) { id } }`, 'orgs_bool_exp', '$.selectionSet.entries.args.where.org._exists'],
    ];
    for (const [query, type, path] of cases) expect((await gql(engine, query, member)).body).toEqual(notFound(type, path));
  });

  it('is refused in an update and a delete, and nothing changes', async () => {
    const before = (await db.pool.query('select * from t.entries order by id')).rows;
    const update = await gql(engine, `mutation { update_entries(where: {${aboutOrgB}}, _set: {note: "x"}) { affected_rows } }`, member);
    expect(update.body).toEqual(notFound('entries_bool_exp', '$.selectionSet.update_entries.args.where._exists'));
    const remove = await gql(engine, `mutation { delete_entries(where: {${aboutOrgB}}) { affected_rows } }`, member);
    expect(remove.body).toEqual(notFound('entries_bool_exp', '$.selectionSet.delete_entries.args.where._exists'));
    expect((await db.pool.query('select * from t.entries order by id')).rows).toEqual(before);
  });

  it('is refused in a subscription', async () => {
    const answer = await firstAnswer(`${engine.url}/v1/graphql`, member, { query: `subscription { orgs(where: {${aboutOrgB}}) { id } }` });
    expect(answer).toEqual({
      type: 'error',
      id: 's1',
      payload: notFound('orgs_bool_exp', '$.selectionSet.orgs.args.where._exists').errors,
    });
  });
});
