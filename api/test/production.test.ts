// Production behaviour (issue 10): the api configured as in production (NODE_ENV=production, read by
// loadConfig) on a real port against the test file's own database. No dev sign-in, no local payment
// page, no local AI provider, no CORS for anyone, and bodies over a route's limit are refused before
// anything runs.
import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { DEV_DEFAULTS, loadConfig } from '../src/config.ts';
import { createPayments } from '../src/payments/index.ts';
import { start } from '../src/server.ts';
import { Stripe } from '../src/stripe/client.ts';
import { ACTION_SECRET, createOrg, envelope, instantAI, NOW, snapshot } from './helpers.ts';

const db = await useTestDatabase();

const WEB_ORIGIN = 'https://credits.example.test';
const WEBHOOK_SECRET = 'whsec_production_test_0123456789abcdef';

/** Everything production requires, with values that are not the development ones. */
const productionEnv = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://credits:secret@db.internal:5432/credits',
  ACTION_SECRET,
  HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: 'p'.repeat(40) }),
  HASURA_GRAPHQL_URL: 'http://hasura.internal:8080/v1/graphql',
  STRIPE_SECRET_KEY: 'sk_test_production_behaviour',
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  // Nothing in these tests reaches Stripe; a closed port makes sure of it.
  STRIPE_API_URL: 'http://127.0.0.1:9',
  WEB_ORIGIN,
} as const;

const required = ['DATABASE_URL', 'ACTION_SECRET', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'WEB_ORIGIN'] as const;

const server = await start({
  config: loadConfig(productionEnv),
  overrides: { port: 0, host: '127.0.0.1', databaseUrl: db.url, databasePoolSize: 10 },
  clock: () => NOW,
});
afterAll(() => server.stop());

async function send(path: string, init: RequestInit = {}) {
  const response = await fetch(`${server.url}${path}`, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body: body as { message?: string; extensions?: { code?: string } } };
}

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-org-credits-secret': ACTION_SECRET, ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

function signedEvent(type: string, object: Record<string, unknown>) {
  const payload = JSON.stringify({
    id: `evt_prod_${randomUUID()}`,
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: Math.floor(NOW.getTime() / 1000),
    livemode: false,
    type,
    data: { object },
  });
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: WEBHOOK_SECRET,
    timestamp: Math.floor(NOW.getTime() / 1000),
  });
  return { payload, signature };
}

const stripeEventCount = async () => Number((await db.pool.query('select count(*) as n from public.stripe_events')).rows[0].n);

describe('the production configuration', () => {
  it.each(required)('refuses to start without %s alone, naming only it', (name) => {
    const env: Record<string, string> = { ...productionEnv };
    delete env[name];
    let message = '';
    try {
      loadConfig(env);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(`${name}: required when NODE_ENV=production`);
    expect(message.split('\n').filter((line) => line.includes('required when'))).toHaveLength(1);
  });

  it('refuses the development webhook secret', () => {
    expect(() => loadConfig({ ...productionEnv, STRIPE_WEBHOOK_SECRET: DEV_DEFAULTS.stripeWebhookSecret })).toThrow(
      /STRIPE_WEBHOOK_SECRET: the development secret is refused in production/,
    );
  });

  it('takes payments through Stripe and has no AI provider without OPENAI_API_KEY', () => {
    expect(server.config.production).toBe(true);
    expect(server.ai.name).toBe('none');
  });

  it('refuses to build the app with the local test payment provider', () => {
    const local = createPayments({
      stripeSecretKey: null,
      stripeWebhookSecret: WEBHOOK_SECRET,
      webOrigin: WEB_ORIGIN,
      apiPublicUrl: () => server.url,
    });
    expect(local.provider.kind).toBe('local');
    expect(() => createApp({ db: db.pool, ai: instantAI, actionSecret: ACTION_SECRET, production: true, payments: local })).toThrow(
      /local test payment provider cannot run in production/,
    );
  });
});

describe('development routes in production', () => {
  it('the dev sign-in answers 404', async () => {
    const people = await send('/dev/people', { headers: { origin: WEB_ORIGIN } });
    expect(people.status).toBe(404);
    const token = await send('/dev/token', json({ userId: randomUUID(), orgId: randomUUID() }, { origin: WEB_ORIGIN }));
    expect(token.status).toBe(404);
    expect(token.body.extensions?.code).toBe('NOT_FOUND');
  });

  it('the local payment page answers 404', async () => {
    expect((await send('/pay/checkout/cs_local_anything')).status).toBe(404);
    const pay = await send('/pay/checkout/cs_local_anything/pay', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(pay.status).toBe(404);
  });
});

describe('AI in production without a provider', () => {
  it('runPlayground answers AI_PROVIDER_ERROR, holds nothing and writes no text', async () => {
    const org = await createOrg(db.pool, { credits: '50.000' });
    const before = await snapshot(db.pool, org.orgId);
    const res = await send(
      '/actions',
      json(
        envelope(
          'runPlayground',
          { capability: 'summarization', qualityLevel: 'fast', prompt: 'Summarize this.', idempotencyKey: randomUUID() },
          org.session,
        ),
      ),
    );
    expect(res.status).toBe(400);
    expect(res.body.extensions?.code).toBe('AI_PROVIDER_ERROR');
    expect(res.body.message).toMatch(/no AI provider is configured.*OPENAI_API_KEY/);
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });

  it('other services still reserve credits (the ledger needs no AI provider)', async () => {
    const org = await createOrg(db.pool, { credits: '50.000' });
    const res = await send(
      '/actions',
      json(
        envelope(
          'reserveCredits',
          { capability: 'summarization', qualityLevel: 'fast', idempotencyKey: randomUUID() },
          { role: 'service', orgId: org.orgId },
        ),
      ),
    );
    expect(res.status).toBe(200);
  });
});

describe('CORS in production', () => {
  const routes: [string, RequestInit][] = [
    ['/actions', { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST' } }],
    [
      '/actions',
      json(envelope('checkAIAccess', { capability: 'summarization', qualityLevel: 'fast' }, { role: 'service', orgId: randomUUID() })),
    ],
    ['/webhooks/stripe', { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST' } }],
    ['/dev/token', { method: 'OPTIONS', headers: { 'access-control-request-method': 'POST' } }],
    ['/dev/people', {}],
    ['/pay/checkout/cs_local_anything', {}],
    ['/healthz', {}],
  ];
  // The browser calls no route of the api in production (it talks to Hasura; Stripe Checkout
  // returns to the web app), so no origin, not even WEB_ORIGIN, is allowed to read an answer.
  it.each([WEB_ORIGIN, 'http://localhost:5173', 'https://evil.example'])('answers %s without CORS headers on any route', async (origin) => {
    for (const [path, init] of routes) {
      const res = await send(path, { ...init, headers: { ...(init.headers as Record<string, string>), origin } });
      expect(res.headers.get('access-control-allow-origin'), `${init.method ?? 'GET'} ${path}`).toBeNull();
      expect(res.headers.get('access-control-allow-credentials'), `${init.method ?? 'GET'} ${path}`).toBeNull();
      if (init.method === 'OPTIONS') expect(res.status, `OPTIONS ${path}`).not.toBe(204);
    }
  });

  it('in development the web app on WEB_ORIGIN and on local origins may call the dev sign-in', async () => {
    const dev = await start({
      overrides: {
        port: 0,
        host: '127.0.0.1',
        databaseUrl: db.url,
        databasePoolSize: 2,
        actionSecret: ACTION_SECRET,
        production: false,
        webOrigin: WEB_ORIGIN,
      },
      ai: instantAI,
      clock: () => NOW,
    });
    try {
      const preflight = (origin: string) =>
        fetch(`${dev.url}/dev/token`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      for (const origin of [WEB_ORIGIN, 'http://127.0.0.1:5173', 'http://localhost:4173']) {
        const res = await preflight(origin);
        expect(res.status, origin).toBe(204);
        expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      }
      const foreign = await preflight('https://evil.example');
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await dev.stop();
    }
  });
});

describe('oversized bodies', () => {
  const tooLarge = (res: { status: number; body: { message?: string; extensions?: { code?: string } } }) => {
    expect(res.status).toBe(413);
    expect(Object.keys(res.body)).toEqual(['message', 'extensions']);
    expect(res.body.extensions).toEqual({ code: 'PAYLOAD_TOO_LARGE' });
    expect(res.body.message).toMatch(/larger than this route's limit of \d+ bytes/);
  };

  it('an action over 1 MB answers 413 and holds nothing; just under 1 MB it runs', async () => {
    const org = await createOrg(db.pool, { credits: '50.000' });
    const session = { role: 'service', orgId: org.orgId };
    const reserve = (padding: number) =>
      json(
        envelope(
          'reserveCredits',
          { capability: 'summarization', qualityLevel: 'fast', idempotencyKey: randomUUID(), note: 'x'.repeat(padding) },
          session,
        ),
      );
    const before = await snapshot(db.pool, org.orgId);
    tooLarge(await send('/actions', reserve(1024 * 1024)));
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
    expect((await send('/actions', reserve(1000 * 1000))).status).toBe(200);
  });

  it('a Stripe event over 512 KB answers 413 and is not recorded; one under it is', async () => {
    const before = await stripeEventCount();
    const big = signedEvent('product.updated', { id: 'prod_big', object: 'product', description: 'x'.repeat(512 * 1024) });
    tooLarge(
      await send('/webhooks/stripe', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': big.signature },
        body: big.payload,
      }),
    );
    expect(await stripeEventCount()).toBe(before);
    const fits = signedEvent('product.updated', { id: 'prod_fits', object: 'product', description: 'x'.repeat(400 * 1024) });
    const ok = await send('/webhooks/stripe', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': fits.signature },
      body: fits.payload,
    });
    expect(ok.status).toBe(200);
    expect(await stripeEventCount()).toBe(before + 1);
  });

  it('a Stripe event streamed without a Content-Length is cut off at the limit too', async () => {
    const before = await stripeEventCount();
    const big = signedEvent('product.updated', { id: 'prod_streamed', object: 'product', description: 'y'.repeat(600 * 1024) });
    const bytes = new TextEncoder().encode(big.payload);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.slice(i, i + 64 * 1024));
        controller.close();
      },
    });
    const res = await send('/webhooks/stripe', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': big.signature },
      body,
      duplex: 'half',
    } as RequestInit);
    tooLarge(res);
    expect(await stripeEventCount()).toBe(before);
  });

  it('a cron call over 1 MB answers 413 and the job does not run', async () => {
    const org = await createOrg(db.pool, { credits: '50.000' });
    const held = await send(
      '/actions',
      json(
        envelope(
          'reserveCredits',
          { capability: 'summarization', qualityLevel: 'fast', idempotencyKey: randomUUID() },
          { role: 'service', orgId: org.orgId },
        ),
      ),
    );
    expect(held.status).toBe(200);
    const openHolds = async () =>
      Number(
        (
          await db.pool.query("select count(*) as n from public.credit_reservations where organization_id = $1 and status = 'open'", [
            org.orgId,
          ])
        ).rows[0].n,
      );
    const later = new Date(NOW.getTime() + 24 * 3600 * 1000).toISOString();
    const cron = (padding: number) =>
      json({ name: 'expire_reservations', scheduled_time: later, id: randomUUID(), payload: { note: 'x'.repeat(padding) } });
    tooLarge(await send('/cron/expire_reservations', cron(1024 * 1024)));
    expect(await openHolds()).toBe(1);
    expect((await send('/cron/expire_reservations', cron(10))).status).toBe(200);
    expect(await openHolds()).toBe(0);
  });

  it('an event trigger call over 1 MB answers 413', async () => {
    const attempts = async () => Number((await db.pool.query('select count(*) as n from public.auto_topup_attempts')).rows[0].n);
    const before = await attempts();
    const res = await send(
      '/events/auto_topup_check',
      json({
        id: randomUUID(),
        trigger: { name: 'auto_topup_check' },
        event: {
          op: 'INSERT',
          data: { old: null, new: { id: 1, organization_id: randomUUID(), note: 'x'.repeat(1024 * 1024) } },
        },
      }),
    );
    tooLarge(res);
    expect(await attempts()).toBe(before);
  });

  it('the secret is checked first: an oversized request without it is 401', async () => {
    const res = await send('/actions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(2 * 1024 * 1024),
    });
    expect(res.status).toBe(401);
  });
});

describe('bodies the api cannot read', () => {
  it('a Stripe event in an unknown Content-Encoding answers 415 UNSUPPORTED_MEDIA_TYPE, not a 500, and is not recorded', async () => {
    const before = await stripeEventCount();
    const event = signedEvent('product.updated', { id: 'prod_encoded', object: 'product' });
    const res = await send('/webhooks/stripe', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'bogus', 'stripe-signature': event.signature },
      body: event.payload,
    });
    expect(res.status).toBe(415);
    expect(res.body.extensions?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await stripeEventCount()).toBe(before);
  });

  it('an action in a charset other than UTF-8 answers 415 too', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const body = envelope('checkAIAccess', { capability: 'summarization', qualityLevel: 'fast' }, { role: 'service', orgId: org.orgId });
    const res = await send('/actions', json(body, { 'content-type': 'application/json; charset=latin1' }));
    expect(res.status).toBe(415);
    expect(res.body.extensions?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});
