// Plans (subscribe through Checkout, upgrade now and prorated, downgrade at the period end and its
// cancellation, subscription events out of order) and the cron jobs (period roll with the
// allowance once per period, reservations expiry, usage notifications). Real Postgres, real HTTP,
// a fake Stripe server at the edge.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { PRUNE_PLAYGROUND_RUNS_SQL, PRUNE_STRIPE_EVENTS_SQL } from '../../src/jobs/index.ts';
import { createOrg, NOW, PLANS } from '../helpers.ts';
import {
  addMember,
  availableAt,
  paymentState,
  periodKey,
  spend,
  startPaymentsApi,
  stripeEvent,
  subscribedOrg,
  WEB_ORIGIN,
} from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000);
const periodStart = days(-10);
const periodEnd = days(20);

const allowanceGrants = async (orgId: string) =>
  (
    await db.pool.query<{ amount_credits: string; external_ref: string }>(
      "select amount_credits, external_ref from public.credit_grants where organization_id = $1 and source = 'plan_allowance' order by created_at, external_ref",
      [orgId],
    )
  ).rows;

const subscriptionOf = async (orgId: string) =>
  (await db.pool.query('select * from public.organization_subscriptions where organization_id = $1', [orgId])).rows[0];

describe('changePlan', () => {
  it('sends a free org to a subscription Checkout, and applies the plan with its allowance when Stripe says it is paid', async () => {
    const org = await createOrg(db.pool, { plan: 'free' });
    const res = await api.action('changePlan', { planId: PLANS.pro }, org.session);
    expect(res.body).toMatchObject({ status: 'checkout_required', planId: PLANS.pro, effectiveAt: null });
    expect(res.body.checkoutUrl).toMatch(/^https:\/\/checkout\.stripe\.test\//);
    const [call] = api.fake.requestsTo('POST', '/v1/checkout/sessions').filter((r) => r.body.metadata.organization_id === org.orgId);
    expect(call!.body).toMatchObject({
      mode: 'subscription',
      line_items: [{ price: 'price_pro_v2_monthly', quantity: '1' }],
      success_url: `${WEB_ORIGIN}/billing?plan=success`,
      cancel_url: `${WEB_ORIGIN}/billing?plan=canceled`,
      metadata: { plan_id: PLANS.pro },
    });
    expect((await subscriptionOf(org.orgId)).plan_id).toBe(PLANS.free);

    const subscription = api.fake.createSubscription({
      customer: call!.body.customer,
      priceId: 'price_pro_v2_monthly',
      periodStart: NOW,
      periodEnd: days(30),
    });
    const session = {
      id: res.body.checkoutUrl.split('/').pop(),
      object: 'checkout.session',
      mode: 'subscription',
      status: 'complete',
      payment_status: 'paid',
      subscription: subscription.id,
      payment_intent: null,
      metadata: call!.body.metadata,
    };
    const event = stripeEvent('checkout.session.completed', session);
    await api.webhook(event);
    await api.webhook(event);
    const sub = await subscriptionOf(org.orgId);
    expect(sub).toMatchObject({ plan_id: PLANS.pro, status: 'active', stripe_subscription_id: subscription.id });
    expect(sub.current_period_start.toISOString()).toBe(NOW.toISOString());
    expect(await allowanceGrants(org.orgId)).toEqual([{ amount_credits: '500.000', external_ref: 'plan_allowance:2026-11-22T10:15:00Z' }]);
  });

  it('grants the whole allowance to a subscription paid on the day the free period began, as on any other day', async () => {
    const org = await createOrg(db.pool, { plan: 'free' });
    const midnight = new Date('2026-11-22T00:00:00Z');
    await db.pool.query(
      `update public.organization_subscriptions set current_period_start = $2, current_period_end = $3, billing_anchor_at = $2
       where organization_id = $1`,
      [org.orgId, midnight, new Date('2026-12-22T00:00:00Z')],
    );
    await db.pool.query('select public.grant_period_allowance($1, $2)', [org.orgId, new Date('2026-11-22T00:05:00Z')]);
    const res = await api.action('changePlan', { planId: PLANS.pro }, org.session);
    const [call] = api.fake.requestsTo('POST', '/v1/checkout/sessions').filter((r) => r.body.metadata.organization_id === org.orgId);
    const subscription = api.fake.createSubscription({
      customer: call!.body.customer,
      priceId: 'price_pro_v2_monthly',
      periodStart: NOW,
      periodEnd: days(30),
    });
    await api.webhook(
      stripeEvent('checkout.session.completed', {
        id: res.body.checkoutUrl.split('/').pop(),
        object: 'checkout.session',
        mode: 'subscription',
        status: 'complete',
        payment_status: 'paid',
        subscription: subscription.id,
        payment_intent: null,
        metadata: call!.body.metadata,
      }),
    );
    expect(await allowanceGrants(org.orgId)).toEqual([
      { amount_credits: '10.000', external_ref: 'plan_allowance:2026-11-22' },
      { amount_credits: '500.000', external_ref: 'plan_allowance:2026-11-22T10:15:00Z' },
    ]);
    expect(await availableAt(db.pool, org.orgId)).toBe('510.000');
  });

  it('answers the same subscription Checkout to a second request for the plan, so it cannot be paid for twice', async () => {
    const org = await createOrg(db.pool, { plan: 'free' });
    const first = await api.action('changePlan', { planId: PLANS.pro }, org.session);
    // A minute later, from another tab.
    api.now = new Date(NOW.getTime() + 60_000);
    const second = await api.action('changePlan', { planId: PLANS.pro }, org.session).finally(() => {
      api.now = NOW;
    });
    expect(second.body).toEqual(first.body);
    const calls = api.fake.requestsTo('POST', '/v1/checkout/sessions').filter((r) => r.body.metadata.organization_id === org.orgId);
    expect(new Set(calls.map((c) => c.idempotencyKey)).size).toBe(1);
  });

  it('upgrades at once with a prorated invoice, granting the allowance difference once', async () => {
    api.fake.chargeMode = 'succeed';
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const res = await api.action('changePlan', { planId: PLANS.team }, org.session);
    expect(res.body).toMatchObject({ status: 'upgraded', planId: PLANS.team, effectiveAt: NOW.toISOString() });
    const update = api.fake.requestsTo('POST', `/v1/subscriptions/${org.subscriptionId}`).at(-1)!;
    expect(update.body).toMatchObject({
      items: [{ price: 'price_team_v1_monthly' }],
      proration_behavior: 'always_invoice',
      payment_behavior: 'pending_if_incomplete',
    });
    expect((await subscriptionOf(org.orgId)).plan_id).toBe(PLANS.team);
    const grants = await allowanceGrants(org.orgId);
    expect(grants.map((g) => g.amount_credits)).toEqual(['500.000', '1500.000']);

    // Stripe's invoice.paid for the proration, and the same request again, change nothing more.
    const invoice = api.fake.objects.get(api.fake.objects.get(org.subscriptionId)!.latest_invoice as string)!;
    expect(invoice).toMatchObject({ billing_reason: 'subscription_update', status: 'paid' });
    await api.webhook(stripeEvent('invoice.paid', invoice));
    expect((await api.action('changePlan', { planId: PLANS.team }, org.session)).body.status).toBe('unchanged');
    expect(await allowanceGrants(org.orgId)).toEqual(grants);
  });

  it('applies a paid upgrade invoice only while the subscription bills that plan: not one delivered after the plan changed again', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const before = await paymentState(db.pool, org.orgId);
    const stale = {
      id: `in_stale_${org.orgId.slice(0, 8)}`,
      object: 'invoice',
      status: 'paid',
      billing_reason: 'subscription_update',
      // Two days before this period began.
      created: Math.floor(days(-12).getTime() / 1000),
      parent: { type: 'subscription_details', subscription_details: { subscription: org.subscriptionId } },
      lines: { object: 'list', data: [{ pricing: { price_details: { price: 'price_team_v1_monthly' } } }] },
    };
    const res = await api.webhook(stripeEvent('invoice.paid', stale));
    expect(res).toMatchObject({ status: 200, body: { outcome: 'ignored' } });
    expect((await subscriptionOf(org.orgId)).plan_id).toBe(PLANS.pro);
    expect(await paymentState(db.pool, org.orgId)).toEqual(before);
    // Paid late (after the period rolled, say) while Stripe bills Team: it applies, whatever its dates.
    const item = (api.fake.objects.get(org.subscriptionId)!.items as { data: { price: { id: string } }[] }).data[0]!;
    item.price.id = 'price_team_v1_monthly';
    await api.webhook(stripeEvent('invoice.paid', { ...stale, id: `${stale.id}_paid_late` }));
    expect((await subscriptionOf(org.orgId)).plan_id).toBe(PLANS.team);
  });

  it('refuses an upgrade whose prorated invoice is declined, and nothing changes', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const before = await paymentState(db.pool, org.orgId);
    api.fake.chargeMode = 'decline';
    const res = await api.action('changePlan', { planId: PLANS.team }, org.session);
    api.fake.chargeMode = 'succeed';
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe('PAYMENT_PROVIDER_ERROR');
    expect(await paymentState(db.pool, org.orgId)).toEqual(before);
  });

  it('schedules a downgrade for the period end, shows it pending, and cancels it', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.team);
    const res = await api.action('changePlan', { planId: PLANS.pro }, org.session);
    expect(res.body).toMatchObject({ status: 'scheduled', planId: PLANS.pro, effectiveAt: periodEnd.toISOString() });
    const pending = await subscriptionOf(org.orgId);
    expect(pending).toMatchObject({ plan_id: PLANS.team, pending_plan_id: PLANS.pro });
    expect(pending.pending_change_at.toISOString()).toBe(periodEnd.toISOString());
    const scheduleId = pending.stripe_schedule_id as string;
    expect(api.fake.objects.get(scheduleId)).toMatchObject({ subscription: org.subscriptionId, status: 'active', end_behavior: 'release' });
    expect(api.fake.objects.get(scheduleId)!.phases.map((p: { items: { price: string }[] }) => p.items[0]!.price)).toEqual([
      'price_team_v1_monthly',
      'price_pro_v2_monthly',
    ]);

    const canceled = await api.action('cancelPlanChange', {}, org.session);
    expect(canceled.body).toMatchObject({ status: 'canceled', planId: PLANS.team });
    expect(api.fake.objects.get(scheduleId)!.status).toBe('released');
    expect(await subscriptionOf(org.orgId)).toMatchObject({ plan_id: PLANS.team, pending_plan_id: null, stripe_schedule_id: null });
    expect((await api.action('cancelPlanChange', {}, org.session)).body.status).toBe('unchanged');
  });

  it('applies a scheduled downgrade at the period end, with the new allowance once, even when two rolls race', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.team);
    await api.action('changePlan', { planId: PLANS.pro }, org.session);
    const after = new Date(periodEnd.getTime() + 3_600_000);
    const runs = await Promise.all([api.cron('roll_billing_periods', after), api.cron('roll_billing_periods', after)]);
    expect(runs.map((r) => r.status)).toEqual([200, 200]);
    const sub = await subscriptionOf(org.orgId);
    expect(sub).toMatchObject({ plan_id: PLANS.pro, pending_plan_id: null });
    expect(sub.current_period_start.toISOString()).toBe(periodEnd.toISOString());
    expect(await allowanceGrants(org.orgId)).toEqual([
      { amount_credits: '2000.000', external_ref: `plan_allowance:${periodKey(periodStart)}` },
      { amount_credits: '500.000', external_ref: `plan_allowance:${periodKey(periodEnd)}` },
    ]);
  });

  it('cancels the subscription at the period end for a move to free, and the org is on free after the roll', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const res = await api.action('changePlan', { planId: PLANS.free }, org.session);
    expect(res.body).toMatchObject({ status: 'scheduled', planId: PLANS.free });
    expect(api.fake.objects.get(org.subscriptionId)!.cancel_at_period_end).toBe(true);
    await api.cron('roll_billing_periods', new Date(periodEnd.getTime() + 60_000));
    expect(await subscriptionOf(org.orgId)).toMatchObject({
      plan_id: PLANS.free,
      stripe_subscription_id: null,
      cancel_at_period_end: false,
    });
    expect((await allowanceGrants(org.orgId)).at(-1)).toEqual({
      amount_credits: '10.000',
      external_ref: `plan_allowance:${periodKey(periodEnd)}`,
    });
  });

  it('is for owners and admins only: a member gets FORBIDDEN and nothing changes', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const member = await addMember(db.pool, org.orgId, 'member');
    const before = await paymentState(db.pool, org.orgId);
    const calls = api.fake.requests.length;
    for (const [name, input] of [
      ['changePlan', { planId: PLANS.team }],
      ['cancelPlanChange', {}],
    ] as const) {
      const res = await api.action(name, input, member);
      expect(res.status).toBe(403);
      expect(res.body.extensions.code).toBe('FORBIDDEN');
    }
    expect(api.fake.requests.length).toBe(calls);
    expect(await paymentState(db.pool, org.orgId)).toEqual(before);
    const admin = await addMember(db.pool, org.orgId, 'admin');
    expect((await api.action('changePlan', { planId: PLANS.team }, admin)).body.status).toBe('upgraded');
  });
});

describe('subscription events', () => {
  it('keeps the newest state when subscription events arrive out of order, and returns the org to free when it is deleted', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const object = api.fake.objects.get(org.subscriptionId)!;
    // In Stripe: a new card on day 1 (still active), the renewal failed on day 2; delivered newest first.
    const cardChanged = api.fake.changeSubscription(org.subscriptionId, { default_payment_method: 'pm_new' });
    const pastDue = api.fake.changeSubscription(org.subscriptionId, { status: 'past_due' });
    await api.webhook(stripeEvent('customer.subscription.updated', pastDue, { created: days(2) }));
    const late = await api.webhook(stripeEvent('customer.subscription.updated', cardChanged, { created: days(1) }));
    expect(late.body.outcome).toBe('ignored');
    expect((await subscriptionOf(org.orgId)).status).toBe('past_due');
    expect((await paymentState(db.pool, org.orgId)).notifications.map((n) => n.kind)).toEqual(['payment_failed']);

    await spend(db.pool, org.orgId, '120.000');
    await api.webhook(stripeEvent('customer.subscription.deleted', { ...object, status: 'canceled' }, { created: days(3) }));
    const sub = await subscriptionOf(org.orgId);
    expect(sub).toMatchObject({ plan_id: PLANS.free, status: 'active', stripe_subscription_id: null });
    // The unpaid period's allowance: what was left of it is taken back; free's own is granted.
    const { rows } = await db.pool.query(
      `select g.external_ref, g.amount_credits, g.remaining_credits from public.credit_grants g
       where g.organization_id = $1 and g.source = 'plan_allowance' order by g.external_ref`,
      [org.orgId],
    );
    expect(rows).toEqual([
      { external_ref: `plan_allowance:${periodKey(periodStart)}`, amount_credits: '500.000', remaining_credits: '0.000' },
      { external_ref: `plan_allowance:${periodKey(NOW)}`, amount_credits: '10.000', remaining_credits: '10.000' },
    ]);
    const clawbacks = (await paymentState(db.pool, org.orgId)).entries.filter((e) => e.entry_type === 'clawback');
    expect(clawbacks.map((e) => e.amount_credits)).toEqual(['-380.000']);
    expect(await availableAt(db.pool, org.orgId)).toBe('10.000');
  });

  it('tells the owners of a failed renewal once, not at every update Stripe sends while it stays past_due, and again after it was paid', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    await addMember(db.pool, org.orgId, 'owner');
    // Changes in Stripe, each delivered after it was made.
    const changes = [
      { status: 'past_due' }, // the renewal failed
      { default_payment_method: 'pm_new' }, // the card updated in the portal
      { cancel_at_period_end: true }, // a move to free set
      { status: 'active', cancel_at_period_end: false }, // paid after all
      { status: 'past_due' }, // the next renewal failed
    ];
    const failures = async () =>
      (await db.pool.query("select 1 from public.notifications where organization_id = $1 and kind = 'payment_failed'", [org.orgId]))
        .rowCount;
    const seen: (number | null)[] = [];
    for (const [i, change] of changes.entries()) {
      const update = api.fake.changeSubscription(org.subscriptionId, change);
      expect((await api.webhook(stripeEvent('customer.subscription.updated', update, { created: days(1 + i / 10) }))).status).toBe(200);
      seen.push(await failures());
    }
    // Two owners: two notifications per failure.
    expect(seen).toEqual([2, 2, 2, 2, 4]);
  });

  it("keeps the allowance of a paid period when the subscription ends at the customer's request", async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const object = api.fake.objects.get(org.subscriptionId)!;
    await api.webhook(
      stripeEvent(
        'customer.subscription.deleted',
        { ...object, status: 'canceled', cancellation_details: { reason: 'cancellation_requested' } },
        { created: days(1) },
      ),
    );
    expect(await subscriptionOf(org.orgId)).toMatchObject({ plan_id: PLANS.free, stripe_subscription_id: null });
    expect((await paymentState(db.pool, org.orgId)).entries.filter((e) => e.entry_type === 'clawback')).toEqual([]);
    expect(await availableAt(db.pool, org.orgId)).toBe('510.000');
  });

  it('takes back the unpaid allowance when Stripe says the subscription ended for a failed payment, once', async () => {
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const object = api.fake.objects.get(org.subscriptionId)!;
    const deleted = stripeEvent(
      'customer.subscription.deleted',
      { ...object, status: 'canceled', cancellation_details: { reason: 'payment_failed' } },
      { created: days(1) },
    );
    await api.webhook(deleted);
    await api.webhook(deleted);
    expect(await availableAt(db.pool, org.orgId)).toBe('10.000');
    expect(
      (await paymentState(db.pool, org.orgId)).entries.filter((e) => e.entry_type === 'clawback').map((e) => e.amount_credits),
    ).toEqual(['-500.000']);
  });
});

describe('jobs', () => {
  it('rolls an ended period of a free org and grants its allowance once per period', async () => {
    const org = await createOrg(db.pool, { plan: 'free' });
    const first = await api.cron('roll_billing_periods', NOW);
    expect(first.status).toBe(200);
    await api.cron('roll_billing_periods', NOW);
    expect(await allowanceGrants(org.orgId)).toEqual([
      { amount_credits: '10.000', external_ref: `plan_allowance:${periodKey(periodStart)}` },
    ]);
    // Two months later: the period catches up to now, one allowance for the current period.
    await api.cron('roll_billing_periods', days(62));
    const sub = await subscriptionOf(org.orgId);
    expect(sub.current_period_start.toISOString()).toBe(new Date(Date.UTC(2027, 0, 12, 10, 15)).toISOString());
    expect((await allowanceGrants(org.orgId)).map((g) => g.external_ref)).toEqual([
      `plan_allowance:${periodKey(periodStart)}`,
      'plan_allowance:2027-01-12T10:15:00Z',
    ]);
  });

  it('counts periods from the subscription anchor as Stripe bills: 31 January, 28 February, 31 March, 30 April', async () => {
    const org = await createOrg(db.pool, { plan: 'pro' });
    const at = (month: number, day: number) => new Date(Date.UTC(2027, month - 1, day, 10, 0));
    await db.pool.query('select public.apply_plan_change($1, $2, null, $3, $4, $3)', [org.orgId, PLANS.pro, at(1, 31), at(2, 28)]);
    const periods: string[][] = [];
    for (const when of [at(3, 1), at(4, 1), at(5, 1)]) {
      await api.cron('roll_billing_periods', when);
      const sub = await subscriptionOf(org.orgId);
      periods.push([sub.current_period_start.toISOString(), sub.current_period_end.toISOString()]);
    }
    expect(periods).toEqual([
      [at(2, 28).toISOString(), at(3, 31).toISOString()],
      [at(3, 31).toISOString(), at(4, 30).toISOString()],
      [at(4, 30).toISOString(), at(5, 31).toISOString()],
    ]);
    // Each period's allowance expires at that period's end.
    const { rows } = await db.pool.query(
      `select external_ref, expires_at from public.credit_grants where organization_id = $1 and source = 'plan_allowance' order by created_at`,
      [org.orgId],
    );
    expect(rows.map((r) => [r.external_ref, r.expires_at.toISOString()])).toEqual([
      ['plan_allowance:2027-01-31T10:00:00Z', at(2, 28).toISOString()],
      ['plan_allowance:2027-02-28T10:00:00Z', at(3, 31).toISOString()],
      ['plan_allowance:2027-03-31T10:00:00Z', at(4, 30).toISOString()],
      ['plan_allowance:2027-04-30T10:00:00Z', at(5, 31).toISOString()],
    ]);
  });

  it('after a first period shorter than a month (a trial), counts the months from its end, as Stripe bills', async () => {
    const org = await createOrg(db.pool, { plan: 'pro' });
    const at = (month: number, day: number, hour = 0) => new Date(Date.UTC(2027, month - 1, day, hour, 0));
    await db.pool.query('select public.apply_plan_change($1, $2, null, $3, $4, $3)', [org.orgId, PLANS.pro, at(1, 20, 10), at(2, 1)]);
    const periods: string[][] = [];
    for (const when of [at(2, 2), at(3, 2)]) {
      await api.cron('roll_billing_periods', when);
      const sub = await subscriptionOf(org.orgId);
      periods.push([sub.current_period_start.toISOString(), sub.current_period_end.toISOString()]);
    }
    expect(periods).toEqual([
      [at(2, 1).toISOString(), at(3, 1).toISOString()],
      [at(3, 1).toISOString(), at(4, 1).toISOString()],
    ]);
  });

  it('expires reservations at the scheduled time of the cron call', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await db.pool.query("select public.reserve_credits($1, 2, 'held', p_ttl_seconds => 60, p_now => $2)", [org.orgId, NOW]);
    expect((await api.cron('expire_reservations', NOW)).body.expired).toBe(0);
    // A replica whose clock runs 11 minutes ahead takes the run: still the scheduled time, so the
    // hold is not expired before its time (its call could not be settled).
    api.now = new Date(NOW.getTime() + 11 * 60_000);
    try {
      expect((await api.cron('expire_reservations', NOW)).body.expired).toBe(0);
    } finally {
      api.now = NOW;
    }
    const res = await api.cron('expire_reservations', new Date(NOW.getTime() + 61_000));
    expect(res.body.expired).toBeGreaterThanOrEqual(1);
    const { rows } = await db.pool.query('select status from public.credit_reservations where organization_id = $1', [org.orgId]);
    expect(rows).toEqual([{ status: 'expired' }]);
  });

  it('notifies 50%, 80% and 100% of the allowance used, and below the auto top-up threshold, once per period each', async () => {
    const org = await createOrg(db.pool, { plan: 'pro' });
    await db.pool.query('select public.grant_period_allowance($1, $2)', [org.orgId, NOW]);
    await db.pool.query(
      "insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id) values ($1, false, 100, '0c000000-0000-4000-8000-000000000001')",
      [org.orgId],
    );
    const kinds = async () =>
      (
        await db.pool.query(
          'select dedupe_key, read_at is not null as read from public.notifications where organization_id = $1 order by dedupe_key',
          [org.orgId],
        )
      ).rows;
    await spend(db.pool, org.orgId, '260.000');
    await api.cron('usage_notifications');
    await api.cron('usage_notifications');
    expect(await kinds()).toEqual([{ dedupe_key: 'usage:2026-11-12T10:15:00Z:50', read: false }]);
    await spend(db.pool, org.orgId, '200.000');
    await api.cron('usage_notifications');
    expect(await kinds()).toEqual([
      { dedupe_key: 'low_balance:2026-11-12T10:15:00Z:100.000', read: false },
      { dedupe_key: 'usage:2026-11-12T10:15:00Z:50', read: false },
      { dedupe_key: 'usage:2026-11-12T10:15:00Z:80', read: false },
    ]);
    await spend(db.pool, org.orgId, '40.000');
    const res = await api.cron('usage_notifications');
    expect(res.body.notified).toBe(1);
    expect((await kinds()).map((k) => k.dedupe_key)).toContain('usage:2026-11-12T10:15:00Z:100');
    expect(
      api.sent
        .filter((n) => n.organization_id === org.orgId)
        .map((n) => n.dedupe_key)
        .sort(),
    ).toEqual([
      'low_balance:2026-11-12T10:15:00Z:100.000',
      'usage:2026-11-12T10:15:00Z:100',
      'usage:2026-11-12T10:15:00Z:50',
      'usage:2026-11-12T10:15:00Z:80',
    ]);
  });

  it("expire_grants prunes the playground's key claims older than a week, and keeps the others", async () => {
    const org = await createOrg(db.pool);
    await db.pool.query(
      `insert into ledger.playground_runs (organization_id, idempotency_key, started_at)
       values ($1, 'old', $2::timestamptz - interval '8 days'), ($1, 'recent', $2::timestamptz - interval '6 days')`,
      [org.orgId, NOW],
    );
    const res = await api.cron('expire_grants');
    expect(res.body.playgroundRunsPruned).toBeGreaterThanOrEqual(1);
    const { rows } = await db.pool.query('select idempotency_key from ledger.playground_runs where organization_id = $1', [org.orgId]);
    expect(rows).toEqual([{ idempotency_key: 'recent' }]);
  });

  it("expire_grants drops the body of Stripe events processed over 90 days ago (the customer's name and email), and keeps the record", async () => {
    const body = (id: string) => ({
      id,
      type: 'checkout.session.completed',
      data: { object: { customer_details: { name: 'Alice Admin', email: 'alice@personal.example' } } },
    });
    await db.pool.query(
      `insert into public.stripe_events (id, type, processed_at, payload)
       values ('evt_old_pii', 'checkout.session.completed', $1::timestamptz - interval '91 days', $2),
              ('evt_recent_pii', 'checkout.session.completed', $1::timestamptz - interval '89 days', $3)`,
      [NOW, body('evt_old_pii'), body('evt_recent_pii')],
    );
    const res = await api.cron('expire_grants');
    expect(res.body.stripeEventsPruned).toBeGreaterThanOrEqual(1);
    const { rows } = await db.pool.query(
      `select id, type, payload from public.stripe_events where id in ('evt_old_pii', 'evt_recent_pii') order by id`,
    );
    expect(rows).toEqual([
      {
        id: 'evt_old_pii',
        type: 'checkout.session.completed',
        payload: { id: 'evt_old_pii', type: 'checkout.session.completed', pruned: true },
      },
      { id: 'evt_recent_pii', type: 'checkout.session.completed', payload: body('evt_recent_pii') },
    ]);
  });

  it("expire_grants' prunes find what they drop by index, without reading every stored Stripe event body or key claim", async () => {
    // A year of events whose bodies are already pruned, a month still to keep, and key claims of two
    // weeks: each prune must reach its few rows through an index (a plan that reads the whole table
    // opens every stored body). The prunes' own statements are explained, in a transaction undone after.
    const org = await createOrg(db.pool);
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query(
        `insert into public.stripe_events (id, type, processed_at, payload)
         select 'evt_plan_' || i, 'checkout.session.completed', $1::timestamptz - interval '400 days' + i * interval '1 hour',
           case when i < 8000 then jsonb_build_object('id', 'evt_plan_' || i, 'pruned', true)
                else jsonb_build_object('id', 'evt_plan_' || i, 'data', jsonb_build_object('object', repeat('x', 200))) end
         from generate_series(1, 9000) i`,
        [NOW],
      );
      await client.query(
        `insert into ledger.playground_runs (organization_id, idempotency_key, started_at)
         select $1, 'plan-' || i, $2::timestamptz - i * interval '1 minute' from generate_series(1, 20000) i`,
        [org.orgId, NOW],
      );
      await client.query('analyze public.stripe_events; analyze ledger.playground_runs');
      const plan = async (sql: string) => {
        const { rows } = await client.query(`explain (format json) ${sql}`, [NOW]);
        return JSON.stringify(rows[0]['QUERY PLAN']);
      };
      const events = await plan(PRUNE_STRIPE_EVENTS_SQL);
      expect(events).toContain('stripe_events_unpruned_idx');
      expect(events).not.toContain('Seq Scan');
      const claims = await plan(PRUNE_PLAYGROUND_RUNS_SQL);
      expect(claims).toContain('playground_runs_started_idx');
      expect(claims).not.toContain('Seq Scan');
    } finally {
      await client.query('rollback');
      client.release();
    }
  });

  it('answers 404 to an unknown job', async () => {
    const res = await api.cron('mine_bitcoin');
    expect(res.status).toBe(404);
    expect(res.body.extensions.code).toBe('NOT_FOUND');
  });
});
