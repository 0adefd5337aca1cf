// The service's edges: the shared secret, the Hasura envelope, the session, the error shape, the
// health check, the dev sign-in routes and the configuration.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { repoRoot } from '@org-credits/db';
import { useTestDatabase } from '@org-credits/db/testing';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createApp, requireSecret } from '../src/app.ts';
import { DEV_DEFAULTS, loadConfig } from '../src/config.ts';
import { viaProvider } from '../src/payments/index.ts';
import { ACTION_SECRET, createOrg, envelope, instantAI, NOW, snapshot, startApi } from './helpers.ts';

const db = await useTestDatabase();
const api = await startApi(db);

const reserveInput = () => ({ capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: randomUUID() });

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-org-credits-secret': ACTION_SECRET, ...headers },
    body,
  });
  return { status: response.status, body: await response.json() };
}

describe('the shared secret', () => {
  it('without it: 401 and nothing runs', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const before = await snapshot(db.pool, org.orgId);
    const res = await api.action('reserveCredits', reserveInput(), org.session, { secret: null });
    expect(res.status).toBe(401);
    expect(res.body.extensions.code).toBe('UNAUTHORIZED');
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });

  it('with a wrong one: 401 and nothing runs', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const before = await snapshot(db.pool, org.orgId);
    const res = await api.action('reserveCredits', reserveInput(), org.session, { secret: `${ACTION_SECRET}x` });
    expect(res.status).toBe(401);
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });

  it('guards the cron and event routes too', async () => {
    const res = await fetch(`${api.url}/cron/expire-reservations`, { method: 'POST' });
    expect(res.status).toBe(401);
  });
});

describe('the Hasura envelope', () => {
  it.each([
    ['a body that is not JSON', '{"action":'],
    ['no action', JSON.stringify({ input: {}, session_variables: { 'x-hasura-role': 'user' } })],
    ['no session variables', JSON.stringify({ action: { name: 'checkAIAccess' }, input: {} })],
    ['an input that is not an object', JSON.stringify({ action: { name: 'checkAIAccess' }, input: [1], session_variables: {} })],
  ])('INVALID_INPUT for %s, without a stack trace', async (_name, body) => {
    const res = await post('/actions', body);
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe('INVALID_INPUT');
    expect(Object.keys(res.body)).toEqual(['message', 'extensions']);
    expect(res.body.message).not.toMatch(/\n\s+at /);
  });

  it('NOT_FOUND for an action this service does not handle', async () => {
    const org = await createOrg(db.pool);
    const res = await post('/actions', JSON.stringify(envelope('mintCredits', {}, org.session)));
    expect(res.status).toBe(404);
    expect(res.body.extensions.code).toBe('NOT_FOUND');
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('NOT_FOUND for an action named %s (not a crash)', async (name) => {
    const org = await createOrg(db.pool);
    const res = await post('/actions', JSON.stringify(envelope(name, {}, org.session)));
    expect(res.status).toBe(404);
    expect(res.body.extensions.code).toBe('NOT_FOUND');
  });

  it('INVALID_INPUT for a NUL character in a string, and nothing held', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const before = await snapshot(db.pool, org.orgId);
    for (const input of [
      { capability: 'summ\u0000', qualityLevel: 'fast' },
      { capability: 'summarization', qualityLevel: 'fast', idempotencyKey: 'a\u0000b' },
    ]) {
      const res = await post('/actions', JSON.stringify(envelope('reserveCredits', input, { role: 'service', orgId: org.orgId })));
      expect(res.status).toBe(400);
      expect(res.body.extensions.code).toBe('INVALID_INPUT');
    }
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });
});

describe("the payment provider's errors", () => {
  it("keep Stripe's words but not a key's visible part", async () => {
    const error = await viaProvider(async () => {
      throw new Error('Stripe could not start a checkout: Invalid API Key provided: sk_live_****1234');
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'PAYMENT_PROVIDER_ERROR',
      message: 'Stripe could not start a checkout: Invalid API Key provided: [key]',
    });
  });
});

describe('building the app', () => {
  it('refuses an empty or short shared secret: an empty header would match an empty one', () => {
    for (const actionSecret of ['', 'short']) expect(() => requireSecret(actionSecret)).toThrow(/at least 16 characters/);
  });
});

describe('the session', () => {
  it('UNAUTHORIZED when the session names no org', async () => {
    const org = await createOrg(db.pool);
    const res = await api.action(
      'checkAIAccess',
      { capability: 'summarization', qualityLevel: 'fast' },
      { role: 'user', userId: org.userId },
    );
    expect(res.status).toBe(401);
    expect(res.body.extensions.code).toBe('UNAUTHORIZED');
  });

  it('UNAUTHORIZED when a session variable is not a uuid', async () => {
    const res = await api.action('checkAIAccess', { capability: 'summarization', qualityLevel: 'fast' }, { role: 'user', orgId: 'acme' });
    expect(res.status).toBe(401);
  });

  it('FORBIDDEN, and nothing held, when a user token names an org the user is not a member of', async () => {
    const victim = await createOrg(db.pool, { credits: '10.000' });
    const intruder = await createOrg(db.pool, { credits: '10.000' });
    const before = [await snapshot(db.pool, victim.orgId), await snapshot(db.pool, intruder.orgId)];
    const res = await api.action('reserveCredits', reserveInput(), { role: 'user', userId: intruder.userId, orgId: victim.orgId });
    expect(res.status).toBe(403);
    expect(res.body.extensions.code).toBe('FORBIDDEN');
    expect([await snapshot(db.pool, victim.orgId), await snapshot(db.pool, intruder.orgId)]).toEqual(before);
  });

  it('FORBIDDEN for a role that may not use credits', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const res = await api.action('reserveCredits', reserveInput(), { role: 'anonymous', orgId: org.orgId });
    expect(res.status).toBe(403);
  });

  it('records the member who reserved; a service reserves without a user', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const byUser = await api.action('reserveCredits', reserveInput(), org.session);
    const byService = await api.action('reserveCredits', reserveInput(), { role: 'service', orgId: org.orgId });
    const { rows } = await db.pool.query('select id, user_id from public.credit_reservations where organization_id = $1', [org.orgId]);
    const userOf = Object.fromEntries(rows.map((r) => [r.id, r.user_id]));
    expect(userOf[byUser.body.reservationId]).toBe(org.userId);
    expect(userOf[byService.body.reservationId]).toBeNull();
  });
});

describe('health', () => {
  it('answers ok when the database answers', async () => {
    const res = await fetch(`${api.url}/healthz`);
    expect(await res.json()).toEqual({ ok: true });
  });
});

describe('dev sign-in', () => {
  const acme = '0a000000-0000-4000-8000-000000000001';
  const globex = '0a000000-0000-4000-8000-000000000002';
  const ada = '0b000000-0000-4000-8000-000000000001';

  it('lists the seeded people with their orgs and roles', async () => {
    const res = await fetch(`${api.url}/dev/people`);
    const people = await res.json();
    const casey = people.find((p: { email: string }) => p.email === 'consultant@both.test');
    expect(casey).toEqual({
      userId: '0b000000-0000-4000-8000-000000000006',
      email: 'consultant@both.test',
      displayName: 'Casey Consultant',
      orgs: [
        { orgId: acme, orgName: 'Acme Labs', role: 'member' },
        { orgId: globex, orgName: 'Globex', role: 'admin' },
      ],
    });
  });

  it('lets the web app on a local origin call it from the browser', async () => {
    const preflight = await fetch(`${api.url}/dev/token`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type');
    const foreign = await fetch(`${api.url}/dev/people`, { headers: { origin: 'https://evil.example' } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('signs a Hasura JWT for a member, with the org and user in the Hasura claims', async () => {
    const res = await post('/dev/token', JSON.stringify({ userId: ada, orgId: acme }), {});
    expect(res.status).toBe(200);
    const { payload, protectedHeader } = await jwtVerify(res.body.token, new TextEncoder().encode(DEV_DEFAULTS.jwtKey), {
      currentDate: NOW, // the api's clock in these tests; the real one may be past the token's expiry
    });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload['https://hasura.io/jwt/claims']).toEqual({
      'x-hasura-user-id': ada,
      'x-hasura-org-id': acme,
      'x-hasura-default-role': 'user',
      'x-hasura-allowed-roles': ['user'],
    });
    expect(res.body.memberRole).toBe('owner');
  });

  it('refuses a token for an org the person is not a member of', async () => {
    const res = await post('/dev/token', JSON.stringify({ userId: ada, orgId: globex }));
    expect(res.status).toBe(403);
    expect(res.body.extensions.code).toBe('FORBIDDEN');
  });

  it('answers 404 in production', async () => {
    const app = createApp({ db: db.pool, ai: instantAI, actionSecret: ACTION_SECRET, production: true, jwtKey: DEV_DEFAULTS.jwtKey });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as { port: number };
      expect((await fetch(`http://127.0.0.1:${port}/dev/people`)).status).toBe(404);
      const token = await fetch(`http://127.0.0.1:${port}/dev/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: ada, orgId: acme }),
      });
      expect(token.status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('configuration', () => {
  it('has working defaults in development', () => {
    const config = loadConfig({ NODE_ENV: 'development' });
    expect(config).toMatchObject({
      production: false,
      port: 3001,
      actionSecret: DEV_DEFAULTS.actionSecret,
      openaiApiKey: null,
      jwtKey: DEV_DEFAULTS.jwtKey,
    });
  });

  it('signs no dev tokens unless NODE_ENV says development (or test): a deployment that forgot NODE_ENV does not', () => {
    const jwt = JSON.stringify({ type: 'HS256', key: 'r'.repeat(40) });
    expect(loadConfig({ HASURA_GRAPHQL_JWT_SECRET: jwt }).jwtKey).toBeNull();
    expect(loadConfig({ NODE_ENV: 'staging', HASURA_GRAPHQL_JWT_SECRET: jwt }).jwtKey).toBeNull();
    expect(loadConfig({ NODE_ENV: 'development', HASURA_GRAPHQL_JWT_SECRET: jwt }).jwtKey).not.toBeNull();
  });

  it('refuses an AI_BASE_URL holding a user name or password (the key goes in OPENAI_API_KEY)', () => {
    expect(() => loadConfig({ NODE_ENV: 'development', AI_BASE_URL: 'https://gwuser:gw-s3cret@ai-gateway.example/v1' })).toThrow(
      /AI_BASE_URL must not hold a user name or password/,
    );
    expect(loadConfig({ NODE_ENV: 'development', AI_BASE_URL: 'https://ai-gateway.example/v1' }).aiBaseUrl).toBe(
      'https://ai-gateway.example/v1',
    );
  });

  it('refuses a live Stripe key outside production', () => {
    for (const NODE_ENV of [undefined, 'development']) {
      expect(() => loadConfig({ ...(NODE_ENV ? { NODE_ENV } : {}), STRIPE_SECRET_KEY: 'sk_live_0123456789' })).toThrow(
        /STRIPE_SECRET_KEY: a live key needs NODE_ENV=production/,
      );
    }
    expect(loadConfig({ NODE_ENV: 'development', STRIPE_SECRET_KEY: 'sk_test_0123456789' }).stripeSecretKey).toBe('sk_test_0123456789');
  });

  it('names every secret production lacks', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /DATABASE_URL: required when NODE_ENV=production\n\s+ACTION_SECRET: required[^\n]*\n\s+STRIPE_SECRET_KEY: required[^\n]*\n\s+STRIPE_WEBHOOK_SECRET: required[^\n]*\n\s+WEB_ORIGIN: required/,
    );
  });

  it("in production takes Hasura's JWT secret in any form, or none: it signs no tokens there", () => {
    const production = {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://u:p@db:5432/credits',
      ACTION_SECRET: 'a-production-action-secret',
      STRIPE_SECRET_KEY: 'sk_live_0123456789',
      STRIPE_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
      WEB_ORIGIN: 'https://credits.example.com',
    };
    for (const secret of [
      undefined,
      JSON.stringify({ type: 'RS256', jwk_url: 'https://id.example.com/.well-known/jwks.json' }),
      JSON.stringify({ jwk_url: 'https://id.example.com/jwks', claims_map: { 'x-hasura-user-id': { path: '$.sub' } } }),
    ]) {
      const config = loadConfig({ ...production, ...(secret ? { HASURA_GRAPHQL_JWT_SECRET: secret } : {}) });
      expect(config).toMatchObject({ production: true, jwtKey: null });
    }
  });

  it("refuses .env.example's placeholders in production", () => {
    const attempt = () =>
      loadConfig({
        NODE_ENV: 'production',
        DATABASE_URL: 'postgres://u:p@db:5432/credits',
        ACTION_SECRET: 'change-me-action-secret',
        STRIPE_SECRET_KEY: 'sk_live_change_me',
        STRIPE_WEBHOOK_SECRET: 'whsec_change_me_0123456789',
        WEB_ORIGIN: 'https://credits.example.com',
      });
    expect(attempt).toThrow(/ACTION_SECRET: still the placeholder of \.env\.example/);
    expect(attempt).toThrow(/STRIPE_SECRET_KEY: still the placeholder of \.env\.example/);
    expect(attempt).toThrow(/STRIPE_WEBHOOK_SECRET: still the placeholder of \.env\.example/);
  });

  it('names each wrong value with what it should be', () => {
    const attempt = () =>
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'not a url', ACTION_SECRET: 'short', HASURA_GRAPHQL_JWT_SECRET: '{"type":"RS256"}' });
    expect(attempt).toThrow(/PORT: PORT must be a number/);
    expect(attempt).toThrow(/DATABASE_URL: DATABASE_URL must be a URL/);
    expect(attempt).toThrow(/ACTION_SECRET: ACTION_SECRET must be at least 16 characters/);
    expect(attempt).toThrow(/HASURA_GRAPHQL_JWT_SECRET: .*"type": "HS256"/);
  });

  it('refuses the development secrets in production', () => {
    const attempt = () =>
      loadConfig({
        NODE_ENV: 'production',
        DATABASE_URL: 'postgres://u:p@db:5432/credits',
        ACTION_SECRET: DEV_DEFAULTS.actionSecret,
      });
    expect(attempt).toThrow(/ACTION_SECRET: the development secret is refused in production/);
  });

  it('stops at start with one line per problem when the environment is wrong', () => {
    const run = spawnSync(join(repoRoot, 'node_modules', '.bin', 'tsx'), [join(repoRoot, 'api', 'src', 'main.ts')], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: 'eighty' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("the api's configuration is not valid:");
    expect(run.stderr).toContain('PORT: PORT must be a number');
    expect(run.stderr).toContain('DATABASE_URL: required when NODE_ENV=production');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('reads a complete production configuration', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: '4000',
      DATABASE_URL: 'postgres://u:p@db:5432/credits',
      ACTION_SECRET: 'a-long-shared-secret-value',
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: 'k'.repeat(32) }),
      HASURA_GRAPHQL_URL: 'http://hasura:8080/v1/graphql',
      STRIPE_SECRET_KEY: 'sk_live_example',
      STRIPE_WEBHOOK_SECRET: 'whsec_example_production_secret',
      WEB_ORIGIN: 'https://credits.example.com',
      OPENAI_API_KEY: 'sk-test',
    });
    expect(config).toMatchObject({
      production: true,
      port: 4000,
      // Production signs no tokens: the key is not kept.
      jwtKey: null,
      openaiApiKey: 'sk-test',
      stripeSecretKey: 'sk_live_example',
      webOrigin: 'https://credits.example.com',
    });
  });
});
