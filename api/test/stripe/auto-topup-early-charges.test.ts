// A refund or dispute of an auto top-up's charge that Stripe delivers before the attempt's success
// is recorded (its payment_intent.succeeded comes later, or at the same time): the early event finds
// no credits to take back and answers "ignored", and the success applies it, once, as a purchase's
// fulfilment does (migration 1795322401200_auto_topup_early_charge_events,
// api/src/payments/charge-events.ts). Before, the credits stayed, and a refund was recorded as
// handled with nothing clawed back. (Found by api/test/stripe/webhook-races.test.ts's author.)
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { createOrg, NOW } from '../helpers.ts';
import { availableAt, PACKS, spend, startPaymentsApi, stripeEvent } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

/** An org with auto top-up on (below 100, pack_500 for 1,000p) and one attempt awaiting the bank's authentication; 90 available. */
async function orgWithAttemptAwaitingAuth(tag: string) {
  const org = await createOrg(db.pool, { credits: '120.000' });
  await db.pool.query('update public.organizations set stripe_customer_id = $2 where id = $1', [org.orgId, `cus_${tag}`]);
  await db.pool.query(
    `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
     values ($1, true, 100, $2, 'pm_card_visa')`,
    [org.orgId, PACKS.pack500],
  );
  api.fake.chargeMode = 'authenticate';
  await spend(db.pool, org.orgId, '30.000');
  expect((await api.deliverChecks(org.orgId)).map((r) => r.body)).toEqual([{ autoTopUp: 'requires_action' }]);
  api.fake.chargeMode = 'succeed';
  const attempt = (await db.pool.query('select * from public.auto_topup_attempts where organization_id = $1', [org.orgId])).rows[0];
  const disputed = stripeEvent('charge.dispute.created', {
    id: `dp_${tag}`,
    object: 'dispute',
    amount: 1000,
    charge: `ch_${tag}`,
    payment_intent: attempt.stripe_payment_intent_id,
    status: 'needs_response',
  });
  const succeeded = stripeEvent('payment_intent.succeeded', {
    id: attempt.stripe_payment_intent_id,
    object: 'payment_intent',
    status: 'succeeded',
    metadata: { organization_id: org.orgId, auto_topup_attempt_id: attempt.id, package_id: PACKS.pack500 },
  });
  return { orgId: org.orgId, disputed, succeeded };
}

const clawbacks = async (orgId: string) =>
  (
    await db.pool.query(
      "select amount_credits, external_ref from public.credit_ledger_entries where organization_id = $1 and entry_type = 'clawback'",
      [orgId],
    )
  ).rows;

describe("a refund or dispute of an auto top-up's charge delivered before the attempt's success", () => {
  it('succeeded then dispute: the 500 credits are taken back', async () => {
    const s = await orgWithAttemptAwaitingAuth('bug_ok');
    expect((await api.webhook(s.succeeded)).body.outcome).toBe('processed');
    expect((await api.webhook(s.disputed)).body.outcome).toBe('processed');
    expect(await clawbacks(s.orgId)).toEqual([{ amount_credits: '-500.000', external_ref: 'dispute:dp_bug_ok' }]);
    expect(await availableAt(db.pool, s.orgId, NOW)).toBe('90.000');
  });

  it('dispute then succeeded: the success grants the 500 and applies the dispute, which turns auto top-up off', async () => {
    const s = await orgWithAttemptAwaitingAuth('bug_serial');
    expect((await api.webhook(s.disputed)).body.outcome).toBe('ignored');
    // Nothing to take back yet, and nothing changed.
    expect(await clawbacks(s.orgId)).toEqual([]);
    expect(await availableAt(db.pool, s.orgId, NOW)).toBe('90.000');
    expect((await api.webhook(s.succeeded)).body.outcome).toBe('processed');
    expect(await clawbacks(s.orgId)).toEqual([{ amount_credits: '-500.000', external_ref: 'dispute:dp_bug_serial' }]);
    expect(await availableAt(db.pool, s.orgId, NOW)).toBe('90.000');
    const settings = await db.pool.query('select enabled, disabled_reason from public.auto_topup_settings where organization_id = $1', [
      s.orgId,
    ]);
    expect(settings.rows[0]).toMatchObject({ enabled: false, disabled_reason: expect.stringContaining('dp_bug_serial') });
    // Delivered again, neither changes anything.
    expect((await api.webhook(s.disputed)).body.outcome).toBe('duplicate');
    expect((await api.webhook(s.succeeded)).body.outcome).toBe('duplicate');
    expect(await clawbacks(s.orgId)).toHaveLength(1);
  });

  it('refunded then succeeded: the refund is applied when the credits are granted, not recorded as handled before', async () => {
    const s = await orgWithAttemptAwaitingAuth('bug_refund');
    const intent = (s.succeeded.data.object as { id: string }).id;
    const refunded = stripeEvent('charge.refunded', {
      id: 'ch_bug_refund',
      object: 'charge',
      amount: 1000,
      amount_refunded: 1000,
      refunded: true,
      payment_intent: intent,
    });
    expect((await api.webhook(refunded)).body.outcome).toBe('ignored');
    const before = await db.pool.query('select amount_refunded_minor from public.auto_topup_attempts where organization_id = $1', [
      s.orgId,
    ]);
    expect(before.rows).toEqual([{ amount_refunded_minor: '0' }]);
    expect((await api.webhook(s.succeeded)).body.outcome).toBe('processed');
    const attempt = (
      await db.pool.query('select status, amount_refunded_minor from public.auto_topup_attempts where organization_id = $1', [s.orgId])
    ).rows;
    expect(attempt).toEqual([{ status: 'succeeded', amount_refunded_minor: '1000' }]);
    expect(await clawbacks(s.orgId)).toEqual([{ amount_credits: '-500.000', external_ref: 'refund:ch_bug_refund:1000' }]);
    expect(await availableAt(db.pool, s.orgId, NOW)).toBe('90.000');
    const notices = await db.pool.query(`select kind from public.notifications where organization_id = $1 and kind = 'refund'`, [s.orgId]);
    expect(notices.rowCount).toBe(1);
  });

  it('the two delivered at once, 20 rounds in both orders: every round ends with the dispute clawed back once', async () => {
    const lost: number[] = [];
    for (let round = 0; round < 20; round++) {
      const s = await orgWithAttemptAwaitingAuth(`bug_race_${round}_${Date.now()}`);
      const events = round % 2 === 0 ? [s.disputed, s.succeeded] : [s.succeeded, s.disputed];
      const answers = await Promise.all(events.map((e) => api.webhook(e)));
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      const taken = await clawbacks(s.orgId);
      if (taken.length !== 1) lost.push(round);
      expect(await availableAt(db.pool, s.orgId, NOW)).toBe('90.000');
    }
    expect(lost, `rounds whose dispute was not taken back exactly once: ${lost.join(', ')}`).toEqual([]);
  });
});
