// The engine with its parts wired in: event triggers fed by GraphQL mutations (with the session),
// metadata changes that the trigger service must accept, request logs and /healthz.
import { useTestDatabase } from '@org-credits/db/testing';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv, createEngine, type Engine } from '../src/index.ts';
import { ADMIN_SECRET, as, gql, metadata, ORG_A, ok, setupFixture, USER_A } from './helpers.ts';
import { type Receiver, startReceiver } from './triggers/helpers.ts';

const JWT_KEY = 'wiring-test-key-of-at-least-thirty-two-characters';
const db = await useTestDatabase();
let engine: Engine;
let receiver: Receiver;
const logs: Record<string, unknown>[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  const config = configFromEnv(
    {
      HASURA_GRAPHQL_DATABASE_URL: db.url,
      HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: JWT_KEY }),
      HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL: '50',
      ORG_CREDITS_ENGINE_METADATA_DIR: '',
      WIRING_HOOK: receiver.url,
    },
    process.cwd(),
  );
  engine = await createEngine(config, { log: (entry) => logs.push(entry), poolSize: 4 });
  await engine.listen(0, '127.0.0.1');
  await setupFixture(engine);
});

afterAll(async () => {
  await engine?.close();
  await receiver?.close();
});

describe('event triggers through the engine', () => {
  it('delivers a change made by a GraphQL mutation with the session variables of the request', async () => {
    await ok(engine, {
      type: 'pg_create_event_trigger',
      args: {
        name: 'entry_added',
        table: { schema: 't', name: 'entries' },
        webhook: '{{WIRING_HOOK}}/events/entry_added',
        insert: { columns: '*' },
      },
    });
    const arrived = receiver.nextRequest();
    const inserted = await gql(engine, `mutation { insert_entries_one(object: {org_id: "${ORG_A}", amount: 2.5, note: "evt"}) { id } }`, {
      headers: as('member', { 'user-id': USER_A }),
    });
    expect(inserted.body.errors).toBeUndefined();
    const request = await arrived;
    expect(request.path).toBe('/events/entry_added');
    const payload = JSON.parse(request.body) as {
      trigger: { name: string };
      table: { schema: string; name: string };
      event: { op: string; data: { old: unknown; new: { note: string; kind: string } }; session_variables: Record<string, string> };
    };
    expect(payload.trigger.name).toBe('entry_added');
    expect(payload.table).toEqual({ schema: 't', name: 'entries' });
    expect(payload.event.op).toBe('INSERT');
    expect(payload.event.data.old).toBeNull();
    expect(payload.event.data.new).toMatchObject({ note: 'evt', kind: 'adjustment' });
    expect(payload.event.session_variables).toEqual({ 'x-hasura-role': 'member', 'x-hasura-user-id': USER_A });
    // Never the admin secret.
    expect(request.body).not.toContain(ADMIN_SECRET);
  });

  it('refuses a metadata change whose trigger cannot run, and changes nothing', async () => {
    const before = await ok(engine, { type: 'export_metadata', args: {} });
    const answer = await metadata(engine, {
      type: 'pg_create_event_trigger',
      args: { name: 'broken', table: { schema: 't', name: 'orgs' }, webhook_from_env: 'NOT_SET_ANYWHERE', insert: { columns: '*' } },
    });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toContain('NOT_SET_ANYWHERE');
    expect(await ok(engine, { type: 'export_metadata', args: {} })).toEqual(before);
    const triggers = await db.pool.query(
      "select tgname from pg_trigger where tgrelid = 't.orgs'::regclass and not tgisinternal and tgname like 'notify_hasura_%'",
    );
    expect(triggers.rows).toEqual([]);
  });
});

describe('cron triggers through the engine', () => {
  it('delivers a due event of a trigger added by a metadata call, and retries it after a 500', async () => {
    await ok(engine, {
      type: 'create_cron_trigger',
      args: {
        name: 'tick',
        webhook: '{{WIRING_HOOK}}/cron/tick',
        schedule: '0 0 1 1 *',
        payload: { job: 'tick' },
        retry_conf: { num_retries: 1, retry_interval_seconds: 1 },
        include_in_metadata: true,
      },
    });
    let calls = 0;
    receiver.reply = (r) => (r.path === '/cron/tick' && ++calls === 1 ? { status: 500, body: '{}' } : { status: 200, body: '{}' });
    const from = receiver.requests.length;
    // An event whose time has come (the yearly schedule's next one is months away).
    const due = await db.pool.query<{ id: string }>(
      "insert into hdb_catalog.hdb_cron_events (trigger_name, scheduled_time) values ('tick', now() - interval '1 second') returning id",
    );
    const id = due.rows[0]?.id;
    while (receiver.requests.slice(from).filter((r) => r.path === '/cron/tick').length < 2) await receiver.nextRequest();
    const [first, second] = receiver.requests.slice(from).filter((r) => r.path === '/cron/tick');
    for (const request of [first, second]) {
      const payload = JSON.parse(request?.body ?? '{}') as { id: string; name: string; payload: unknown; scheduled_time: string };
      expect(payload).toMatchObject({ id, name: 'tick', payload: { job: 'tick' } });
    }
    let row: { status: string; tries: number } | undefined;
    while (row?.status !== 'delivered') {
      row = (
        await db.pool.query<{ status: string; tries: number }>('select status, tries from hdb_catalog.hdb_cron_events where id = $1', [id])
      ).rows[0];
      if (row?.status !== 'delivered') await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(row).toEqual({ status: 'delivered', tries: 2 });
    receiver.reply = () => ({ status: 200, body: '{}' });
  });
});

describe('/healthz', () => {
  it('answers OK with the database up and the delivery workers running', async () => {
    const plain = await fetch(`${engine.url}/healthz`);
    expect(plain.status).toBe(200);
    expect(await plain.text()).toBe('OK');
    const verbose = (await (await fetch(`${engine.url}/healthz?verbose=true`)).json()) as {
      status: string;
      database: { ok: boolean };
      triggers: { status: string; event_triggers: number };
      subscriptions: { connections: number };
    };
    expect(verbose.status).toBe('OK');
    expect(verbose.database.ok).toBe(true);
    expect(verbose.triggers).toMatchObject({ status: 'running', event_triggers: 1 });
    expect(verbose.subscriptions.connections).toBe(0);
  });
});

describe('request logs', () => {
  it('logs every request with role, operation name, time and error code, and never a secret or token', async () => {
    const token = await new jose.SignJWT({
      'https://hasura.io/jwt/claims': {
        'x-hasura-allowed-roles': ['member'],
        'x-hasura-default-role': 'member',
        'x-hasura-user-id': USER_A,
      },
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JWT_KEY));
    const from = logs.length;
    await gql(engine, 'query MyOrgs { orgs { name } }', { headers: { authorization: `Bearer ${token}` } });
    await gql(engine, 'query Broken { orgs { no_such_column } }', { headers: { authorization: `Bearer ${token}` } });
    await gql(engine, 'query { orgs { name } }', { headers: { 'x-hasura-admin-secret': 'wrong-secret' } });
    const entries = logs.slice(from).filter((e) => e.type === 'http-log') as {
      level: string;
      detail: {
        operation: {
          user_vars: { 'x-hasura-role': string } | null;
          query: { operationName: string | null };
          query_execution_time: number;
          error: { code: string } | null;
        };
        http_info: { status: number; url: string };
      };
    }[];
    expect(entries).toHaveLength(3);
    expect(entries[0]?.detail.operation).toMatchObject({
      user_vars: { 'x-hasura-role': 'member' },
      query: { operationName: 'MyOrgs' },
      error: null,
    });
    expect(entries[0]?.detail.operation.query_execution_time).toBeGreaterThan(0);
    expect(entries[0]?.detail.http_info).toMatchObject({ status: 200, url: '/v1/graphql' });
    expect(entries[1]?.detail.operation).toMatchObject({ query: { operationName: 'Broken' }, error: { code: 'validation-failed' } });
    expect(entries[2]?.detail.operation).toMatchObject({ user_vars: null, error: { code: 'access-denied' } });
    const text = JSON.stringify(logs);
    expect(text).not.toContain(token);
    expect(text).not.toContain(ADMIN_SECRET);
    expect(text).not.toContain('wrong-secret');
  });
});
