// The engine's configuration, from Hasura's own environment variables (plus our metadata directory).
import { resolve } from 'node:path';
import { encodeJsonPath, isObject, type JsonPath, parseJsonPath, typeMismatch } from './hasura-json.ts';

/** A claims_map value: a JSON path into the token (with a default for when it finds nothing), or a literal. */
export type ClaimsMapValue<T> = { path: JsonPath; default?: T } | { value: T };

/** Where the Hasura claims are: a namespace in the token, or a claims_map. */
export type JwtClaims =
  | {
      kind: 'namespace';
      /** claims_namespace (`https://hasura.io/jwt/claims` by default); null with claims_namespace_path. */
      namespace: string | null;
      /** claims_namespace_path, parsed. */
      path: JsonPath | null;
      format: 'json' | 'stringified_json';
    }
  | {
      kind: 'map';
      allowedRoles: ClaimsMapValue<string[]>;
      defaultRole: ClaimsMapValue<string>;
      /** The other claims, by lower-case session variable name. */
      custom: Record<string, ClaimsMapValue<string>>;
    };

/** HASURA_GRAPHQL_JWT_SECRET, checked as Hasura's JWTConfig parser checks it. */
export interface JwtConfig {
  /** The key's algorithm (read only with `key`, as Hasura). */
  type?: string;
  key?: string;
  jwk_url?: string;
  claims: JwtClaims;
  audience?: string[];
  issuer?: string;
  allowed_skew?: number;
  header: { type: 'Authorization' } | { type: 'Cookie' | 'CustomHeader'; name: string };
}

export interface EngineConfig {
  port: number;
  databaseUrl?: string;
  adminSecret?: string;
  jwt?: JwtConfig;
  unauthorizedRole?: string;
  stringifyNumeric: boolean;
  devMode: boolean;
  /** HASURA_GRAPHQL_CORS_DOMAIN: allowed browser origins (`*` by default, like Hasura); null when HASURA_GRAPHQL_DISABLE_CORS. */
  corsDomains: string[] | null;
  /** HASURA_GRAPHQL_ADMIN_INTERNAL_ERRORS (default true): admin requests see Postgres detail in `internal`. */
  adminInternalErrors: boolean;
  /** The metadata directory loaded at start (Hasura CLI config v3 layout); null: keep what the database has. */
  metadataDir: string | null;
  /** Fail at start-up on metadata the engine cannot serve yet (actions) instead of warning. */
  strict: boolean;
  /** Hasura's HASURA_GRAPHQL_INFER_FUNCTION_PERMISSIONS (default true). */
  inferFunctionPermissions: boolean;
  env: NodeJS.ProcessEnv;
}

const truthy = (v: string | undefined) => v !== undefined && ['true', 't', 'yes', 'y', '1'].includes(v.toLowerCase());

/** The messages Hasura's setupAuthMode refuses to start with (Hasura.Server.Auth). */
const REQUIRES_ADMIN_SECRET =
  ' requires --admin-secret (HASURA_GRAPHQL_ADMIN_SECRET) or  --access-key (HASURA_GRAPHQL_ACCESS_KEY) to be set';
const JWT_REQUIRES_ADMIN_SECRET = `Fatal Error : --jwt-secret (HASURA_GRAPHQL_JWT_SECRET)${REQUIRES_ADMIN_SECRET}`;
const UNAUTHORIZED_ROLE_REQUIRES_ADMIN_SECRET = `Fatal Error: --unauthorized-role (HASURA_GRAPHQL_UNAUTHORIZED_ROLE)${REQUIRES_ADMIN_SECRET} and is not allowed when --auth-hook (HASURA_GRAPHQL_AUTH_HOOK) is set`;

export function configFromEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): EngineConfig {
  // Read first, as Hasura reads its environment before it sets up the auth mode.
  const jwt = env.HASURA_GRAPHQL_JWT_SECRET ? parseJwtSecret(env.HASURA_GRAPHQL_JWT_SECRET) : undefined;
  // HASURA_GRAPHQL_ACCESS_KEY is Hasura's older name for the admin secret.
  const adminSecret = env.HASURA_GRAPHQL_ADMIN_SECRET || env.HASURA_GRAPHQL_ACCESS_KEY || undefined;
  if (env.HASURA_GRAPHQL_AUTH_HOOK) throw new Error('HASURA_GRAPHQL_AUTH_HOOK: webhook authentication is not supported by this engine');
  // Without an admin secret everyone is admin: Hasura refuses to start rather than ignore a JWT secret or an unauthorized role.
  if (!adminSecret && env.HASURA_GRAPHQL_UNAUTHORIZED_ROLE) throw new Error(UNAUTHORIZED_ROLE_REQUIRES_ADMIN_SECRET);
  if (!adminSecret && jwt) throw new Error(JWT_REQUIRES_ADMIN_SECRET);
  const port = Number(env.HASURA_GRAPHQL_SERVER_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0) throw new Error(`HASURA_GRAPHQL_SERVER_PORT is not a port: ${env.HASURA_GRAPHQL_SERVER_PORT}`);
  const dir = env.ORG_CREDITS_ENGINE_METADATA_DIR;
  return {
    port,
    ...(env.HASURA_GRAPHQL_DATABASE_URL ? { databaseUrl: env.HASURA_GRAPHQL_DATABASE_URL } : {}),
    ...(adminSecret ? { adminSecret } : {}),
    ...(jwt ? { jwt } : {}),
    ...(env.HASURA_GRAPHQL_UNAUTHORIZED_ROLE ? { unauthorizedRole: env.HASURA_GRAPHQL_UNAUTHORIZED_ROLE } : {}),
    stringifyNumeric: truthy(env.HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES),
    devMode: truthy(env.HASURA_GRAPHQL_DEV_MODE),
    corsDomains: truthy(env.HASURA_GRAPHQL_DISABLE_CORS)
      ? null
      : (env.HASURA_GRAPHQL_CORS_DOMAIN ?? '*')
          .split(',')
          .map((d) => d.trim())
          .filter(Boolean),
    adminInternalErrors: env.HASURA_GRAPHQL_ADMIN_INTERNAL_ERRORS === undefined || truthy(env.HASURA_GRAPHQL_ADMIN_INTERNAL_ERRORS),
    // Default: the repository's hasura/metadata, wherever the engine is started from.
    metadataDir: dir === '' ? null : dir === undefined ? resolve(import.meta.dirname, '..', '..', 'hasura', 'metadata') : resolve(cwd, dir),
    strict: truthy(env.ORG_CREDITS_ENGINE_STRICT),
    inferFunctionPermissions:
      env.HASURA_GRAPHQL_INFER_FUNCTION_PERMISSIONS === undefined || truthy(env.HASURA_GRAPHQL_INFER_FUNCTION_PERMISSIONS),
    env,
  };
}

/** A refusal of HASURA_GRAPHQL_JWT_SECRET, worded as Hasura's (an aeson parse error of its JWTConfig). */
const jwtSecretError = (path: string, message: string) =>
  new Error(`Fatal Error:- Environment variable HASURA_GRAPHQL_JWT_SECRET: Error in ${path}: ${message}`);

/** HMAC keys shorter than the algorithm's output are refused (Hasura.Server.Auth.JWT.Internal.parseHmacKey). */
const HMAC_BITS: Record<string, number> = { HS256: 256, HS384: 384, HS512: 512 };
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'Ed25519']);

/**
 * HASURA_GRAPHQL_JWT_SECRET read as Hasura's `FromJSON JWTConfig` reads it (Hasura.Server.Auth.JWT):
 * the optional fields in Hasura's order, then the namespace, then the key or the JWK URL.
 */
export function parseJwtSecret(raw: string): JwtConfig {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch (error) {
    throw jwtSecretError('$', `not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(o)) throw jwtSecretError('$', typeMismatch('JWTConfig', 'Object', o));
  // `.:?`: an absent key and null are both "not given".
  const optional = (name: string) => (o[name] === null ? undefined : o[name]);
  const text = (name: string): string | undefined => {
    const v = optional(name);
    if (v !== undefined && typeof v !== 'string') throw jwtSecretError(`$.${name}`, typeMismatch('Text', 'String', v));
    return v;
  };
  const key = text('key');
  const claimsNamespace = text('claims_namespace');
  const claimsNamespacePath = text('claims_namespace_path');
  const audienceRaw = optional('audience');
  let audience: string[] | undefined;
  if (audienceRaw !== undefined) {
    const list: unknown = typeof audienceRaw === 'string' ? [audienceRaw] : audienceRaw;
    if (!Array.isArray(list) || !list.every((a) => typeof a === 'string'))
      throw jwtSecretError('$.audience', 'expected a string or an array of strings');
    audience = list;
  }
  const issuer = text('issuer');
  const jwkUrl = text('jwk_url');
  const format = optional('claims_format') ?? 'json';
  const formatType = 'Hasura.Server.Auth.JWT.JWTClaimsFormat';
  if (typeof format !== 'string') throw jwtSecretError('$.claims_format', typeMismatch(formatType, 'String', format));
  if (format !== 'json' && format !== 'stringified_json')
    throw jwtSecretError(
      '$.claims_format',
      `parsing ${formatType} failed, expected one of the tags ["json","stringified_json"], but found tag ${JSON.stringify(format)}`,
    );
  const claimsMapRaw = optional('claims_map');
  const claimsMap = claimsMapRaw === undefined ? undefined : parseClaimsMap(claimsMapRaw);
  const skew = optional('allowed_skew');
  if (skew !== undefined && typeof skew !== 'number') throw jwtSecretError('$.allowed_skew', 'expected a number of seconds');
  const headerRaw = optional('header');
  const header = headerRaw === undefined ? ({ type: 'Authorization' } as const) : parseJwtHeader(headerRaw);

  if (claimsNamespace !== undefined && claimsNamespacePath !== undefined)
    throw jwtSecretError('$', 'claims_namespace and claims_namespace_path both cannot be set');
  let path: JsonPath | null = null;
  if (claimsNamespacePath !== undefined) {
    try {
      path = parseJsonPath(claimsNamespacePath);
    } catch (error) {
      throw jwtSecretError('$', `invalid JSON path claims_namespace_path error: ${(error as Error).message}`);
    }
  }
  if (key === undefined && jwkUrl === undefined) throw jwtSecretError('$', 'key and jwk_url both cannot be empty');
  if (key !== undefined && jwkUrl !== undefined) throw jwtSecretError('$', 'key, jwk_url both cannot be present');
  let type: string | undefined;
  if (key !== undefined) {
    const t = o.type;
    if (t === undefined) throw jwtSecretError('$', 'key "type" not found');
    if (typeof t !== 'string') throw jwtSecretError('$.type', typeMismatch('Text', 'String', t));
    type = t;
    const bits = HMAC_BITS[t];
    if (bits !== undefined) {
      if (Buffer.byteLength(key) < bits / 8)
        throw jwtSecretError('$', `Invalid JWK: Key size too small; should be atleast ${bits / 8} characters`);
    } else if (!ASYMMETRIC.has(t)) throw jwtSecretError('$', `Invalid JWK: Key type: ${t} is not supported`);
  }
  return {
    ...(type !== undefined ? { type } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(jwkUrl !== undefined ? { jwk_url: jwkUrl } : {}),
    claims: claimsMap ?? {
      kind: 'namespace',
      namespace: path ? null : (claimsNamespace ?? 'https://hasura.io/jwt/claims'),
      path,
      format,
    },
    ...(audience ? { audience } : {}),
    ...(issuer !== undefined ? { issuer } : {}),
    ...(typeof skew === 'number' ? { allowed_skew: skew } : {}),
    header,
  };
}

/** Hasura's `FromJSON JWTHeader`: the type compared without case; Cookie and CustomHeader need a name. */
function parseJwtHeader(raw: unknown): JwtConfig['header'] {
  if (!isObject(raw)) throw jwtSecretError('$.header', typeMismatch('JWTHeader', 'Object', raw));
  if (raw.type === undefined) throw jwtSecretError('$.header', 'key "type" not found');
  if (typeof raw.type !== 'string') throw jwtSecretError('$.header.type', typeMismatch('Text', 'String', raw.type));
  const type = raw.type.toLowerCase();
  if (type === 'authorization') return { type: 'Authorization' };
  if (type !== 'cookie' && type !== 'customheader')
    throw jwtSecretError('$.header', "expected 'type' is 'Authorization' or 'Cookie' or 'CustomHeader'");
  if (raw.name === undefined) throw jwtSecretError('$.header', 'key "name" not found');
  if (typeof raw.name !== 'string') throw jwtSecretError('$.header.name', typeMismatch('Text', 'String', raw.name));
  return { type: type === 'cookie' ? 'Cookie' : 'CustomHeader', name: raw.name };
}

/**
 * Hasura's `FromJSON JWTCustomClaimsMap`: x-hasura-allowed-roles and x-hasura-default-role are
 * required; each value is `{ path, default? }` or a literal (roles: a list of role names; the
 * default role: a role name; any other claim: text).
 */
function parseClaimsMap(raw: unknown): JwtClaims {
  const at = '$.claims_map';
  if (!isObject(raw)) throw jwtSecretError(at, typeMismatch('JWTClaimsMap', 'Object', raw));
  const required = (name: string) => {
    if (!Object.hasOwn(raw, name)) throw jwtSecretError(at, `${name} is expected but not found`);
    return raw[name];
  };
  const roleName = (v: unknown): string => {
    if (typeof v !== 'string') throw jwtSecretError(at, typeMismatch('String', 'String', v));
    if (v === '') throw jwtSecretError(at, 'empty string not allowed');
    return v;
  };
  const roles = (v: unknown): string[] => {
    if (!Array.isArray(v)) throw jwtSecretError(at, typeMismatch('[]', 'Array', v));
    return v.map(roleName);
  };
  const sessionValue = (v: unknown): string => {
    if (typeof v !== 'string') throw jwtSecretError(at, typeMismatch('Text', 'String', v));
    return v;
  };
  function value<T>(v: unknown, literal: (v: unknown) => T): ClaimsMapValue<T> {
    if (!isObject(v)) return { value: literal(v) };
    if (v.path === undefined) throw jwtSecretError(at, 'key "path" not found');
    if (typeof v.path !== 'string') throw jwtSecretError(`${at}.path`, typeMismatch('Text', 'String', v.path));
    let path: JsonPath;
    try {
      path = parseJsonPath(v.path);
    } catch (error) {
      throw jwtSecretError(`${at}.path`, (error as Error).message);
    }
    return v.default === undefined || v.default === null ? { path } : { path, default: literal(v.default) };
  }
  const allowedRoles = value(required('x-hasura-allowed-roles'), roles);
  const defaultRole = value(required('x-hasura-default-role'), roleName);
  const custom: Record<string, ClaimsMapValue<string>> = {};
  for (const [name, v] of Object.entries(raw)) {
    const lower = name.toLowerCase();
    if (lower === 'x-hasura-allowed-roles' || lower === 'x-hasura-default-role') continue;
    custom[lower] = value(v, sessionValue);
  }
  return { kind: 'map', allowedRoles, defaultRole, custom };
}

/** Where a namespace's claims are, in Hasura's words ("claims_namespace_path $.a.b"). */
export function claimsLocation(claims: Extract<JwtClaims, { kind: 'namespace' }>): string {
  return claims.path ? `claims_namespace_path ${encodeJsonPath(claims.path)}` : `claims_namespace ${claims.namespace}`;
}
