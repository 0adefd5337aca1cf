// The /v1/graphql body as Hasura reads it: `FromJSON GQLReq` (Hasura.GraphQL.Transport.HTTP.Protocol,
// a generic aeson parser: operationName, query, variables, in that order) and `GQLBatchedReqs` (an
// array is a batch, parsed whole). A body it cannot read is `parse-failed`, worded by aeson: 200 on
// /v1/graphql, 400 on /v1alpha1/graphql.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { ADMIN_SECRET, startFixtureEngine } from './helpers.ts';

const db = await useTestDatabase();
const engine = await startFixtureEngine(db);
const Q = '{ orgs(order_by: {name: asc}) { name } }';
const GQL_REQ = 'parsing Hasura.GraphQL.Transport.HTTP.Protocol.GQLReq(GQLReq) failed';

async function post(body: string, path = '/v1/graphql') {
  const res = await fetch(`${engine.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hasura-admin-secret': ADMIN_SECRET },
    body,
  });
  return { status: res.status, body: (await res.json()) as unknown };
}
const parseFailed = (path: string, message: string) => ({ errors: [{ message, extensions: { path, code: 'parse-failed' } }] });

describe('a /v1/graphql body Hasura cannot read', () => {
  it.each([
    ['{}', '$', `${GQL_REQ}, key "query" not found`],
    ['null', '$', `${GQL_REQ}, expected Object, but encountered Null`],
    ['"{ orgs { name } }"', '$', `${GQL_REQ}, expected Object, but encountered String`],
    ['{"query":5}', '$.query', 'parsing Text failed, expected String, but encountered Number'],
    ['{"query":null}', '$.query', 'parsing Text failed, expected String, but encountered Null'],
    [JSON.stringify({ query: Q, variables: 'x' }), '$.variables', 'parsing HashMap failed, expected Object, but encountered String'],
    [JSON.stringify({ query: Q, variables: [1] }), '$.variables', 'parsing HashMap failed, expected Object, but encountered Array'],
    [JSON.stringify({ query: Q, variables: { 'a-b': 1 } }), '$.variables.a-b', 'a-b is not valid GraphQL name'],
    [JSON.stringify({ query: Q, operationName: 5 }), '$.operationName', 'parsing Name failed, expected String, but encountered Number'],
    [JSON.stringify({ query: Q, operationName: 'not a name' }), '$.operationName', 'not a name is not valid GraphQL name'],
    // operationName is read before query.
    [JSON.stringify({ operationName: 5 }), '$.operationName', 'parsing Name failed, expected String, but encountered Number'],
  ])('%s is parse-failed', async (body, path, message) => {
    expect(await post(body)).toEqual({ status: 200, body: parseFailed(path, message) });
  });

  it('fails a whole batch on its first item that is not a request', async () => {
    expect(await post(JSON.stringify([1, { query: Q }]))).toEqual({
      status: 200,
      body: parseFailed('$[0]', `${GQL_REQ}, expected Object, but encountered Number`),
    });
    expect(await post(JSON.stringify([{ query: Q }, { variables: {} }]))).toEqual({
      status: 200,
      body: parseFailed('$[1]', `${GQL_REQ}, key "query" not found`),
    });
  });

  it('answers 400 on /v1alpha1/graphql', async () => {
    expect(await post('{}', '/v1alpha1/graphql')).toEqual({ status: 400, body: parseFailed('$', `${GQL_REQ}, key "query" not found`) });
  });

  it('still reads null variables and operationName, unknown keys, and batches', async () => {
    const one = await post(JSON.stringify({ query: Q, variables: null, operationName: null, extensions: null }));
    expect(one).toEqual({ status: 200, body: { data: { orgs: [{ name: 'Acme' }, { name: 'Beta' }] } } });
    const batch = await post(JSON.stringify([{ query: Q }, { query: '{ nope }' }]));
    expect((batch.body as { errors?: unknown; data?: unknown }[]).map((a) => Object.keys(a))).toEqual([['data'], ['errors']]);
    expect(await post('[]')).toEqual({ status: 200, body: [] });
  });
});
