// The unauthorized role (HASURA_GRAPHQL_UNAUTHORIZED_ROLE) as Hasura builds its session: from the
// request's own x-hasura-* headers (Hasura.Server.Auth getUserInfoWithExpTime_, and withoutAuthZ in
// Hasura.Server.Auth.JWT: mkSessionVariablesHeaders), the role fixed to the unauthorized one. So a
// permission of that role must never trust a session variable: the caller chooses it.
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { ADMIN_SECRET, gql, setupFixture, startEngine, USER_A, USER_B } from './helpers.ts';

const db = await useTestDatabase();
let secretOnly: Engine;
let jwtMode: Engine;

beforeAll(async () => {
  secretOnly = await startEngine(db, { HASURA_GRAPHQL_UNAUTHORIZED_ROLE: 'member' });
  await setupFixture(secretOnly);
  jwtMode = await startEngine(db, {
    HASURA_GRAPHQL_UNAUTHORIZED_ROLE: 'member',
    HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: 'a-test-key-that-is-at-least-32-characters-long' }),
  });
});
afterAll(async () => {
  await Promise.all([secretOnly?.close(), jwtMode?.close()]);
});

describe.each([
  ['with the admin secret only', () => secretOnly],
  ['in JWT mode, without a token', () => jwtMode],
])('the unauthorized role %s', (_, engine) => {
  it('takes its session variables from the request’s x-hasura-* headers', async () => {
    const a = await gql(engine(), '{ orgs { name } }', { headers: { 'x-hasura-user-id': USER_A } });
    expect(a.body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
    const b = await gql(engine(), '{ orgs { name } }', { headers: { 'X-Hasura-User-Id': USER_B } });
    expect(b.body).toEqual({ data: { orgs: [{ name: 'Beta' }] } });
  });

  it('keeps the unauthorized role whatever x-hasura-role says, and no backend-only permissions', async () => {
    const asAdmin = await gql(engine(), '{ orgs { meta } }', {
      headers: { 'x-hasura-role': 'admin', 'x-hasura-user-id': USER_A, 'x-hasura-use-backend-only-permissions': 'true' },
    });
    expect(asAdmin.body.errors?.[0]?.extensions.code).toBe('validation-failed');
  });
});

describe('the admin secret', () => {
  it('acts as admin when x-hasura-role is empty, as when it is absent', async () => {
    const { body } = await gql(secretOnly, '{ orgs(order_by: {name: asc}) { meta } }', {
      headers: { 'x-hasura-admin-secret': ADMIN_SECRET, 'x-hasura-role': '' },
    });
    expect(body).toEqual({ data: { orgs: [{ meta: { tier: 'pro' } }, { meta: {} }] } });
  });
});
