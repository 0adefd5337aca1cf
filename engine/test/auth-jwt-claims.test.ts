// JWT mode as Hasura answers it (Hasura.Server.Auth.JWT, processJwt_ and parseClaimsMap; the messages
// of its tests-py test_jwt.py and test_jwt_claims_map.py): every x-hasura-* claim is text, a
// claims_map path that finds nothing refuses the token, the Authorization header is exactly
// `Bearer <token>`, and the issuer, audience, role and namespace errors carry Hasura's words.
import { useTestDatabase } from '@org-credits/db/testing';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { gql, setupFixture, startEngine, USER_A, USER_B } from './helpers.ts';

const db = await useTestDatabase();
const KEY = 'a-test-key-that-is-at-least-32-characters-long';
const ISSUER = 'https://issuer.example';
let hs: Engine; // claims in the default namespace
let mapped: Engine; // claims_map, issuer and audience
let withDefault: Engine; // claims_map whose user id has a default
let stringified: Engine; // claims_namespace_path + stringified_json
let nested: Engine; // claims_namespace_path + json

const claims = (extra: Record<string, unknown> = {}) => ({
  'x-hasura-allowed-roles': ['member', 'viewer'],
  'x-hasura-default-role': 'member',
  'x-hasura-user-id': USER_A,
  ...extra,
});

async function sign(payload: Record<string, unknown>, options: { iss?: string; aud?: string; key?: string } = {}) {
  let token = new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h');
  if (options.iss) token = token.setIssuer(options.iss);
  if (options.aud) token = token.setAudience(options.aud);
  return token.sign(new TextEncoder().encode(options.key ?? KEY));
}
const inNamespace = (extra: Record<string, unknown> = {}) => sign({ 'https://hasura.io/jwt/claims': claims(extra) });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const Q = '{ orgs { name } }';

async function errorOf(engine: Engine, headers: Record<string, string>, query = Q) {
  const { body } = await gql(engine, query, { headers });
  return body.errors?.[0];
}
const jwtError = (code: string, message: string) => ({ message, extensions: { code, path: '$' } });

beforeAll(async () => {
  const secret = (s: Record<string, unknown>) => ({ HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: KEY, ...s }) });
  hs = await startEngine(db, secret({}));
  await setupFixture(hs);
  const map = {
    'x-hasura-allowed-roles': ['member'],
    'x-hasura-default-role': 'member',
    'x-hasura-user-id': { path: '$.app.user_id' },
  };
  mapped = await startEngine(db, secret({ issuer: ISSUER, audience: ['org-credits'], claims_map: map }));
  withDefault = await startEngine(db, secret({ claims_map: { ...map, 'x-hasura-user-id': { path: '$.app.user_id', default: USER_B } } }));
  stringified = await startEngine(db, secret({ claims_namespace_path: '$.app.hasura', claims_format: 'stringified_json' }));
  nested = await startEngine(db, secret({ claims_namespace_path: '$.app.hasura' }));
});
afterAll(async () => {
  await Promise.all([hs?.close(), mapped?.close(), withDefault?.close(), stringified?.close(), nested?.close()]);
});

describe('x-hasura-* claims are text', () => {
  it.each([
    ['null', null, 'Null'],
    ['an array', ['a', 'b'], 'Array'],
    ['a number', 3, 'Number'],
    ['an object', { a: 1 }, 'Object'],
    ['a boolean', true, 'Boolean'],
  ])('refuses a token whose session variable is %s', async (_, value, kind) => {
    const token = await inNamespace({ 'x-hasura-org-id': value });
    expect(await errorOf(hs, bearer(token))).toEqual(
      jwtError('jwt-invalid-claims', `x-hasura-* claims: parsing Text failed, expected String, but encountered ${kind}`),
    );
  });

  it('wants the allowed roles as a list of role names and the default role as one', async () => {
    const rolesHint = 'invalid x-hasura-allowed-roles; should be a list of roles';
    expect(await errorOf(hs, bearer(await inNamespace({ 'x-hasura-allowed-roles': 'member' })))).toEqual(
      jwtError('jwt-invalid-claims', `${rolesHint}: parsing [] failed, expected Array, but encountered String`),
    );
    expect(await errorOf(hs, bearer(await inNamespace({ 'x-hasura-allowed-roles': ['member', 1] })))).toEqual(
      jwtError('jwt-invalid-claims', `${rolesHint}: parsing String failed, expected String, but encountered Number`),
    );
    const roleHint = 'invalid x-hasura-default-role; should be a single role name';
    expect(await errorOf(hs, bearer(await inNamespace({ 'x-hasura-default-role': 5 })))).toEqual(
      jwtError('jwt-invalid-claims', `${roleHint}: parsing String failed, expected String, but encountered Number`),
    );
    expect(await errorOf(hs, bearer(await inNamespace({ 'x-hasura-default-role': '' })))).toEqual(
      jwtError('jwt-invalid-claims', `${roleHint}: empty string not allowed`),
    );
  });

  it('serves a token whose claims are all text', async () => {
    const { body } = await gql(hs, Q, { headers: bearer(await inNamespace({ 'x-hasura-org-id': 'anything' })) });
    expect(body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
  });
});

describe('claims_map', () => {
  it('refuses a token in which a path finds nothing and there is no default, whatever the query', async () => {
    const token = await sign({ app: {} }, { iss: ISSUER });
    const refused = jwtError('jwt-invalid-claims', 'JWT claim from claims_map, x-hasura-user-id not found');
    expect(await errorOf(mapped, bearer(token))).toEqual(refused);
    expect(await errorOf(mapped, bearer(token), '{ __typename }')).toEqual(refused);
  });

  it('takes the default when the path finds nothing, and the token’s value when it does', async () => {
    expect((await gql(withDefault, Q, { headers: bearer(await sign({ app: {} })) })).body).toEqual({ data: { orgs: [{ name: 'Beta' }] } });
    const own = await sign({ app: { user_id: USER_A } }, { iss: ISSUER });
    expect((await gql(mapped, Q, { headers: bearer(own) })).body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
  });
});

describe('the Authorization header', () => {
  it('is exactly `Bearer <token>`', async () => {
    const token = await inNamespace();
    const malformed = jwtError('invalid-headers', 'Malformed Authorization header');
    for (const value of [`bearer ${token}`, `BEARER ${token}`, `Bearer ${token} extra`, 'Bearer', `Token ${token}`, '']) {
      expect(await errorOf(hs, { authorization: value }), value).toEqual(malformed);
    }
    // Hasura splits the header into words: more spaces between them are still two words.
    expect((await gql(hs, Q, { headers: { authorization: `Bearer   ${token}` } })).body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
  });
});

describe('JWT errors in Hasura’s words', () => {
  it('refuses a requested role outside the allowed roles; an empty x-hasura-role is the default role', async () => {
    const token = await inNamespace();
    expect(await errorOf(hs, { ...bearer(token), 'x-hasura-role': 'owner' })).toEqual(
      jwtError('access-denied', 'Your requested role is not in allowed roles'),
    );
    expect((await gql(hs, Q, { headers: { ...bearer(token), 'x-hasura-role': '' } })).body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
  });

  it('checks the issuer and the audience when the token has them, as Hasura’s jose does', async () => {
    const payload = { app: { user_id: USER_A } };
    expect(await errorOf(mapped, bearer(await sign(payload, { iss: 'https://other.example' })))).toEqual(
      jwtError('invalid-jwt', 'Could not verify JWT: JWTNotInIssuer'),
    );
    // The issuer is compared before the signature is verified.
    expect(await errorOf(mapped, bearer(await sign(payload, { iss: 'https://other.example', key: 'x'.repeat(40) })))).toEqual(
      jwtError('invalid-jwt', 'Could not verify JWT: JWTNotInIssuer'),
    );
    expect(await errorOf(mapped, bearer(await sign(payload, { iss: ISSUER, aud: 'someone-else' })))).toEqual(
      jwtError('invalid-jwt', 'Could not verify JWT: JWTNotInAudience'),
    );
    for (const options of [{}, { iss: ISSUER, aud: 'org-credits' }]) {
      expect((await gql(mapped, Q, { headers: bearer(await sign(payload, options)) })).body).toEqual({
        data: { orgs: [{ name: 'Acme' }] },
      });
    }
  });

  it('refuses a token not valid yet, or issued in the future', async () => {
    const future = Math.floor(Date.now() / 1000) + 3600;
    const notYet = await new jose.SignJWT({ 'https://hasura.io/jwt/claims': claims() })
      .setProtectedHeader({ alg: 'HS256' })
      .setNotBefore(future)
      .setExpirationTime(future + 3600)
      .sign(new TextEncoder().encode(KEY));
    expect(await errorOf(hs, bearer(notYet))).toEqual(jwtError('invalid-jwt', 'Could not verify JWT: JWTNotYetValid'));
    const issuedLater = await new jose.SignJWT({ 'https://hasura.io/jwt/claims': claims() })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(future)
      .setExpirationTime(future + 3600)
      .sign(new TextEncoder().encode(KEY));
    expect(await errorOf(hs, bearer(issuedLater))).toEqual(jwtError('invalid-jwt', 'Could not verify JWT: JWTIssuedAtFuture'));
  });

  it('says where the claims were expected and in which format', async () => {
    expect(await errorOf(stringified, bearer(await sign({ other: 1 })))).toEqual(
      jwtError('jwt-invalid-claims', "claims not found at claims_namespace_path: '$.app.hasura'"),
    );
    expect(await errorOf(stringified, bearer(await sign({ app: { hasura: claims() } })))).toEqual(
      jwtError('jwt-invalid-claims', 'expecting a string when claims_format is stringified_json'),
    );
    expect(await errorOf(stringified, bearer(await sign({ app: { hasura: '{not json' } })))).toEqual(
      jwtError('jwt-invalid-claims', "expecting stringified json at: 'claims_namespace_path $.app.hasura', but found: {not json"),
    );
    expect(await errorOf(nested, bearer(await sign({ app: { hasura: JSON.stringify(claims()) } })))).toEqual(
      jwtError('jwt-invalid-claims', 'expecting a json object when claims_format is json'),
    );
    expect((await gql(nested, Q, { headers: bearer(await sign({ app: { hasura: claims() } })) })).body).toEqual({
      data: { orgs: [{ name: 'Acme' }] },
    });
  });
});
