import { generateKeyPairSync } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { ADMIN_SECRET, gql, setupFixture, startEngine, USER_A, USER_B } from './helpers.ts';

const db = await useTestDatabase();
const hsKey = 'a-test-key-that-is-at-least-32-characters-long';
let hs: Engine;
let rs: Engine;
let anon: Engine;
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const claims = (extra: Record<string, unknown> = {}) => ({
  'x-hasura-allowed-roles': ['member', 'viewer'],
  'x-hasura-default-role': 'member',
  'x-hasura-user-id': USER_A,
  ...extra,
});

async function hsToken(payload: Record<string, unknown>, expiresIn = '1h', key = hsKey) {
  return new jose.SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(key));
}

beforeAll(async () => {
  hs = await startEngine(db, { HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: hsKey }) });
  await setupFixture(hs);
  rs = await startEngine(db, {
    HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({
      type: 'RS256',
      key: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      claims_namespace_path: '$.app.hasura',
      claims_format: 'stringified_json',
      audience: 'org-credits',
      issuer: 'issuer-1',
    }),
  });
  anon = await startEngine(db, { HASURA_GRAPHQL_UNAUTHORIZED_ROLE: 'member' });
});
afterAll(async () => {
  await Promise.all([hs?.close(), rs?.close(), anon?.close()]);
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('JWT mode', () => {
  it('takes the role and session variables from the claims namespace', async () => {
    const token = await hsToken({ 'https://hasura.io/jwt/claims': claims() });
    const { body } = await gql(hs, '{ orgs { name } }', { headers: bearer(token) });
    expect(body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
  });

  it('never lets a header override a claim other than choosing an allowed role', async () => {
    const token = await hsToken({ 'https://hasura.io/jwt/claims': claims() });
    const { body } = await gql(hs, '{ orgs { name } }', { headers: { ...bearer(token), 'x-hasura-user-id': USER_B } });
    expect(body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
    const denied = await gql(hs, '{ orgs { name } }', { headers: { ...bearer(token), 'x-hasura-role': 'admin' } });
    expect(denied.body.errors).toEqual([
      { message: 'Your requested role is not in allowed roles', extensions: { code: 'access-denied', path: '$' } },
    ]);
  });

  it('answers Hasura’s errors for bad tokens and claims', async () => {
    const wrongKey = await hsToken({ 'https://hasura.io/jwt/claims': claims() }, '1h', 'another-key-that-is-at-least-32-characters');
    expect((await gql(hs, '{ orgs { name } }', { headers: bearer(wrongKey) })).body.errors?.[0]?.extensions.code).toBe('invalid-jwt');
    const expired = await hsToken({ 'https://hasura.io/jwt/claims': claims() }, '-1h');
    expect((await gql(hs, '{ orgs { name } }', { headers: bearer(expired) })).body.errors?.[0]).toEqual({
      message: 'Could not verify JWT: JWTExpired',
      extensions: { code: 'invalid-jwt', path: '$' },
    });
    const noNamespace = await hsToken({ sub: 'x' });
    expect((await gql(hs, '{ orgs { name } }', { headers: bearer(noNamespace) })).body.errors?.[0]).toEqual({
      message: "claims key: 'https://hasura.io/jwt/claims' not found",
      extensions: { code: 'jwt-invalid-claims', path: '$' },
    });
    const noRoles = await hsToken({ 'https://hasura.io/jwt/claims': { 'x-hasura-user-id': USER_A } });
    expect((await gql(hs, '{ orgs { name } }', { headers: bearer(noRoles) })).body.errors?.[0]?.extensions.code).toBe(
      'jwt-missing-role-claims',
    );
    expect((await gql(hs, '{ orgs { name } }', { headers: {} })).body.errors?.[0]?.extensions.code).toBe('invalid-headers');
  });

  it('still accepts the admin secret', async () => {
    const { body } = await gql(hs, '{ orgs(order_by: {name: asc}) { name } }', { headers: { 'x-hasura-admin-secret': ADMIN_SECRET } });
    expect(body).toEqual({ data: { orgs: [{ name: 'Acme' }, { name: 'Beta' }] } });
  });

  it('verifies RS256 tokens with claims_namespace_path, stringified claims, audience and issuer', async () => {
    const sign = (aud: string) =>
      new jose.SignJWT({ app: { hasura: JSON.stringify(claims({ 'x-hasura-user-id': USER_B })) } })
        .setProtectedHeader({ alg: 'RS256' })
        .setAudience(aud)
        .setIssuer('issuer-1')
        .setExpirationTime('1h')
        .sign(privateKey);
    const good = await gql(rs, '{ orgs { name } }', { headers: bearer(await sign('org-credits')) });
    expect(good.body).toEqual({ data: { orgs: [{ name: 'Beta' }] } });
    const wrongAudience = await gql(rs, '{ orgs { name } }', { headers: bearer(await sign('someone-else')) });
    expect(wrongAudience.body.errors?.[0]?.extensions.code).toBe('invalid-jwt');
  });
});

describe('admin secret and the unauthorized role', () => {
  it('refuses a wrong admin secret and a missing one', async () => {
    const wrong = await gql(anon, '{ orgs { name } }', { headers: { 'x-hasura-admin-secret': 'nope' } });
    expect(wrong.body.errors).toEqual([
      { message: 'invalid x-hasura-admin-secret/x-hasura-access-key', extensions: { code: 'access-denied', path: '$' } },
    ]);
  });

  it('serves the unauthorized role when no credentials are given', async () => {
    const { body } = await gql(anon, '{ orgs { name } }', { headers: {} });
    expect(body.errors?.[0]).toEqual({
      message: 'missing session variable: "x-hasura-user-id"',
      extensions: { code: 'not-found', path: '$' },
    });
  });
});
