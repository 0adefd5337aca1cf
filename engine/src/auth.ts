// Who is asking: the admin secret, a JWT (HASURA_GRAPHQL_JWT_SECRET), or the unauthorized role.
// Errors carry Hasura's codes and messages.
import { createPublicKey, timingSafeEqual } from 'node:crypto';
import * as jose from 'jose';
import type { EngineConfig, JwtConfig } from './config.ts';
import { EngineError } from './errors.ts';

export interface Session {
  role: string;
  isAdmin: boolean;
  /** Lower-case `x-hasura-*` variables, including x-hasura-role. */
  variables: Record<string, string>;
  /** The admin secret was given and x-hasura-use-backend-only-permissions is true. */
  backendOnly: boolean;
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

function adminSession(headers: Headers): Session {
  const variables = sessionFromHeaders(headers);
  const role = variables['x-hasura-role'] ?? 'admin';
  variables['x-hasura-role'] = role;
  const backendOnly = parseBool('x-hasura-use-backend-only-permissions', header(headers, 'x-hasura-use-backend-only-permissions'));
  return { role, isAdmin: role === 'admin', variables, backendOnly };
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
    if (!jwt.key) throw new Error('HASURA_GRAPHQL_JWT_SECRET needs "key" or "jwk_url"');
    if (jwt.type.startsWith('HS')) return new TextEncoder().encode(jwt.key);
    if (jwt.key.includes('BEGIN CERTIFICATE')) {
      const pem = createPublicKey(jwt.key).export({ type: 'spki', format: 'pem' }).toString();
      return jose.importSPKI(pem, jwt.type);
    }
    return jose.importSPKI(jwt.key, jwt.type);
  }

  /** Resolves the request's session or throws Hasura's error. */
  async authenticate(headers: Headers): Promise<Session> {
    const { adminSecret, jwt, unauthorizedRole } = this.config;
    const given = header(headers, 'x-hasura-admin-secret') ?? header(headers, 'x-hasura-access-key');
    if (!adminSecret) return adminSession(headers);
    if (given !== undefined) {
      if (secretMatches(given, adminSecret)) return adminSession(headers);
      throw new EngineError('access-denied', 'invalid x-hasura-admin-secret/x-hasura-access-key', '$');
    }
    if (jwt) {
      const token = this.token(headers, jwt);
      if (token) return this.fromJwt(token, jwt, headers);
      if (unauthorizedRole) return this.unauthorized(unauthorizedRole);
      throw new EngineError('invalid-headers', "Missing 'Authorization' or 'Cookie' header in JWT authentication mode", '$');
    }
    if (unauthorizedRole) return this.unauthorized(unauthorizedRole);
    throw new EngineError('access-denied', 'x-hasura-admin-secret/x-hasura-access-key required, but not found', '$');
  }

  private unauthorized(role: string): Session {
    return { role, isAdmin: false, variables: { 'x-hasura-role': role }, backendOnly: false };
  }

  private token(headers: Headers, jwt: JwtConfig): string | null {
    if (jwt.header?.type === 'Cookie') {
      const cookie = header(headers, 'cookie') ?? '';
      for (const part of cookie.split(';')) {
        const [k, ...v] = part.trim().split('=');
        if (k === jwt.header.name) return decodeURIComponent(v.join('='));
      }
      return null;
    }
    if (jwt.header?.type === 'CustomHeader' && jwt.header.name) return header(headers, jwt.header.name.toLowerCase()) ?? null;
    const auth = header(headers, 'authorization');
    if (!auth) return null;
    const match = /^Bearer\s+(.+)$/i.exec(auth);
    if (!match) throw new EngineError('invalid-headers', 'Malformed Authorization header', '$');
    return match[1] as string;
  }

  /** Verified tokens, so that a client's repeated requests verify the signature once (until `exp`). */
  private verified = new Map<string, { payload: jose.JWTPayload; until: number }>();

  private async verify(token: string, jwt: JwtConfig): Promise<jose.JWTPayload> {
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit && hit.until > now) return hit.payload;
    const key = (await this.jwtKey) as Parameters<typeof jose.jwtVerify>[1];
    const options: jose.JWTVerifyOptions = { clockTolerance: jwt.allowed_skew ?? 0 };
    if (jwt.audience) options.audience = jwt.audience;
    if (jwt.issuer) options.issuer = jwt.issuer;
    const payload = (await jose.jwtVerify(token, key as Uint8Array, options)).payload;
    // Tokens without exp are verified every time; cached ones expire with the token (at most 5 minutes).
    if (typeof payload.exp === 'number') {
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(token, { payload, until: Math.min(payload.exp * 1000 + (jwt.allowed_skew ?? 0) * 1000, now + 300_000) });
    }
    return payload;
  }

  private async fromJwt(token: string, jwt: JwtConfig, headers: Headers): Promise<Session> {
    let payload: jose.JWTPayload;
    try {
      payload = await this.verify(token, jwt);
    } catch (error) {
      const e = error as { code?: string };
      if (e.code === 'ERR_JWT_EXPIRED') throw new EngineError('invalid-jwt', 'Could not verify JWT: JWTExpired', '$');
      if (e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') throw new EngineError('invalid-jwt', 'Could not verify JWT: JWTNotInAudience', '$');
      if (e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
        throw new EngineError('invalid-jwt', 'Could not verify JWT: JWSError JWSInvalidSignature', '$');
      throw new EngineError(
        'invalid-jwt',
        `Could not verify JWT: JWSError (CompactDecodeError Invalid number of parts: ${(error as Error).message})`,
        '$',
      );
    }
    const claims = this.claims(payload, jwt);
    const allowed = claims['x-hasura-allowed-roles'];
    const defaultRole = claims['x-hasura-default-role'];
    if (allowed === undefined) throw new EngineError('jwt-missing-role-claims', 'JWT claim does not contain x-hasura-allowed-roles', '$');
    if (defaultRole === undefined)
      throw new EngineError('jwt-missing-role-claims', 'JWT claim does not contain x-hasura-default-role', '$');
    if (!Array.isArray(allowed) || !allowed.every((r) => typeof r === 'string')) {
      throw new EngineError('jwt-invalid-claims', 'invalid x-hasura-allowed-roles; should be a list of roles', '$');
    }
    if (typeof defaultRole !== 'string')
      throw new EngineError('jwt-invalid-claims', 'invalid x-hasura-default-role; should be a role', '$');
    const requested = header(headers, 'x-hasura-role') ?? defaultRole;
    if (!allowed.includes(requested)) throw new EngineError('access-denied', 'Your current role is not in allowed roles', '$');
    const variables: Record<string, string> = {};
    for (const [k, v] of Object.entries(claims)) {
      const lower = k.toLowerCase();
      if (!lower.startsWith('x-hasura-') || lower === 'x-hasura-allowed-roles' || lower === 'x-hasura-default-role') continue;
      variables[lower] =
        typeof v === 'string' ? v : Array.isArray(v) ? `{${v.map((x) => JSON.stringify(String(x))).join(',')}}` : JSON.stringify(v);
    }
    // Client headers other than the role never override the token's claims.
    variables['x-hasura-role'] = requested;
    return { role: requested, isAdmin: requested === 'admin', variables, backendOnly: false };
  }

  private claims(payload: jose.JWTPayload, jwt: JwtConfig): Record<string, unknown> {
    if (jwt.claims_map) {
      const out: Record<string, unknown> = {};
      for (const [k, spec] of Object.entries(jwt.claims_map)) {
        if (typeof spec === 'object' && spec !== null && 'path' in spec) {
          const value = jsonPath(payload, (spec as { path: string }).path);
          out[k.toLowerCase()] = value ?? (spec as { default?: unknown }).default;
        } else out[k.toLowerCase()] = spec;
      }
      return out;
    }
    let raw: unknown;
    if (jwt.claims_namespace_path) raw = jsonPath(payload, jwt.claims_namespace_path);
    else raw = payload[jwt.claims_namespace ?? 'https://hasura.io/jwt/claims'];
    const ns = jwt.claims_namespace_path ?? jwt.claims_namespace ?? 'https://hasura.io/jwt/claims';
    if (raw === undefined) throw new EngineError('jwt-invalid-claims', `claims key: '${ns}' not found`, '$');
    if (jwt.claims_format === 'stringified_json') {
      if (typeof raw !== 'string') throw new EngineError('jwt-invalid-claims', `claims key: '${ns}' is not a string`, '$');
      try {
        raw = JSON.parse(raw);
      } catch {
        throw new EngineError('jwt-invalid-claims', `Could not parse the claims in '${ns}'`, '$');
      }
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new EngineError('jwt-invalid-claims', `claims key: '${ns}' should be an object`, '$');
    }
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v]));
  }
}

/** `$.a.b` / `$.a['b.c']` paths as Hasura's claims_namespace_path and claims_map use them. */
export function jsonPath(value: unknown, path: string): unknown {
  const parts: string[] = [];
  const re = /\.([A-Za-z0-9_$-]+)|\[['"]([^'"]+)['"]\]|\[(\d+)\]/g;
  for (const m of path.replace(/^\$/, '').matchAll(re)) parts.push((m[1] ?? m[2] ?? m[3]) as string);
  let cur: unknown = value;
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}
