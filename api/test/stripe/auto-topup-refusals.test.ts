// Auto top-up charges that Stripe refuses outright (400 invalid_request_error): only a refusal about
// the saved card or the customer forgets the card; one about the charge itself (an amount or a
// currency Stripe does not take) fails the attempt with Stripe's code and message, keeps the card,
// tells the owners what Stripe said, and counts: two in a row turn auto top-up off, so a mispriced
// pack is not charged for ever. The card removed from the customer (chargeMode `detached_card`) is
// also covered by auto-topup.test.ts ("fails an attempt whose saved card Stripe refuses outright…").
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { createOrg, NOW } from '../helpers.ts';
import type { ChargeMode, InvalidRequest } from './fake-stripe.ts';
import { addMember, PACKS, paymentState, spend, startPaymentsApi, WEB_ORIGIN } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

const hours = (n: number) => new Date(NOW.getTime() + n * 3_600_000);
const NEEDS_CARD = 'Auto top-up needs a card: buy a pack once with auto top-up on to save it';
const CARD = 'pm_card_visa';

/** An org with 120 credits, a Stripe customer, a saved card and auto top-up on: below 100, buy pack_500. */
async function autoTopUpOrg() {
  const org = await createOrg(db.pool, { credits: '120.000' });
  await db.pool.query('update public.organizations set stripe_customer_id = $2 where id = $1', [
    org.orgId,
    `cus_refusal_${org.orgId.slice(0, 8)}`,
  ]);
  await db.pool.query(
    `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
     values ($1, true, 100, $2, $3)`,
    [org.orgId, PACKS.pack500, CARD],
  );
  return org;
}

const chargesFor = (orgId: string) =>
  api.fake.requestsTo('POST', '/v1/payment_intents').filter((r) => r.body.metadata?.organization_id === orgId);

const notificationsOf = async (orgId: string, kind: string) =>
  (
    await db.pool.query('select user_id, title, body, action_url from public.notifications where organization_id = $1 and kind = $2', [
      orgId,
      kind,
    ])
  ).rows;

/** Turned off at the end of a test, so that the sweeps of later tests leave the org alone. */
const off = (orgId: string) => db.pool.query('update public.auto_topup_settings set enabled = false where organization_id = $1', [orgId]);

describe('auto top-up charges Stripe refuses outright', () => {
  it("keeps the card when Stripe refuses the charge itself, fails the attempt with Stripe's code and message and tells the owners; a second refusal turns auto top-up off", async () => {
    const org = await autoTopUpOrg();
    const secondOwner = await addMember(db.pool, org.orgId, 'owner');
    await addMember(db.pool, org.orgId, 'member');
    await spend(db.pool, org.orgId, '30.000');
    const refusal: InvalidRequest = { code: 'amount_too_small', param: 'amount', message: 'Amount must be at least £0.30 gbp' };
    api.fake.chargeMode = 'invalid_request';
    api.fake.invalidRequest = refusal;

    // Before: failed as payment_method_unusable, the card cleared, "Auto top-up needs a card", and the
    // owners told to buy a pack to save a new card (which Stripe would refuse the same).
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['failed']);
    let state = await paymentState(db.pool, org.orgId);
    expect(state.attempts).toEqual([
      expect.objectContaining({ status: 'failed', failure_code: 'amount_too_small', failure_message: refusal.message }),
    ]);
    expect(state.settings[0]).toMatchObject({
      enabled: true,
      stripe_payment_method_id: CARD,
      consecutive_failures: 1,
      disabled_reason: null,
    });
    expect(state.grants.filter((g) => g.source === 'auto_top_up')).toEqual([]);
    const failed = await notificationsOf(org.orgId, 'auto_topup_failed');
    expect(failed.map((n) => n.user_id).sort()).toEqual([org.userId, secondOwner.userId].sort());
    for (const n of failed) {
      expect(n).toMatchObject({ title: 'Stripe refused an auto top-up charge', action_url: `${WEB_ORIGIN}/billing` });
      expect(n.body).toContain(`Stripe refused the charge for the auto top-up pack: ${refusal.message}.`);
      expect(n.body).toMatch(/saved card is kept/);
    }
    expect(api.sent.filter((n) => n.organization_id === org.orgId).map((n) => n.kind)).toEqual(['auto_topup_failed', 'auto_topup_failed']);

    // An hour later (and past the cooldown), still below the threshold: tried again with the same card.
    // Refused again: two failures in a row turn auto top-up off, saying why; the card stays saved.
    expect((await api.cron('auto_topup_sweep', hours(2))).body.attempts[org.orgId]).toBe('failed');
    state = await paymentState(db.pool, org.orgId);
    expect(state.attempts.map((a) => [a.status, a.failure_code])).toEqual([
      ['failed', 'amount_too_small'],
      ['failed', 'amount_too_small'],
    ]);
    expect(state.settings[0]).toMatchObject({
      enabled: false,
      stripe_payment_method_id: CARD,
      consecutive_failures: 2,
      disabled_reason: `Turned off after two payments in a row failed (last: ${refusal.message})`,
    });
    const disabled = await notificationsOf(org.orgId, 'auto_topup_disabled');
    expect(disabled.map((n) => n.user_id).sort()).toEqual([org.userId, secondOwner.userId].sort());
    expect(disabled[0].body).toBe(
      `Two payments in a row failed (last: Stripe refused the charge: ${refusal.message}). Choose another pack and turn it on again.`,
    );

    // Off: nothing more is charged, however long the balance stays low.
    expect((await api.cron('auto_topup_sweep', hours(30))).body.attempts[org.orgId]).toBeUndefined();
    const charges = chargesFor(org.orgId);
    expect(charges.map((c) => c.body.payment_method)).toEqual([CARD, CARD]);
    expect(new Set(charges.map((c) => c.idempotencyKey)).size).toBe(2);
  });

  // What Stripe answers an off-session charge with a 400 invalid_request_error, and whether the card is
  // kept (failure code: Stripe's, or charge_refused without one) or forgotten (payment_method_unusable).
  const cases: { name: string; mode?: ChargeMode; refusal?: InvalidRequest; code: string; cardKept: boolean }[] = [
    {
      name: 'an invalid currency (no code)',
      refusal: { param: 'currency', message: 'Invalid currency: xts. Stripe currently supports these currencies: gbp, eur, usd' },
      code: 'charge_refused',
      cardKept: true,
    },
    {
      name: 'an amount too large',
      refusal: { code: 'amount_too_large', param: 'amount', message: 'Amount must be no more than £999,999.99' },
      code: 'amount_too_large',
      cardKept: true,
    },
    {
      name: 'an ISK amount with a decimal part',
      refusal: {
        code: 'invalid_charge_amount_no_decimal_compatible',
        param: 'amount',
        message: 'The amount 12345 is not a valid ISK amount: it must be a whole number of krónur (a multiple of 100).',
      },
      code: 'invalid_charge_amount_no_decimal_compatible',
      cardKept: true,
    },
    {
      name: 'a KWD amount whose last digit is not 0',
      refusal: { code: 'invalid_charge_amount', param: 'amount', message: 'KWD amounts must be a multiple of 10.' },
      code: 'invalid_charge_amount',
      cardKept: true,
    },
    {
      name: 'a payment method not available for a while',
      refusal: { code: 'payment_method_not_available', message: 'The payment method is not available because of technical issues.' },
      code: 'payment_method_not_available',
      cardKept: true,
    },
    {
      name: 'a card detached from the customer (param payment_method)',
      mode: 'detached_card',
      code: 'payment_method_unusable',
      cardKept: false,
    },
    {
      name: 'a payment method that no longer exists',
      refusal: { code: 'resource_missing', param: 'payment_method', message: `No such PaymentMethod: '${CARD}'` },
      code: 'payment_method_unusable',
      cardKept: false,
    },
    {
      name: 'a customer that no longer exists',
      refusal: { code: 'resource_missing', param: 'customer', message: "No such customer: 'cus_gone'" },
      code: 'payment_method_unusable',
      cardKept: false,
    },
    {
      name: 'a card not attached to the customer (neither code nor param)',
      refusal: {
        message: `The customer does not have a payment method with the ID ${CARD}. The payment method must be attached to the customer.`,
      },
      code: 'payment_method_unusable',
      cardKept: false,
    },
    {
      name: 'a payment method the charge cannot use',
      refusal: {
        code: 'payment_intent_incompatible_payment_method',
        message: 'The PaymentIntent expected a payment method with different properties than what was provided.',
      },
      code: 'payment_method_unusable',
      cardKept: false,
    },
  ];

  it.each(cases)('$name: card kept $cardKept, failure code $code', async ({ mode, refusal, code, cardKept }) => {
    const org = await autoTopUpOrg();
    await spend(db.pool, org.orgId, '30.000');
    api.fake.chargeMode = mode ?? 'invalid_request';
    if (refusal) api.fake.invalidRequest = refusal;
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['failed']);
    const state = await paymentState(db.pool, org.orgId);
    expect(state.attempts).toEqual([expect.objectContaining({ status: 'failed', failure_code: code })]);
    if (refusal) expect(state.attempts[0].failure_message).toBe(refusal.message);
    expect(state.settings[0]).toMatchObject(
      cardKept
        ? { enabled: true, stripe_payment_method_id: CARD, consecutive_failures: 1, disabled_reason: null }
        : { enabled: true, stripe_payment_method_id: null, consecutive_failures: 1, disabled_reason: NEEDS_CARD },
    );
    const [note] = await notificationsOf(org.orgId, 'auto_topup_failed');
    expect(note).toMatchObject(
      cardKept
        ? { user_id: org.userId, title: 'Stripe refused an auto top-up charge', action_url: `${WEB_ORIGIN}/billing` }
        : { user_id: org.userId, title: 'Auto top-up cannot use your saved card', action_url: `${WEB_ORIGIN}/credits?topup=buy` },
    );
    await off(org.orgId);
  });
});
