// previewPlanChange: what changePlan would do now (direction, when, what Stripe charges at once, the
// credits granted at once), through the fake Stripe's invoice preview, changing nothing: no row of
// the database and no object of Stripe, and no write request to Stripe.

import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { createOrg, NOW, PLANS } from '../helpers.ts';
import { addMember, paymentsAndStripe, startPaymentsApi, stripeEvent, subscribedOrg } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000);
const periodEnd = days(20);
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** Runs the preview at `at`, checking that neither the database nor Stripe changed. */
async function preview(orgId: string, input: Record<string, unknown>, session: object, at: Date = NOW) {
  const before = await paymentsAndStripe(db.pool, api.fake, orgId);
  api.now = at;
  try {
    return await api.action('previewPlanChange', input, session);
  } finally {
    api.now = NOW;
    expect(await paymentsAndStripe(db.pool, api.fake, orgId)).toEqual(before);
  }
}

describe('previewPlanChange of an upgrade of a paid subscription', () => {
  it("answers Stripe's prorated invoice (amount and currency) and the credits granted at once, changing nothing", async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const res = await preview(org.orgId, { planId: PLANS.team }, org.session);
    expect(res.status).toBe(200);
    // Pro £19 → Team £49 with 20 of 30 days left: −£12.67 unused on Pro, +£32.67 for Team.
    expect(res.body).toEqual({
      planId: PLANS.team,
      direction: 'upgrade',
      status: 'upgraded',
      effectiveAt: NOW.toISOString(),
      amountDueMinor: '2000',
      currency: 'GBP',
      creditsGrantedNow: '1500.000',
      // The second Stripe's figure was prorated at, for changePlan to be charged exactly that.
      prorationDate: NOW.toISOString(),
    });
    const [call, ...more] = api.fake.requestsTo('POST', '/v1/invoices/create_preview');
    expect(more).toEqual([]);
    expect(call!.body).toMatchObject({
      subscription: org.subscriptionId,
      subscription_details: {
        items: [{ id: org.itemId, price: 'price_team_v1_monthly' }],
        proration_behavior: 'always_invoice',
        proration_date: String(seconds(NOW)),
      },
    });
  });

  it("is prorated by the second at the api's clock, each line rounded as Stripe's invoice is", async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const at = new Date(NOW.getTime() + 12_345_000);
    const res = await preview(org.orgId, { planId: PLANS.team }, org.session, at);
    // 1,715,655 of 2,592,000 seconds left: −1900 × that = −1257.6 → −1258, 4900 × that = 3243.3 → 3243.
    expect(res.body).toMatchObject({ direction: 'upgrade', effectiveAt: at.toISOString(), amountDueMinor: '1985', currency: 'GBP' });
    const call = api.fake.requestsTo('POST', '/v1/invoices/create_preview').at(-1)!;
    expect(call.body.subscription_details.proration_date).toBe(String(seconds(at)));
    // The answer names that very second (Stripe takes whole seconds), not the clock's milliseconds.
    const withMilliseconds = new Date(at.getTime() + 789);
    const again = await preview(org.orgId, { planId: PLANS.team }, org.session, withMilliseconds);
    expect(again.body).toMatchObject({ effectiveAt: withMilliseconds.toISOString(), prorationDate: at.toISOString() });
    expect(api.fake.requestsTo('POST', '/v1/invoices/create_preview').at(-1)!.body.subscription_details.proration_date).toBe(
      String(seconds(at)),
    );
  });

  it('is refused, as changePlan is, while the renewal is unpaid; and when Stripe fails, PAYMENT_PROVIDER_ERROR', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    api.fake.failing = /create_preview/;
    try {
      const down = await preview(org.orgId, { planId: PLANS.team }, org.session);
      expect(down.status).toBe(400);
      expect(down.body.extensions.code).toBe('PAYMENT_PROVIDER_ERROR');
    } finally {
      api.fake.failing = null;
    }
    await api.webhook(
      stripeEvent('customer.subscription.updated', api.fake.changeSubscription(org.subscriptionId, { status: 'past_due' }), {
        created: days(1),
      }),
    );
    const res = await preview(org.orgId, { planId: PLANS.team }, org.session, days(2));
    const change = await api.action('changePlan', { planId: PLANS.team }, org.session);
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe(change.body.extensions.code);
    expect(res.body.message).toMatch(/last payment did not go through/);
  });
});

describe('previewPlanChange of other changes', () => {
  it('a downgrade charges nothing now and applies at the period end, without asking Stripe', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.team);
    const calls = api.fake.requests.length;
    for (const planId of [PLANS.pro, PLANS.free]) {
      const res = await preview(org.orgId, { planId }, org.session);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        planId,
        direction: 'downgrade',
        status: 'scheduled',
        effectiveAt: periodEnd.toISOString(),
        amountDueMinor: '0',
        currency: 'GBP',
        creditsGrantedNow: '0.000',
        prorationDate: null,
      });
    }
    expect(api.fake.requests.length).toBe(calls);
  });

  it('the plan the org is on: the same, nothing to pay', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const res = await preview(org.orgId, { planId: PLANS.pro }, org.session);
    expect(res.body).toMatchObject({ direction: 'same', status: 'unchanged', effectiveAt: null, amountDueMinor: '0', prorationDate: null });
  });

  it("from Free: a Checkout for the plan's price, once paid (nothing granted before)", async () => {
    const org = await createOrg(db.pool, { plan: 'free' });
    const res = await preview(org.orgId, { planId: PLANS.pro }, org.session);
    expect(res.body).toEqual({
      planId: PLANS.pro,
      direction: 'upgrade',
      status: 'checkout_required',
      effectiveAt: null,
      amountDueMinor: '1900',
      currency: 'GBP',
      creditsGrantedNow: '0.000',
      prorationDate: null,
    });
    expect(api.fake.requestsTo('POST', '/v1/checkout/sessions').filter((r) => r.body.metadata.organization_id === org.orgId)).toEqual([]);
  });

  it('after the period has ended, before the roll: the dates of the next period, as changePlan would apply, and no roll', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.team);
    const res = await preview(org.orgId, { planId: PLANS.pro }, org.session, new Date(periodEnd.getTime() + 20 * 60_000));
    // The period 12 Nov – 12 Dec is rolled to 12 Dec – 12 Jan (a month after the anchor, as Stripe bills).
    expect(res.body).toMatchObject({ direction: 'downgrade', status: 'scheduled', effectiveAt: '2027-01-12T10:15:00.000Z' });
  });

  it('an offered plan only, as changePlan', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const res = await preview(org.orgId, { planId: 'a0000000-0000-4000-8000-000000000012' }, org.session);
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe('INVALID_INPUT');
  });
});

describe('who may preview a plan change', () => {
  it('a member is refused with the code changePlan answers them, and an admin may', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const member = await addMember(db.pool, org.orgId, 'member');
    const res = await preview(org.orgId, { planId: PLANS.team }, member);
    expect(res.status).toBe(403);
    expect(res.body.extensions.code).toBe('FORBIDDEN');
    expect(res.body.extensions.code).toBe((await api.action('changePlan', { planId: PLANS.team }, member)).body.extensions.code);
    const admin = await addMember(db.pool, org.orgId, 'admin');
    expect((await preview(org.orgId, { planId: PLANS.team }, admin)).body).toMatchObject({ amountDueMinor: '2000' });
  });

  it("another organization's id is refused (FORBIDDEN), as is a session naming an org the person is not a member of", async () => {
    const mine = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const theirs = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const calls = api.fake.requests.length;
    const before = await paymentsAndStripe(db.pool, api.fake, theirs.orgId);
    const aimed = await preview(mine.orgId, { planId: PLANS.team, organizationId: theirs.orgId }, mine.session);
    expect(aimed.status).toBe(403);
    expect(aimed.body.extensions.code).toBe('FORBIDDEN');
    const forged = await preview(theirs.orgId, { planId: PLANS.team }, { ...mine.session, orgId: theirs.orgId });
    expect(forged.status).toBe(403);
    expect(forged.body.extensions.code).toBe('FORBIDDEN');
    expect(api.fake.requests.length).toBe(calls);
    expect(await paymentsAndStripe(db.pool, api.fake, theirs.orgId)).toEqual(before);
    // Its own id is fine.
    const own = await preview(mine.orgId, { planId: PLANS.team, organizationId: mine.orgId }, mine.session);
    expect(own.body).toMatchObject({ amountDueMinor: '2000' });
  });
});
