// The engine's configuration, from Hasura's own environment variables (plus our metadata directory).
import { resolve } from 'node:path';

export interface JwtConfig {
  type: string;
  key?: string;
  jwk_url?: string;
  claims_namespace?: string;
  claims_namespace_path?: string;
  claims_format?: 'json' | 'stringified_json';
  claims_map?: Record<string, unknown>;
  audience?: string | string[];
  issuer?: string;
  allowed_skew?: number;
  header?: { type: 'Authorization' | 'Cookie' | 'CustomHeader'; name?: string };
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

export function configFromEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): EngineConfig {
  let jwt: JwtConfig | undefined;
  if (env.HASURA_GRAPHQL_JWT_SECRET) {
    try {
      jwt = JSON.parse(env.HASURA_GRAPHQL_JWT_SECRET) as JwtConfig;
    } catch {
      throw new Error('HASURA_GRAPHQL_JWT_SECRET is not valid JSON');
    }
    const allowed = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'Ed25519'];
    if (!jwt.jwk_url && !allowed.includes(jwt.type)) throw new Error(`HASURA_GRAPHQL_JWT_SECRET: unsupported "type" ${jwt.type}`);
    if (jwt.claims_namespace && jwt.claims_namespace_path) {
      throw new Error('HASURA_GRAPHQL_JWT_SECRET: claims_namespace and claims_namespace_path both set');
    }
  }
  const port = Number(env.HASURA_GRAPHQL_SERVER_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0) throw new Error(`HASURA_GRAPHQL_SERVER_PORT is not a port: ${env.HASURA_GRAPHQL_SERVER_PORT}`);
  const dir = env.ORG_CREDITS_ENGINE_METADATA_DIR;
  return {
    port,
    ...(env.HASURA_GRAPHQL_DATABASE_URL ? { databaseUrl: env.HASURA_GRAPHQL_DATABASE_URL } : {}),
    ...(env.HASURA_GRAPHQL_ADMIN_SECRET ? { adminSecret: env.HASURA_GRAPHQL_ADMIN_SECRET } : {}),
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
