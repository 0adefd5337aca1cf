// Actions against the project's real hasura/metadata and a real HTTP handler on 127.0.0.1.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestDatabase, useTestDatabase } from '@org-credits/db/testing';
import { buildClientSchema, type GraphQLObjectType, getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { metadataWithoutCron } from '../../hasura/test/metadata-without-cron.ts';
import type { Engine } from '../src/index.ts';
import { ADMIN_SECRET, as, metadata, startEngine } from './helpers.ts';

const ORG = '0a000000-0000-4000-8000-000000000001';
const OTHER_ORG = '0a000000-0000-4000-8000-000000000002';
const SECRET = 'action-secret-for-engine-tests';
/** hasura/metadata without its cron triggers: they would call the handler at the machine's time. */
const METADATA_DIR = metadataWithoutCron();

interface Seen {
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}
type Reply = (seen: Seen, res: ServerResponse) => void;

let db: TestDatabase;
let engine: Engine;
let handler: Server;
let seen: Seen[] = [];
let reply: Reply;
const hanging: ServerResponse[] = [];

const json =
  (status: number, body: string): Reply =>
  (_s, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  };

async function post(query: string, headers: Record<string, string>, variables?: Record<string, unknown>) {
  const res = await fetch(`${engine.url}/v1/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as { data?: Record<string, unknown>; errors?: Record<string, unknown>[] } };
}

const service = (org = ORG) => as('service', { 'org-id': org });
const RESERVE = `mutation Reserve($key: String!) {
  reserveCredits(capability: "chat", qualityLevel: "fast", idempotencyKey: $key, inputTokens: 10) {
    reservationId amountCredits expiresAt modelId availableCredits
  }
}`;
const reserved = (id = '11111111-1111-4111-8111-111111111111') =>
  `{"reservationId":"${id}","amountCredits":12.345678901234567891,"expiresAt":"2026-01-01T00:10:00Z","modelId":"gpt-4o-mini","availableCredits":"987.654321","expiresInSeconds":600,"extra":1}`;

beforeAll(async () => {
  db = await useTestDatabase();
  handler = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> };
      seen.push(s);
      reply(s, res);
    });
  });
  await new Promise<void>((resolve) => handler.listen(0, '127.0.0.1', resolve));
  const port = (handler.address() as AddressInfo).port;
  engine = await startEngine(db, {
    ORG_CREDITS_ENGINE_METADATA_DIR: METADATA_DIR,
    ACTIONS_BASE_URL: `http://127.0.0.1:${port}`,
    ACTION_SECRET: SECRET,
    HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
  });
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  handler.closeAllConnections();
  await new Promise((resolve) => handler.close(resolve));
  await engine?.close();
});

beforeEach(() => {
  seen = [];
  reply = json(200, reserved());
});

describe('action requests', () => {
  it('sends Hasura’s payload and the configured header, and passes the answer through exactly', async () => {
    const answer = await post(RESERVE, { ...service(), 'X-Hasura-User-Id': 'someone' }, { key: 'k1' });
    expect(seen).toHaveLength(1);
    const [call] = seen;
    expect(call?.headers['x-org-credits-secret']).toBe(SECRET);
    expect(call?.headers['content-type']).toBe('application/json');
    expect(call?.headers['x-hasura-admin-secret']).toBeUndefined();
    expect(call?.body).toEqual({
      action: { name: 'reserveCredits' },
      input: { capability: 'chat', qualityLevel: 'fast', idempotencyKey: 'k1', inputTokens: 10 },
      session_variables: { 'x-hasura-role': 'service', 'x-hasura-org-id': ORG, 'x-hasura-user-id': 'someone' },
      request_query: RESERVE,
    });
    // the amount keeps every digit; extra fields of the answer are dropped
    expect(answer.text).toBe(
      '{"data":{"reserveCredits":{"reservationId":"11111111-1111-4111-8111-111111111111","amountCredits":12.345678901234567891,"expiresAt":"2026-01-01T00:10:00Z","modelId":"gpt-4o-mini","availableCredits":"987.654321"}}}',
    );
  });

  it('passes the handler’s Set-Cookie on to the client, as Hasura does', async () => {
    reply = (_s, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1; Path=/', 'b=2'] });
      res.end('{"allowed":true,"availableCredits":"1"}');
    };
    const res = await fetch(`${engine.url}/v1/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...service() },
      body: JSON.stringify({ query: '{ checkAIAccess(capability: "chat", qualityLevel: "fast") { allowed } }' }),
    });
    expect(await res.json()).toEqual({ data: { checkAIAccess: { allowed: true } } });
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
  });

  it('checks argument types before calling the handler', async () => {
    const answer = await post(
      'mutation { reserveCredits(capability: 5, qualityLevel: "fast", idempotencyKey: "k") { reservationId } }',
      service(),
    );
    expect(answer.body.errors?.[0]).toMatchObject({ extensions: { code: 'validation-failed' } });
    const missing = await post('mutation { reserveCredits(capability: "chat", qualityLevel: "fast") { reservationId } }', service());
    expect(missing.body.errors?.[0]).toMatchObject({ message: 'missing required field "idempotencyKey"' });
    const unknownField = await post(
      'mutation { reserveCredits(capability: "chat", qualityLevel: "fast", idempotencyKey: "k") { nope } }',
      service(),
    );
    expect(unknownField.body.errors?.[0]).toMatchObject({ message: `field "nope" not found in type: 'ReserveCreditsOutput'` });
    // At the field's path, as Hasura's field parser checks argument names (before withKey "args").
    const unknownArgument = await post(
      'mutation { reserveCredits(capability: "chat", qualityLevel: "fast", idempotencyKey: "k", foo: 1) { reservationId } }',
      service(),
    );
    expect(unknownArgument.body).toEqual({
      errors: [
        {
          message: '"reserveCredits" has no argument named "foo"',
          extensions: { code: 'validation-failed', path: '$.selectionSet.reserveCredits' },
        },
      ],
    });
    expect(seen).toHaveLength(0);
  });

  it('turns a 4xx {message, extensions} into the GraphQL error with the handler’s extensions as they are', async () => {
    reply = json(400, '{"message":"Not enough credits","extensions":{"code":"INSUFFICIENT_CREDITS","availableCredits":"0.5"}}');
    const answer = await post(RESERVE, service(), { key: 'k2' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      errors: [{ message: 'Not enough credits', extensions: { code: 'INSUFFICIENT_CREDITS', availableCredits: '0.5' } }],
    });
  });

  it('reads the older root `code` of a 4xx when there are no extensions', async () => {
    reply = json(422, '{"message":"Rate limited","code":"RATE_LIMITED"}');
    const answer = await post(RESERVE, service(), { key: 'k3' });
    expect(answer.body).toEqual({ errors: [{ message: 'Rate limited', extensions: { path: '$', code: 'RATE_LIMITED' } }] });
    reply = json(400, '{"message":"plain"}');
    expect((await post(RESERVE, service(), { key: 'k3' })).body).toEqual({
      errors: [{ message: 'plain', extensions: { path: '$', code: 'unexpected' } }],
    });
  });

  it('answers a 5xx with Hasura’s internal error, the handler’s body only for the admin', async () => {
    reply = json(500, '{"message":"boom"}');
    const forService = await post(RESERVE, service(), { key: 'k4' });
    expect(forService.body).toEqual({ errors: [{ message: 'internal error', extensions: { path: '$', code: 'unexpected' } }] });
    const forAdmin = await post(RESERVE, { 'x-hasura-admin-secret': ADMIN_SECRET }, { key: 'k4' });
    expect(forAdmin.body.errors?.[0]).toEqual({
      message: 'internal error',
      extensions: { path: '$', code: 'unexpected', internal: { webhook_response: { message: 'boom' } } },
    });
  });

  it('refuses a body that is not JSON', async () => {
    reply = (_s, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>oops</html>');
    };
    const answer = await post(RESERVE, service(), { key: 'k5' });
    expect(answer.body).toEqual({
      errors: [{ message: 'not a valid json response from webhook', extensions: { path: '$', code: 'unexpected' } }],
    });
  });

  it('validates the answer against the output type', async () => {
    reply = json(200, '{"amountCredits":"1","expiresAt":"x","modelId":"m","availableCredits":"1","expiresInSeconds":600}');
    expect((await post(RESERVE, service(), { key: 'k6' })).body.errors?.[0]).toMatchObject({
      message: 'field "reservationId" expected in webhook response, but not found',
      extensions: { code: 'unexpected' },
    });
    reply = json(
      200,
      '{"reservationId":null,"amountCredits":"1","expiresAt":"x","modelId":"m","availableCredits":"1","expiresInSeconds":600}',
    );
    expect((await post(RESERVE, service(), { key: 'k6' })).body.errors?.[0]).toMatchObject({
      message: 'expecting not null value for field "reservationId"',
    });
    reply = json(200, '[1]');
    expect((await post(RESERVE, service(), { key: 'k6' })).body.errors?.[0]).toMatchObject({
      message: 'expecting object for action webhook response but got array',
    });
    reply = json(200, '"just a string"');
    expect((await post(RESERVE, service(), { key: 'k6' })).body.errors?.[0]).toMatchObject({
      message: 'got scalar String for the action webhook response, expecting ReserveCreditsOutput',
    });
    reply = json(200, 'null');
    expect((await post(RESERVE, service(), { key: 'k6' })).body).toEqual({ data: { reserveCredits: null } });
  });

  it('gives up on a handler that does not answer within the action’s timeout', async () => {
    const updated = await metadata(engine, {
      type: 'update_action',
      args: {
        name: 'estimateCredits',
        definition: {
          handler: '{{ACTIONS_BASE_URL}}/actions',
          headers: [{ name: 'X-Org-Credits-Secret', value_from_env: 'ACTION_SECRET' }],
          timeout: 1,
          type: 'query',
          output_type: 'CreditEstimate',
          arguments: [
            { name: 'capability', type: 'String!' },
            { name: 'qualityLevel', type: 'String!' },
          ],
        },
      },
    });
    expect(updated.status).toBe(200);
    reply = (_s, res) => hanging.push(res);
    const answer = await post('query { estimateCredits(capability: "chat", qualityLevel: "fast") { modelId } }', service());
    expect(answer.body).toEqual({
      errors: [{ message: 'http exception when calling webhook', extensions: { path: '$', code: 'unexpected' } }],
    });
  });
});

describe('action metadata', () => {
  const exported = async () => (await metadata(engine, { type: 'export_metadata', args: {} })).body;

  it('refuses asynchronous actions and transforms, naming them, and keeps the metadata as it was', async () => {
    const before = await exported();
    const base = {
      handler: '{{ACTIONS_BASE_URL}}/actions',
      type: 'mutation',
      output_type: 'ReleaseCreditsOutput',
      arguments: [{ name: 'reservationId', type: 'uuid!' }],
    };
    const asyncAction = await metadata(engine, {
      type: 'create_action',
      args: { name: 'later', definition: { ...base, kind: 'asynchronous' } },
    });
    expect(asyncAction.status).toBe(400);
    expect(asyncAction.body).toMatchObject({ code: 'not-supported', error: expect.stringContaining('asynchronous') });
    const transformed = await metadata(engine, {
      type: 'create_action',
      args: { name: 'shaped', definition: { ...base, kind: 'synchronous', request_transform: { body: { action: 'transform' } } } },
    });
    expect(transformed.body).toMatchObject({ code: 'not-supported', error: expect.stringContaining('request_transform') });
    expect(await exported()).toEqual(before);
  });

  it('sends literal header values and forwards the client’s headers when the action asks', async () => {
    const created = await metadata(engine, {
      type: 'create_action',
      args: {
        name: 'echoAccess',
        definition: {
          handler: '{{ACTIONS_BASE_URL}}/echo',
          type: 'query',
          output_type: 'AIAccessCheck',
          arguments: [],
          forward_client_headers: true,
          headers: [{ name: 'X-Fixed', value: 'fixed-value' }],
        },
      },
    });
    expect(created.status).toBe(200);
    reply = json(200, '{"allowed":false,"availableCredits":"0"}');
    const answer = await post('{ echoAccess { allowed } }', { 'x-hasura-admin-secret': ADMIN_SECRET, 'x-client-thing': 'abc' });
    expect(answer.body).toEqual({ data: { echoAccess: { allowed: false } } });
    expect(seen[0]?.headers['x-fixed']).toBe('fixed-value');
    expect(seen[0]?.headers['x-client-thing']).toBe('abc');
    expect(seen[0]?.body.session_variables).toEqual({ 'x-hasura-role': 'admin' });
    // not forwarded by actions without forward_client_headers
    reply = json(200, reserved());
    await post(RESERVE, { ...service(), 'x-client-thing': 'abc' }, { key: 'k9' });
    expect(seen[1]?.headers['x-client-thing']).toBeUndefined();
    // only the admin sees an action without permissions
    const denied = await post('{ echoAccess { allowed } }', service());
    expect(denied.body.errors?.[0]).toMatchObject({ message: `field "echoAccess" not found in type: 'query_root'` });
  });
});

describe('array relationships of action outputs', () => {
  it('joins an array relationship and its aggregate, and shows both in introspection', async () => {
    const current = (await metadata(engine, { type: 'export_metadata', args: {} })).body as {
      custom_types: { objects: { name: string; relationships?: unknown[] }[] };
    };
    const types = structuredClone(current.custom_types);
    const release = types.objects.find((o) => o.name === 'ReleaseCreditsOutput') as { relationships?: unknown[] };
    release.relationships = [
      ...(release.relationships ?? []),
      {
        name: 'entries',
        type: 'array',
        remote_table: { schema: 'public', name: 'credit_ledger_entries' },
        field_mapping: { reservationId: 'reservation_id' },
      },
    ];
    expect((await metadata(engine, { type: 'set_custom_types', args: types })).status).toBe(200);
    try {
      const intro = await post(getIntrospectionQuery(), service());
      const schema = buildClientSchema(intro.body.data as never);
      const fields = (schema.getType('ReleaseCreditsOutput') as GraphQLObjectType).getFields();
      expect(String(fields.entries?.type)).toBe('[credit_ledger_entries!]!');
      expect(fields.entries?.args.map((a) => a.name)).toEqual(['distinct_on', 'limit', 'offset', 'order_by', 'where']);
      expect(String(fields.entries_aggregate?.type)).toBe('credit_ledger_entries_aggregate!');

      // a reservation id with no ledger entries: an empty list and a zero count, from one statement
      reply = json(200, '{"reservationId":"22222222-2222-4222-8222-222222222222","releasedCredits":"1","availableCredits":"2"}');
      const answer = await post(
        'mutation { releaseCredits(reservationId: "22222222-2222-4222-8222-222222222222") { entries(limit: 5) { id } entries_aggregate { aggregate { count } } } }',
        service(),
      );
      expect(answer.body).toEqual({ data: { releaseCredits: { entries: [], entries_aggregate: { aggregate: { count: 0 } } } } });
    } finally {
      await metadata(engine, { type: 'set_custom_types', args: current.custom_types });
    }
  });
});

describe('action permissions and schema', () => {
  it('shows a role only the actions its permissions list', async () => {
    const user = as('user', { 'org-id': ORG, 'user-id': '0b000000-0000-4000-8000-000000000001' });
    const denied = await post(RESERVE, user, { key: 'k7' });
    expect(denied.body.errors?.[0]).toMatchObject({
      message: `field "reserveCredits" not found in type: 'mutation_root'`,
      extensions: { code: 'validation-failed' },
    });
    expect(seen).toHaveLength(0);
    const fields = async (headers: Record<string, string>) => {
      const r = await post('{ __schema { queryType { fields { name } } mutationType { fields { name } } } }', headers);
      const schema = r.body.data?.__schema as { queryType: { fields: { name: string }[] }; mutationType: { fields: { name: string }[] } };
      return {
        query: schema.queryType.fields.map((f) => f.name),
        mutation: schema.mutationType.fields.map((f) => f.name),
      };
    };
    const forUser = await fields(user);
    expect(forUser.query).toContain('checkAIAccess');
    expect(forUser.mutation).toContain('runPlayground');
    expect(forUser.mutation).not.toContain('reserveCredits');
    const forService = await fields(service());
    expect(forService.mutation).toEqual(expect.arrayContaining(['reserveCredits', 'settleCredits', 'releaseCredits']));
    expect(forService.mutation).not.toContain('runPlayground');
    const forAdmin = await fields({ 'x-hasura-admin-secret': ADMIN_SECRET });
    expect(forAdmin.mutation).toEqual(expect.arrayContaining(['reserveCredits', 'runPlayground', 'changePlan']));
  });

  it('describes custom types in introspection, with relationships to tables', async () => {
    const r = await post('{ __type(name: "ReserveCreditsOutput") { fields { name type { name kind ofType { name } } } } }', service());
    const type = r.body.data?.__type as { fields: { name: string; type: { name: string | null; ofType: { name: string } | null } }[] };
    const fields = type.fields;
    expect(fields.find((f) => f.name === 'amountCredits')?.type.ofType?.name).toBe('numeric');
    expect(fields.find((f) => f.name === 'reservation')?.type.name).toBe('credit_reservations');
  });
});

describe('actions with tables', () => {
  it('joins the output to credit_reservations under the role’s select permission', async () => {
    const row = await db.pool.query<{ id: string }>(
      `insert into public.credit_reservations (organization_id, idempotency_key, capability_code, quality_level_code, model_id, amount_credits, status, expires_at)
       select $1, 'engine-actions-test', pcq.capability_code, pcq.quality_level_code, pcq.model_id, 2.500, 'open', now() + interval '10 minutes'
       from public.plan_capability_quality_levels pcq limit 1 returning id`,
      [ORG],
    );
    const id = row.rows[0]?.id as string;
    reply = json(200, reserved(id));
    const query = `mutation { reserveCredits(capability: "chat", qualityLevel: "fast", idempotencyKey: "k8") {
      reservationId reservation { id amount_credits status organization_id } } }`;
    const mine = await post(query, service());
    expect(mine.body).toEqual({
      data: { reserveCredits: { reservationId: id, reservation: { id, amount_credits: '2.500', status: 'open', organization_id: ORG } } },
    });
    const other = await post(query, service(OTHER_ORG));
    expect(other.body).toEqual({ data: { reserveCredits: { reservationId: id, reservation: null } } });
  });

  it('mixes an action with table fields in one request, in the order asked', async () => {
    reply = json(200, '{"allowed":true,"availableCredits":"10"}');
    const answer = await post(
      `query { organizations { id } checkAIAccess(capability: "chat", qualityLevel: "fast") { allowed availableCredits __typename } t: __typename }`,
      service(),
    );
    expect(Object.keys(answer.body.data ?? {})).toEqual(['organizations', 'checkAIAccess', 't']);
    expect(answer.body).toEqual({
      data: {
        organizations: [{ id: ORG }],
        checkAIAccess: { allowed: true, availableCredits: '10', __typename: 'AIAccessCheck' },
        t: 'query_root',
      },
    });
    expect(seen[0]?.body.action).toEqual({ name: 'checkAIAccess' });
  });
});
