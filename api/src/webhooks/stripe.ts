// POST /webhooks/stripe: Stripe's events. The signature is checked over the raw body, always
// (missing or bad: 400, nothing changes). The event id is recorded in `stripe_events` in the same
// transaction as its effect, so a redelivery (even a concurrent one) does nothing. Events may come
// out of order or days late: each effect is a SQL function that checks the state it finds
// (cumulative refunds, "only a pending purchase can fail"), and a subscription update applies what
// Stripe says of the subscription when it is handled, not the event's copy (Stripe's `created` is to
// the second, and two updates of one second come in either order). Unknown event types: 200 and
// recorded. A failing effect rolls back and answers an error (500, or 400 with the ledger's code for
// input it refuses), so Stripe delivers it again.

import { inTransaction } from '@org-credits/db';
import express, { type Router } from 'express';
import type pg from 'pg';
import type Stripe from 'stripe';
import { AppError } from '../errors.ts';
import { notifyBillingContacts, type StoredNotification, sendAll, storeNotification } from '../notifications/index.ts';
import { resolveAttempt } from '../payments/auto-topup.ts';
import {
  applyChargeEvent,
  type Handled,
  idOf,
  lockPayment,
  lockSettingsOfPayment,
  paymentIntentOfChargeEvent,
  replayEarlierChargeEvents,
} from '../payments/charge-events.ts';
import type { Payments } from '../payments/index.ts';
import type { SubscriptionState } from '../payments/provider.ts';
import { Stripe as StripeSdk } from '../stripe/client.ts';

export interface StripeWebhookDeps {
  db: pg.Pool;
  payments: Payments;
  clock: () => Date;
  logger?: Pick<Console, 'error' | 'info'>;
  /** The largest body read (a larger one: 413 PAYLOAD_TOO_LARGE, nothing recorded). @default '512kb' */
  bodyLimit?: string;
}

/** How far the signature's timestamp may be from now (Stripe's default). */
const TOLERANCE_SECONDS = 300;

export function stripeWebhookRouter(deps: StripeWebhookDeps): Router {
  const router = express.Router();
  router.post('/webhooks/stripe', express.raw({ type: () => true, limit: deps.bodyLimit ?? '512kb' }), async (req, res) => {
    const signature = req.get('stripe-signature');
    if (!signature) throw new AppError('INVALID_INPUT', 'missing Stripe-Signature header');
    const body: unknown = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) throw new AppError('INVALID_INPUT', 'empty webhook body');
    let event: Stripe.Event;
    try {
      event = StripeSdk.webhooks.constructEvent(
        body,
        signature,
        deps.payments.webhookSecret,
        TOLERANCE_SECONDS,
        undefined,
        // When we received it, in milliseconds (the SDK's unit here): our clock, so tests set the time.
        deps.clock().getTime(),
      );
    } catch (error) {
      throw new AppError('INVALID_INPUT', `the Stripe signature does not verify: ${(error as Error).message}`);
    }
    const outcome = await processStripeEvent(deps, event);
    res.json({ received: true, outcome });
  });
  return router;
}

/** A Stripe subscription status that is final: the subscription has ended and does not come back. */
const hasEnded = (status: string) => status === 'canceled' || status === 'incomplete_expired';

/** How many times a subscription update reads Stripe again when its read was overtaken (then: 500). */
const SUBSCRIPTION_READS = 3;

/** A read of a subscription that another change of its row overtook before it could be applied. */
class StaleSubscriptionRead extends Error {
  override name = 'StaleSubscriptionRead';
}

/** Records the event and applies its effect in one transaction; a recorded event does nothing. */
export async function processStripeEvent(deps: StripeWebhookDeps, event: Stripe.Event): Promise<Handled> {
  const now = deps.clock();
  for (let read = 1; ; read++) {
    // Reads from Stripe happen before the transaction (no network wait while holding locks).
    const prepared = await prepare(deps, event);
    let result: { handled: Handled; outbox: StoredNotification[] };
    try {
      result = await inTransaction(deps.db, async (tx) => {
        const recorded = await tx.query(
          `insert into public.stripe_events (id, type, created_at_stripe, processed_at, payload, payment_intent_id)
           values ($1, $2, to_timestamp($3), $4, $5, $6) on conflict (id) do nothing returning id`,
          [event.id, event.type, event.created, now, event, paymentIntentOfChargeEvent(event)],
        );
        if (!recorded.rowCount) return { handled: 'duplicate' as Handled, outbox: [] as StoredNotification[] };
        const outbox: StoredNotification[] = [];
        const handled = await apply(tx, deps, event, prepared, now, outbox);
        return { handled, outbox };
      });
    } catch (error) {
      // Another delivery (or a plan change) wrote the subscription's row while this one read Stripe:
      // its read may be the newer one, so this one reads again rather than apply an older state.
      if (error instanceof StaleSubscriptionRead && read < SUBSCRIPTION_READS) continue;
      throw error;
    }
    await sendAll(deps.db, deps.payments.notifier, result.outbox, deps.logger ?? console);
    return result.handled;
  }
}

interface Prepared {
  /** The subscription as Stripe says it is now (a Checkout's, an upgrade invoice's, an update's). */
  subscription?: SubscriptionState;
  /**
   * customer.subscription.updated: the version (xmin) of the subscription's row when Stripe was
   * read, or null when no row tracked it; the update applies only to that same version.
   */
  rowVersion?: string | null;
  paymentMethodId?: string | null;
  /** The Checkout's subscription was a second one for the org: canceled and refunded in Stripe. */
  duplicate?: { refundedMinor: number };
}

async function prepare(deps: StripeWebhookDeps, event: Stripe.Event): Promise<Prepared> {
  if (event.type === 'customer.subscription.updated') {
    // Its state now, read after the row's version: a change of the row from here to the apply (a
    // delivery handled at the same time, whose read may be newer) makes this one read again.
    const subscriptionId = event.data.object.id;
    const { rows } = await deps.db.query<{ version: string; stripe_event_at: Date | null }>(
      'select xmin::text as version, stripe_event_at from public.organization_subscriptions where stripe_subscription_id = $1',
      [subscriptionId],
    );
    const row = rows[0];
    // A subscription no org tracks (a duplicate canceled, another product's) is not read; nor one
    // whose newer event was applied already (that event's read is at least as new as this one).
    if (!row || (row.stripe_event_at && row.stripe_event_at > new Date(event.created * 1000))) return { rowVersion: row?.version ?? null };
    return { rowVersion: row.version, subscription: await deps.payments.provider.retrieveSubscription(subscriptionId) };
  }
  if (event.type === 'invoice.paid' && event.data.object.billing_reason === 'subscription_update') {
    // What the subscription bills now decides whether the paid upgrade still applies.
    const subscriptionId = idOf(event.data.object.parent?.subscription_details?.subscription);
    return subscriptionId ? { subscription: await deps.payments.provider.retrieveSubscription(subscriptionId) } : {};
  }
  if (event.type !== 'checkout.session.completed' && event.type !== 'checkout.session.async_payment_succeeded') return {};
  const session = event.data.object;
  const prepared: Prepared = {};
  const subscriptionId = idOf(session.subscription);
  if (session.mode === 'subscription' && subscriptionId) {
    prepared.subscription = await deps.payments.provider.retrieveSubscription(subscriptionId);
    // Paid while the org already has a subscription (two Checkouts paid, from two tabs or an hour
    // apart): the second is canceled and its payment refunded before the event is recorded, so a
    // failure here answers an error and Stripe delivers the event again.
    const orgId = session.metadata?.organization_id;
    const { rows } = orgId
      ? await deps.db.query<{ stripe_subscription_id: string | null }>(
          'select stripe_subscription_id from public.organization_subscriptions where organization_id = $1',
          [orgId],
        )
      : { rows: [] };
    const tracked = rows[0]?.stripe_subscription_id;
    // A tracked subscription that Stripe has ended (its deletion not delivered yet) is no reason to
    // refund this one: the transaction fails instead, and a later delivery, after the deletion, applies it.
    const trackedLive =
      tracked && tracked !== subscriptionId ? !hasEnded((await deps.payments.provider.retrieveSubscription(tracked)).status) : false;
    if (tracked && trackedLive) {
      prepared.duplicate = await deps.payments.provider.cancelDuplicateSubscription({
        subscriptionId,
        invoiceId: idOf(session.invoice),
        idempotencyKey: `duplicate_subscription:${subscriptionId}`,
      });
    }
  }
  const intentId = idOf(session.payment_intent);
  if (session.mode === 'payment' && intentId && session.metadata?.organization_id) {
    const { rows } = await deps.db.query('select 1 from public.auto_topup_settings where organization_id = $1 and enabled', [
      session.metadata.organization_id,
    ]);
    if (rows.length) prepared.paymentMethodId = await deps.payments.provider.paymentMethodOf(intentId);
  }
  return prepared;
}

async function apply(
  tx: pg.PoolClient,
  deps: StripeWebhookDeps,
  event: Stripe.Event,
  prepared: Prepared,
  now: Date,
  outbox: StoredNotification[],
): Promise<Handled> {
  const webOrigin = deps.payments.webOrigin;
  const keep = (n: StoredNotification | null) => n && outbox.push(n);
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = event.data.object;
      if (session.payment_status !== 'paid' && session.payment_status !== 'no_payment_required') return 'ignored';
      if (session.mode === 'subscription')
        return applySubscriptionCheckout(tx, session, prepared, now, outbox, webOrigin, deps.logger ?? console);
      const purchaseId = session.metadata?.purchase_id;
      // The purchase row is written before the session exists; link it here if that step was lost.
      if (purchaseId) {
        await tx.query(
          'update public.topup_purchases set stripe_checkout_session_id = $2 where id = $1 and stripe_checkout_session_id is null',
          [purchaseId, session.id],
        );
      }
      await lockPayment(tx, idOf(session.payment_intent));
      await lockSettingsOfPayment(tx, null, null, session.id);
      // The purchase's row next (fulfil_topup_purchase locks it too), to know whether this event is
      // the one that fulfils it.
      const unfulfilled = await tx.query(
        'select 1 from public.topup_purchases where stripe_checkout_session_id = $1 and grant_id is null for update',
        [session.id],
      );
      const { rows } = await tx.query<{ id: string | null; organization_id: string }>(
        'select * from public.fulfil_topup_purchase($1, $2, $3)',
        [session.id, idOf(session.payment_intent), now],
      );
      if (!rows[0]?.id) return 'ignored';
      // Refunds and disputes of this payment that Stripe delivered before it was fulfilled found no
      // purchase then (it had no payment intent yet): apply them now, oldest first, once.
      const intentId = idOf(session.payment_intent);
      const { disputed } =
        intentId && unfulfilled.rowCount ? await replayEarlierChargeEvents(tx, deps.payments, intentId, now, outbox) : { disputed: false };
      // The card of a payment its owner disputes is not kept for off-session charges.
      if (prepared.paymentMethodId && !disputed) {
        await tx.query('update public.auto_topup_settings set stripe_payment_method_id = $2 where organization_id = $1', [
          rows[0].organization_id,
          prepared.paymentMethodId,
        ]);
      }
      return 'processed';
    }
    case 'checkout.session.async_payment_failed':
    case 'checkout.session.expired': {
      const session = event.data.object;
      const status = event.type === 'checkout.session.expired' ? 'canceled' : 'failed';
      const { rows } = await tx.query<{ id: string | null; organization_id: string; status: string }>(
        'select * from public.fail_topup_purchase($1, $2, $3)',
        [session.id, status, now],
      );
      const purchase = rows[0];
      if (!purchase?.id) return 'ignored';
      if (status === 'failed' && purchase.status === 'failed') {
        keep(
          await storeNotification(
            tx,
            {
              orgId: purchase.organization_id,
              kind: 'payment_failed',
              title: 'A top-up payment failed',
              body: 'The payment for your credit pack did not go through; no credits were added.',
              actionUrl: `${webOrigin}/credits?topup=buy`,
              dedupeKey: `payment_failed:${session.id}`,
            },
            now,
          ),
        );
      }
      return 'processed';
    }
    case 'charge.refunded':
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
      return applyChargeEvent(tx, deps.payments, event, now, outbox);
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed': {
      const intent = event.data.object;
      const attemptId = intent.metadata?.auto_topup_attempt_id;
      if (!attemptId) return 'ignored';
      const exists = await tx.query('select 1 from public.auto_topup_attempts where id = $1 and organization_id = $2', [
        attemptId,
        intent.metadata?.organization_id ?? null,
      ]);
      if (!exists.rowCount) return 'ignored';
      const error = intent.last_payment_error;
      const code = error?.decline_code ?? error?.code ?? 'payment_failed';
      const result =
        event.type === 'payment_intent.succeeded'
          ? ({ status: 'succeeded', paymentIntentId: intent.id } as const)
          : error?.code === 'authentication_required'
            ? ({ status: 'requires_action', paymentIntentId: intent.id, code, message: error.message ?? code } as const)
            : ({ status: 'failed', paymentIntentId: intent.id, code, message: error?.message ?? code } as const);
      const resolved = await resolveAttempt(tx, deps.payments, attemptId, result, now);
      outbox.push(...resolved.outbox);
      return 'processed';
    }
    case 'invoice.paid': {
      const invoice = event.data.object;
      const subscriptionId = idOf(invoice.parent?.subscription_details?.subscription);
      if (!subscriptionId) return 'ignored';
      const { rows } = await tx.query<{ organization_id: string; plan_id: string; rank: number; current_period_start: Date | null }>(
        `select s.organization_id, s.plan_id, p.rank, s.current_period_start
         from public.organization_subscriptions s join public.plans p on p.id = s.plan_id
         where s.stripe_subscription_id = $1`,
        [subscriptionId],
      );
      const sub = rows[0];
      if (!sub) return 'ignored';
      if (invoice.billing_reason === 'subscription_cycle') {
        await tx.query('select public.roll_billing_period($1, $2)', [sub.organization_id, now]);
        return 'processed';
      }
      if (invoice.billing_reason === 'subscription_update') {
        // A paid prorated invoice: the upgrade it paid for applies (once; the action may have applied it
        // already), if the subscription still bills that plan. An invoice delivered days late, after
        // the plan changed again, must not bring an old upgrade back; one paid late (3-D Secure, the
        // hosted page) after the period rolled still applies, since Stripe applied it too.
        const priceIds = invoice.lines.data.map((line) => idOf(line.pricing?.price_details?.price)).filter((id): id is string => !!id);
        const plan = await tx.query<{ id: string; rank: number; stripe_price_id: string }>(
          'select id, rank, stripe_price_id from public.plans where stripe_price_id = any($1::text[]) order by rank desc limit 1',
          [priceIds],
        );
        const target = plan.rows[0];
        if (target && prepared.subscription && prepared.subscription.priceId !== target.stripe_price_id) return 'ignored';
        if (target && target.rank > sub.rank) {
          await tx.query('select public.apply_plan_change($1, $2, p_now => $3)', [sub.organization_id, target.id, now]);
        }
        return 'processed';
      }
      return 'ignored';
    }
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const subscription = event.data.object;
      const { rows } = await tx.query<{
        organization_id: string;
        status: string;
        stripe_event_at: Date | null;
        pending_plan_id: string | null;
        version: string;
      }>(
        'select organization_id, status, stripe_event_at, pending_plan_id, xmin::text as version from public.organization_subscriptions where stripe_subscription_id = $1 for update',
        [subscription.id],
      );
      const sub = rows[0];
      if (event.type === 'customer.subscription.updated' && (sub?.version ?? null) !== prepared.rowVersion) {
        throw new StaleSubscriptionRead(`subscription ${subscription.id}: its row changed while Stripe was read`);
      }
      if (!sub) return 'ignored';
      const eventAt = new Date(event.created * 1000);
      // A deletion is final (an ended subscription does not come back): it applies in any order, and
      // its event's copy is the subscription as it ended.
      if (event.type === 'customer.subscription.deleted') {
        const free = await tx.query<{ id: string }>("select id from public.plans where code = 'free' and is_active");
        // Ended because Stripe could not collect the renewal: the period's allowance, granted when it
        // began, was never paid for. What is left of it goes (what was used stays used).
        if (subscription.cancellation_details?.reason === 'payment_failed' || sub.status === 'past_due') {
          await tx.query('select public.revoke_period_allowance($1, $2, $3)', [
            sub.organization_id,
            `Subscription ${subscription.id} ended unpaid`,
            now,
          ]);
        }
        await tx.query(
          `update public.organization_subscriptions set stripe_subscription_id = null, stripe_event_at = $2 where organization_id = $1`,
          [sub.organization_id, eventAt],
        );
        // Free's first period: a month from now in UTC (the month's last day when today's does not exist).
        await tx.query(
          `select public.apply_plan_change($1, $2, null, $3, (($3::timestamptz at time zone 'UTC') + interval '1 month') at time zone 'UTC', $3)`,
          [sub.organization_id, free.rows[0]!.id, now],
        );
        keep(
          await storeNotification(
            tx,
            {
              orgId: sub.organization_id,
              kind: 'plan_changed',
              title: 'Your subscription ended',
              body: 'The organization is on the Free plan now.',
              actionUrl: `${webOrigin}/billing`,
              dedupeKey: `subscription_deleted:${subscription.id}`,
            },
            now,
          ),
        );
        return 'processed';
      }
      // Older than what we applied (out of order, or days late): that event's read of Stripe, made
      // after this one was created, is at least as new. Events of the same second are not told apart
      // by `created`: each applies what Stripe says now, so their order does not matter.
      if (sub.stripe_event_at && sub.stripe_event_at > eventAt) return 'ignored';
      // What Stripe says of the subscription now, not the event's copy: the copy of an update that
      // reached us after a newer one would bring back an older state.
      const current = prepared.subscription;
      if (!current) throw new Error(`subscription ${subscription.id} was not read from Stripe`);
      // Ended since (its deletion is on its way, or applied): the deletion ends it, with the status
      // the row has (a past_due one's unpaid allowance is taken back then).
      if (hasEnded(current.status)) return 'ignored';
      const status =
        ({ active: 'active', trialing: 'active', past_due: 'past_due', unpaid: 'past_due' } as Record<string, string>)[current.status] ??
        'incomplete';
      // Stripe's cancel_at_period_end is the truth, whoever set it (this app, Stripe's dashboard, a
      // step of a plan change that failed half-way): cancelling makes the pending change "back to
      // free at the period end" whatever was pending; no longer cancelling drops a pending move to
      // free (a scheduled downgrade to a paid plan stays).
      await tx.query(
        `update public.organization_subscriptions s
         set status = $2, stripe_event_at = $3, cancel_at_period_end = $4::boolean,
             pending_plan_id = case when $4::boolean then coalesce(f.id, s.pending_plan_id)
                                    when s.pending_plan_id = f.id and s.stripe_schedule_id is null then null
                                    else s.pending_plan_id end,
             pending_change_at = case when $4::boolean then s.current_period_end
                                      when s.pending_plan_id = f.id and s.stripe_schedule_id is null then null
                                      else s.pending_change_at end
         from (select (select id from public.plans where code = 'free' and is_active) as id) f
         where s.organization_id = $1`,
        [sub.organization_id, status, eventAt, current.cancelAtPeriodEnd],
      );
      // Told once per failure: when the subscription becomes past_due, not again at every update
      // Stripe sends while it stays so (the owner changing the card, a cancellation set).
      if (status === 'past_due' && sub.status !== 'past_due') {
        outbox.push(
          ...(await notifyBillingContacts(
            tx,
            {
              orgId: sub.organization_id,
              kind: 'payment_failed',
              title: 'Your subscription payment failed',
              body: 'Stripe could not collect the subscription payment. Update your card to keep your plan.',
              actionUrl: `${webOrigin}/billing`,
              dedupeKey: `subscription_past_due:${subscription.id}:${event.id}`,
            },
            now,
          )),
        );
      }
      return 'processed';
    }
    default:
      return 'ignored';
  }
}

async function applySubscriptionCheckout(
  tx: pg.PoolClient,
  session: Stripe.Checkout.Session,
  prepared: Prepared,
  now: Date,
  outbox: StoredNotification[],
  webOrigin: string,
  logger: Pick<Console, 'error'>,
): Promise<Handled> {
  const orgId = session.metadata?.organization_id;
  const planId = session.metadata?.plan_id;
  const subscription = prepared.subscription;
  if (!orgId || !planId || !subscription) return 'ignored';
  const org = await tx.query('select 1 from public.organizations where id = $1', [orgId]);
  if (!org.rowCount) return 'ignored';
  // The subscription row, locked as apply_plan_change locks it (before the ledger): two completions
  // for one org take turns, and the second sees the first's subscription.
  const current = await tx.query<{ stripe_subscription_id: string | null }>(
    'select stripe_subscription_id from public.organization_subscriptions where organization_id = $1 for update',
    [orgId],
  );
  const tracked = current.rows[0]?.stripe_subscription_id;
  if (tracked && tracked !== subscription.id) {
    // A second subscription paid while the org already has one. The one we track stays. The second
    // was canceled and refunded before this transaction (prepare); if it was not (both were the
    // org's first, completed at once, and the other committed first), this delivery fails and
    // Stripe's next one cancels and refunds it.
    if (!prepared.duplicate) {
      throw new Error(
        `org ${orgId}: subscription ${subscription.id} was paid while ${tracked} became its subscription; to be canceled and refunded on the next delivery`,
      );
    }
    logger.error(
      `[stripe] org ${orgId}: subscription ${subscription.id} was paid while ${tracked} is its subscription; canceled it and refunded ${prepared.duplicate.refundedMinor} minor units`,
    );
    outbox.push(
      ...(await notifyBillingContacts(
        tx,
        {
          orgId,
          kind: 'plan_changed',
          title: 'A second subscription was paid, and refunded',
          body: 'A plan was bought while the organization already had a subscription. Your current plan stays; the second subscription was canceled and its payment refunded.',
          actionUrl: `${webOrigin}/billing`,
          dedupeKey: `subscription_duplicate:${subscription.id}`,
        },
        now,
      )),
    );
    return 'processed';
  }
  // Ended before its completion reached us (its deletion, delivered first, found no org then): the
  // org stays where it is rather than on a plan that nothing bills.
  if (subscription.status !== 'active' && subscription.status !== 'trialing') return 'ignored';
  await tx.query('select public.apply_plan_change($1, $2, $3, $4, $5, $6)', [
    orgId,
    planId,
    subscription.id,
    subscription.periodStart < now ? subscription.periodStart : now,
    subscription.periodEnd,
    now,
  ]);
  const n = await storeNotification(
    tx,
    {
      orgId,
      kind: 'plan_changed',
      title: 'Your new plan is active',
      body: 'Thank you: the subscription started and this period’s allowance was added.',
      actionUrl: `${webOrigin}/billing`,
      dedupeKey: `subscription_started:${subscription.id}`,
    },
    now,
  );
  if (n) outbox.push(n);
  return 'processed';
}
