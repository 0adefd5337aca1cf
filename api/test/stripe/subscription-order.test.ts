// customer.subscription.updated events in any order: Stripe does not promise to deliver them in the
// order it made them, and its `created` is to the second. The webhook applies what Stripe says of
// the subscription when the event is handled, not the event's copy of it, so the database ends as
// Stripe is whatever the order, including when two deliveries are handled at once.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { NOW, PLANS } from '../helpers.ts';
import { availableAt, periodKey, startPaymentsApi, stripeEvent, subscribedOrg } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000);
const periodStart = days(-10);
const periodEnd = days(20);

const subscriptionRow = async (orgId: string) =>
  (
    await db.pool.query(
      `select plan_id, status, stripe_subscription_id, stripe_schedule_id, pending_plan_id, pending_change_at, cancel_at_period_end
       from public.organization_subscriptions where organization_id = $1`,
      [orgId],
    )
  ).rows[0];

const allowances = async (orgId: string) =>
  (
    await db.pool.query<{ external_ref: string; amount_credits: string }>(
      "select external_ref, amount_credits from public.credit_grants where organization_id = $1 and source = 'plan_allowance' order by created_at, external_ref",
      [orgId],
    )
  ).rows;

/** The fake's events of one subscription since the given count of all its events. */
const eventsOf = (subscriptionId: string, since = 0) =>
  api.fake.subscriptionEvents.slice(since).filter((e) => e.subscriptionId === subscriptionId);

describe('customer.subscription.updated out of order', () => {
  it('a Team org with a downgrade to Pro scheduled that moves to Free: the release and the cancellation, made in the same second and delivered in either order, leave the cancellation at the period end, and the roll moves the org to Free without a Team allowance', async () => {
    for (const order of ['cancellation first', 'release first'] as const) {
      api.now = NOW;
      const org = await subscribedOrg(db.pool, api.fake, PLANS.team);
      expect((await api.action('changePlan', { planId: PLANS.pro }, org.session)).body.status).toBe('scheduled');
      expect(await subscriptionRow(org.orgId)).toMatchObject({ plan_id: PLANS.team, pending_plan_id: PLANS.pro });
      const since = api.fake.subscriptionEvents.length;
      // changePlan releases the schedule, then sets cancel_at_period_end: two updates, one second.
      expect((await api.action('changePlan', { planId: PLANS.free }, org.session)).body.status).toBe('scheduled');
      const [release, cancellation] = eventsOf(org.subscriptionId, since);
      expect(eventsOf(org.subscriptionId, since)).toHaveLength(2);
      expect(release!.object).toMatchObject({ schedule: null, cancel_at_period_end: false });
      expect(cancellation!.object).toMatchObject({ schedule: null, cancel_at_period_end: true });
      const events = [release!, cancellation!].map((e) => stripeEvent(e.type, e.object, { created: NOW }));
      for (const event of order === 'cancellation first' ? events.reverse() : events) {
        expect((await api.webhook(event)).body.outcome).toBe('processed');
      }

      // The database says what Stripe does: cancelled at the period end, so Free then.
      expect(api.fake.objects.get(org.subscriptionId)!.cancel_at_period_end).toBe(true);
      expect(await subscriptionRow(org.orgId), order).toMatchObject({
        plan_id: PLANS.team,
        status: 'active',
        stripe_subscription_id: org.subscriptionId,
        stripe_schedule_id: null,
        pending_plan_id: PLANS.free,
        pending_change_at: periodEnd,
        cancel_at_period_end: true,
      });

      // The period ends: Free, with Free's allowance; no Team allowance for a month nobody paid.
      const rolled = new Date(periodEnd.getTime() + 60_000);
      expect((await api.cron('roll_billing_periods', rolled)).status).toBe(200);
      expect(await subscriptionRow(org.orgId), order).toMatchObject({
        plan_id: PLANS.free,
        stripe_subscription_id: null,
        pending_plan_id: null,
        cancel_at_period_end: false,
      });
      expect(await allowances(org.orgId), order).toEqual([
        { external_ref: `plan_allowance:${periodKey(periodStart)}`, amount_credits: '2000.000' },
        { external_ref: `plan_allowance:${periodKey(periodEnd)}`, amount_credits: '10.000' },
      ]);

      // Stripe ends the subscription at the period end: nothing more to do, the org is on Free.
      const deleted = api.fake.changeSubscription(org.subscriptionId, {
        status: 'canceled',
        cancellation_details: { reason: 'cancellation_requested' },
      });
      api.now = rolled;
      expect((await api.webhook(stripeEvent('customer.subscription.deleted', deleted, { created: rolled }))).body.outcome).toBe('ignored');
      expect(await subscriptionRow(org.orgId)).toMatchObject({ plan_id: PLANS.free, stripe_subscription_id: null });
      expect(await availableAt(db.pool, org.orgId, rolled), order).toBe('10.000');
      api.now = NOW;
    }
  });

  it('a read of the subscription that answers after a newer update was applied is read again: two deliveries handled at once end as Stripe is', async () => {
    api.now = NOW;
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    expect((await api.action('changePlan', { planId: PLANS.free }, org.session)).body.status).toBe('scheduled');
    const path = `/v1/subscriptions/${org.subscriptionId}`;
    const reads = () => api.fake.requestsTo('GET', path).length;
    // The cancellation withdrawn in the dashboard, then set again, in the same second.
    const withdrawn = stripeEvent(
      'customer.subscription.updated',
      api.fake.changeSubscription(org.subscriptionId, { cancel_at_period_end: false }),
      { created: NOW },
    );
    // The first read of the withdrawal's handling answers "not cancelled" late: after the
    // cancellation set again was read and applied.
    let reached!: () => void;
    const readStarted = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let letGo!: () => void;
    const held = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    let holding = true;
    api.fake.beforeAnswer = (request) => {
      if (!holding || request.method !== 'GET' || request.path !== path) return undefined;
      holding = false;
      reached();
      return held;
    };
    const readsBefore = reads();
    try {
      const first = api.webhook(withdrawn);
      await Promise.race([readStarted, new Promise((resolve) => setTimeout(resolve, 2_000))]);
      const setAgain = stripeEvent(
        'customer.subscription.updated',
        api.fake.changeSubscription(org.subscriptionId, { cancel_at_period_end: true }),
        { created: NOW },
      );
      expect((await api.webhook(setAgain)).body.outcome).toBe('processed');
      letGo();
      expect((await first).body.outcome).toBe('processed');
    } finally {
      api.fake.beforeAnswer = null;
      letGo();
    }
    // The withdrawal's handling read the subscription a second time, and applied that.
    expect(reads() - readsBefore).toBe(3);
    expect(await subscriptionRow(org.orgId)).toMatchObject({
      plan_id: PLANS.pro,
      pending_plan_id: PLANS.free,
      pending_change_at: periodEnd,
      cancel_at_period_end: true,
    });
  });

  it('an update handled once the subscription has ended leaves the end to its deletion: a past-due subscription cancelled still takes back the unpaid allowance', async () => {
    api.now = NOW;
    const org = await subscribedOrg(db.pool, api.fake, PLANS.pro);
    const pastDue = api.fake.changeSubscription(org.subscriptionId, { status: 'past_due' });
    expect((await api.webhook(stripeEvent('customer.subscription.updated', pastDue, { created: days(1) }))).body.outcome).toBe('processed');
    expect((await subscriptionRow(org.orgId)).status).toBe('past_due');
    // The owner cancels in the portal (at the period end, then at once); the updates reach us after the end.
    const cancelling = api.fake.changeSubscription(org.subscriptionId, { cancel_at_period_end: true });
    const ended = api.fake.changeSubscription(org.subscriptionId, {
      status: 'canceled',
      cancellation_details: { reason: 'cancellation_requested' },
    });
    expect(eventsOf(org.subscriptionId).at(-1)!.type).toBe('customer.subscription.deleted');
    expect((await api.webhook(stripeEvent('customer.subscription.updated', cancelling, { created: days(2) }))).body.outcome).toBe(
      'ignored',
    );
    expect((await subscriptionRow(org.orgId)).status).toBe('past_due');
    expect((await api.webhook(stripeEvent('customer.subscription.deleted', ended, { created: days(2) }))).body.outcome).toBe('processed');
    expect(await subscriptionRow(org.orgId)).toMatchObject({ plan_id: PLANS.free, stripe_subscription_id: null });
    // The unpaid period's allowance is taken back; Free's own is what is left.
    expect(await availableAt(db.pool, org.orgId)).toBe('10.000');
  });
});
