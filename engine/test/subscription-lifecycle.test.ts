// Subscription lifecycle against the real engine: a subscriber's variable values are validated before
// it joins a multiplexed statement (one tenant's bad value must not fail the others), pollers never
// outlive their socket, and a JWT expiry far away does not close the connection at once.
import { useTestDatabase } from '@org-credits/db/testing';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { ADMIN_SECRET, as, gql, metadata, ORG_A, ORG_B, ok, setupFixture, startEngine, USER_A, USER_B } from './helpers.ts';
import { connect, dataOf } from './subscriptions-client.ts';

const INTERVAL_MS = 100;

const db = await useTestDatabase();
let engine: Engine;

function stats(e: Engine = engine) {
  return (e.core.subscriptions?.stats() ?? {}) as {
    connections: number;
    pollers: number;
    cohorts: number;
    subscribers: number;
    statements: number;
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const admin = { headers: { 'x-hasura-admin-secret': ADMIN_SECRET } };
const memberA = { headers: as('member', { 'user-id': USER_A }) };
const memberB = { headers: as('member', { 'user-id': USER_B }) };
const BY_ORG = 'subscription ByOrg($o: uuid!) { entries(where: {org_id: {_eq: $o}}, order_by: {id: asc}) { note } }';

beforeAll(async () => {
  engine = await startEngine(db, { HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL: String(INTERVAL_MS) });
  await setupFixture(engine);
});

afterAll(async () => {
  await engine?.close();
});

describe('variable values of a live query', () => {
  for (const protocol of ['graphql-transport-ws', 'graphql-ws'] as const) {
    it(`refuses a subscriber whose uuid variable is not a uuid, and the others of its query keep their data (${protocol})`, async () => {
      const transport = protocol === 'graphql-transport-ws';
      const good = await connect(`${engine.url}/v1/graphql`, protocol);
      const bad = await connect(`${engine.url}/v1/graphql`, protocol);
      try {
        // Two tenants of one role: the same poller.
        good.send({ type: 'connection_init', payload: memberB });
        bad.send({ type: 'connection_init', payload: memberA });
        for (const c of [good, bad]) await c.next((m) => m.type === 'connection_ack');
        const start = transport ? 'subscribe' : 'start';
        good.send({ type: start, id: 'g', payload: { query: BY_ORG, variables: { o: ORG_B } } });
        bad.send({ type: start, id: 'b', payload: { query: BY_ORG, variables: { o: '00000000-0000-0000-0000-0000000000bx' } } });
        const refused = await bad.next((m) => m.id === 'b');
        const error = {
          message: 'invalid input syntax for type uuid: "00000000-0000-0000-0000-0000000000bx"',
          extensions: { path: '$', code: 'data-exception' },
        };
        expect(refused).toEqual(
          transport ? { type: 'error', id: 'b', payload: [error] } : { type: 'error', id: 'b', payload: { errors: [error] } },
        );
        if (!transport) expect(await bad.next((m) => m.id === 'b')).toEqual({ type: 'complete', id: 'b' });

        const first = await good.next((m) => m.id === 'g');
        expect(dataOf(first)).toEqual({ entries: [{ note: 'beta grant' }] });
        expect(stats()).toMatchObject({ pollers: 1, cohorts: 1, subscribers: 1 });

        await gql(engine, `mutation { update_entries(where: {org_id: {_eq: "${ORG_B}"}}, _set: {note: "changed"}) { affected_rows } }`);
        expect(dataOf(await good.next((m) => m.id === 'g'))).toEqual({ entries: [{ note: 'changed' }] });
        // Nothing more was sent to the refused subscriber.
        expect(bad.messages.filter((m) => m.id === 'b')).toHaveLength(transport ? 1 : 2);
      } finally {
        good.close();
        bad.close();
        await ok(
          engine,
          { type: 'run_sql', args: { sql: `update t.entries set note = 'beta grant' where org_id = '${ORG_B}'` } },
          '/v2/query',
        );
        await until(() => stats().pollers === 0, 'the pollers to stop');
      }
    });
  }

  // A function that fails for some argument values only when it runs (plpgsql: not inlined, so
  // binding the parameters does not see it): 'boom' always, 'later' once an org is named 'Acme 2'.
  const PICKY = `create function t.picky_orgs(x text) returns setof t.orgs language plpgsql stable as $$
    begin
      if x = 'boom' or (x = 'later' and exists (select 1 from t.orgs where name = 'Acme 2')) then
        raise exception using errcode = '22012', message = 'picky: ' || x;
      end if;
      return query select * from t.orgs order by name;
    end $$`;
  const PICKY_QUERY = 'subscription Picky($x: String!) { t_picky_orgs(args: {x: $x}) { name } }';
  const withPicky = async (body: () => Promise<void>) => {
    await ok(engine, { type: 'run_sql', args: { sql: PICKY } }, '/v2/query');
    await ok(engine, { type: 'pg_track_function', args: { function: { schema: 't', name: 'picky_orgs' } } });
    try {
      await body();
    } finally {
      await ok(engine, { type: 'run_sql', args: { sql: `update t.orgs set name = 'Acme' where id = '${ORG_A}'` } }, '/v2/query');
      await ok(engine, { type: 'pg_untrack_function', args: { function: { schema: 't', name: 'picky_orgs' } } });
      await ok(engine, { type: 'run_sql', args: { sql: 'drop function t.picky_orgs(text)' } }, '/v2/query');
      await until(() => stats().pollers === 0, 'the poller to stop');
    }
  };

  for (const protocol of ['graphql-transport-ws', 'graphql-ws'] as const) {
    it(`refuses a subscriber whose statement fails when it runs, at the start, as Hasura does (${protocol})`, async () => {
      // Hasura runs a new subscriber's multiplexed statement once, in a read-only transaction,
      // before it starts the live query; an error there ends the operation.
      await withPicky(async () => {
        const transport = protocol === 'graphql-transport-ws';
        const c = await connect(`${engine.url}/v1/graphql`, protocol);
        try {
          c.send({ type: 'connection_init', payload: admin });
          await c.next((m) => m.type === 'connection_ack');
          const start = transport ? 'subscribe' : 'start';
          c.send({ type: start, id: 'boom', payload: { query: PICKY_QUERY, variables: { x: 'boom' } } });
          c.send({ type: start, id: 'fine', payload: { query: PICKY_QUERY, variables: { x: 'fine' } } });
          const [boom, fine] = await Promise.all([c.next((m) => m.id === 'boom'), c.next((m) => m.id === 'fine')]);
          // As admin, the error also carries Postgres' own (`internal`), as Hasura's does.
          const error = {
            message: 'picky: boom',
            extensions: { path: '$', code: 'data-exception', internal: { error: { status_code: '22012' } } },
          };
          expect(boom).toMatchObject(
            transport ? { type: 'error', id: 'boom', payload: [error] } : { type: 'error', id: 'boom', payload: { errors: [error] } },
          );
          // graphql-ws (legacy) also completes it; nothing else comes for it.
          expect(c.messages.filter((m) => m.id === 'boom').map((m) => m.type)).toEqual(transport ? ['error'] : ['error', 'complete']);
          expect(dataOf(fine)).toEqual({ t_picky_orgs: [{ name: 'Acme' }, { name: 'Beta' }] });
          // Only the subscriber that started is polled.
          expect(stats()).toMatchObject({ pollers: 1, cohorts: 1 });
        } finally {
          c.close();
        }
      });
    });
  }

  it('answers a cohort that fails while polling with its error and the other cohorts of the batch with their data', async () => {
    await withPicky(async () => {
      const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
      try {
        c.send({ type: 'connection_init', payload: admin });
        await c.next((m) => m.type === 'connection_ack');
        c.send({ type: 'subscribe', id: 'later', payload: { query: PICKY_QUERY, variables: { x: 'later' } } });
        c.send({ type: 'subscribe', id: 'fine', payload: { query: PICKY_QUERY, variables: { x: 'fine' } } });
        const first = { t_picky_orgs: [{ name: 'Acme' }, { name: 'Beta' }] };
        const [later, fine] = await Promise.all([c.next((m) => m.id === 'later'), c.next((m) => m.id === 'fine')]);
        expect(dataOf(later)).toEqual(first);
        expect(dataOf(fine)).toEqual(first);
        expect(stats()).toMatchObject({ pollers: 1, cohorts: 2 });
        // Now 'later' fails when it runs: its cohort gets the error, the other its data, in one batch.
        await gql(engine, `mutation { update_orgs(where: {id: {_eq: "${ORG_A}"}}, _set: {name: "Acme 2"}) { affected_rows } }`);
        const [failed, changed] = await Promise.all([c.next((m) => m.id === 'later'), c.next((m) => m.id === 'fine')]);
        expect(failed).toEqual({
          type: 'next',
          id: 'later',
          payload: { errors: [{ message: 'picky: later', extensions: { path: '$', code: 'data-exception' } }] },
        });
        expect(dataOf(changed)).toEqual({ t_picky_orgs: [{ name: 'Acme 2' }, { name: 'Beta' }] });
      } finally {
        c.close();
      }
    });
  });

  it('keeps valid variables of the same query in one poller (two tenants, two cohorts)', async () => {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    try {
      c.send({ type: 'connection_init', payload: admin });
      await c.next((m) => m.type === 'connection_ack');
      // Each start is checked on its own (LiveQueries.check): 'b' may answer before 'a'.
      c.send({ type: 'subscribe', id: 'a', payload: { query: BY_ORG, variables: { o: ORG_A } } });
      c.send({ type: 'subscribe', id: 'b', payload: { query: BY_ORG, variables: { o: ORG_B } } });
      expect(dataOf(await c.next((m) => m.id === 'a'))).toEqual({
        entries: [{ note: 'first grant' }, { note: 'summary' }, { note: null }],
      });
      expect(dataOf(await c.next((m) => m.id === 'b'))).toEqual({ entries: [{ note: 'beta grant' }] });
      expect(stats()).toMatchObject({ pollers: 1, cohorts: 2, subscribers: 2 });
    } finally {
      c.close();
      await until(() => stats().pollers === 0, 'the poller to stop');
    }
  });
});

describe('messages after the connection is closed', () => {
  const SUB = 'subscription { orgs { name } }';
  const insert = (note: string) => ({
    query: `mutation { insert_entries_one(object: {org_id: "${ORG_A}", amount: 1, kind: "grant", note: "${note}"}) { id } }`,
  });
  const cases: { name: string; protocol: 'graphql-transport-ws' | 'graphql-ws'; closing: unknown[]; code: number }[] = [
    { name: 'connection_terminate', protocol: 'graphql-ws', closing: [{ type: 'connection_terminate' }], code: 1000 },
    {
      name: 'a duplicate id (4409)',
      protocol: 'graphql-transport-ws',
      closing: [
        { type: 'subscribe', id: 'dup', payload: { query: SUB } },
        { type: 'subscribe', id: 'dup', payload: { query: SUB } },
      ],
      code: 4409,
    },
    { name: 'an unparsable message (4400)', protocol: 'graphql-transport-ws', closing: ['not json'], code: 4400 },
    {
      name: 'a second connection_init (4429)',
      protocol: 'graphql-transport-ws',
      closing: [{ type: 'connection_init', payload: admin }],
      code: 4429,
    },
  ];
  for (const { name, protocol, closing, code } of cases) {
    it(`ignores every message after ${name}: no poller, no mutation`, async () => {
      await until(() => stats().pollers === 0 && stats().connections === 0, 'earlier connections to end');
      const note = `after-close-${code}`;
      const c = await connect(`${engine.url}/v1/graphql`, protocol);
      c.send({ type: 'connection_init', payload: admin });
      await c.next((m) => m.type === 'connection_ack');
      const start = protocol === 'graphql-transport-ws' ? 'subscribe' : 'start';
      // One burst: the server reads all of it, the closing message first.
      const burst = [
        ...closing,
        ...Array.from({ length: 5 }, (_, i) => ({ type: start, id: `late${i}`, payload: { query: SUB } })),
        { type: start, id: 'write', payload: insert(note) },
      ];
      for (const m of burst) c.socket.send(typeof m === 'string' ? m : JSON.stringify(m));
      expect((await c.closed).code).toBe(code);
      await until(() => stats().connections === 0 && stats().pollers === 0 && stats().subscribers === 0, 'the pollers to stop');
      // Still none a few intervals later, and the mutation never ran.
      const from = stats().statements;
      await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_MS));
      expect(stats()).toMatchObject({ connections: 0, pollers: 0, subscribers: 0, statements: from });
      const { rows } = await db.pool.query('select count(*)::int as n from t.entries where note = $1', [note]);
      expect(rows[0]).toEqual({ n: 0 });
    });
  }
});

describe('JWT expiry far away', () => {
  const KEY = 'lifecycle-test-key-of-at-least-32-characters';
  let jwtEngine: Engine;
  beforeAll(async () => {
    jwtEngine = await startEngine(db, {
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: KEY }),
      HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL: String(INTERVAL_MS),
    });
  });
  afterAll(async () => {
    await jwtEngine?.close();
  });

  for (const protocol of ['graphql-transport-ws', 'graphql-ws'] as const) {
    it(`keeps a connection whose token expires in 30 days (more than setTimeout's 2^31-1 ms) open (${protocol})`, async () => {
      const token = await new jose.SignJWT({
        'https://hasura.io/jwt/claims': {
          'x-hasura-allowed-roles': ['member'],
          'x-hasura-default-role': 'member',
          'x-hasura-user-id': USER_B,
        },
      })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(Math.floor(Date.now() / 1000) + 30 * 24 * 3600)
        .sign(new TextEncoder().encode(KEY));
      const c = await connect(`${jwtEngine.url}/v1/graphql`, protocol);
      try {
        c.send({ type: 'connection_init', payload: { headers: { Authorization: `Bearer ${token}` } } });
        await c.next((m) => m.type === 'connection_ack');
        c.send({
          type: protocol === 'graphql-transport-ws' ? 'subscribe' : 'start',
          id: 'o',
          payload: { query: 'subscription { orgs { name } }' },
        });
        expect(dataOf(await c.next((m) => m.id === 'o'))).toEqual({ orgs: [{ name: 'Beta' }] });
        await gql(jwtEngine, `mutation { update_orgs(where: {id: {_eq: "${ORG_B}"}}, _set: {name: "Beta 2"}) { affected_rows } }`);
        expect(dataOf(await c.next((m) => m.id === 'o'))).toEqual({ orgs: [{ name: 'Beta 2' }] });
        expect(c.messages.some((m) => m.type === 'connection_error')).toBe(false);
        expect(c.socket.readyState).toBe(c.socket.OPEN);
      } finally {
        c.close();
        await ok(jwtEngine, { type: 'run_sql', args: { sql: `update t.orgs set name = 'Beta' where id = '${ORG_B}'` } }, '/v2/query');
      }
    });
  }
});

describe('query_root_fields and subscription_root_fields', () => {
  const watcher = { headers: as('watcher') };
  beforeAll(async () => {
    await ok(engine, {
      type: 'bulk',
      args: [
        {
          type: 'pg_create_select_permission',
          args: {
            table: { schema: 't', name: 'orgs' },
            role: 'watcher',
            permission: { columns: ['id', 'name'], filter: {}, query_root_fields: [], subscription_root_fields: ['select'] },
          },
        },
        {
          type: 'pg_create_select_permission',
          args: {
            table: { schema: 't', name: 'members' },
            role: 'watcher',
            permission: { columns: ['role'], filter: {}, query_root_fields: ['select'], subscription_root_fields: [] },
          },
        },
      ],
    });
  });

  async function subscribeOnce(query: string) {
    const c = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    try {
      c.send({ type: 'connection_init', payload: watcher });
      await c.next((m) => m.type === 'connection_ack');
      c.send({ type: 'subscribe', id: 's', payload: { query } });
      return await c.next((m) => m.id === 's');
    } finally {
      c.close();
    }
  }

  it('lets a field allowed only for subscriptions be subscribed to and not queried', async () => {
    const sub = await subscribeOnce('subscription { orgs(order_by: {name: asc}) { name } }');
    expect(sub).toEqual({ type: 'next', id: 's', payload: { data: { orgs: [{ name: 'Acme' }, { name: 'Beta' }] } } });
    const query = await gql(engine, '{ orgs { name } }', watcher);
    expect(query.body.errors?.[0]?.extensions.code).toBe('validation-failed');
    expect(query.body.errors?.[0]?.message).toContain("not found in type: 'query_root'");
  });

  it('lets a field allowed only for queries be queried and not subscribed to', async () => {
    const query = await gql(engine, '{ members(order_by: {role: asc}) { role } }', watcher);
    expect(query.body).toEqual({ data: { members: [{ role: 'member' }, { role: 'owner' }] } });
    const sub = await subscribeOnce('subscription { members { role } }');
    expect(sub.type).toBe('error');
    const errors = sub.payload as { message: string; extensions: { code: string } }[];
    expect(errors[0]?.extensions.code).toBe('validation-failed');
    expect(errors[0]?.message).toContain("not found in type: 'subscription_root'");
    await until(() => stats().pollers === 0, 'no poller');
  });

  it('introspects each root with its own list', async () => {
    const answer = await gql(engine, '{ __schema { queryType { fields { name } } subscriptionType { name fields { name } } } }', watcher);
    const schema = answer.body.data?.__schema as {
      queryType: { fields: { name: string }[] };
      subscriptionType: { name: string; fields: { name: string }[] };
    };
    expect(schema.queryType.fields.map((f) => f.name)).toEqual(['members']);
    expect(schema.subscriptionType).toEqual({ name: 'subscription_root', fields: [{ name: 'orgs' }] });
  });
});

describe('streaming subscriptions (select_stream), which this engine does not serve', () => {
  it('refuses select_stream in subscription_root_fields or custom_root_fields loudly, and keeps the metadata as it was', async () => {
    const before = await ok(engine, { type: 'export_metadata', args: {} });
    const permission = await metadata(engine, {
      type: 'pg_create_select_permission',
      args: {
        table: { schema: 't', name: 'orgs' },
        role: 'streamer',
        permission: { columns: ['id'], filter: {}, subscription_root_fields: ['select', 'select_stream'] },
      },
    });
    expect(permission.status).toBe(400);
    expect(permission.body).toMatchObject({ code: 'not-supported' });
    expect((permission.body as { error: string }).error).toContain('not supported by this engine');
    expect((permission.body as { error: string }).error).toContain('select_stream');

    const customised = await metadata(engine, {
      type: 'pg_set_table_customization',
      args: {
        table: { schema: 't', name: 'orgs' },
        configuration: { custom_name: 'orgs', custom_root_fields: { select_stream: 'orgs_live' } },
      },
    });
    expect(customised.status).toBe(400);
    expect(customised.body).toMatchObject({ code: 'not-supported' });
    expect((customised.body as { error: string }).error).toContain('custom_root_fields.select_stream');

    const exported = structuredClone(before) as { sources: { tables: { table: { name: string }; select_permissions?: unknown[] }[] }[] };
    const orgs = exported.sources[0]?.tables.find((t) => t.table.name === 'orgs');
    orgs?.select_permissions?.push({
      role: 'streamer',
      permission: { columns: ['id'], filter: {}, subscription_root_fields: ['select_stream'] },
    });
    const replaced = await metadata(engine, { type: 'replace_metadata', args: exported });
    expect(replaced.status).toBe(400);
    expect((replaced.body as { error: string }).error).toContain('not supported by this engine');

    expect(await ok(engine, { type: 'export_metadata', args: {} })).toEqual(before);
  });
});
