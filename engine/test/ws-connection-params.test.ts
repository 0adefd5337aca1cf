// connection_init as Hasura reads it: the headers are `payload.headers` (its ConnParams), merged over
// the upgrade request's; any other key of the payload is not a header, on either protocol.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { ADMIN_SECRET, as, startFixtureEngine, USER_B } from './helpers.ts';
import { connect } from './subscriptions-client.ts';

const db = await useTestDatabase();
const engine = await startFixtureEngine(db);
const MEMBERS = 'subscription { members { user_id } }';

describe('connection_init', () => {
  it('does not read headers from the top level of the payload (graphql-transport-ws)', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: { 'x-hasura-admin-secret': ADMIN_SECRET } });
    const { code, reason } = await c.closed;
    expect(code).toBe(4400);
    // A close reason holds 123 bytes: the message is cut short.
    expect(reason).toContain(
      '"server_error_msg":"4400: Connection initialization failed: x-hasura-admin-secret/x-hasura-access-key required',
    );
  });

  it('does not read headers from the top level of the payload (graphql-ws)', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-ws');
    c.send({ type: 'connection_init', payload: { 'x-hasura-admin-secret': ADMIN_SECRET, 'x-hasura-role': 'member' } });
    expect(await c.next()).toEqual({
      type: 'connection_error',
      payload: 'x-hasura-admin-secret/x-hasura-access-key required, but not found',
    });
    c.close();
  });

  it('reads payload.headers', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: { headers: as('member', { 'user-id': USER_B }) } });
    await c.next((m) => m.type === 'connection_ack');
    c.send({ type: 'subscribe', id: '1', payload: { query: MEMBERS } });
    expect(await c.next((m) => m.id === '1')).toEqual({ type: 'next', id: '1', payload: { data: { members: [{ user_id: USER_B }] } } });
    c.close();
  });
});
