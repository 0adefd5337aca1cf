// close() as Hasura stops: no new connections, HTTP requests in flight finish (an action whose
// handler is still working answers), WebSockets close with 1012, and a request longer than the
// drain is cut so the close still ends. The project's real metadata and a real action handler.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { healthzOnNewConnection, useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { metadataWithoutCron } from '../../hasura/test/metadata-without-cron.ts';
import type { Engine } from '../src/index.ts';
import { as, startEngine } from './helpers.ts';
import { connect } from './subscriptions-client.ts';

const db = await useTestDatabase();
const SECRET = 'action-secret-for-engine-tests';
/** hasura/metadata without its cron triggers: they would call the handler at the machine's time. */
const METADATA_DIR = metadataWithoutCron();
const ORG = '0a000000-0000-4000-8000-000000000001';
const RESERVE = `mutation Reserve($key: String!) {
  reserveCredits(capability: "chat", qualityLevel: "fast", idempotencyKey: $key, inputTokens: 10) { reservationId amountCredits }
}`;
const reserved =
  '{"reservationId":"11111111-1111-4111-8111-111111111111","amountCredits":"1.000","expiresAt":"2026-01-01T00:10:00Z","modelId":"gpt-4o-mini","availableCredits":"9.000","expiresInSeconds":600}';

/** The action handler (the api's place): holds every call until the test answers it. */
const waiting: ServerResponse[] = [];
let arrived: () => void = () => undefined;
const handler: Server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    waiting.push(res);
    arrived();
  });
});
await new Promise<void>((resolve) => handler.listen(0, '127.0.0.1', resolve));
const handlerPort = (handler.address() as AddressInfo).port;
afterAll(async () => {
  handler.closeAllConnections();
  await new Promise((resolve) => handler.close(resolve));
});

function start(httpDrainMs: number): Promise<Engine> {
  return startEngine(
    db,
    {
      ORG_CREDITS_ENGINE_METADATA_DIR: METADATA_DIR,
      ACTIONS_BASE_URL: `http://127.0.0.1:${handlerPort}`,
      ACTION_SECRET: SECRET,
      HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
    },
    { httpDrainMs },
  );
}

function reserve(engine: Engine, key: string) {
  const called = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const answer = fetch(`${engine.url}/v1/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...as('service', { 'org-id': ORG }) },
    body: JSON.stringify({ query: RESERVE, variables: { key } }),
  }).then(
    async (res) => ({ status: res.status, connection: res.headers.get('connection'), body: await res.text() }),
    (error: unknown) => ({ status: 0, connection: null, body: String(error) }),
  );
  return { called, answer };
}

describe('engine close()', () => {
  it('lets an action in flight answer, refuses new connections and closes WebSockets with 1012', async () => {
    const engine = await start(10_000);
    const ws = await connect(`${engine.url}/v1/graphql`, 'graphql-transport-ws');
    const { called, answer } = reserve(engine, 'drain-1');
    await called;
    const startedAt = Date.now();
    const closing = engine.close();
    expect(await ws.closed).toEqual({ code: 1012, reason: 'server shutting down' });
    expect(await healthzOnNewConnection(engine.url)).toBe('ECONNREFUSED');
    let done = false;
    void closing.then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done).toBe(false); // waiting for the action
    const res = waiting.shift()!;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(reserved);
    const answered = await answer;
    expect(answered.status).toBe(200);
    expect(JSON.parse(answered.body)).toEqual({
      data: { reserveCredits: { reservationId: '11111111-1111-4111-8111-111111111111', amountCredits: '1.000' } },
    });
    // Its keep-alive connection closes after the answer, so the close does not wait on it.
    expect(answered.connection).toBe('close');
    await closing;
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(engine.core.pool.ended).toBe(true);
  });

  it('cuts a request longer than the drain, and still closes', async () => {
    const engine = await start(300);
    const { called, answer } = reserve(engine, 'drain-2');
    await called;
    const startedAt = Date.now();
    await engine.close();
    const took = Date.now() - startedAt;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(5_000);
    expect((await answer).status).toBe(0); // cut
    for (const res of waiting.splice(0)) res.destroy();
  });
});
