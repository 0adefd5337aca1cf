// Plan changes where Stripe and the database could come apart: an upgrade that is not paid after a
// pending change was undone in Stripe, two tabs at once, a change between a period's end and the
// roll, a past-due subscription, Stripe's own cancellations, and subscription Checkouts completed
// late or twice. Each ends with what Stripe bills and what the database says agreeing.

import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createOrg, NOW, PLANS } from '../helpers.ts';
import { PLAN_PRICES, startPaymentsApi, stripeEvent, subscribedOrg } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

const PRO_V1 = 'a0000000-0000-4000-8000-000000000012';
const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000);
const periodEnd = days(20);
const PRICE: Record<string, string> = { ...PLAN_PRICES, [PRO_V1]: 'price_pro_v1_monthly' };

const subscriptionRow = async (orgId: string) =>
  (
    await db.pool.query(
      `select s.plan_id, s.status, s.stripe_subscription_id, s.stripe_schedule_id, s.pending_plan_id, s.pending_change_at,
              s.cancel_at_period_end, s.current_period_start, s.current_period_end
       from public.organization_subscriptions s where s.organization_id = $1`,
      [orgId],
    )
  ).rows[0];

const inStripe = (subscriptionId: string) => {
  const s = api.fake.objects.get(subscriptionId)!;
  return {
    price: s.items.data[0].price.id as string,
    cancelAtPeriodEnd: s.cancel_at_period_end as boolean,
    schedule: s.schedule as string | null,
  };
};

const allowances = async (orgId: string) =>
  (
    await db.pool.query(
      "select external_ref, amount_credits from public.credit_grants where organization_id = $1 and source = 'plan_allowance' order by created_at, external_ref",
      [orgId],
    )
  ).rows;

async function declinedUpgrade(session: object) {
  api.fake.chargeMode = 'decline';
  try {
    const res = await api.action('changePlan', { planId: PLANS.team }, session);
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe('PAYMENT_PROVIDER_ERROR');
  } finally {
    api.fake.chargeMode = 'succeed';
  }
}

describe('an upgrade that is not paid', () => {
  it('puts back the cancellation at the period end that it withdrew, so the org still goes to free with Stripe', async () => {
    api.now = NOW;
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    expect((await api.action('changePlan', { planId: PLANS.free }, org.session)).body.status).toBe('scheduled');
    await declinedUpgrade(org.session);
    expect(inStripe(org.subscriptionId).cancelAtPeriodEnd).toBe(true);
    expect(await subscriptionRow(org.orgId)).toMatchObject({ plan_id: PLANS.pro, pending_plan_id: PLANS.free, cancel_at_period_end: true });
  });

  it('schedules the pending downgrade again, so that it can still be cancelled and Stripe bills what the roll applies', async () => {
    api.now = NOW;
    const org = await subscribedOrg(db.pool, api.fake, PRO_V1, { priceId: PRICE[PRO_V1]! });
    expect((await api.action('changePlan', { planId: PLANS.pro }, org.session)).body.status).toBe('scheduled');
    const before = (await subscriptionRow(org.orgId)).stripe_schedule_id;
    await declinedUpgrade(org.session);
    const row = await subscriptionRow(org.orgId);
    expect(row).toMatchObject({ plan_id: PRO_V1, pending_plan_id: PLANS.pro });
    expect(row.stripe_schedule_id).not.toBe(before);
    expect(api.fake.objects.get(row.stripe_schedule_id)!.status).toBe('active');
    expect(inStripe(org.subscriptionId).schedule).toBe(row.stripe_schedule_id);
    api.now = new Date(NOW.getTime() + 60_000);
    const cancel = await api.action('cancelPlanChange', {}, org.session);
    api.now = NOW;
    expect(cancel.body.status).toBe('canceled');
    expect(inStripe(org.subscriptionId).schedule).toBe(null);
  });

  it('can be tried again once the card is fixed (each request its own idempotency key)', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    api.now = NOW;
    await declinedUpgrade(org.session);
    api.now = new Date(NOW.getTime() + 2 * 3_600_000);
    const again = await api.action('changePlan', { planId: PLANS.team }, org.session);
    api.now = NOW;
    expect(again.body.status).toBe('upgraded');
    expect((await subscriptionRow(org.orgId)).plan_id).toBe(PLANS.team);
    const keys = api.fake.requestsTo('POST', `/v1/subscriptions/${org.subscriptionId}`).map((r) => r.idempotencyKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('plan changes', () => {
  it('take turns when two tabs change the plan at once: the database says what Stripe does', async () => {
    for (let round = 0; round < 4; round++) {
      api.now = new Date(NOW.getTime() + round * 1000);
      const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
      const [up, down] = await Promise.all([
        api.action('changePlan', { planId: PLANS.team }, org.session),
        api.action('changePlan', { planId: PLANS.free }, org.session),
      ]);
      expect([up.body.status, down.body.status].sort()).toEqual(['scheduled', 'upgraded']);
      const row = await subscriptionRow(org.orgId);
      const stripe = inStripe(org.subscriptionId);
      expect(stripe.price).toBe(PRICE[row.plan_id]);
      expect(stripe.cancelAtPeriodEnd).toBe(row.cancel_at_period_end);
      expect(row.pending_plan_id === PLANS.free).toBe(stripe.cancelAtPeriodEnd);
    }
    api.now = NOW;
  });

  it('after a period has ended but before the roll, apply to the new period: the roll comes first', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.team);
    api.now = new Date(periodEnd.getTime() + 20 * 60_000);
    const res = await api.action('changePlan', { planId: PLANS.pro }, org.session);
    api.now = NOW;
    const row = await subscriptionRow(org.orgId);
    // The ended period was rolled: Team's allowance for the new one, and the downgrade at its end.
    expect(row.current_period_start.toISOString()).toBe(periodEnd.toISOString());
    expect(res.body).toMatchObject({ status: 'scheduled', effectiveAt: row.current_period_end.toISOString() });
    expect(row).toMatchObject({ plan_id: PLANS.team, pending_plan_id: PLANS.pro });
    expect((await allowances(org.orgId)).map((g) => g.amount_credits)).toEqual(['2000.000', '2000.000']);
  });

  it('refuse an upgrade while the renewal is unpaid (past_due): it would grant the unpaid period', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    // The renewal failed in Stripe.
    await api.webhook(
      stripeEvent('customer.subscription.updated', api.fake.changeSubscription(org.subscriptionId, { status: 'past_due' }), {
        created: days(1),
      }),
    );
    const before = { row: await subscriptionRow(org.orgId), grants: await allowances(org.orgId) };
    api.now = days(2);
    const up = await api.action('changePlan', { planId: PLANS.team }, org.session);
    api.now = NOW;
    expect(up.status).toBe(400);
    expect(up.body.extensions.code).toBe('INVALID_INPUT');
    expect(up.body.message).toMatch(/last payment did not go through/);
    expect({ row: await subscriptionRow(org.orgId), grants: await allowances(org.orgId) }).toEqual(before);
    expect(inStripe(org.subscriptionId).price).toBe('price_pro_v2_monthly');
  });
});

describe("Stripe's own word on a subscription", () => {
  it('a cancellation at the period end from Stripe makes the pending change "to free", whatever was pending', async () => {
    api.now = NOW;
    const org = await subscribedOrg(db.pool, api.fake, PRO_V1, { priceId: PRICE[PRO_V1]! });
    await api.action('changePlan', { planId: PLANS.pro }, org.session);
    // Cancelled at the period end in Stripe's dashboard.
    await api.webhook(
      stripeEvent('customer.subscription.updated', api.fake.changeSubscription(org.subscriptionId, { cancel_at_period_end: true }), {
        created: days(1),
      }),
    );
    expect(await subscriptionRow(org.orgId)).toMatchObject({ pending_plan_id: PLANS.free, cancel_at_period_end: true });
    await api.cron('roll_billing_periods', new Date(periodEnd.getTime() + 60_000));
    expect(await subscriptionRow(org.orgId)).toMatchObject({ plan_id: PLANS.free, stripe_subscription_id: null, pending_plan_id: null });
  });

  it('a cancellation withdrawn in Stripe drops the pending move to free, so the roll keeps the plan Stripe renews', async () => {
    api.now = NOW;
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    await api.action('changePlan', { planId: PLANS.free }, org.session);
    // The cancellation withdrawn in Stripe's dashboard.
    await api.webhook(
      stripeEvent('customer.subscription.updated', api.fake.changeSubscription(org.subscriptionId, { cancel_at_period_end: false }), {
        created: days(1),
      }),
    );
    expect(await subscriptionRow(org.orgId)).toMatchObject({ pending_plan_id: null, pending_change_at: null, cancel_at_period_end: false });
    await api.cron('roll_billing_periods', new Date(periodEnd.getTime() + 60_000));
    expect(await subscriptionRow(org.orgId)).toMatchObject({ plan_id: PLANS.pro, stripe_subscription_id: org.subscriptionId });
  });
});

describe('subscription Checkouts completed late or twice', () => {
  async function checkout(orgId: string, session: object, at: Date) {
    api.now = at;
    const res = await api.action('changePlan', { planId: PLANS.pro }, session);
    api.now = NOW;
    const call = api.fake
      .requestsTo('POST', '/v1/checkout/sessions')
      .filter((r) => r.body.metadata.organization_id === orgId)
      .at(-1)!;
    const subscription = api.fake.createSubscription({
      customer: call.body.customer,
      priceId: 'price_pro_v2_monthly',
      periodStart: NOW,
      periodEnd: days(30),
    });
    const invoice = api.fake.payFirstInvoice(subscription.id, 1900);
    const completed = stripeEvent('checkout.session.completed', {
      id: res.body.checkoutUrl.split('/').pop(),
      object: 'checkout.session',
      mode: 'subscription',
      status: 'complete',
      payment_status: 'paid',
      subscription: subscription.id,
      invoice,
      payment_intent: null,
      metadata: call.body.metadata,
    });
    return { subscription, completed, invoice };
  }

  const refundsOf = (invoice: string) => {
    const payment = [...api.fake.objects.values()].find((o) => o.object === 'invoice_payment' && o.invoice === invoice)!;
    return api.fake.requestsTo('POST', '/v1/refunds').filter((r) => r.body.payment_intent === payment.payment.payment_intent);
  };

  it('a second paid subscription is not applied over the first: it is canceled and refunded, and the owners are told', async () => {
    const org = await createOrg(db.pool, { plan: 'free' });
    const first = await checkout(org.orgId, org.session, NOW);
    const second = await checkout(org.orgId, org.session, new Date(NOW.getTime() + 3_600_000));
    expect((await api.webhook(first.completed)).body.outcome).toBe('processed');
    expect((await api.webhook(second.completed)).body.outcome).toBe('processed');
    expect(await subscriptionRow(org.orgId)).toMatchObject({ plan_id: PLANS.pro, stripe_subscription_id: first.subscription.id });
    expect((await allowances(org.orgId)).map((g) => g.amount_credits)).toEqual(['500.000']);
    expect(api.fake.objects.get(second.subscription.id)!.status).toBe('canceled');
    expect(api.fake.objects.get(first.subscription.id)!.status).toBe('active');
    expect(refundsOf(second.invoice).map((r) => r.body.reason)).toEqual(['duplicate']);
    expect(refundsOf(first.invoice)).toEqual([]);
    const notices = await db.pool.query('select title from public.notifications where organization_id = $1 and dedupe_key like $2', [
      org.orgId,
      'subscription_duplicate:%',
    ]);
    expect(notices.rows).toEqual([{ title: 'A second subscription was paid, and refunded' }]);
    // Delivered again: nothing more happens in Stripe or here.
    expect((await api.webhook(second.completed)).body.outcome).toBe('duplicate');
    expect(refundsOf(second.invoice)).toHaveLength(1);
  });

  it('two first subscriptions completed at once: one applies, the other fails its delivery and is refunded on the next', async () => {
    const org = await createOrg(db.pool, { plan: 'free' });
    const a = await checkout(org.orgId, org.session, NOW);
    const b = await checkout(org.orgId, org.session, NOW);
    const answers = await Promise.all([api.webhook(a.completed), api.webhook(b.completed)]);
    const failed = answers.findIndex((r) => r.status !== 200);
    if (failed === -1) {
      // Taken in turn rather than at once: the second saw the first and was refunded at its first delivery.
      expect(answers.map((r) => r.body.outcome).sort()).toEqual(['processed', 'processed']);
    } else {
      expect(answers[1 - failed]!.body.outcome).toBe('processed');
      const again = await api.webhook([a, b][failed]!.completed);
      expect(again.body.outcome).toBe('processed');
    }
    const tracked = (await subscriptionRow(org.orgId)).stripe_subscription_id;
    const [kept, extra] = tracked === a.subscription.id ? [a, b] : [b, a];
    expect(api.fake.objects.get(kept.subscription.id)!.status).toBe('active');
    expect(api.fake.objects.get(extra.subscription.id)!.status).toBe('canceled');
    expect(refundsOf(extra.invoice)).toHaveLength(1);
    expect(refundsOf(kept.invoice)).toEqual([]);
    expect((await allowances(org.orgId)).map((g) => g.amount_credits)).toEqual(['500.000']);
  });

  it('a subscription paid while the tracked one has ended in Stripe (its deletion not delivered yet) is not refunded: it applies after the deletion', async () => {
    const org = await createOrg(db.pool, { plan: 'free' });
    const first = await checkout(org.orgId, org.session, NOW);
    const second = await checkout(org.orgId, org.session, NOW);
    expect((await api.webhook(first.completed)).body.outcome).toBe('processed');
    api.fake.objects.get(first.subscription.id)!.status = 'canceled';
    const early = await api.webhook(second.completed);
    expect(early.status).toBe(500);
    expect(refundsOf(second.invoice)).toEqual([]);
    expect(api.fake.objects.get(second.subscription.id)!.status).toBe('active');
    await api.webhook(
      stripeEvent('customer.subscription.deleted', {
        ...api.fake.objects.get(first.subscription.id)!,
        cancellation_details: { reason: 'cancellation_requested' },
      }),
    );
    expect((await api.webhook(second.completed)).body.outcome).toBe('processed');
    expect(await subscriptionRow(org.orgId)).toMatchObject({ plan_id: PLANS.pro, stripe_subscription_id: second.subscription.id });
    expect(refundsOf(second.invoice)).toEqual([]);
  });

  it('a completion delivered after the subscription was deleted leaves the org on its plan', async () => {
    const org = await createOrg(db.pool, { plan: 'free' });
    const { subscription, completed } = await checkout(org.orgId, org.session, NOW);
    subscription.status = 'canceled';
    const deleted = await api.webhook(
      stripeEvent('customer.subscription.deleted', { ...subscription, cancellation_details: { reason: 'cancellation_requested' } }),
    );
    expect(deleted.body.outcome).toBe('ignored');
    expect((await api.webhook(completed)).body.outcome).toBe('ignored');
    expect(await subscriptionRow(org.orgId)).toMatchObject({ plan_id: PLANS.free, stripe_subscription_id: null });
    expect(await allowances(org.orgId)).toEqual([]);
  });
});

describe('many plan changes at once', () => {
  // Should a change ever hang on its lock again, free the api so that the file can end.
  afterAll(() =>
    db.pool.query(`select pg_terminate_backend(l.pid) from pg_locks l where l.locktype = 'advisory' and l.pid <> pg_backend_pid()`),
  );
  const within = <T>(ms: number, work: Promise<T>) =>
    Promise.race([work, new Promise<'timed out'>((resolve) => setTimeout(() => resolve('timed out'), ms))]);

  it('25 from one owner take turns and the api keeps answering other organizations', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const other = await createOrg(db.pool, { credits: '10.000' });
    const storm = Array.from({ length: 25 }, () => within(15_000, api.action('changePlan', { planId: PLANS.pro }, org.session)));
    const reserve = await within(
      15_000,
      api.action(
        'reserveCredits',
        { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: randomUUID() },
        other.session,
      ),
    );
    expect(reserve).toMatchObject({ status: 200 });
    const answers = await Promise.all(storm);
    expect(answers.map((a) => (a === 'timed out' ? a : `${a.status} ${a.body.status}`))).toEqual(Array(25).fill('200 unchanged'));
  });

  it('25 organizations at once each get their change, in the database and in Stripe', async () => {
    const orgs = await Promise.all(Array.from({ length: 25 }, () => subscribedOrg(db.pool, api.fake, PLANS.pro)));
    const answers = await Promise.all(orgs.map((o) => within(15_000, api.action('changePlan', { planId: PLANS.free }, o.session))));
    expect(answers.map((a) => (a === 'timed out' ? a : `${a.status} ${a.body.status}`))).toEqual(Array(25).fill('200 scheduled'));
    for (const o of orgs) {
      expect(await subscriptionRow(o.orgId)).toMatchObject({ plan_id: PLANS.pro, pending_plan_id: PLANS.free, cancel_at_period_end: true });
      expect(inStripe(o.subscriptionId).cancelAtPeriodEnd).toBe(true);
    }
  });
});
