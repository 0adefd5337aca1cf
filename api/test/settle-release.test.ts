// settleCredits and releaseCredits over real HTTP, as Hasura calls them, against a real Postgres.
import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { available, createOrg, grantExpiredPromotion, NOW, type Session, snapshot, startApi, type TestOrg } from './helpers.ts';

const db = await useTestDatabase();
const api = await startApi(db);
/** The same api with its clock ten minutes after NOW. */
const tenMinutesLater = await startApi(db, { clock: () => new Date(NOW.getTime() + 10 * 60_000) });

async function hold(org: TestOrg, input: Record<string, unknown> = {}) {
  const res = await api.action(
    'reserveCredits',
    { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: randomUUID(), ...input },
    org.session,
  );
  expect(res.status).toBe(200);
  return res.body as { reservationId: string; amountCredits: string };
}

const settle = (session: Session, reservationId: string, usage: Record<string, unknown>) =>
  api.action('settleCredits', { reservationId, usage }, session);
const release = (session: Session, reservationId: string, reason?: string) =>
  api.action('releaseCredits', { reservationId, ...(reason ? { reason } : {}) }, session);

describe('settleCredits', () => {
  it('charges the tokens used at the reservation model prices, rounded up to 0.001, and gives the rest back', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const r = await hold(org);
    // 0.100 + 350/1000 × 0.005 + 120/1000 × 0.020 = 0.10415 → 0.105; held 0.114.
    const res = await settle(org.session, r.reservationId, { inputTokens: 350, outputTokens: 120 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      reservationId: r.reservationId,
      chargedCredits: '0.105',
      releasedCredits: '0.009',
      capped: false,
      availableCredits: '9.895',
    });
    const { rows } = await db.pool.query('select status, settled_amount_credits, usage from public.credit_reservations where id = $1', [
      r.reservationId,
    ]);
    expect(rows[0]).toEqual({
      status: 'settled',
      settled_amount_credits: '0.105',
      usage: { input_tokens: 350, output_tokens: 120, calls: 1 },
    });
  });

  it('uses the prices in force when the reservation was made, not the ones changed since', async () => {
    const org = await createOrg(db.pool, { plan: 'team', credits: '10.000' });
    const r = await hold(org, { capability: 'summarization', qualityLevel: 'premium' });
    // Gemini 2.5 Pro gets ten times dearer after the reservation.
    await db.pool.query(
      "update public.llm_models set input_credits_per_1k_tokens = 0.625, output_credits_per_1k_tokens = 5 where id = 'google/gemini-2.5-pro'",
    );
    try {
      const res = await settle(org.session, r.reservationId, { inputTokens: 1000, outputTokens: 100 });
      // 0.200 + 1000/1000 × 0.0625 + 100/1000 × 0.500 = 0.3125 → 0.313.
      expect(res.body.chargedCredits).toBe('0.313');
    } finally {
      await db.pool.query(
        "update public.llm_models set input_credits_per_1k_tokens = 0.0625, output_credits_per_1k_tokens = 0.5 where id = 'google/gemini-2.5-pro'",
      );
    }
  });

  it('charges the one exact price of a per-call capability for one call', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const r = await hold(org, { capability: 'image_captioning', qualityLevel: 'fast' });
    const res = await settle(org.session, r.reservationId, { calls: 1 });
    expect(res.body).toMatchObject({ chargedCredits: '2.000', releasedCredits: '0.000', capped: false, availableCredits: '8.000' });
  });

  it('charges beyond the hold only what is available, and says it was capped', async () => {
    const org = await createOrg(db.pool, { credits: '0.500' });
    const r = await hold(org);
    // 2,000 in and 20,000 out would be 0.100 + 0.010 + 0.400 = 0.510; only 0.500 exists.
    const res = await settle(org.session, r.reservationId, { inputTokens: 2000, outputTokens: 20000 });
    expect(res.body).toMatchObject({ chargedCredits: '0.500', capped: true, availableCredits: '0.000' });
  });

  it('charges beyond the hold only as far as the spend limits leave room, and says it was capped', async () => {
    const org = await createOrg(db.pool, { credits: '5000.000' });
    await db.pool.query(
      'insert into public.spend_limits (organization_id, per_call_limit_credits, daily_limit_credits) values ($1, 1, 1)',
      [org.orgId],
    );
    const r = await hold(org, { capability: 'summarization', qualityLevel: 'enhanced' });
    expect(r.amountCredits).toBe('0.725');
    // 10M in and 10M out would be 3,000.200 credits; the per-call and daily limits leave 1.
    const res = await settle(org.session, r.reservationId, { inputTokens: 10_000_000, outputTokens: 10_000_000 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      reservationId: r.reservationId,
      chargedCredits: '1.000',
      releasedCredits: '0.000',
      capped: true,
      availableCredits: '4999.000',
    });
    const { rows } = await db.pool.query('select spend_day_credits::text from public.credit_balances where organization_id = $1', [
      org.orgId,
    ]);
    expect(rows[0]).toEqual({ spend_day_credits: '1.000' });
    // A retry with the same usage answers the same settlement.
    const retry = await settle(org.session, r.reservationId, { inputTokens: 10_000_000, outputTokens: 10_000_000 });
    expect(retry.body).toEqual(res.body);
  });

  it('answers a retry with the same usage after a lost answer with the same settlement, charging once', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const r = await hold(org);
    const first = await settle(org.session, r.reservationId, { inputTokens: 350, outputTokens: 120 });
    const entries = await snapshot(db.pool, org.orgId);
    const retry = await settle(org.session, r.reservationId, { inputTokens: 350, outputTokens: 120 });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(await snapshot(db.pool, org.orgId)).toEqual(entries);
  });

  it('lets a service settle for its org', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const r = await hold(org);
    const res = await settle({ role: 'service', orgId: org.orgId }, r.reservationId, { inputTokens: 1, outputTokens: 1 });
    expect(res.body.chargedCredits).toBe('0.101');
  });
});

describe('releaseCredits', () => {
  it('gives every held credit back and records the reason', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const r = await hold(org);
    expect(await available(db.pool, org.orgId)).toBe('9.886');
    const res = await release(org.session, r.reservationId, 'the user cancelled');
    expect(res.body).toEqual({ reservationId: r.reservationId, releasedCredits: '0.114', availableCredits: '10.000' });
    const { rows } = await db.pool.query('select status, release_reason from public.credit_reservations where id = $1', [r.reservationId]);
    expect(rows[0]).toEqual({ status: 'released', release_reason: 'the user cancelled' });
  });

  it('answers a repeated release the same and changes nothing more', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const r = await hold(org);
    const first = await release(org.session, r.reservationId);
    const before = await snapshot(db.pool, org.orgId);
    const again = await release(org.session, r.reservationId);
    expect(again.body).toEqual(first.body);
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });
});

describe('settle and release refusals change nothing', () => {
  async function refused(call: () => Promise<{ status: number; body: { extensions: { code: string } } }>, orgIds: string[]) {
    const before = await Promise.all(orgIds.map((id) => snapshot(db.pool, id)));
    const res = await call();
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(await Promise.all(orgIds.map((id) => snapshot(db.pool, id)))).toEqual(before);
    return res.body.extensions.code;
  }

  it('RESERVATION_ALREADY_RESOLVED: settling a released reservation, or settling again with other usage', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const released = await hold(org);
    await release(org.session, released.reservationId);
    expect(await refused(() => settle(org.session, released.reservationId, { inputTokens: 1, outputTokens: 1 }), [org.orgId])).toBe(
      'RESERVATION_ALREADY_RESOLVED',
    );
    const settled = await hold(org);
    await settle(org.session, settled.reservationId, { inputTokens: 10, outputTokens: 10 });
    expect(await refused(() => settle(org.session, settled.reservationId, { inputTokens: 10, outputTokens: 11 }), [org.orgId])).toBe(
      'RESERVATION_ALREADY_RESOLVED',
    );
    expect(await refused(() => release(org.session, settled.reservationId), [org.orgId])).toBe('RESERVATION_ALREADY_RESOLVED');
  });

  it('RESERVATION_NOT_FOUND for an unknown id, and for another org reservation, which stays untouched', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const other = await createOrg(db.pool, { credits: '10.000' });
    const theirs = await hold(other);
    expect(await refused(() => settle(org.session, randomUUID(), { inputTokens: 1, outputTokens: 1 }), [org.orgId])).toBe(
      'RESERVATION_NOT_FOUND',
    );
    expect(
      await refused(() => settle(org.session, theirs.reservationId, { inputTokens: 1, outputTokens: 1 }), [org.orgId, other.orgId]),
    ).toBe('RESERVATION_NOT_FOUND');
    expect(await refused(() => release(org.session, theirs.reservationId), [org.orgId, other.orgId])).toBe('RESERVATION_NOT_FOUND');
  });

  it.each([
    ['per-token usage without output tokens', { inputTokens: 10 }],
    ['negative tokens', { inputTokens: -1, outputTokens: 5 }],
    ['fractional tokens', { inputTokens: 1.5, outputTokens: 5 }],
    ['more than one call', { inputTokens: 1, outputTokens: 1, calls: 2 }],
  ])('INVALID_INPUT for %s', async (_name, usage) => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const r = await hold(org);
    expect(await refused(() => settle(org.session, r.reservationId, usage), [org.orgId])).toBe('INVALID_INPUT');
  });

  it('INVALID_INPUT for a reservation id that is not a uuid', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    expect(await refused(() => settle(org.session, 'r-1', { inputTokens: 1, outputTokens: 1 }), [org.orgId])).toBe('INVALID_INPUT');
    expect(await refused(() => release(org.session, 'r-1'), [org.orgId])).toBe('INVALID_INPUT');
  });

  it('INVALID_INPUT for a per-call reservation settled with two calls', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const r = await hold(org, { capability: 'image_captioning', qualityLevel: 'fast' });
    expect(await refused(() => settle(org.session, r.reservationId, { calls: 2 }), [org.orgId])).toBe('INVALID_INPUT');
  });

  it('FORBIDDEN for a member of another org whose token names this org', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const intruder = await createOrg(db.pool, { credits: '10.000' });
    const r = await hold(org);
    const forged = { role: 'user', userId: intruder.userId, orgId: org.orgId };
    expect(await refused(() => settle(forged, r.reservationId, { inputTokens: 1, outputTokens: 1 }), [org.orgId, intruder.orgId])).toBe(
      'FORBIDDEN',
    );
    expect(await refused(() => release(forged, r.reservationId), [org.orgId, intruder.orgId])).toBe('FORBIDDEN');
  });
});

// Each of reserve, settle and release reads the available credits in the same statement as its
// ledger call (public.api_available_credits, VOLATILE so that it sees the call's own changes); the
// answer must be what the database holds once the call is done, never the balance before it.
describe('availableCredits in the answers is what the database holds after the call', () => {
  const reserve = (org: TestOrg, key: string) =>
    api.action('reserveCredits', { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: key }, org.session);
  /** The answer says `credits` are available, and so does the database. */
  const expectAvailable = async (org: TestOrg, answer: { body: { availableCredits: string } }, credits: string) => {
    expect(answer.body.availableCredits).toBe(credits);
    expect(await available(db.pool, org.orgId)).toBe(credits);
  };

  it('after a reserve, a repeated reserve with the same key, a settle and a repeated settle', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const held = await reserve(org, 'same-key');
    await expectAvailable(org, held, '9.886');
    const again = await reserve(org, 'same-key');
    expect(again.body).toEqual({ ...held.body, replayed: true });
    expect(await available(db.pool, org.orgId)).toBe('9.886');
    const second = await reserve(org, 'other-key');
    await expectAvailable(org, second, '9.772');

    // 0.105 charged, 0.009 of the first hold back: 9.772 + 0.114 − 0.105 = 9.781.
    const settled = await settle(org.session, held.body.reservationId, { inputTokens: 350, outputTokens: 120 });
    await expectAvailable(org, settled, '9.781');
    // The retry is answered from the saved settlement (no ledger call): the same answer.
    const retry = await settle(org.session, held.body.reservationId, { inputTokens: 350, outputTokens: 120 });
    expect(retry.body).toEqual(settled.body);
    expect(await available(db.pool, org.orgId)).toBe('9.781');
  });

  it('after a release and a repeated release', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const first = await reserve(org, 'one');
    const second = await reserve(org, 'two');
    expect(second.body.availableCredits).toBe('9.772');
    const released = await release(org.session, first.body.reservationId);
    expect(released.body).toEqual({ reservationId: first.body.reservationId, releasedCredits: '0.114', availableCredits: '9.886' });
    expect(await available(db.pool, org.orgId)).toBe('9.886');
    const again = await release(org.session, first.body.reservationId);
    expect(again.body).toEqual(released.body);
    expect(await available(db.pool, org.orgId)).toBe('9.886');
    const rows = (
      await db.pool.query('select status from public.credit_reservations where organization_id = $1 order by status', [org.orgId])
    ).rows;
    expect(rows).toEqual([{ status: 'open' }, { status: 'released' }]);
  });

  it('with a grant past its expiry that no job has expired yet', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await grantExpiredPromotion(db.pool, org.orgId);
    const held = await reserve(org, 'after-expiry');
    await expectAvailable(org, held, '9.886');
    const settled = await settle(org.session, held.body.reservationId, { inputTokens: 350, outputTokens: 120 });
    await expectAvailable(org, settled, '9.895');
    const { rows } = await db.pool.query(
      `select b.bonus_remaining_credits, b.purchased_remaining_credits, (h.held_credits - b.released_credits)::numeric(20, 3) as reserved_credits
       from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id where b.organization_id = $1`,
      [org.orgId],
    );
    expect(rows[0]).toEqual({ bonus_remaining_credits: '0.000', purchased_remaining_credits: '9.895', reserved_credits: '0.000' });
  });

  it('after a release of a reservation whose grant expired while it was held', async () => {
    const org = await createOrg(db.pool);
    await db.pool.query(
      `select public.grant_credits($1, 1, 'promotion', 'short-promo', p_expires_at => $2::timestamptz + interval '1 minute',
         p_now => $2::timestamptz - interval '1 hour')`,
      [org.orgId, NOW],
    );
    const held = await reserve(org, 'held-over-expiry');
    expect(held.body.availableCredits).toBe('0.886');
    // Ten minutes later the grant is past its expiry; releasing lets the held credits expire too.
    const res = await tenMinutesLater.action('releaseCredits', { reservationId: held.body.reservationId }, org.session);
    expect(res.body).toEqual({ reservationId: held.body.reservationId, releasedCredits: '0.114', availableCredits: '0.000' });
    expect(await available(db.pool, org.orgId, new Date(NOW.getTime() + 10 * 60_000))).toBe('0.000');
  });
});
