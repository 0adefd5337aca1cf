// Errors on the older WebSocket protocol (graphql-ws of subscriptions-transport-ws), as Hasura v2 sends
// them (Transport/WebSocket.hs): an operation refused before it runs (preExecErr) is an `error` whose
// payload is `{"errors":[…]}` (mkWSActions' fmtErrorMessage for Apollo); one that fails while it runs
// (postExecErr: a statement, an action's handler) is a `data` message with `{"errors":[…]}`; both are
// followed by `complete`. A start that cannot begin (sendStartErr) keeps its single error object. A
// `stop` without an id cannot be parsed: `connection_error` (tests-py test_subscriptions.py
// test_stop_without_id), and the connection stays. The engine sent the first error object alone and
// ignored such a stop. graphql-transport-ws is unchanged: an `error` with the list.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { as, ORG_B, startFixtureEngine, USER_A } from './helpers.ts';
import { connect, type RawClient } from './subscriptions-client.ts';

const db = await useTestDatabase();
const engine = await startFixtureEngine(db);

const memberA = { headers: as('member', { 'user-id': USER_A }) };

async function open(protocol: 'graphql-ws' | 'graphql-transport-ws'): Promise<RawClient> {
  const c = await connect(`${engine.url}/v1/graphql`, protocol);
  c.send({ type: 'connection_init', payload: memberA });
  await c.next((m) => m.type === 'connection_ack');
  return c;
}

const twoRoots = {
  message: 'this engine serves a live query with one top level field only (Hasura v2 allows several): subscribe to each field on its own',
  extensions: { path: '$', code: 'not-supported' },
};
const unknownField = {
  message: 'field "nope" not found in type: \'query_root\'',
  extensions: { path: '$.selectionSet.nope', code: 'validation-failed' },
};
const checkViolation = {
  message: 'Check constraint violation. insert/update check constraint failed',
  extensions: { path: '$.selectionSet.insert_entries.args.objects', code: 'permission-error' },
};
const insertOtherOrg = `mutation { insert_entries(objects: [{org_id: "${ORG_B}", amount: 1}]) { affected_rows } }`;

describe('graphql-ws (the older protocol)', () => {
  it('sends an error refused before the operation runs as {"errors":[…]}, then complete', async () => {
    const c = await open('graphql-ws');
    c.send({ type: 'start', id: 's', payload: { query: 'subscription { entries { id } orgs { id } }' } });
    expect(await c.next((m) => m.id === 's')).toEqual({ type: 'error', id: 's', payload: { errors: [twoRoots] } });
    expect(await c.next((m) => m.id === 's')).toEqual({ type: 'complete', id: 's' });
    c.send({ type: 'start', id: 'q', payload: { query: '{ nope { id } }' } });
    expect(await c.next((m) => m.id === 'q')).toEqual({ type: 'error', id: 'q', payload: { errors: [unknownField] } });
    expect(await c.next((m) => m.id === 'q')).toEqual({ type: 'complete', id: 'q' });
    c.close();
  });

  it('sends an error raised while the operation runs as data with {"errors":[…]}, then complete', async () => {
    const c = await open('graphql-ws');
    c.send({ type: 'start', id: 'm', payload: { query: insertOtherOrg } });
    expect(await c.next((m) => m.id === 'm')).toEqual({ type: 'data', id: 'm', payload: { errors: [checkViolation] } });
    expect(await c.next((m) => m.id === 'm')).toEqual({ type: 'complete', id: 'm' });
    expect((await db.pool.query('select count(*)::int as n from t.entries')).rows).toEqual([{ n: 4 }]);
    c.close();
  });

  it('keeps one error object for a start that cannot begin (an id already in use)', async () => {
    const c = await open('graphql-ws');
    c.send({ type: 'start', id: 'dup', payload: { query: 'subscription { orgs { id } }' } });
    await c.next((m) => m.id === 'dup' && m.type === 'data');
    c.send({ type: 'start', id: 'dup', payload: { query: 'subscription { orgs { id } }' } });
    expect(await c.next((m) => m.id === 'dup' && m.type === 'error')).toEqual({
      type: 'error',
      id: 'dup',
      payload: { message: 'an operation already exists with this id: dup', extensions: { path: '$', code: 'start-failed' } },
    });
    c.close();
  });

  it('answers a stop without an id with connection_error, and the connection goes on', async () => {
    const c = await open('graphql-ws');
    c.send({ type: 'stop' });
    expect(await c.next((m) => m.type === 'connection_error')).toEqual({
      type: 'connection_error',
      payload: 'parsing ClientMessage failed: the key "id" was not present',
    });
    c.send({ type: 'start', id: 'after', payload: { query: '{ orgs { name } }' } });
    expect(await c.next((m) => m.id === 'after')).toEqual({ type: 'data', id: 'after', payload: { data: { orgs: [{ name: 'Acme' }] } } });
    c.close();
  });
});

describe('graphql-transport-ws (unchanged)', () => {
  it('sends every error as an error with the list', async () => {
    const c = await open('graphql-transport-ws');
    c.send({ type: 'subscribe', id: 's', payload: { query: 'subscription { entries { id } orgs { id } }' } });
    expect(await c.next((m) => m.id === 's')).toEqual({ type: 'error', id: 's', payload: [twoRoots] });
    c.send({ type: 'subscribe', id: 'm', payload: { query: insertOtherOrg } });
    expect(await c.next((m) => m.id === 'm')).toEqual({ type: 'error', id: 'm', payload: [checkViolation] });
    c.close();
  });
});
