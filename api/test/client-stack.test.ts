// The client against the whole stack (client → engine → a proxy → api → SQL): what a backend
// service using withCredits is charged when answers go wrong between Hasura and the api, when its
// usage is refused, when a key is replayed late, and with a service token.
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CreditsClient,
  CreditsError,
  CreditsTransportError,
  createCreditsClient,
  createGraphQLTransport,
  type GraphQLAuth,
} from '../../client/src/index.ts';
import { configFromEnv, createEngine } from '../../engine/src/index.ts';
import { metadataWithoutCron } from '../../hasura/test/metadata-without-cron.ts';
import { ACTION_SECRET, available, createOrg, NOW, startApi } from './helpers.ts';

const ADMIN_SECRET = 'client-stack-admin-secret';
const JWT_KEY = 'audit-jwt-key-at-least-thirty-two-characters-long';

let now = NOW;
const db = await useTestDatabase();
const METADATA_DIR = metadataWithoutCron();
const { server: api } = await startApi(db, {
  clock: () => now,
  overrides: { stripeSecretKey: null, webOrigin: 'http://web.test', publicApiUrl: null },
});

// A proxy between the engine and the api (as a load balancer / ingress would be).
type Intercept = (action: string) => 'forward' | { before: number } | { after: number };
let intercept: Intercept = () => 'forward';
const proxied: string[] = [];
const proxy = createServer(async (req: IncomingMessage, res: ServerResponse) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  const action = (JSON.parse(body) as { action: { name: string } }).action.name;
  proxied.push(action);
  const rule = intercept(action);
  if (typeof rule === 'object' && 'before' in rule) {
    if (rule.before === 500) {
      // what the api itself answers on an unexpected error (errorMiddleware)
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"internal error","extensions":{"code":"INTERNAL_ERROR"}}');
      return;
    }
    res.writeHead(rule.before, { 'content-type': 'text/html' }).end('<html>503 Service Unavailable</html>');
    return;
  }
  const answer = await fetch(`${api.url}${req.url}`, {
    method: 'POST',
    headers: Object.fromEntries(
      Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k)),
    ) as Record<string, string>,
    body,
  });
  const text = await answer.text();
  if (typeof rule === 'object' && 'after' in rule) {
    res.writeHead(rule.after, { 'content-type': 'text/html' }).end('<html>504 Gateway Timeout</html>');
    return;
  }
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
});
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

const engine = await createEngine(
  configFromEnv(
    {
      HASURA_GRAPHQL_DATABASE_URL: db.url,
      HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: JWT_KEY }),
      HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
      ORG_CREDITS_ENGINE_METADATA_DIR: METADATA_DIR,
      ACTIONS_BASE_URL: proxyUrl,
      ACTION_SECRET,
    },
    process.cwd(),
  ),
  { log: () => undefined, poolSize: 8 },
);
await engine.listen(0, '127.0.0.1');
afterAll(async () => {
  await engine.close();
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await api.stop();
});

const gqlUrl = `${engine.url}/v1/graphql`;
/** Every GraphQL operation the client sent, and what it got. */
const sent: { op: string; status: number; body: string }[] = [];
type Fetch = typeof fetch;
let fetchHook: ((op: string, attempt: number, real: () => Promise<Response>) => Promise<Response>) | null = null;
const recordingFetch: Fetch = async (input, init) => {
  const op = /(reserveCredits|settleCredits|releaseCredits)\(/.exec(JSON.parse(String(init?.body)).query)?.[1] ?? '?';
  const attempt = sent.filter((s) => s.op === op).length;
  const real = async () => {
    const r = await fetch(input, init);
    const text = await r.text();
    sent.push({ op, status: r.status, body: text });
    return new Response(text, { status: r.status, headers: r.headers });
  };
  if (fetchHook) return fetchHook(op, attempt, real);
  return real();
};

function serviceToken(orgId: string, expSeconds = 3600): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  // Exactly the claims of docs/graphql-api.md "A service token has no user id".
  const payload = {
    sub: 'service:summarizer',
    exp: Math.floor(Date.now() / 1000) + expSeconds,
    'https://hasura.io/jwt/claims': {
      'x-hasura-org-id': orgId,
      'x-hasura-default-role': 'service',
      'x-hasura-allowed-roles': ['service'],
    },
  };
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${unsigned}.${createHmac('sha256', JWT_KEY).update(unsigned).digest('base64url')}`;
}

const client = (auth: GraphQLAuth = { adminSecret: ADMIN_SECRET }): CreditsClient =>
  createCreditsClient({ transport: createGraphQLTransport({ url: gqlUrl, auth, fetch: recordingFetch }), sleep: async () => undefined });

async function reservation(id: string) {
  const { rows } = await db.pool.query(
    'select status, amount_credits::text as held, settled_amount_credits::text as charged, capped, expires_at from public.credit_reservations where id = $1',
    [id],
  );
  return rows[0];
}
async function consumed(orgId: string): Promise<string> {
  const { rows } = await db.pool.query(
    "select coalesce(-sum(amount_credits), 0)::text as c from public.credit_ledger_entries where organization_id = $1 and entry_type = 'consume'",
    [orgId],
  );
  return rows[0].c;
}
const minutes = (m: number) => new Date(NOW.getTime() + m * 60_000);
const capture = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

beforeEach(() => {
  now = NOW;
  sent.length = 0;
  proxied.length = 0;
  intercept = () => 'forward';
  fetchHook = null;
});

const QS = { capability: 'summarization', qualityLevel: 'fast' } as const;
const USAGE = { inputTokens: 2000, outputTokens: 800 };

describe('a settle Hasura gets no usable answer for', () => {
  it.each([
    ['a proxy answers an HTML 503', 503],
    ['the api answers its own 500', 500],
  ])('is retried with the same usage when %s: charged once, never released', async (_why, status) => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    let settles = 0;
    intercept = (action) => (action === 'settleCredits' && ++settles === 1 ? { before: status } : 'forward');
    const out = await client().withCredits({ orgId: org.orgId, ...QS }, async () => ({ usage: USAGE }));
    expect(sent.filter((s) => s.op === 'settleCredits')).toHaveLength(2);
    expect(sent.filter((s) => s.op === 'releaseCredits')).toHaveLength(0);
    expect((await reservation(out.hold.reservationId)).status).toBe('settled');
    expect(await consumed(org.orgId)).toBe(out.settlement.chargedCredits);
    expect(Number(out.settlement.chargedCredits)).toBeGreaterThan(0);
  });

  it('is retried after a 504 that came after the api settled: the same settlement, charged once', async () => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    let settles = 0;
    intercept = (action) => (action === 'settleCredits' && ++settles === 1 ? { after: 504 } : 'forward');
    const key = `job-${randomUUID()}`;
    const out = await client().withCredits({ orgId: org.orgId, ...QS, idempotencyKey: key }, async () => ({ usage: USAGE }));
    expect(await consumed(org.orgId)).toBe(out.settlement.chargedCredits);
    // The key again: refused, and the error says the call was charged (do not run it again).
    const again = await capture(client().withCredits({ orgId: org.orgId, ...QS, idempotencyKey: key }, async () => ({ usage: USAGE })));
    expect(again).toBeInstanceOf(CreditsError);
    expect(again).toMatchObject({ code: 'RESERVATION_ALREADY_RESOLVED', status: 'settled', reservationId: out.hold.reservationId });
  });

  it('a reserve answered by a proxy 503 is retried with the same key', async () => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    let reserves = 0;
    intercept = (action) => (action === 'reserveCredits' && ++reserves === 1 ? { before: 503 } : 'forward');
    const out = await client().withCredits({ orgId: org.orgId, ...QS }, async () => ({ usage: USAGE }));
    expect(sent.filter((s) => s.op === 'reserveCredits')).toHaveLength(2);
    expect(await consumed(org.orgId)).toBe(out.settlement.chargedCredits);
  });
});

describe('a usage the server refuses after the call ran', () => {
  it.each([
    [{ outputTokens: 800 }, 'INVALID_INPUT'],
    [{ inputTokens: 20_000_000, outputTokens: 800 }, 'INVALID_INPUT'],
    // Refused by Hasura's own parser before the api sees them (not an Int): before, the hold was
    // left open and expired uncharged.
    [{ inputTokens: 2000.5, outputTokens: 10 }, 'parse-failed'],
    [{ inputTokens: 3_000_000_000, outputTokens: 10 }, 'parse-failed'],
  ])('charges the hold (%j) and rethrows the refusal (%s) with the charge and the result', async (usage, code) => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    let reservationId = '';
    const error = await capture(
      client().withCredits({ orgId: org.orgId, ...QS }, async (hold) => {
        reservationId = hold.reservationId;
        return { usage, result: 'an answer' };
      }),
    );
    expect(error).toMatchObject({ code, reservationId, result: 'an answer' });
    const row = await reservation(reservationId);
    expect(row.status).toBe('settled');
    expect(row.charged).toBe(row.held);
    expect((error as CreditsError).settlement?.chargedCredits).toBe(row.held);
    expect(await consumed(org.orgId)).toBe(row.held);
  });

  it('settleCredits(usage: { holdAmount: true }) charges the hold, answers the same when sent again, and takes no counts with it', async () => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    const c = client();
    const hold = await c.reserve({ orgId: org.orgId, ...QS, idempotencyKey: `job-${randomUUID()}` });
    const refused = await capture(c.settle(org.orgId, hold.reservationId, { holdAmount: true, inputTokens: 1, outputTokens: 1 }));
    expect(refused).toMatchObject({ code: 'INVALID_INPUT' });
    const first = await c.settle(org.orgId, hold.reservationId, { holdAmount: true });
    expect(first).toMatchObject({ chargedCredits: hold.amountCredits, releasedCredits: '0.000', capped: false });
    expect(await c.settle(org.orgId, hold.reservationId, { holdAmount: true })).toMatchObject({ chargedCredits: hold.amountCredits });
    expect(await consumed(org.orgId)).toBe(hold.amountCredits);
  });
});

describe('one idempotency key used by two calls at once', () => {
  it("the one whose function fails leaves the other's hold alone: the call that ran is charged", async () => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    const key = `job-${randomUUID()}`;
    let releaseFirst: () => void = () => undefined;
    const firstMayFinish = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let reserved: () => void = () => undefined;
    const firstReserved = new Promise<void>((resolve) => {
      reserved = resolve;
    });
    const first = client().withCredits({ orgId: org.orgId, ...QS, idempotencyKey: key }, async (hold) => {
      expect(hold.replayed).toBe(false);
      reserved();
      await firstMayFinish;
      return { usage: USAGE };
    });
    await firstReserved;
    const second = await capture(
      client().withCredits({ orgId: org.orgId, ...QS, idempotencyKey: key }, async (hold) => {
        expect(hold.replayed).toBe(true);
        throw new Error('the model is down');
      }),
    );
    expect(second).toMatchObject({ message: 'the model is down' });
    releaseFirst();
    const done = await first;
    expect(await reservation(done.hold.reservationId)).toMatchObject({ status: 'settled', charged: done.settlement.chargedCredits });
    expect(await consumed(org.orgId)).toBe(done.settlement.chargedCredits);
  });
});

describe("the hold's life", () => {
  it('ttlSeconds sets it', async () => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    const out = await client().withCredits({ orgId: org.orgId, ...QS, ttlSeconds: 3600 }, async (hold) => {
      expect(hold.expiresInSeconds).toBe(3600);
      return { usage: USAGE };
    });
    expect((await reservation(out.hold.reservationId)).expires_at.toISOString()).toBe(minutes(60).toISOString());
    const refused = await capture(client().reserve({ orgId: org.orgId, ...QS, idempotencyKey: `job-${randomUUID()}`, ttlSeconds: 86_401 }));
    expect(refused).toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('a replayed key whose hold has seconds left does not run the call', async () => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    const c = client();
    const key = `job-${randomUUID()}`;
    await c.reserve({ orgId: org.orgId, ...QS, idempotencyKey: key });
    now = new Date(NOW.getTime() + 9 * 60_000 + 50_000);
    let ran = false;
    const error = await capture(
      c.withCredits({ orgId: org.orgId, ...QS, idempotencyKey: key }, async () => {
        ran = true;
        return { usage: USAGE };
      }),
    );
    expect(ran).toBe(false);
    expect(error).toMatchObject({ code: 'HOLD_EXPIRING' });
  });

  it('a settle never answered: the error says what to settle, and settling it later charges the call', async () => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    let down = true;
    fetchHook = async (op, _attempt, real) => {
      if (op === 'settleCredits' && down) throw new TypeError('fetch failed');
      return real();
    };
    const error = await capture(client().withCredits({ orgId: org.orgId, ...QS }, async () => ({ usage: USAGE, result: 'answer' })));
    expect(error).toBeInstanceOf(CreditsTransportError);
    const lost = error as CreditsTransportError;
    expect(lost).toMatchObject({ usage: USAGE, result: 'answer' });
    expect(lost.expiresAt).toBe(minutes(10).toISOString());
    expect((await reservation(lost.reservationId!)).status).toBe('open');
    down = false;
    const later = await client().settle(org.orgId, lost.reservationId!, lost.usage!);
    expect(await consumed(org.orgId)).toBe(later.chargedCredits);
  });
});

describe('a service token', () => {
  it('for org A used for org B is refused, nothing held or charged', async () => {
    const a = await createOrg(db.pool, { credits: '100.000' });
    const b = await createOrg(db.pool, { credits: '100.000' });
    let ran = false;
    const error = await capture(
      client({ serviceToken: serviceToken(a.orgId) }).withCredits({ orgId: b.orgId, ...QS }, async () => {
        ran = true;
        return { usage: USAGE };
      }),
    );
    expect(ran).toBe(false);
    expect(error).toMatchObject({ code: 'FORBIDDEN' });
    expect(await available(db.pool, a.orgId, NOW)).toBe('100.000');
    const { rows } = await db.pool.query('select count(*)::int as n from public.credit_reservations where organization_id = $1', [a.orgId]);
    expect(rows[0].n).toBe(0);
  });

  it('from a function is asked for again when it has expired, and a "Bearer " prefix is dropped', async () => {
    const org = await createOrg(db.pool, { credits: '100.000' });
    const tokens = [`Bearer ${serviceToken(org.orgId, -60)}`, `Bearer ${serviceToken(org.orgId)}`];
    let asked = 0;
    const out = await client({ serviceToken: async () => tokens[Math.min(asked++, 1)]! }).withCredits(
      { orgId: org.orgId, ...QS },
      async () => ({ usage: USAGE }),
    );
    expect(asked).toBe(2);
    expect(await consumed(org.orgId)).toBe(out.settlement.chargedCredits);
  });
});
