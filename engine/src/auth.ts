// Who is asking: the admin secret, a JWT (HASURA_GRAPHQL_JWT_SECRET), or the unauthorized role.
// Errors carry Hasura's codes, statuses and messages (Hasura.Server.Auth, Hasura.Server.Auth.JWT).
import { createPublicKey, timingSafeEqual } from 'node:crypto';
import * as jose from 'jose';
import { type ClaimsMapValue, claimsLocation, type EngineConfig, type JwtConfig } from './config.ts';
import { EngineError } from './errors.ts';
import { encodeJsonPath, executeJsonPath, isObject, typeMismatch } from './hasura-json.ts';

export interface Session {
  role: string;
  isAdmin: boolean;
  /** Lower-case `x-hasura-*` variables, including x-hasura-role. */
  variables: Record<string, string>;
  /** The admin secret was given and x-hasura-use-backend-only-permissions is true. */
  backendOnly: boolean;
  /** When the session's token expires (ms since the epoch, allowed skew included); absent without a token's `exp`. */
  expiresAt?: number;
}

type Headers = Record<string, string | string[] | undefined>;

const header = (headers: Headers, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function secretMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Hasura's mkSessionVariablesHeaders: every `x-hasura-*` request header (the admin secret aside). */
function sessionFromHeaders(headers: Headers): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-hasura-') && name !== 'x-hasura-admin-secret' && name !== 'x-hasura-access-key' && value !== undefined) {
      vars[name] = Array.isArray(value) ? (value[0] as string) : value;
    }
  }
  return vars;
}

function parseBool(name: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.toLowerCase();
  if (['true', 't', 'yes', 'y'].includes(v)) return true;
  if (['false', 'f', 'no', 'n'].includes(v)) return false;
  throw new EngineError(
    'bad-request',
    `${name}:  Not a valid boolean text. True values are ["true","t","yes","y"] and  False values are ["false","f","no","n"]. All values are case insensitive`,
  );
}

/** The admin secret (or no auth at all): the role of x-hasura-role, `admin` when it is absent or empty. */
function adminSession(headers: Headers): Session {
  const variables = sessionFromHeaders(headers);
  const role = variables['x-hasura-role'] || 'admin';
  variables['x-hasura-role'] = role;
  const backendOnly = parseBool('x-hasura-use-backend-only-permissions', header(headers, 'x-hasura-use-backend-only-permissions'));
  return { role, isAdmin: role === 'admin', variables, backendOnly };
}

/**
 * The unauthorized role, with the request's `x-hasura-*` headers as its session variables, as Hasura
 * builds it (withoutAuthZ / mkSessionVariablesHeaders): they are the caller's to choose, so that
 * role's permissions must not trust them.
 */
function unauthorizedSession(role: string, headers: Headers): Session {
  const variables = sessionFromHeaders(headers);
  variables['x-hasura-role'] = role;
  return { role, isAdmin: role === 'admin', variables, backendOnly: false };
}

const invalidJwt = (reason: string) => new EngineError('invalid-jwt', `Could not verify JWT: ${reason}`, '$');
const invalidClaims = (message: string) => new EngineError('jwt-invalid-claims', message, '$');
const missingRoleClaim = (claim: string) => new EngineError('jwt-missing-role-claims', `JWT claim does not contain ${claim}`, '$');

/** A role name, as Hasura's RoleName parses it (non-empty text). */
function parseRole(value: unknown, hint: string): string {
  if (typeof value !== 'string') throw invalidClaims(`${hint}: ${typeMismatch('String', 'String', value)}`);
  if (value === '') throw invalidClaims(`${hint}: empty string not allowed`);
  return value;
}

function parseRoles(value: unknown, hint: string): string[] {
  if (!Array.isArray(value)) throw invalidClaims(`${hint}: ${typeMismatch('[]', 'Array', value)}`);
  return value.map((r) => parseRole(r, hint));
}

/** The JWT claims that are not Hasura's (jose's "unregistered claims"): where a claims namespace is looked up. */
const REGISTERED = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']);

interface HasuraClaims {
  allowed: string[];
  defaultRole: string;
  /** The other claims, by lower-case session variable name, still as JSON. */
  others: Record<string, unknown>;
}

/** A verified token: its expiry and its Hasura claims, worked out once and kept while it is cached. */
interface VerifiedToken {
  exp: number | undefined;
  claims: HasuraClaims;
}

export class Authenticator {
  private jwtKey: Promise<jose.CryptoKey | Uint8Array | jose.JWTVerifyGetKey> | null = null;

  constructor(private readonly config: EngineConfig) {
    if (config.jwt) this.jwtKey = this.loadKey(config.jwt);
    // Surface key errors at start-up rather than on the first request.
    this.jwtKey?.catch(() => undefined);
  }

  async ready(): Promise<void> {
    if (this.jwtKey) await this.jwtKey;
  }

  private async loadKey(jwt: JwtConfig): Promise<jose.CryptoKey | Uint8Array | jose.JWTVerifyGetKey> {
    if (jwt.jwk_url) return jose.createRemoteJWKSet(new URL(jwt.jwk_url));
    const key = jwt.key as string;
    const type = jwt.type as string;
    if (type.startsWith('HS')) return new TextEncoder().encode(key);
    if (key.includes('BEGIN CERTIFICATE')) {
      const pem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
      return jose.importSPKI(pem, type);
    }
    return jose.importSPKI(key, type);
  }

  /** Resolves the request's session or throws Hasura's error. */
  async authenticate(headers: Headers): Promise<Session> {
    const { adminSecret, jwt, unauthorizedRole } = this.config;
    // No admin secret: Hasura's no-auth mode, everyone is admin. configFromEnv refuses a JWT secret or an
    // unauthorized role without an admin secret, as Hasura refuses to start.
    if (!adminSecret) return adminSession(headers);
    const given = header(headers, 'x-hasura-admin-secret') ?? header(headers, 'x-hasura-access-key');
    if (given !== undefined) {
      if (secretMatches(given, adminSecret)) return adminSession(headers);
      throw new EngineError('access-denied', 'invalid x-hasura-admin-secret/x-hasura-access-key', '$', 401);
    }
    if (jwt) {
      const token = this.token(headers, jwt);
      if (token !== null) return this.fromJwt(token, jwt, headers);
      if (unauthorizedRole) return unauthorizedSession(unauthorizedRole, headers);
      throw new EngineError('invalid-headers', "Missing 'Authorization' or 'Cookie' header in JWT authentication mode", '$');
    }
    if (unauthorizedRole) return unauthorizedSession(unauthorizedRole, headers);
    throw new EngineError('access-denied', 'x-hasura-admin-secret/x-hasura-access-key required, but not found', '$', 401);
  }

  /** The token where the configuration says it is; null when the request carries none. */
  private token(headers: Headers, jwt: JwtConfig): string | null {
    const location = jwt.header;
    if (location.type === 'Cookie') {
      const cookie = header(headers, 'cookie') ?? '';
      for (const part of cookie.split(';')) {
        const [k, ...v] = part.trim().split('=');
        if (k === location.name) return decodeURIComponent(v.join('='));
      }
      return null;
    }
    if (location.type === 'CustomHeader') return header(headers, location.name.toLowerCase()) ?? null;
    const auth = header(headers, 'authorization');
    if (auth === undefined) return null;
    // Exactly `Bearer <token>`: two words, `Bearer` as written (Hasura splits on white space).
    const words = auth.split(/[ \t\n\v\f\r\u00a0]+/).filter(Boolean);
    if (words.length !== 2 || words[0] !== 'Bearer') throw new EngineError('invalid-headers', 'Malformed Authorization header', '$');
    return words[1] as string;
  }

  /** Verified tokens, so that a client's repeated requests verify the signature once (until `exp`). */
  private verified = new Map<string, { token: VerifiedToken; until: number }>();

  /**
   * A configured issuer is matched against the token's before anything is verified (Hasura's
   * tokenIssuer); then the signature and the time claims, then, as Hasura's jose does, `aud` only when
   * the token has it; then the Hasura claims. A token with `exp` is kept, so that a request with a
   * token seen before does none of this again.
   */
  private async verify(token: string, jwt: JwtConfig): Promise<VerifiedToken> {
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit && hit.until > now) return hit.token;
    if (jwt.issuer !== undefined) {
      let issuer: unknown;
      try {
        issuer = jose.decodeJwt(token).iss;
      } catch {
        // Not a readable token: the verification below says why.
      }
      if (typeof issuer === 'string' && issuer !== jwt.issuer) throw invalidJwt('JWTNotInIssuer');
    }
    const key = (await this.jwtKey) as Parameters<typeof jose.jwtVerify>[1];
    const skew = jwt.allowed_skew ?? 0;
    let payload: jose.JWTPayload;
    try {
      payload = (await jose.jwtVerify(token, key as Uint8Array, { clockTolerance: skew })).payload;
    } catch (error) {
      const e = error as { code?: string; claim?: string };
      if (e.code === 'ERR_JWT_EXPIRED') throw invalidJwt('JWTExpired');
      if (e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'nbf') throw invalidJwt('JWTNotYetValid');
      if (e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw invalidJwt('JWSError JWSInvalidSignature');
      throw invalidJwt(`JWSError (CompactDecodeError Invalid number of parts: ${(error as Error).message})`);
    }
    if (typeof payload.iat === 'number' && payload.iat * 1000 > now + skew * 1000) throw invalidJwt('JWTIssuedAtFuture');
    if (jwt.audience && payload.aud !== undefined) {
      const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      if (!audiences.some((a) => jwt.audience?.includes(a))) throw invalidJwt('JWTNotInAudience');
    }
    const verified: VerifiedToken = { exp: typeof payload.exp === 'number' ? payload.exp : undefined, claims: this.claims(payload, jwt) };
    // Tokens without exp are verified every time; cached ones expire with the token (at most 5 minutes).
    if (verified.exp !== undefined) {
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(token, { token: verified, until: Math.min(verified.exp * 1000 + skew * 1000, now + 300_000) });
    }
    return verified;
  }

  private async fromJwt(token: string, jwt: JwtConfig, headers: Headers): Promise<Session> {
    const { exp, claims } = await this.verify(token, jwt);
    const { allowed, defaultRole, others } = claims;
    // x-hasura-role picks one of the allowed roles; absent or empty, the default role.
    const requested = header(headers, 'x-hasura-role') || defaultRole;
    if (!allowed.includes(requested)) throw new EngineError('access-denied', 'Your requested role is not in allowed roles', '$');
    // Every other claim is a session variable, as text: Hasura refuses any other JSON value.
    const variables: Record<string, string> = {};
    for (const [name, value] of Object.entries(others)) {
      if (typeof value !== 'string') throw invalidClaims(`x-hasura-* claims: ${typeMismatch('Text', 'String', value)}`);
      if (name !== 'x-hasura-admin-secret' && name !== 'x-hasura-access-key') variables[name] = value;
    }
    variables['x-hasura-role'] = requested;
    return {
      role: requested,
      isAdmin: requested === 'admin',
      variables,
      backendOnly: false,
      ...(exp !== undefined ? { expiresAt: (exp + (jwt.allowed_skew ?? 0)) * 1000 } : {}),
    };
  }

  /** The allowed roles, the default role and the other claims, from the namespace or the claims_map. */
  private claims(payload: jose.JWTPayload, jwt: JwtConfig): HasuraClaims {
    const c = jwt.claims;
    if (c.kind === 'map') {
      // Hasura's parseClaimsMap: a path that finds nothing takes its default, else the token is refused.
      const lookup = <T>(spec: ClaimsMapValue<T>): unknown => {
        if ('value' in spec) return spec.value;
        const found = executeJsonPath(spec.path, payload);
        return found === undefined ? spec.default : found;
      };
      const allowedRaw = lookup(c.allowedRoles);
      if (allowedRaw === undefined) throw missingRoleClaim('x-hasura-allowed-roles');
      const allowed = parseRoles(allowedRaw, 'invalid x-hasura-allowed-roles; should be a list of roles');
      const defaultRaw = lookup(c.defaultRole);
      if (defaultRaw === undefined) throw missingRoleClaim('x-hasura-default-role');
      const defaultRole = parseRole(defaultRaw, 'invalid x-hasura-default-role; should be a role');
      const others: Record<string, unknown> = {};
      for (const [name, spec] of Object.entries(c.custom)) {
        const value = lookup(spec);
        if (value === undefined) throw invalidClaims(`JWT claim from claims_map, ${name} not found`);
        others[name] = value;
      }
      return { allowed, defaultRole, others };
    }
    let raw: unknown;
    if (c.path) raw = executeJsonPath(c.path, Object.fromEntries(Object.entries(payload).filter(([k]) => !REGISTERED.has(k))));
    else
      raw =
        !REGISTERED.has(c.namespace as string) && Object.hasOwn(payload, c.namespace as string)
          ? payload[c.namespace as string]
          : undefined;
    if (raw === undefined) {
      throw invalidClaims(
        c.path ? `claims not found at claims_namespace_path: '${encodeJsonPath(c.path)}'` : `claims key: '${c.namespace}' not found`,
      );
    }
    if (c.format === 'stringified_json') {
      if (typeof raw !== 'string') throw invalidClaims('expecting a string when claims_format is stringified_json');
      const text = raw;
      try {
        raw = JSON.parse(text);
      } catch {
        raw = undefined;
      }
      if (!isObject(raw)) throw invalidClaims(`expecting stringified json at: '${claimsLocation(c)}', but found: ${text}`);
    } else if (!isObject(raw)) throw invalidClaims('expecting a json object when claims_format is json');
    // Only the x-hasura-* claims, by lower-case name.
    const claims: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) if (k.toLowerCase().startsWith('x-hasura-')) claims[k.toLowerCase()] = v;
    const { 'x-hasura-allowed-roles': allowedRaw, 'x-hasura-default-role': defaultRaw, ...others } = claims;
    if (allowedRaw === undefined) throw missingRoleClaim('x-hasura-allowed-roles');
    const allowed = parseRoles(allowedRaw, 'invalid x-hasura-allowed-roles; should be a list of roles');
    if (defaultRaw === undefined) throw missingRoleClaim('x-hasura-default-role');
    const defaultRole = parseRole(defaultRaw, 'invalid x-hasura-default-role; should be a single role name');
    return { allowed, defaultRole, others };
  }
}
