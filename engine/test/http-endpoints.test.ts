// The HTTP endpoints around GraphQL as Hasura serves them (Hasura.Server.App, Hasura.Server.Auth):
// auth failures are 401 except on /v1/graphql (always 200); the metadata API authenticates, parses
// the body, then wants the admin role (`$.args`); /hasura/healthz, /v1/version with server_type;
// the endpoints this engine does not serve answer `not-supported`; x-request-id on answers.
import { useTestDatabase } from '@org-credits/db/testing';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { ADMIN_SECRET, setupFixture, startEngine, USER_A } from './helpers.ts';

const db = await useTestDatabase();
const KEY = 'a-test-key-that-is-at-least-32-characters-long';
let plain: Engine; // the admin secret only
let jwtMode: Engine; // the admin secret and a JWT secret
let userToken: string;

beforeAll(async () => {
  plain = await startEngine(db);
  await setupFixture(plain);
  jwtMode = await startEngine(db, { HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: KEY }) });
  userToken = await new jose.SignJWT({
    'https://hasura.io/jwt/claims': { 'x-hasura-allowed-roles': ['member'], 'x-hasura-default-role': 'member', 'x-hasura-user-id': USER_A },
  })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(KEY));
});
afterAll(async () => {
  await Promise.all([plain?.close(), jwtMode?.close()]);
});

async function call(engine: Engine, path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${engine.url}${path}`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, requestId: res.headers.get('x-request-id') };
}
const EXPORT = JSON.stringify({ type: 'export_metadata', args: {} });
const QUERY = JSON.stringify({ query: '{ orgs { name } }' });
const admin = { 'x-hasura-admin-secret': ADMIN_SECRET };
const wrong = { 'x-hasura-admin-secret': 'nope' };
const invalidSecret = { path: '$', error: 'invalid x-hasura-admin-secret/x-hasura-access-key', code: 'access-denied' };
const missingSecret = { path: '$', error: 'x-hasura-admin-secret/x-hasura-access-key required, but not found', code: 'access-denied' };
const gqlError = (code: string, message: string, path = '$') => ({ errors: [{ message, extensions: { path, code } }] });

describe('authentication failures', () => {
  it('are 401 on the metadata API', async () => {
    for (const path of ['/v1/metadata', '/v2/query', '/v1/query']) {
      expect(await call(plain, path, { body: EXPORT, headers: wrong })).toMatchObject({ status: 401, body: invalidSecret });
      expect(await call(plain, path, { body: EXPORT })).toMatchObject({ status: 401, body: missingSecret });
    }
  });

  it('are 401 on /v1alpha1/graphql and 200 on /v1/graphql', async () => {
    expect(await call(plain, '/v1alpha1/graphql', { body: QUERY, headers: wrong })).toMatchObject({
      status: 401,
      body: gqlError('access-denied', invalidSecret.error),
    });
    expect(await call(plain, '/v1alpha1/graphql', { body: QUERY })).toMatchObject({
      status: 401,
      body: gqlError('access-denied', missingSecret.error),
    });
    expect(await call(plain, '/v1/graphql', { body: QUERY, headers: wrong })).toMatchObject({
      status: 200,
      body: gqlError('access-denied', invalidSecret.error),
    });
  });

  it('keep their 400 for a bad token', async () => {
    expect(await call(jwtMode, '/v1/metadata', { body: EXPORT, headers: { authorization: 'Bearer abc' } })).toMatchObject({
      status: 400,
      body: { path: '$', code: 'invalid-jwt' },
    });
  });
});

describe('the metadata API for a caller who is not admin', () => {
  it('parses the body first, then refuses at `$.args`', async () => {
    const user = { authorization: `Bearer ${userToken}` };
    expect(await call(jwtMode, '/v1/metadata', { body: '{bad', headers: user })).toMatchObject({
      status: 400,
      body: { path: '$', code: 'invalid-json' },
    });
    const restricted = { path: '$.args', error: 'restricted access : admin only', code: 'access-denied' };
    expect(await call(jwtMode, '/v1/metadata', { body: EXPORT, headers: user })).toMatchObject({ status: 400, body: restricted });
    expect(await call(plain, '/v2/query', { body: EXPORT, headers: { ...admin, 'x-hasura-role': 'member' } })).toMatchObject({
      status: 400,
      body: restricted,
    });
  });
});

describe('routes', () => {
  it('serves /hasura/healthz as /healthz', async () => {
    expect(await call(plain, '/hasura/healthz', { method: 'GET' })).toMatchObject({ status: 200, body: 'OK' });
  });

  it('answers /v1/version as Hasura CE v2.48.1', async () => {
    expect(await call(plain, '/v1/version', { method: 'GET' })).toMatchObject({
      status: 200,
      body: { version: 'v2.48.1', server_type: 'ce' },
    });
  });

  it('refuses the endpoints it does not serve with not-supported, not 404', async () => {
    expect(await call(plain, '/v1beta1/relay', { body: QUERY, headers: admin })).toMatchObject({
      status: 200,
      body: gqlError('not-supported', 'the Relay API (/v1beta1/relay) is not supported by this engine'),
    });
    expect(
      await call(plain, '/v1/graphql/explain', { body: JSON.stringify({ query: { query: '{ orgs { name } }' } }), headers: admin }),
    ).toMatchObject({
      status: 400,
      body: { path: '$', error: 'explaining queries (/v1/graphql/explain) is not supported by this engine', code: 'not-supported' },
    });
    expect(await call(plain, '/v1alpha1/config', { method: 'GET', headers: admin })).toMatchObject({
      status: 400,
      body: { path: '$', error: 'the server configuration API (/v1alpha1/config) is not supported by this engine', code: 'not-supported' },
    });
    // Authenticated first, and admin only where Hasura's handler is.
    expect(await call(plain, '/v1alpha1/config', { method: 'GET', headers: wrong })).toMatchObject({ status: 401, body: invalidSecret });
    expect(await call(jwtMode, '/v1/graphql/explain', { body: '{}', headers: { authorization: `Bearer ${userToken}` } })).toMatchObject({
      status: 400,
      body: { path: '$', error: 'You have to be an admin to access this endpoint', code: 'access-denied' },
    });
  });
});

describe('x-request-id', () => {
  it('echoes the client’s, or makes one up, on answers that are not errors', async () => {
    expect((await call(plain, '/v1/graphql', { body: QUERY, headers: { ...admin, 'x-request-id': 'abc-123' } })).requestId).toBe('abc-123');
    expect((await call(plain, '/v1/graphql', { body: QUERY, headers: admin })).requestId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect((await call(plain, '/v1/metadata', { body: EXPORT, headers: { ...admin, 'x-request-id': 'm-1' } })).requestId).toBe('m-1');
  });

  it('is not on error answers, as Hasura’s logErrorAndResp sends none', async () => {
    const failed = await call(plain, '/v1/graphql', {
      body: JSON.stringify({ query: '{ nope }' }),
      headers: { ...admin, 'x-request-id': 'e-1' },
    });
    expect(failed.status).toBe(200);
    expect(failed.requestId).toBeNull();
    expect((await call(plain, '/v1/metadata', { body: EXPORT, headers: { ...wrong, 'x-request-id': 'e-2' } })).requestId).toBeNull();
  });
});
