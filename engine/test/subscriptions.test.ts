// Subscriptions over WebSocket against a real Postgres and the real engine: both protocols, auth
// from connection_init, live queries that push changes, permissions, multiplexing, JWT expiry.
import { useTestDatabase } from '@org-credits/db/testing';
import { createClient } from 'graphql-ws';
import * as jose from 'jose';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Engine } from '../src/index.ts';
import { ADMIN_SECRET, as, gql, ORG_A, ORG_B, ok, setupFixture, startEngine, USER_A, USER_B } from './helpers.ts';
import { connect, dataOf, type WsMessage } from './subscriptions-client.ts';

const INTERVAL_MS = 100;
const JWT_KEY = 'subscriptions-test-key-of-at-least-32-characters';

const db = await useTestDatabase();
let engine: Engine;

function stats(e: Engine = engine) {
  return (e.core.subscriptions?.stats() ?? {}) as { pollers: number; cohorts: number; subscribers: number; statements: number };
}

/** Waits until a condition holds (checked every few ms), failing after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const memberA = { headers: as('member', { 'user-id': USER_A }) };
const memberB = { headers: as('member', { 'user-id': USER_B }) };
const ENTRIES = 'subscription { entries(order_by: {id: asc}) { org_id amount note } }';

beforeAll(async () => {
  engine = await startEngine(db, {
    HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL: String(INTERVAL_MS),
    HASURA_GRAPHQL_WEBSOCKET_CONNECTION_INIT_TIMEOUT: '1',
  });
  await setupFixture(engine);
});

afterAll(async () => {
  await engine?.close();
});

describe('graphql-transport-ws (the graphql-ws client, as Apollo GraphQLWsLink uses it)', () => {
  it('sends the first result, pushes a committed change, and sends nothing while nothing changes', async () => {
    const client = createClient({
      url: `${engine.url.replace(/^http/, 'ws')}/v1/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: memberA,
    });
    const results: { entries: { org_id: string; amount: string; note: string | null }[] }[] = [];
    const errors: unknown[] = [];
    const stop = client.subscribe<{ entries: { org_id: string; amount: string; note: string | null }[] }>(
      { query: ENTRIES },
      { next: (r) => results.push(r.data as (typeof results)[number]), error: (e) => errors.push(e), complete: () => undefined },
    );
    try {
      await until(() => results.length === 1, 'the first result');
      expect(results[0]?.entries.map((e) => e.note)).toEqual(['first grant', 'summary', null]);
      expect(results[0]?.entries.every((e) => e.org_id === ORG_A)).toBe(true);

      const added = await gql(
        engine,
        `mutation { insert_entries_one(object: {org_id: "${ORG_A}", amount: 1.5, kind: "grant", note: "pushed"}) { id } }`,
      );
      expect(added.body.errors).toBeUndefined();
      await until(() => results.length === 2, 'the pushed change');
      expect(results[1]?.entries.map((e) => e.note)).toEqual(['first grant', 'summary', null, 'pushed']);

      // Three more polls with no change: no message.
      const from = stats().statements;
      await until(() => stats().statements >= from + 3, 'three polls');
      expect(results).toHaveLength(2);
      expect(errors).toEqual([]);
    } finally {
      stop();
      await client.dispose();
      await ok(engine, { type: 'run_sql', args: { sql: "delete from t.entries where note = 'pushed'" } }, '/v2/query');
    }
  });

  it('answers queries and mutations over the socket, then completes them', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: memberB });
    await c.next((m) => m.type === 'connection_ack');
    c.send({ type: 'subscribe', id: 'q1', payload: { query: 'query Mine { orgs { name } }', operationName: 'Mine' } });
    const answer = await c.next((m) => m.id === 'q1');
    expect(answer).toEqual({ type: 'next', id: 'q1', payload: { data: { orgs: [{ name: 'Beta' }] } } });
    expect(await c.next((m) => m.id === 'q1')).toEqual({ type: 'complete', id: 'q1' });
    c.send({ type: 'ping' });
    await c.next((m) => m.type === 'pong');
    c.close();
  });

  it('refuses a bad admin secret in connection_init by closing with 4400', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: { headers: { 'x-hasura-admin-secret': 'wrong' } } });
    const { code, reason } = await c.closed;
    expect(code).toBe(4400);
    expect(JSON.parse(reason)).toEqual({
      server_error_msg: '4400: Connection initialization failed: invalid x-hasura-admin-secret/x-hasura-access-key',
    });
  });

  it('closes with 4408 when connection_init does not come in time', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    const { code, reason } = await c.closed;
    expect(code).toBe(4408);
    expect(JSON.parse(reason)).toEqual({ server_error_msg: '4408: Connection initialisation timeout' });
  });

  it('closes with 4409 when a subscription id is already in use', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: memberA });
    await c.next((m) => m.type === 'connection_ack');
    c.send({ type: 'subscribe', id: 'same', payload: { query: ENTRIES } });
    await c.next((m) => m.id === 'same');
    c.send({ type: 'subscribe', id: 'same', payload: { query: ENTRIES } });
    const { code, reason } = await c.closed;
    expect(code).toBe(4409);
    expect(JSON.parse(reason)).toEqual({ server_error_msg: '4409: Subscriber for same already exists' });
    await until(() => stats().subscribers === 0, 'the closed connection’s subscriber to be removed');
  });

  it('closes with 4401 when a subscribe comes before connection_init', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'subscribe', id: '1', payload: { query: ENTRIES } });
    expect((await c.closed).code).toBe(4401);
  });

  it('answers a subscription that does not validate with an error message and no poller', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: memberA });
    await c.next((m) => m.type === 'connection_ack');
    c.send({ type: 'subscribe', id: 's1', payload: { query: 'subscription { entries { id } orgs { id } }' } });
    const error = await c.next((m) => m.id === 's1');
    expect(error).toEqual({
      type: 'error',
      id: 's1',
      payload: [
        {
          message:
            'this engine serves a live query with one top level field only (Hasura v2 allows several): subscribe to each field on its own',
          extensions: { path: '$', code: 'not-supported' },
        },
      ],
    });
    c.send({ type: 'subscribe', id: 's2', payload: { query: 'subscription { members { org_id role secret_column } }' } });
    const unknown = await c.next((m) => m.id === 's2');
    expect((unknown.payload as { extensions: { code: string } }[])[0]?.extensions.code).toBe('validation-failed');
    expect(stats().pollers).toBe(0);
    c.close();
  });
});

describe('graphql-ws (subscriptions-transport-ws, the older protocol)', () => {
  it('reads auth from connection_init payload.headers, streams data, stops on stop', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-ws');
    c.send({ type: 'connection_init', payload: memberB });
    await c.next((m) => m.type === 'connection_ack');
    await c.next((m) => m.type === 'ka');
    c.send({ type: 'start', id: 'b', payload: { query: ENTRIES } });
    const first = await c.next((m) => m.id === 'b');
    expect(first.type).toBe('data');
    // The tenant wall: only org B's rows.
    expect(dataOf(first)).toEqual({ entries: [{ org_id: ORG_B, amount: 3.25, note: 'beta grant' }] });

    await gql(engine, `mutation { update_entries(where: {org_id: {_eq: "${ORG_B}"}}, _set: {note: "renamed"}) { affected_rows } }`);
    const changed = await c.next((m) => m.id === 'b');
    expect(dataOf(changed)).toEqual({ entries: [{ org_id: ORG_B, amount: 3.25, note: 'renamed' }] });

    c.send({ type: 'stop', id: 'b' });
    await until(() => stats().subscribers === 0, 'the subscriber to be removed');
    expect(stats().pollers).toBe(0);
    c.send({ type: 'connection_terminate' });
    expect((await c.closed).code).toBe(1000);
    await gql(engine, `mutation { update_entries(where: {org_id: {_eq: "${ORG_B}"}}, _set: {note: "beta grant"}) { affected_rows } }`);
  });

  it('takes a start sent right after connection_init, before the ack, as that protocol’s clients do', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-ws');
    c.send({ type: 'connection_init', payload: { headers: memberA.headers } });
    c.send({
      type: 'start',
      id: 'early',
      payload: { query: 'subscription Orgs($n: String!) { orgs(where: {name: {_eq: $n}}) { name } }', variables: { n: 'Acme' } },
    });
    c.send({
      type: 'start',
      id: 'other',
      payload: { query: 'subscription Orgs($n: String!) { orgs(where: {name: {_eq: $n}}) { name } }', variables: { n: 'Beta' } },
    });
    expect(dataOf(await c.next((m) => m.id === 'early'))).toEqual({ orgs: [{ name: 'Acme' }] });
    // Org B is not member A's: the same poller, another cohort, no rows.
    expect(dataOf(await c.next((m) => m.id === 'other'))).toEqual({ orgs: [] });
    c.close();
  });

  it('answers a failed connection_init with connection_error and refuses to start', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-ws');
    c.send({ type: 'connection_init', payload: { headers: { 'x-hasura-admin-secret': 'wrong' } } });
    expect(await c.next()).toEqual({ type: 'connection_error', payload: 'invalid x-hasura-admin-secret/x-hasura-access-key' });
    c.send({ type: 'start', id: '1', payload: { query: ENTRIES } });
    const error = await c.next((m) => m.id === '1');
    expect(error.type).toBe('error');
    expect((error.payload as { message: string }).message).toBe(
      'cannot start as connection_init failed with: invalid x-hasura-admin-secret/x-hasura-access-key',
    );
    expect(await c.next((m) => m.id === '1')).toEqual({ type: 'complete', id: '1' });
    c.close();
  });
});

describe('permissions', () => {
  it('stops seeing an org as soon as the membership that the select permission requires is gone', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: memberA });
    await c.next((m) => m.type === 'connection_ack');
    c.send({ type: 'subscribe', id: 'o', payload: { query: 'subscription { orgs { id name } }' } });
    expect(dataOf(await c.next((m) => m.id === 'o'))).toEqual({ orgs: [{ id: ORG_A, name: 'Acme' }] });
    await ok(engine, { type: 'run_sql', args: { sql: `delete from t.members where user_id = '${USER_A}'` } }, '/v2/query');
    try {
      expect(dataOf(await c.next((m) => m.id === 'o'))).toEqual({ orgs: [] });
    } finally {
      await ok(engine, { type: 'run_sql', args: { sql: `insert into t.members values ('${ORG_A}', '${USER_A}', 'owner')` } }, '/v2/query');
    }
    expect(dataOf(await c.next((m) => m.id === 'o'))).toEqual({ orgs: [{ id: ORG_A, name: 'Acme' }] });
    c.close();
  });

  it('ends a subscription with an error when the metadata takes the role’s select permission away', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: memberA });
    await c.next((m) => m.type === 'connection_ack');
    c.send({ type: 'subscribe', id: 'm', payload: { query: 'subscription { members { role } }' } });
    expect(dataOf(await c.next((m) => m.id === 'm'))).toEqual({ members: [{ role: 'owner' }] });
    const subscribers = stats().subscribers;
    await ok(engine, { type: 'pg_drop_select_permission', args: { table: { schema: 't', name: 'members' }, role: 'member' } });
    try {
      const ended = await c.next((m) => m.id === 'm');
      expect(ended.type).toBe('error');
      expect((ended.payload as { extensions: { code: string } }[])[0]?.extensions.code).toBe('validation-failed');
      await until(() => stats().subscribers <= subscribers - 1, 'the subscription to end');
    } finally {
      await ok(engine, {
        type: 'pg_create_select_permission',
        args: {
          table: { schema: 't', name: 'members' },
          role: 'member',
          permission: { columns: '*', filter: { user_id: { _eq: 'X-Hasura-User-Id' } } },
        },
      });
    }
    c.close();
  });
});

describe('multiplexing', () => {
  it('runs one SQL statement per interval for forty subscribers of one query (two cohorts)', async () => {
    const pool = engine.core.pool as pg.Pool & { query: (...args: unknown[]) => unknown };
    const original = pool.query.bind(pool);
    let multiplexed = 0;
    pool.query = ((...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].startsWith('SELECT _subs.result_id')) multiplexed += 1;
      return (original as (...a: unknown[]) => unknown)(...args);
    }) as typeof pool.query;
    await until(() => stats().subscribers === 0, 'earlier tests’ subscribers to be gone');
    const clients = await Promise.all([0, 1, 2, 3].map(() => connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws')));
    try {
      const firsts: Promise<WsMessage>[] = [];
      for (const [n, c] of clients.entries()) {
        c.send({ type: 'connection_init', payload: n % 2 === 0 ? memberA : memberB });
        await c.next((m) => m.type === 'connection_ack');
        for (let i = 0; i < 10; i++) {
          c.send({ type: 'subscribe', id: `s${i}`, payload: { query: 'subscription Balance { orgs { name balance } }' } });
        }
        // The first answers in any order (each start's variables are validated on its own first).
        for (let i = 0; i < 10; i++) firsts.push(c.next((m) => m.id?.startsWith('s') === true));
      }
      const answers = await Promise.all(firsts);
      expect(answers.map((a) => (dataOf(a).orgs as { name: string }[])[0]?.name).sort()).toEqual([
        ...Array(20).fill('Acme'),
        ...Array(20).fill('Beta'),
      ]);
      expect(stats()).toMatchObject({ pollers: 1, cohorts: 2, subscribers: 40 });
      const fromCount = multiplexed;
      const fromStats = stats().statements;
      const started = Date.now();
      await until(() => stats().statements >= fromStats + 6, 'six polls');
      const elapsed = Date.now() - started;
      const ran = multiplexed - fromCount;
      expect(ran).toBe(stats().statements - fromStats);
      // One statement per interval: six statements took at least five intervals.
      expect(elapsed).toBeGreaterThanOrEqual(5 * INTERVAL_MS - 20);
    } finally {
      pool.query = original as typeof pool.query;
      for (const c of clients) c.close();
    }
  });
});

describe('over HTTP', () => {
  it('introspects subscription_root with the role’s query fields', async () => {
    const answer = await gql(engine, '{ __schema { subscriptionType { name fields { name } } } }', memberA);
    const schema = answer.body.data?.__schema as { subscriptionType: { name: string; fields: { name: string }[] } } | undefined;
    const type = schema?.subscriptionType ?? { name: '', fields: [] };
    expect(type.name).toBe('subscription_root');
    expect(type.fields.map((f) => f.name)).toContain('entries');
    expect(type.fields.map((f) => f.name)).not.toContain('insert_entries');
  });

  it('refuses a subscription on POST /v1/graphql as Hasura does', async () => {
    const answer = await gql(engine, ENTRIES);
    expect(answer.body).toEqual({
      errors: [
        {
          message: 'subscriptions are not supported over HTTP, use websockets instead',
          extensions: { path: '$', code: 'unexpected-payload' },
        },
      ],
    });
  });
});

describe('JWT expiry', () => {
  let jwtEngine: Engine;
  beforeAll(async () => {
    jwtEngine = await startEngine(db, {
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: JWT_KEY }),
      HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL: String(INTERVAL_MS),
    });
  });
  afterAll(async () => {
    await jwtEngine?.close();
  });

  /** A token with at least `secondsLeft` to run (whole seconds, rounded up), not a second less. */
  async function token(secondsLeft: number): Promise<string> {
    return new jose.SignJWT({
      'https://hasura.io/jwt/claims': {
        'x-hasura-allowed-roles': ['member'],
        'x-hasura-default-role': 'member',
        'x-hasura-user-id': USER_A,
      },
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.ceil(Date.now() / 1000) + secondsLeft)
      .sign(new TextEncoder().encode(JWT_KEY));
  }

  it('closes a graphql-transport-ws connection when its token expires', async () => {
    const c = await connect(`${jwtEngine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${await token(3)}` } } });
    await c.next((m) => m.type === 'connection_ack');
    c.send({ type: 'subscribe', id: 'e', payload: { query: 'subscription { orgs { name } }' } });
    expect(dataOf(await c.next((m) => m.id === 'e'))).toEqual({ orgs: [{ name: 'Acme' }] });
    const { code, reason } = await c.closed;
    expect(code).toBe(4400);
    expect(JSON.parse(reason)).toEqual({ server_error_msg: '4400: Could not verify JWT: JWTExpired' });
    await until(() => stats(jwtEngine).subscribers === 0, 'the expired subscriber to be removed');
  });

  it('sends connection_error and closes a graphql-ws connection when its token expires', async () => {
    const c = await connect(`${jwtEngine.url}/v1/graphql`, 'graphql-ws');
    c.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${await token(3)}` } } });
    await c.next((m) => m.type === 'connection_ack');
    expect(await c.next((m) => m.type === 'connection_error')).toEqual({
      type: 'connection_error',
      payload: 'Could not verify JWT: JWTExpired',
    });
    expect((await c.closed).code).toBe(1000);
  });

  it('refuses an already expired token at connection_init', async () => {
    const c = await connect(`${jwtEngine.url}/v1/graphql`, 'graphql-transport-ws');
    c.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${await token(-60)}` } } });
    const { code, reason } = await c.closed;
    expect(code).toBe(4400);
    expect(reason).toContain('JWTExpired');
  });
});

describe('numbers in messages', () => {
  it('keeps a numeric variable with more digits than a float holds exact, as over HTTP', async () => {
    const org = '00000000-0000-0000-0000-0000000000ee';
    await db.pool.query(`insert into t.orgs (id, name) values ($1, 'Exact')`, [org]);
    const { rows } = await db.pool.query<{ id: string }>(
      `insert into t.entries (org_id, amount, kind) values ($1, 12345678901234567.125, 'grant'), ($1, 12345678901234568, 'grant')
       returning id::text`,
      [org],
    );
    try {
      const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
      c.send({ type: 'connection_init', payload: { headers: { 'x-hasura-admin-secret': ADMIN_SECRET } } });
      await c.next((m) => m.type === 'connection_ack');
      // Sent as text: the variable is a JSON number with 20 significant digits, which a float
      // would round to 12345678901234568 (the other row).
      c.socket.send(
        '{"type":"subscribe","id":"n","payload":{"query":"subscription($a: numeric!) { entries(where: {amount: {_eq: $a}}) { id } }",' +
          '"variables":{"a":12345678901234567.125}}}',
      );
      const first = await c.next((m) => m.id === 'n');
      expect(first.type).toBe('next');
      expect(dataOf(first)).toEqual({ entries: [{ id: Number(rows[0]!.id) }] });
      c.close();
    } finally {
      await db.pool.query('delete from t.entries where org_id = $1', [org]);
      await db.pool.query('delete from t.orgs where id = $1', [org]);
    }
  });
});
