// reserveCredits over real HTTP, as Hasura calls it, against a real Postgres.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { ACTION_SECRET, available, createOrg, envelope, NOW, snapshot, startApi } from './helpers.ts';

const db = await useTestDatabase();
/** The api's clock: NOW, unless a test moves it (and puts it back). */
let now = NOW;
const api = await startApi(db, { clock: () => now });

/** Runs `work` with the api's clock at `at`, then puts it back to NOW. */
async function atTime<T>(at: Date, work: () => Promise<T>): Promise<T> {
  now = at;
  try {
    return await work();
  } finally {
    now = NOW;
  }
}

const reserve = (session: object, input: Record<string, unknown>) =>
  api.action(
    'reserveCredits',
    { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: randomUUID(), ...input },
    session,
  );

describe('reserveCredits', () => {
  it('holds the estimate maximum for the input, computed on the server, and answers the reservation', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    // pro, question_suggestions at fast = gpt-4.1-nano (0.005 in / 0.020 out per 1k), base 0.100:
    // 400 typical input tokens and the 600-token maximum answer → 0.100 + 0.002 + 0.012 = 0.114.
    const res = await reserve(org.session, {});
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ amountCredits: '0.114', modelId: 'openai/gpt-4.1-nano', availableCredits: '9.886' });
    expect(new Date(res.body.expiresAt).getTime()).toBe(NOW.getTime() + 600_000);
    const { rows } = await db.pool.query('select * from public.credit_reservations where id = $1', [res.body.reservationId]);
    expect(rows[0]).toMatchObject({
      organization_id: org.orgId,
      user_id: org.userId,
      status: 'open',
      amount_credits: '0.114',
      capability_code: 'question_suggestions',
      quality_level_code: 'fast',
      model_id: 'openai/gpt-4.1-nano',
      pricing: {
        pricing_mode: 'per_token',
        model_id: 'openai/gpt-4.1-nano',
        base_cost_credits: '0.100',
        input_credits_per_1k_tokens: '0.005000',
        output_credits_per_1k_tokens: '0.020000',
      },
    });
  });

  it('sizes the hold from the given input tokens', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    // 2,000 input tokens: 0.100 + 0.010 + 0.012 = 0.122.
    const res = await reserve(org.session, { inputTokens: 2000 });
    expect(res.body.amountCredits).toBe('0.122');
  });

  it('raises the hold to a larger client estimate, and never lowers it for a smaller one', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const larger = await reserve(org.session, { estimatedCredits: '1.5' });
    expect(larger.body.amountCredits).toBe('1.500');
    const smaller = await reserve(org.session, { estimatedCredits: '0.001' });
    expect(smaller.body.amountCredits).toBe('0.114');
    expect(await available(db.pool, org.orgId)).toBe('8.386');
  });

  it('holds the one exact price of a per-call capability', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const res = await api.action(
      'reserveCredits',
      { capability: 'image_captioning', qualityLevel: 'enhanced', idempotencyKey: 'caption-1' },
      org.session,
    );
    expect(res.body).toMatchObject({ amountCredits: '2.000', modelId: 'openai/gpt-4.1-mini', availableCredits: '8.000' });
  });

  it('takes the org from the session only: an org id in the input is ignored', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const other = await createOrg(db.pool, { credits: '10.000' });
    const before = await snapshot(db.pool, other.orgId);
    const res = await reserve(org.session, { orgId: other.orgId, organization_id: other.orgId });
    expect(res.status).toBe(200);
    expect(await available(db.pool, org.orgId)).toBe('9.886');
    expect(await snapshot(db.pool, other.orgId)).toEqual(before);
  });

  it('refuses a key whose reservation is already released: its call is over (RESERVATION_ALREADY_RESOLVED)', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const input = { capability: 'summarization', qualityLevel: 'enhanced', idempotencyKey: randomUUID() };
    const first = await api.action('reserveCredits', input, org.session);
    expect(first.status).toBe(200);
    const released = await api.action(
      'releaseCredits',
      { reservationId: first.body.reservationId, reason: 'the call failed' },
      org.session,
    );
    expect(released.status).toBe(200);
    const before = await snapshot(db.pool, org.orgId);
    const again = await api.action('reserveCredits', input, org.session);
    expect(again.status).toBe(409);
    expect(again.body.extensions.code).toBe('RESERVATION_ALREADY_RESOLVED');
    expect(again.body.message).toBe(
      `idempotency key ${input.idempotencyKey} belongs to reservation ${first.body.reservationId}, which is already released: a new AI call needs a new key`,
    );
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });

  it('refuses a key whose hold has expired, before any job ran: the replay expires it and returns its credits', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const input = { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: randomUUID() };
    const first = await api.action('reserveCredits', input, org.session);
    expect(first.status).toBe(200);
    // The client retries 11 minutes later; the hold expired at NOW + 10 minutes.
    const later = new Date(NOW.getTime() + 11 * 60_000);
    const again = await atTime(later, () => api.action('reserveCredits', input, org.session));
    expect(again.status).toBe(409);
    expect(again.body.extensions.code).toBe('RESERVATION_ALREADY_RESOLVED');
    expect(again.body.message).toBe(
      `idempotency key ${input.idempotencyKey} belongs to reservation ${first.body.reservationId}, which is already expired: a new AI call needs a new key`,
    );
    const { rows } = await db.pool.query('select status, resolved_at from public.credit_reservations where id = $1', [
      first.body.reservationId,
    ]);
    expect(rows[0]).toEqual({ status: 'expired', resolved_at: later });
    expect(await available(db.pool, org.orgId, later)).toBe('10.000');
    // A new key is a new hold.
    const fresh = await atTime(later, () => api.action('reserveCredits', { ...input, idempotencyKey: randomUUID() }, org.session));
    expect(fresh.status).toBe(200);
  });

  it('returns the same reservation when retried with the same key after the first answer was lost', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const key = randomUUID();
    const body = JSON.stringify(
      envelope('reserveCredits', { capability: 'summarization', qualityLevel: 'enhanced', idempotencyKey: key }, org.session),
    );
    // The first request reaches the api, but the connection drops before any answer is read.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${api.url}/actions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-org-credits-secret': ACTION_SECRET, 'content-length': Buffer.byteLength(body) },
      });
      req.on('error', () => undefined);
      req.on('finish', () => {
        req.destroy();
        resolve();
      });
      req.on('response', () => reject(new Error('the answer should have been lost')));
      req.end(body);
    });
    const retry = await api.action(
      'reserveCredits',
      { capability: 'summarization', qualityLevel: 'enhanced', idempotencyKey: key },
      org.session,
    );
    expect(retry.status).toBe(200);
    const again = await api.action(
      'reserveCredits',
      { capability: 'summarization', qualityLevel: 'enhanced', idempotencyKey: key },
      org.session,
    );
    expect(again.body.reservationId).toBe(retry.body.reservationId);
    // The hold was there before the later request: it says so, so that a caller releases only holds it made.
    expect(again.body.replayed).toBe(true);
    const other = await createOrg(db.pool, { credits: '10.000' });
    const fresh = await api.action(
      'reserveCredits',
      { capability: 'summarization', qualityLevel: 'enhanced', idempotencyKey: randomUUID() },
      other.session,
    );
    expect(fresh.body.replayed).toBe(false);
    // Whichever request got there first, there is one reservation and one hold.
    const { rows } = await db.pool.query('select id, amount_credits from public.credit_reservations where organization_id = $1', [
      org.orgId,
    ]);
    expect(rows).toEqual([{ id: retry.body.reservationId, amount_credits: retry.body.amountCredits }]);
    const balance = await db.pool.query(
      `select (h.held_credits - b.released_credits)::numeric(20, 3) as reserved_credits
       from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id where b.organization_id = $1`,
      [org.orgId],
    );
    expect(balance.rows[0].reserved_credits).toBe(retry.body.amountCredits);
  });

  it('says replayed to a request that waited for another request with its key to commit', async () => {
    // Two requests with one key at once: the second's statement starts before the first's hold is
    // committed, waits for it on the key, and answers the first's reservation. It must say replayed,
    // or its caller takes the hold for its own and, if its AI call fails, releases the hold that
    // the first caller's call runs on (which then goes uncharged).
    const org = await createOrg(db.pool, { credits: '10.000' });
    const key = randomUUID();
    const first = await db.pool.connect();
    let second: ReturnType<typeof reserve> | undefined;
    try {
      await first.query('begin');
      const held = await first.query(
        `select id from public.reserve_credits($1, 0.114, $2, 'question_suggestions', 'fast', p_user_id => $3, p_now => $4)`,
        [org.orgId, key, org.userId, NOW],
      );
      second = reserve(org.session, { idempotencyKey: key });
      // The second request waits on the first's uncommitted reservation row.
      for (let i = 0; ; i++) {
        const { rows } = await db.pool.query(
          `select count(*)::int as n from pg_stat_activity
           where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'transactionid'`,
        );
        if (rows[0].n > 0) break;
        if (i > 500) throw new Error('the second request never waited for the first');
        await new Promise((r) => setTimeout(r, 10));
      }
      await first.query('commit');
      const answer = await second;
      expect(answer.status).toBe(200);
      expect(answer.body.reservationId).toBe(held.rows[0].id);
      expect(answer.body.replayed).toBe(true);
    } finally {
      await first.query('rollback').catch(() => undefined);
      first.release();
      await second?.catch(() => undefined);
    }
    // One reservation, one hold.
    const { rows } = await db.pool.query(
      `select (h.held_credits - b.released_credits)::numeric(20, 3) as reserved_credits
       from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id where b.organization_id = $1`,
      [org.orgId],
    );
    expect(rows[0].reserved_credits).toBe('0.114');
  });

  it('returns the first hold to a retry whose amount works out differently now (a price changed in between)', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const input = { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: randomUUID() };
    const first = await api.action('reserveCredits', input, org.session);
    expect(first.body.amountCredits).toBe('0.114');
    // The model's input price doubles before the retry: the hold worked out now would be 0.116.
    await db.pool.query(`update public.llm_models set input_credits_per_1k_tokens = 0.010 where id = 'openai/gpt-4.1-nano'`);
    try {
      const before = await snapshot(db.pool, org.orgId);
      const retry = await api.action('reserveCredits', input, org.session);
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ reservationId: first.body.reservationId, amountCredits: '0.114', availableCredits: '9.886' });
      // A larger estimate under the same key is the same call too: the first hold, nothing more held.
      const larger = await api.action('reserveCredits', { ...input, estimatedCredits: '3' }, org.session);
      expect(larger.body).toMatchObject({ reservationId: first.body.reservationId, amountCredits: '0.114' });
      expect(await snapshot(db.pool, org.orgId)).toEqual(before);
      // Once the call is over, the retry is refused as before, whatever its amount.
      const settled = await api.action(
        'settleCredits',
        { reservationId: first.body.reservationId, usage: { inputTokens: 100, outputTokens: 100 } },
        org.session,
      );
      expect(settled.status).toBe(200);
      const late = await api.action('reserveCredits', input, org.session);
      expect(late.status).toBe(409);
      expect(late.body.extensions.code).toBe('RESERVATION_ALREADY_RESOLVED');
    } finally {
      await db.pool.query(`update public.llm_models set input_credits_per_1k_tokens = 0.005 where id = 'openai/gpt-4.1-nano'`);
    }
  });

  it('refuses a retry whose amount works out differently now once the first hold has expired, before any job ran', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const input = { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: randomUUID() };
    const first = await api.action('reserveCredits', input, org.session);
    await db.pool.query(`update public.llm_models set input_credits_per_1k_tokens = 0.010 where id = 'openai/gpt-4.1-nano'`);
    try {
      const late = await atTime(new Date(NOW.getTime() + 11 * 60_000), () => api.action('reserveCredits', input, org.session));
      expect(late.status).toBe(409);
      expect(late.body.extensions.code).toBe('RESERVATION_ALREADY_RESOLVED');
      expect(late.body.message).toBe(
        `idempotency key ${input.idempotencyKey} belongs to reservation ${first.body.reservationId}, which is already expired: a new AI call needs a new key`,
      );
    } finally {
      await db.pool.query(`update public.llm_models set input_credits_per_1k_tokens = 0.005 where id = 'openai/gpt-4.1-nano'`);
    }
  });

  it('when 100 reserves race for a balance that fits 20, exactly 20 succeed', async () => {
    // 20 holds of 0.114 = 2.280.
    const org = await createOrg(db.pool, { credits: '2.280' });
    const results = await Promise.all(Array.from({ length: 100 }, () => reserve(org.session, {})));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    expect(ok).toHaveLength(20);
    expect(new Set(ok.map((r) => r.body.reservationId)).size).toBe(20);
    expect(refused.map((r) => r.body.extensions.code)).toEqual(Array(80).fill('INSUFFICIENT_CREDITS'));
    expect(await available(db.pool, org.orgId)).toBe('0.000');
    const { rows } = await db.pool.query(
      "select count(*)::int as n, sum(amount_credits)::text as held from public.credit_reservations where organization_id = $1 and status = 'open'",
      [org.orgId],
    );
    expect(rows[0]).toEqual({ n: 20, held: '2.280' });
  });
});

describe('reserveCredits refusals change nothing', () => {
  async function refused(session: object, input: Record<string, unknown>, orgId: string) {
    const before = await snapshot(db.pool, orgId);
    const res = await reserve(session, input);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.ts:\d+/);
    expect(await snapshot(db.pool, orgId)).toEqual(before);
    return res;
  }

  it('INSUFFICIENT_CREDITS when the hold does not fit, with top_up to do', async () => {
    const org = await createOrg(db.pool, { credits: '0.100' });
    const res = await refused(org.session, {}, org.orgId);
    expect(res.status).toBe(402);
    expect(res.body.extensions).toEqual({ code: 'INSUFFICIENT_CREDITS', action: 'top_up' });
    expect(res.body.message).toContain(org.orgId);
  });

  it('RATE_LIMITED when the hourly limit is used up, with the seconds until the next hour', async () => {
    const org = await createOrg(db.pool, { plan: 'free', credits: '10.000' });
    // free: summarization 5 an hour.
    await db.pool.query(
      `insert into public.organization_rate_usage (organization_id, capability_code, hour_start, hour_calls, day, day_calls)
       values ($1, 'summarization', '2026-11-22T10:00:00Z', 5, '2026-11-22', 5)`,
      [org.orgId],
    );
    const res = await refused(org.session, { capability: 'summarization' }, org.orgId);
    expect(res.status).toBe(429);
    // 10:15 → 11:00.
    expect(res.body.extensions).toEqual({ code: 'RATE_LIMITED', action: 'wait', retry_after_seconds: 2700 });
  });

  it('SPEND_LIMIT_EXCEEDED when the hold passes the per-call limit', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await db.pool.query('insert into public.spend_limits (organization_id, per_call_limit_credits) values ($1, 0.050)', [org.orgId]);
    const res = await refused(org.session, {}, org.orgId);
    // Waiting never passes a per-call limit: the answer says to raise it, with no time to wait.
    expect(res.body.extensions).toEqual({ code: 'SPEND_LIMIT_EXCEEDED', action: 'raise_limit' });
  });

  it('SPEND_LIMIT_EXCEEDED for the daily limit says to wait until the next UTC day', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await db.pool.query('insert into public.spend_limits (organization_id, daily_limit_credits) values ($1, 0.050)', [org.orgId]);
    const res = await refused(org.session, {}, org.orgId);
    // 10:15 UTC → midnight.
    expect(res.body.extensions).toEqual({ code: 'SPEND_LIMIT_EXCEEDED', action: 'wait', retry_after_seconds: 49500 });
  });

  it('CAPABILITY_NOT_IN_PLAN names the smallest plan that has it', async () => {
    const org = await createOrg(db.pool, { plan: 'free', credits: '10.000' });
    const res = await refused(org.session, { capability: 'image_captioning' }, org.orgId);
    expect(res.status).toBe(403);
    expect(res.body.extensions).toEqual({ code: 'CAPABILITY_NOT_IN_PLAN', action: 'upgrade', required_plan: 'pro' });
  });

  it('QUALITY_NOT_IN_PLAN names the smallest plan that offers the quality level', async () => {
    const org = await createOrg(db.pool, { plan: 'pro', credits: '10.000' });
    const res = await refused(org.session, { qualityLevel: 'premium' }, org.orgId);
    expect(res.body.extensions).toEqual({ code: 'QUALITY_NOT_IN_PLAN', action: 'upgrade', required_plan: 'team' });
  });

  it('IDEMPOTENCY_CONFLICT when a key is reused for another call', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await reserve(org.session, { idempotencyKey: 'k-1' });
    const res = await refused(org.session, { idempotencyKey: 'k-1', capability: 'summarization' }, org.orgId);
    expect(res.status).toBe(409);
    expect(res.body.extensions.code).toBe('IDEMPOTENCY_CONFLICT');
    const quality = await refused(org.session, { idempotencyKey: 'k-1', qualityLevel: 'enhanced' }, org.orgId);
    expect(quality.status).toBe(409);
    expect(quality.body.extensions.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it.each([
    ['an empty idempotency key', { idempotencyKey: '' }],
    ['an over-precise estimate', { estimatedCredits: '1.0001' }],
    ['a negative estimate', { estimatedCredits: '-1' }],
    ['an estimate that is not a number', { estimatedCredits: 'lots' }],
    ['negative input tokens', { inputTokens: -5 }],
    ['more input tokens than the capability takes', { inputTokens: 2001 }],
    ['an unknown capability', { capability: 'telepathy' }],
    ['an unknown quality level', { qualityLevel: 'ultra' }],
    ['a missing capability', { capability: undefined }],
  ])('INVALID_INPUT for %s', async (_name, input) => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const res = await refused(org.session, input, org.orgId);
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe('INVALID_INPUT');
  });

  it('ORGANIZATION_NOT_FOUND for a service acting for an org that does not exist', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const res = await refused({ role: 'service', orgId: randomUUID() }, {}, org.orgId);
    expect(res.status).toBe(404);
    expect(res.body.extensions.code).toBe('ORGANIZATION_NOT_FOUND');
  });
});
