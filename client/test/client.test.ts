// The client over real HTTP against a stand-in for Hasura's /v1/graphql (the outer edge of this
// package): what it sends, how it reads answers and errors, and withCredits' reserve → run →
// settle, release on failure, and retries with one idempotency key.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { CreditsError, CreditsTransportError, createCreditsClient, createGraphQLTransport, type GraphQLAuth } from '../src/index.ts';

interface Seen {
  headers: Record<string, string | string[] | undefined>;
  operation: string;
  variables: Record<string, unknown>;
}

const ORG = '0a000000-0000-4000-8000-000000000001';
const seen: Seen[] = [];
/** What the stand-in answers next, per operation; a function may drop the connection. */
let answers: Record<string, (seen: Seen) => { status: number; body: unknown } | 'drop'> = {};

const server = createServer(async (req, res) => {
  let text = '';
  for await (const chunk of req) text += chunk;
  const { query, variables } = JSON.parse(text) as { query: string; variables: Record<string, unknown> };
  const operation = /(reserveCredits|settleCredits|releaseCredits)\(/.exec(query)?.[1] ?? 'unknown';
  const entry = { headers: req.headers, operation, variables };
  seen.push(entry);
  const answer = answers[operation]?.(entry) ?? { status: 200, body: { errors: [{ message: 'not expected' }] } };
  if (answer === 'drop') {
    req.socket.destroy();
    return;
  }
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/graphql`;

const reserved = {
  reservationId: 'r-1',
  amountCredits: '0.114',
  expiresAt: '2026-11-22T10:25:00.000Z',
  modelId: 'openai/gpt-4.1-nano',
  availableCredits: '9.886',
};
const settled = { reservationId: 'r-1', chargedCredits: '0.105', releasedCredits: '0.009', capped: false, availableCredits: '9.895' };
const released = { reservationId: 'r-1', releasedCredits: '0.114', availableCredits: '10.000' };
const ok = (field: string, data: unknown) => () => ({ status: 200, body: { data: { [field]: data } } });

const waits: number[] = [];
const client = (auth: GraphQLAuth = { adminSecret: 'admin-secret' }) =>
  createCreditsClient({
    transport: createGraphQLTransport({ url, auth }),
    sleep: async (ms) => {
      waits.push(ms);
    },
  });

beforeEach(() => {
  seen.length = 0;
  waits.length = 0;
  answers = {};
});

describe('withCredits', () => {
  it('reserves with the admin secret as the service role of the org, runs the call, and settles with its usage', async () => {
    answers = { reserveCredits: ok('reserveCredits', reserved), settleCredits: ok('settleCredits', settled) };
    const result = await client().withCredits(
      { orgId: ORG, capability: 'question_suggestions', qualityLevel: 'fast', estimate: { inputTokens: 400 } },
      async (hold) => {
        expect(hold.modelId).toBe('openai/gpt-4.1-nano');
        return { usage: { inputTokens: 350, outputTokens: 120 }, result: 'three questions' };
      },
    );
    expect(result).toMatchObject({ result: 'three questions', settlement: settled, hold: reserved });
    expect(seen.map((s) => s.operation)).toEqual(['reserveCredits', 'settleCredits']);
    expect(seen[0]!.headers).toMatchObject({ 'x-hasura-admin-secret': 'admin-secret', 'x-hasura-role': 'service', 'x-hasura-org-id': ORG });
    expect(seen[0]!.variables).toMatchObject({
      capability: 'question_suggestions',
      qualityLevel: 'fast',
      inputTokens: 400,
      estimatedCredits: null,
    });
    expect(seen[0]!.variables.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[1]!.variables).toEqual({ reservationId: 'r-1', usage: { inputTokens: 350, outputTokens: 120 } });
  });

  it('sends a service token as a bearer token instead of the admin secret', async () => {
    answers = { reserveCredits: ok('reserveCredits', reserved), settleCredits: ok('settleCredits', settled) };
    await client({ serviceToken: 'eyJ.service.token' }).withCredits(
      { orgId: ORG, capability: 'question_suggestions', qualityLevel: 'fast' },
      async () => ({ usage: { inputTokens: 1, outputTokens: 1 } }),
    );
    expect(seen[0]!.headers.authorization).toBe('Bearer eyJ.service.token');
    expect(seen[0]!.headers['x-hasura-admin-secret']).toBeUndefined();
  });

  it('releases the hold when the call throws, and rethrows the call error', async () => {
    answers = { reserveCredits: ok('reserveCredits', reserved), releaseCredits: ok('releaseCredits', released) };
    const failure = new Error('model timed out');
    const error = await client()
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => {
        throw failure;
      })
      .catch((e: unknown) => e);
    expect(error).toBe(failure);
    expect(seen.map((s) => s.operation)).toEqual(['reserveCredits', 'releaseCredits']);
    expect(seen[1]!.variables).toEqual({ reservationId: 'r-1', reason: 'the call failed: model timed out' });
  });

  it('retries a reserve whose answer was lost with the same idempotency key', async () => {
    let attempts = 0;
    answers = {
      reserveCredits: () => (++attempts < 3 ? 'drop' : { status: 200, body: { data: { reserveCredits: reserved } } }),
      settleCredits: ok('settleCredits', settled),
    };
    await client().withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast', idempotencyKey: 'job-42' }, async () => ({
      usage: { inputTokens: 1, outputTokens: 1 },
    }));
    const keys = seen.filter((s) => s.operation === 'reserveCredits').map((s) => s.variables.idempotencyKey);
    expect(keys).toEqual(['job-42', 'job-42', 'job-42']);
    expect(waits).toEqual([100, 400]);
  });

  it('retries a reserve that Hasura could not deliver to the action ("http exception when calling webhook"), with the same key', async () => {
    let attempts = 0;
    const webhookFailed = {
      status: 200,
      body: {
        errors: [
          {
            message: 'http exception when calling webhook',
            extensions: { code: 'unexpected', path: '$', internal: { type: 'http_exception', message: 'Response timeout' } },
          },
        ],
      },
    };
    answers = {
      reserveCredits: () => (++attempts === 1 ? webhookFailed : { status: 200, body: { data: { reserveCredits: reserved } } }),
      settleCredits: ok('settleCredits', settled),
    };
    let runs = 0;
    await client().withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast', idempotencyKey: 'job-7' }, async () => {
      runs++;
      return { usage: { inputTokens: 1, outputTokens: 1 } };
    });
    expect(runs).toBe(1);
    expect(seen.filter((s) => s.operation === 'reserveCredits').map((s) => s.variables.idempotencyKey)).toEqual(['job-7', 'job-7']);
  });

  it('charges the hold when the settle is refused for its usage after the call ran, and rethrows the refusal with the charge and the result', async () => {
    answers = {
      reserveCredits: ok('reserveCredits', reserved),
      settleCredits: (entry) =>
        (entry.variables.usage as { holdAmount?: boolean }).holdAmount
          ? { status: 200, body: { data: { settleCredits: { ...settled, chargedCredits: '0.114', releasedCredits: '0.000' } } } }
          : {
              status: 200,
              body: { errors: [{ message: 'usage.inputTokens: must not be negative', extensions: { code: 'INVALID_INPUT', path: '$' } }] },
            },
      releaseCredits: ok('releaseCredits', released),
    };
    const error = await client()
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => ({
        usage: { inputTokens: -1, outputTokens: 1 },
        result: 'the answer',
      }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CreditsError);
    expect(error).toMatchObject({
      code: 'INVALID_INPUT',
      reservationId: 'r-1',
      expiresAt: reserved.expiresAt,
      usage: { inputTokens: -1, outputTokens: 1 },
      result: 'the answer',
      settlement: { chargedCredits: '0.114' },
    });
    // Never released: the call ran.
    expect(seen.map((s) => s.operation)).toEqual(['reserveCredits', 'settleCredits', 'settleCredits']);
    expect(seen[2]!.variables).toEqual({ reservationId: 'r-1', usage: { holdAmount: true } });
  });

  it('reads the status and reservation of RESERVATION_ALREADY_RESOLVED from its extensions', async () => {
    answers = {
      reserveCredits: () => ({
        status: 200,
        body: {
          errors: [
            {
              message: 'idempotency key job-1 belongs to reservation r-0, which is already settled',
              extensions: { code: 'RESERVATION_ALREADY_RESOLVED', reservation_id: 'r-0', status: 'settled', path: '$' },
            },
          ],
        },
      }),
    };
    const error = await client()
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast', idempotencyKey: 'job-1' }, async () => ({ usage: {} }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CreditsError);
    expect(error).toMatchObject({ code: 'RESERVATION_ALREADY_RESOLVED', reservationId: 'r-0', status: 'settled' });
  });

  it.each([
    ['a proxy in front of the action answered a non-JSON 503', 'not a valid json response from webhook'],
    ['the action answered its own 500', 'internal error'],
    ['the action did not answer', 'http exception when calling webhook'],
  ])('retries a settle when Hasura got no usable answer (%s), charges once and never releases', async (_why, message) => {
    let attempts = 0;
    answers = {
      reserveCredits: ok('reserveCredits', reserved),
      settleCredits: () =>
        ++attempts === 1
          ? { status: 200, body: { errors: [{ message, extensions: { code: 'unexpected', path: '$' } }] } }
          : { status: 200, body: { data: { settleCredits: settled } } },
      releaseCredits: ok('releaseCredits', released),
    };
    const result = await client().withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => ({
      usage: { inputTokens: 1, outputTokens: 1 },
    }));
    expect(result.settlement).toEqual(settled);
    expect(seen.map((s) => s.operation)).toEqual(['reserveCredits', 'settleCredits', 'settleCredits']);
  });

  it('retries a reserve that Hasura answered `unexpected` for a non-JSON 503 from a proxy', async () => {
    let attempts = 0;
    answers = {
      reserveCredits: () =>
        ++attempts === 1
          ? {
              status: 200,
              body: { errors: [{ message: 'not a valid json response from webhook', extensions: { code: 'unexpected', path: '$' } }] },
            }
          : { status: 200, body: { data: { reserveCredits: reserved } } },
      settleCredits: ok('settleCredits', settled),
    };
    await client().withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => ({
      usage: { inputTokens: 1, outputTokens: 1 },
    }));
    expect(seen.map((s) => s.operation)).toEqual(['reserveCredits', 'reserveCredits', 'settleCredits']);
  });

  it('keeps retrying an unanswered settle for up to a minute, then throws a transport error that says what to settle later', async () => {
    answers = { reserveCredits: ok('reserveCredits', { ...reserved, expiresInSeconds: 600 }), settleCredits: () => 'drop' };
    const error = await client()
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => ({
        usage: { inputTokens: 5, outputTokens: 7 },
        result: 'the answer',
      }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CreditsTransportError);
    expect(error).toMatchObject({
      reservationId: 'r-1',
      expiresAt: reserved.expiresAt,
      usage: { inputTokens: 5, outputTokens: 7 },
      result: 'the answer',
    });
    const total = waits.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(30_000);
    expect(total).toBeLessThanOrEqual(60_000);
    expect(seen.filter((s) => s.operation === 'releaseCredits')).toHaveLength(0);
  });

  it('bounds the settle retries by half the life the hold has left', async () => {
    answers = { reserveCredits: ok('reserveCredits', { ...reserved, expiresInSeconds: 20 }), settleCredits: () => 'drop' };
    await client()
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast', minHoldSeconds: 10 }, async () => ({
        usage: { inputTokens: 5, outputTokens: 7 },
      }))
      .catch((e: unknown) => e);
    expect(waits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(10_000);
  });

  it('sends ttlSeconds and the org with the reserve', async () => {
    answers = { reserveCredits: ok('reserveCredits', reserved), settleCredits: ok('settleCredits', settled) };
    await client().withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast', ttlSeconds: 3600 }, async () => ({
      usage: { inputTokens: 1, outputTokens: 1 },
    }));
    expect(seen[0]!.variables).toMatchObject({ ttlSeconds: 3600, organizationId: ORG });
  });

  it('does not run the call on a hold about to expire (a replayed key), and leaves the hold alone', async () => {
    answers = { reserveCredits: ok('reserveCredits', { ...reserved, expiresInSeconds: 10 }) };
    let ran = false;
    const error = await client()
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast', idempotencyKey: 'job-9' }, async () => {
        ran = true;
        return { usage: {} };
      })
      .catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(error).toMatchObject({ code: 'HOLD_EXPIRING', reservationId: 'r-1', expiresAt: reserved.expiresAt });
    expect(seen.map((s) => s.operation)).toEqual(['reserveCredits']);
  });

  it('asks a token function again when Hasura answers invalid-jwt, and sends the request once more', async () => {
    let settles = 0;
    answers = {
      reserveCredits: ok('reserveCredits', reserved),
      settleCredits: (entry) =>
        ++settles === 1 || entry.headers.authorization !== 'Bearer token-2'
          ? {
              status: 200,
              body: { errors: [{ message: 'Could not verify JWT: JWTExpired', extensions: { code: 'invalid-jwt', path: '$' } }] },
            }
          : { status: 200, body: { data: { settleCredits: settled } } },
    };
    let issued = 0;
    const result = await client({ serviceToken: async () => `Bearer token-${++issued}` }).withCredits(
      { orgId: ORG, capability: 'summarization', qualityLevel: 'fast' },
      async () => ({ usage: { inputTokens: 1, outputTokens: 1 } }),
    );
    expect(result.settlement).toEqual(settled);
    expect(seen.map((s) => s.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-1', 'Bearer token-2']);
    expect(issued).toBe(2);
  });

  it('refreshes a token only once per request: a second invalid-jwt is the error', async () => {
    answers = {
      reserveCredits: () => ({
        status: 200,
        body: { errors: [{ message: 'Could not verify JWT: JWTExpired', extensions: { code: 'invalid-jwt', path: '$' } }] },
      }),
    };
    const error = await client({ serviceToken: () => 'tok' })
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => ({ usage: {} }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'invalid-jwt' });
    expect(seen).toHaveLength(2);
  });

  it('leaves the hold alone when the settle finds it already resolved', async () => {
    answers = {
      reserveCredits: ok('reserveCredits', reserved),
      settleCredits: () => ({
        status: 200,
        body: {
          errors: [{ message: 'reservation r-1 is already settled', extensions: { code: 'RESERVATION_ALREADY_RESOLVED', path: '$' } }],
        },
      }),
    };
    const error = await client()
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => ({
        usage: { inputTokens: 1, outputTokens: 1 },
      }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'RESERVATION_ALREADY_RESOLVED' });
    expect(seen.map((s) => s.operation)).toEqual(['reserveCredits', 'settleCredits']);
  });

  it('retries a settle after an HTTP 5xx, and the call runs once', async () => {
    let attempts = 0;
    let runs = 0;
    answers = {
      reserveCredits: ok('reserveCredits', reserved),
      settleCredits: () => (++attempts === 1 ? { status: 502, body: {} } : { status: 200, body: { data: { settleCredits: settled } } }),
    };
    await client().withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => {
      runs++;
      return { usage: { inputTokens: 1, outputTokens: 1 } };
    });
    expect(runs).toBe(1);
    expect(seen.map((s) => s.operation)).toEqual(['reserveCredits', 'settleCredits', 'settleCredits']);
  });

  it('gives up after the retries, with a transport error', async () => {
    answers = { reserveCredits: () => 'drop' };
    const error = await client()
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => ({ usage: {} }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CreditsTransportError);
    expect(seen).toHaveLength(4);
    // The key every attempt sent, so that a retry finds the hold a lost answer may have made.
    const key = seen[0]!.variables.idempotencyKey;
    expect(typeof key).toBe('string');
    expect(seen.every((s) => s.variables.idempotencyKey === key)).toBe(true);
    expect((error as CreditsTransportError).idempotencyKey).toBe(key);
    expect((error as CreditsTransportError).reservationId).toBeUndefined();
  });

  it('does not retry a refusal, does not run the call, and surfaces the code and what to do', async () => {
    answers = {
      reserveCredits: () => ({
        status: 200,
        body: {
          data: null,
          errors: [
            {
              message: 'org has 0.050 credits available',
              extensions: { code: 'RATE_LIMITED', action: 'wait', retry_after_seconds: 120, path: '$' },
            },
          ],
        },
      }),
    };
    let ran = false;
    const error = await client()
      .withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => {
        ran = true;
        return { usage: {} };
      })
      .catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(seen).toHaveLength(1);
    expect(error).toBeInstanceOf(CreditsError);
    expect(error).toMatchObject({
      code: 'RATE_LIMITED',
      action: 'wait',
      retryAfterSeconds: 120,
      message: 'org has 0.050 credits available',
    });
  });

  it('keeps amounts that arrive as JSON numbers as the decimal strings they print as', async () => {
    answers = {
      reserveCredits: ok('reserveCredits', { ...reserved, amountCredits: 0.114, availableCredits: 9.886 }),
      settleCredits: ok('settleCredits', settled),
    };
    const { hold } = await client().withCredits({ orgId: ORG, capability: 'summarization', qualityLevel: 'fast' }, async () => ({
      usage: { inputTokens: 1, outputTokens: 1 },
    }));
    expect(hold.amountCredits).toBe('0.114');
    expect(hold.availableCredits).toBe('9.886');
  });
});
