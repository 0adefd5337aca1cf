// The auth configuration Hasura refuses to start with, refused by configFromEnv with Hasura's
// messages: a JWT secret or an unauthorized role without an admin secret (Hasura.Server.Auth,
// setupAuthMode), and JWT secrets its `FromJSON JWTConfig` rejects (Hasura.Server.Auth.JWT,
// Hasura.Server.Auth.JWT.Internal.parseHmacKey, Data.Parser.JSONPath).
import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../src/config.ts';

const KEY = 'k'.repeat(40);
const jwtSecret = (secret: unknown) => JSON.stringify(secret);
const REQUIRES = 'requires --admin-secret (HASURA_GRAPHQL_ADMIN_SECRET) or  --access-key (HASURA_GRAPHQL_ACCESS_KEY) to be set';

/** The message a configuration is refused with ('' when it is accepted). */
function refusedWith(start: () => unknown): string {
  try {
    start();
    return '';
  } catch (error) {
    return (error as Error).message;
  }
}

function configure(env: Record<string, string>) {
  return () => configFromEnv({ ORG_CREDITS_ENGINE_METADATA_DIR: '', ...env });
}

/** The configuration of HASURA_GRAPHQL_JWT_SECRET, with an admin secret. */
const withSecret = (secret: unknown) => configure({ HASURA_GRAPHQL_ADMIN_SECRET: 'admin', HASURA_GRAPHQL_JWT_SECRET: jwtSecret(secret) });
const refusal = (path: string, message: string) =>
  `Fatal Error:- Environment variable HASURA_GRAPHQL_JWT_SECRET: Error in ${path}: ${message}`;

describe('no admin secret', () => {
  it('refuses a JWT secret without an admin secret, instead of letting everyone in as admin', () => {
    expect(refusedWith(configure({ HASURA_GRAPHQL_JWT_SECRET: jwtSecret({ type: 'HS256', key: KEY }) }))).toBe(
      `Fatal Error : --jwt-secret (HASURA_GRAPHQL_JWT_SECRET) ${REQUIRES}`,
    );
  });

  it('refuses an unauthorized role without an admin secret, with or without a JWT secret', () => {
    const message = `Fatal Error: --unauthorized-role (HASURA_GRAPHQL_UNAUTHORIZED_ROLE) ${REQUIRES} and is not allowed when --auth-hook (HASURA_GRAPHQL_AUTH_HOOK) is set`;
    expect(refusedWith(configure({ HASURA_GRAPHQL_UNAUTHORIZED_ROLE: 'anonymous' }))).toBe(message);
    expect(
      refusedWith(
        configure({ HASURA_GRAPHQL_UNAUTHORIZED_ROLE: 'anonymous', HASURA_GRAPHQL_JWT_SECRET: jwtSecret({ type: 'HS256', key: KEY }) }),
      ),
    ).toBe(message);
  });

  it('starts with an admin secret (or its older name, HASURA_GRAPHQL_ACCESS_KEY), and with no auth at all', () => {
    const jwt = jwtSecret({ type: 'HS256', key: KEY });
    expect(
      configure({ HASURA_GRAPHQL_ADMIN_SECRET: 'admin', HASURA_GRAPHQL_JWT_SECRET: jwt, HASURA_GRAPHQL_UNAUTHORIZED_ROLE: 'anonymous' })(),
    ).toMatchObject({ adminSecret: 'admin', unauthorizedRole: 'anonymous' });
    expect(configure({ HASURA_GRAPHQL_ACCESS_KEY: 'old', HASURA_GRAPHQL_JWT_SECRET: jwt })()).toMatchObject({ adminSecret: 'old' });
    expect(configure({})()).not.toHaveProperty('adminSecret');
  });
});

describe('HASURA_GRAPHQL_JWT_SECRET', () => {
  it('refuses an HMAC key shorter than its algorithm', () => {
    expect(refusedWith(withSecret({ type: 'HS256', key: 'short' }))).toBe(
      refusal('$', 'Invalid JWK: Key size too small; should be atleast 32 characters'),
    );
    expect(refusedWith(withSecret({ type: 'HS384', key: KEY }))).toBe(
      refusal('$', 'Invalid JWK: Key size too small; should be atleast 48 characters'),
    );
    expect(refusedWith(withSecret({ type: 'HS512', key: KEY }))).toBe(
      refusal('$', 'Invalid JWK: Key size too small; should be atleast 64 characters'),
    );
    expect(withSecret({ type: 'HS512', key: 'k'.repeat(64) })()).toMatchObject({ jwt: { type: 'HS512' } });
    // Bytes, not characters: 16 two-byte characters are 32 bytes.
    expect(withSecret({ type: 'HS256', key: 'é'.repeat(16) })()).toMatchObject({ jwt: { type: 'HS256' } });
  });

  it('refuses a key with a jwk_url, neither of them, and an unknown key type', () => {
    expect(refusedWith(withSecret({ type: 'HS256', key: KEY, jwk_url: 'https://example.com/jwks' }))).toBe(
      refusal('$', 'key, jwk_url both cannot be present'),
    );
    expect(refusedWith(withSecret({ type: 'HS256' }))).toBe(refusal('$', 'key and jwk_url both cannot be empty'));
    expect(refusedWith(withSecret({ type: 'PS256', key: KEY }))).toBe(refusal('$', 'Invalid JWK: Key type: PS256 is not supported'));
    expect(refusedWith(withSecret({ key: KEY }))).toBe(refusal('$', 'key "type" not found'));
  });

  it('refuses an unknown claims_format', () => {
    expect(refusedWith(withSecret({ type: 'HS256', key: KEY, claims_format: 'stringified' }))).toBe(
      refusal(
        '$.claims_format',
        'parsing Hasura.Server.Auth.JWT.JWTClaimsFormat failed, expected one of the tags ["json","stringified_json"], but found tag "stringified"',
      ),
    );
  });

  it('refuses a claims_map without the allowed roles or the default role', () => {
    expect(refusedWith(withSecret({ type: 'HS256', key: KEY, claims_map: { 'x-hasura-allowed-roles': ['user'] } }))).toBe(
      refusal('$.claims_map', 'x-hasura-default-role is expected but not found'),
    );
    expect(refusedWith(withSecret({ type: 'HS256', key: KEY, claims_map: { 'x-hasura-default-role': 'user' } }))).toBe(
      refusal('$.claims_map', 'x-hasura-allowed-roles is expected but not found'),
    );
    expect(
      refusedWith(
        withSecret({
          type: 'HS256',
          key: KEY,
          claims_map: { 'x-hasura-allowed-roles': ['user'], 'x-hasura-default-role': 'user', 'x-hasura-user-id': { path: 'not a path' } },
        }),
      ),
    ).toBe(
      refusal(
        '$.claims_map.path',
        'not a path. Accept letters, digits, underscore (_) or hyphen (-) only. Use quotes enclosed in bracket (["..."]) if there is any special character',
      ),
    );
  });

  it('refuses an unknown header type, and reads a known one without regard to case', () => {
    expect(refusedWith(withSecret({ type: 'HS256', key: KEY, header: { type: 'Query' } }))).toBe(
      refusal('$.header', "expected 'type' is 'Authorization' or 'Cookie' or 'CustomHeader'"),
    );
    expect(refusedWith(withSecret({ type: 'HS256', key: KEY, header: { type: 'Cookie' } }))).toBe(
      refusal('$.header', 'key "name" not found'),
    );
    expect(withSecret({ type: 'HS256', key: KEY, header: { type: 'cookie', name: 'session' } })()).toMatchObject({
      jwt: { header: { type: 'Cookie', name: 'session' } },
    });
  });

  it('refuses an invalid claims_namespace_path, and both namespaces at once', () => {
    expect(refusedWith(withSecret({ type: 'HS256', key: KEY, claims_namespace_path: 'not a path' }))).toBe(
      refusal(
        '$',
        'invalid JSON path claims_namespace_path error: not a path. Accept letters, digits, underscore (_) or hyphen (-) only. Use quotes enclosed in bracket (["..."]) if there is any special character',
      ),
    );
    expect(refusedWith(withSecret({ type: 'HS256', key: KEY, claims_namespace: 'a', claims_namespace_path: '$.a' }))).toBe(
      refusal('$', 'claims_namespace and claims_namespace_path both cannot be set'),
    );
    expect(withSecret({ type: 'HS256', key: KEY, claims_namespace_path: "$.hasura['claims%'][0]" })()).toMatchObject({
      jwt: { claims: { kind: 'namespace', path: ['hasura', 'claims%', 0] } },
    });
  });
});
