// An upgrade charges what its preview showed: changePlan given previewPlanChange's prorationDate has
// Stripe prorate the update at that second (the update's proration_date is the preview's), so the
// invoice is the previewed figure however long the confirmation stayed open. A date that no longer
// stands (older than half an hour, before the current period) is refused with PRORATION_DATE_STALE
// and one in the future with INVALID_INPUT, before anything is done: no write to the fake Stripe, no
// row of the database changed.

import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { PRORATION_DATE_MAX_AGE_MS, PRORATION_DATE_SKEW_MS } from '../../src/actions/changePlan.ts';
import { createOrg, NOW, PLANS } from '../helpers.ts';
import { paymentsAndStripe, startPaymentsApi, subscribedOrg } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000);
const later = (ms: number) => new Date(NOW.getTime() + ms);

/** Runs an action at `at` (the api's clock and Stripe's). */
async function at(when: Date, name: string, input: Record<string, unknown>, session: object) {
  api.now = when;
  try {
    return await api.action(name, input, session);
  } finally {
    api.now = NOW;
  }
}

/** The subscription updates that changed its price (the upgrades), oldest first. */
const priceUpdates = (subscriptionId: string) =>
  api.fake.requestsTo('POST', `/v1/subscriptions/${subscriptionId}`).filter((r) => r.body.items !== undefined);

/** The invoice of the subscription's last update, as the fake Stripe made it. */
const latestInvoice = (subscriptionId: string) => api.fake.objects.get(api.fake.objects.get(subscriptionId)!.latest_invoice)!;

describe('an upgrade confirmed with its preview’s prorationDate', () => {
  it('is charged the previewed figure 20 minutes later: Stripe’s update is prorated at the preview’s second', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const preview = await at(NOW, 'previewPlanChange', { planId: PLANS.team }, org.session);
    expect(preview.body).toMatchObject({ status: 'upgraded', amountDueMinor: '2000', prorationDate: NOW.toISOString() });
    const previewCall = api.fake.requestsTo('POST', '/v1/invoices/create_preview').at(-1)!;

    const res = await at(later(20 * 60_000), 'changePlan', { planId: PLANS.team, prorationDate: preview.body.prorationDate }, org.session);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('upgraded');
    const [update, ...more] = priceUpdates(org.subscriptionId);
    expect(more).toEqual([]);
    expect(update!.body).toMatchObject({ proration_behavior: 'always_invoice', items: [{ price: 'price_team_v1_monthly' }] });
    expect(update!.body.proration_date).toBe(previewCall.body.subscription_details.proration_date);
    expect(latestInvoice(org.subscriptionId)).toMatchObject({ status: 'paid', amount_due: 2000, currency: 'gbp' });
    const row = await db.pool.query('select plan_id from public.organization_subscriptions where organization_id = $1', [org.orgId]);
    expect(row.rows).toEqual([{ plan_id: PLANS.team }]);
  });

  it('without it, as before: prorated when the update reaches Stripe, 2p off the preview 20 minutes later', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const preview = await at(NOW, 'previewPlanChange', { planId: PLANS.team }, org.session);
    expect(preview.body.amountDueMinor).toBe('2000');
    const res = await at(later(20 * 60_000), 'changePlan', { planId: PLANS.team }, org.session);
    expect(res.body.status).toBe('upgraded');
    const [update] = priceUpdates(org.subscriptionId);
    expect(update!.body.proration_date).toBeUndefined();
    // 20 days less 20 minutes left of 30: −1900 × that = −1265.8 → −1266, 4900 × that = 3264.4 → 3264.
    expect(latestInvoice(org.subscriptionId)).toMatchObject({ amount_due: 1998 });
  });

  it('is accepted at the bounds: half an hour old, and a few seconds ahead of the api’s clock (another process’s)', async () => {
    for (const prorationDate of [later(-PRORATION_DATE_MAX_AGE_MS), later(PRORATION_DATE_SKEW_MS)]) {
      const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
      const res = await at(NOW, 'changePlan', { planId: PLANS.team, prorationDate: prorationDate.toISOString() }, org.session);
      expect(res.body.status).toBe('upgraded');
      expect(priceUpdates(org.subscriptionId).map((r) => r.body.proration_date)).toEqual([String(prorationDate.getTime() / 1000)]);
    }
  });
});

describe('a prorationDate that no longer stands', () => {
  /** changePlan to Team at NOW with the date: refused with the code, and nothing of Stripe or the database changed. */
  async function refused(org: { orgId: string; session: object }, prorationDate: unknown, code: string, status: number) {
    const before = await paymentsAndStripe(db.pool, api.fake, org.orgId);
    const res = await at(NOW, 'changePlan', { planId: PLANS.team, prorationDate }, org.session);
    expect(res.status).toBe(status);
    expect(res.body.extensions.code).toBe(code);
    expect(await paymentsAndStripe(db.pool, api.fake, org.orgId)).toEqual(before);
    return res.body.message as string;
  }

  it('older than half an hour: PRORATION_DATE_STALE, nothing done', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const message = await refused(org, later(-PRORATION_DATE_MAX_AGE_MS - 1000).toISOString(), 'PRORATION_DATE_STALE', 409);
    expect(message).toMatch(/more than 30 minutes old: preview the change again/);
  });

  it('from before the current period (the preview was of the last one): PRORATION_DATE_STALE, nothing done', async () => {
    // The period renewed 10 minutes ago; the preview was made 15 minutes ago, in the period before.
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro, { period: { start: later(-10 * 60_000), end: days(30) } });
    const message = await refused(org, later(-15 * 60_000).toISOString(), 'PRORATION_DATE_STALE', 409);
    expect(message).toMatch(/not in the subscription's current period/);
  });

  it('later than the api’s clock by more than a few seconds: INVALID_INPUT, nothing done', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const message = await refused(org, later(PRORATION_DATE_SKEW_MS + 1000).toISOString(), 'INVALID_INPUT', 400);
    expect(message).toMatch(/later than the server's time/);
  });

  it('not a timestamp: INVALID_INPUT, nothing done', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    for (const value of ['yesterday', '2026-11-22', String(Math.floor(NOW.getTime() / 1000)), Math.floor(NOW.getTime() / 1000), {}]) {
      expect(await refused(org, value, 'INVALID_INPUT', 400)).toMatch(/prorationDate/);
    }
  });

  it('is refused before the upgrade undoes a pending change: the cancellation at the period end stays, in Stripe and here', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    expect((await at(NOW, 'changePlan', { planId: PLANS.free }, org.session)).body.status).toBe('scheduled');
    await refused(org, later(-PRORATION_DATE_MAX_AGE_MS - 60_000).toISOString(), 'PRORATION_DATE_STALE', 409);
    expect(api.fake.objects.get(org.subscriptionId)!.cancel_at_period_end).toBe(true);
  });
});

describe('a prorationDate with another change than an upgrade', () => {
  it('is ignored: nothing is prorated (a downgrade at the period end, the same plan, a Checkout)', async () => {
    const stale = later(-2 * 3_600_000).toISOString();
    const team = await subscribedOrg(db.pool, api.fake, PLANS.team);
    const down = await at(NOW, 'changePlan', { planId: PLANS.pro, prorationDate: stale }, team.session);
    expect(down.body).toMatchObject({ status: 'scheduled', effectiveAt: days(20).toISOString() });
    const same = await at(NOW, 'changePlan', { planId: PLANS.team, prorationDate: stale }, team.session);
    expect(same.body.status).toBe('unchanged');
    const free = await createOrg(db.pool, { plan: 'free' });
    const checkout = await at(NOW, 'changePlan', { planId: PLANS.pro, prorationDate: stale }, free.session);
    expect(checkout.body.status).toBe('checkout_required');
  });
});
