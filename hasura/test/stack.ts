// The GraphQL stack for tests of the metadata as served: the engine on hasura/metadata (without its
// cron triggers) with JWT auth, the api behind its actions, both on free ports against the test
// file's own database; and clients for it (HTTP POST, a subscription over graphql-transport-ws,
// tokens).
import { createHmac } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { TestDatabase } from '@org-credits/db/testing';
import { afterAll } from 'vitest';
import WebSocket from 'ws';
import { copyMetadataWithoutCron } from './metadata-without-cron.ts';

export const JWT_KEY = 'metadata-tests-jwt-key-0123456789abcdef';
export const ADMIN_SECRET = 'metadata-tests-admin-secret';
export const ACTION_SECRET = 'metadata-tests-action-secret-0123';

export const NOW_S = Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT with Hasura's claims, HS256 with our test key unless told otherwise. */
export function jwt(claims: Record<string, unknown>, options: { key?: string; alg?: 'HS256' | 'none'; exp?: number } = {}): string {
  const alg = options.alg ?? 'HS256';
  const head = b64({ alg, typ: 'JWT' });
  const body = b64({ iat: NOW_S - 60, exp: options.exp ?? NOW_S + 3600, 'https://hasura.io/jwt/claims': claims });
  if (alg === 'none') return `${head}.${body}.`;
  const sig = createHmac('sha256', options.key ?? JWT_KEY)
    .update(`${head}.${body}`)
    .digest('base64url');
  return `${head}.${body}.${sig}`;
}

export const userClaims = (userId: string, orgId: string) => ({
  'x-hasura-user-id': userId,
  'x-hasura-org-id': orgId,
  'x-hasura-default-role': 'user',
  'x-hasura-allowed-roles': ['user'],
});

export const serviceClaims = (orgId: string) => ({
  'x-hasura-org-id': orgId,
  'x-hasura-default-role': 'service',
  'x-hasura-allowed-roles': ['service'],
});

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface GqlAnswer {
  status: number;
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export interface Stack {
  engineUrl: string;
  /** What the engine logged (its start-up warnings name what it does not serve). */
  engineLog: Record<string, unknown>[];
  post(headers: Record<string, string>, query: string, variables?: Record<string, unknown>): Promise<GqlAnswer>;
  /** The first answer of a subscription (or its refusal). */
  subscribeOnce(headers: Record<string, string>, query: string): Promise<GqlAnswer>;
  /** Stops the engine and the api (once; later calls wait for the first). */
  stop(): Promise<void>;
}

export interface StackOptions {
  /** The metadata the engine serves. @default hasura/metadata without its cron triggers ({@link copyMetadataWithoutCron}) */
  metadataDir?: string;
  /** HASURA_GRAPHQL_JWT_SECRET, parsed. @default HS256 with JWT_KEY, claims in Hasura's namespace */
  jwtSecret?: Record<string, unknown>;
}

/**
 * Starts the api and the engine for this test file; both stop when the file's tests end. A stack
 * started inside a test is stopped by the test with `stop()` (an `afterAll` registered there never
 * runs).
 */
export async function startStack(db: TestDatabase, options: StackOptions = {}): Promise<Stack> {
  const { start, createLocalProvider } = await import('@org-credits/api');
  const api = await start({
    overrides: { port: 0, host: '127.0.0.1', databaseUrl: db.url, actionSecret: ACTION_SECRET, production: false },
    ai: createLocalProvider({ delay: async () => undefined }),
  });
  const { createEngine, configFromEnv } = await import('@org-credits/engine');
  const engineLog: Record<string, unknown>[] = [];
  const metadataDir = options.metadataDir ?? copyMetadataWithoutCron();
  const engine = await createEngine(
    configFromEnv({
      HASURA_GRAPHQL_DATABASE_URL: db.url,
      HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify(options.jwtSecret ?? { type: 'HS256', key: JWT_KEY }),
      HASURA_GRAPHQL_UNAUTHORIZED_ROLE: 'anonymous',
      HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
      ORG_CREDITS_ENGINE_METADATA_DIR: metadataDir,
      ACTIONS_BASE_URL: api.url,
      ACTION_SECRET,
    }),
    { log: (entry) => engineLog.push(entry) },
  );
  const engineUrl = await engine.listen(0, '127.0.0.1');
  let stopped: Promise<void> | null = null;
  const stop = () => {
    stopped ??= (async () => {
      await engine.close();
      await api.stop();
      if (metadataDir !== options.metadataDir) rmSync(metadataDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  afterAll(stop);

  async function post(headers: Record<string, string>, query: string, variables?: Record<string, unknown>): Promise<GqlAnswer> {
    const res = await fetch(`${engineUrl}/v1/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, ...(variables ? { variables } : {}) }),
    });
    const text = await res.text();
    try {
      return { status: res.status, ...(JSON.parse(text) as object) };
    } catch {
      return { status: res.status, errors: [{ message: text }] };
    }
  }

  function subscribeOnce(headers: Record<string, string>, query: string): Promise<GqlAnswer> {
    const wsUrl = `${engineUrl.replace(/^http/, 'ws')}/v1/graphql`;
    return new Promise((resolve) => {
      const ws = new WebSocket(wsUrl, 'graphql-transport-ws');
      let timer: NodeJS.Timeout | undefined;
      const done = (answer: GqlAnswer) => {
        clearTimeout(timer);
        ws.removeAllListeners();
        ws.on('error', () => undefined);
        ws.terminate();
        resolve(answer);
      };
      timer = setTimeout(() => done({ status: 0, errors: [{ message: 'no answer', extensions: { code: 'no-answer' } }] }), 5000);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { headers } })));
      ws.on('message', (raw) => {
        const msg = JSON.parse(String(raw)) as { type: string; payload?: unknown };
        if (msg.type === 'connection_ack') ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
        else if (msg.type === 'next') done({ status: 200, ...(msg.payload as object) });
        else if (msg.type === 'error') done({ status: 200, errors: msg.payload as GqlAnswer['errors'] });
      });
      ws.on('close', (code, reason) =>
        done({ status: 0, errors: [{ message: `closed ${code} ${reason}`, extensions: { code: `ws-${code}` } }] }),
      );
      ws.on('error', (error) => done({ status: 0, errors: [{ message: error.message, extensions: { code: 'ws-error' } }] }));
    });
  }

  return { engineUrl, engineLog, post, subscribeOnce, stop };
}
