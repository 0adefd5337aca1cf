// changePlan(planId, prorationDate?): owners and admins move the org to another plan.
// - From a plan without a Stripe subscription (free) to a paid one: a Checkout Session in
//   subscription mode (`checkout_required`); the webhook applies the plan once it is paid.
// - Upgrade: the subscription moves to the new price now with a prorated invoice, applied only if
//   that invoice was paid; the org gets the allowance difference at once (`upgraded`). Given
//   `prorationDate` (previewPlanChange's), Stripe prorates at that time, so the invoice is the
//   figure the person confirmed; a date that no longer stands is refused before anything is done.
// - Downgrade: a subscription schedule moves it at the period end (`scheduled`, shown as pending,
//   cancellable with cancelPlanChange); to free: the subscription cancels at the period end.
// One change at a time per org (withPlanChangeLock: two tabs take turns, the second sees what the
// first did), on the current period (a period that has ended is rolled first, as the hourly cron
// would). An upgrade that is not paid puts back what it undid in Stripe on the way (a cancellation
// at the period end, a scheduled downgrade), so Stripe and the database keep saying the same.
import pg from 'pg';
import { z } from 'zod';
import { AppError, ledger } from '../errors.ts';
import { rollPeriodIfEnded } from '../ledger.ts';
import type { Payments } from '../payments/index.ts';
import { ensureCustomer, requireBillingActor, requirePayments, viaProvider } from '../payments/index.ts';
import { type ActionContext, defineAction } from './context.ts';

export const input = z.object({
  planId: z.uuid('planId must be a uuid'),
  /** previewPlanChange's `prorationDate`: the upgrade is prorated at that time, so it invoices what was previewed. */
  prorationDate: z.iso
    .datetime({ offset: true, error: 'prorationDate must be an ISO 8601 timestamp, as previewPlanChange answers it' })
    .nullish(),
});

/**
 * How old a preview's proration date may be when its upgrade is confirmed: half an hour, time to read
 * the confirmation, ask someone and come back. Past it, the person is shown a new figure to confirm
 * rather than charged for one long gone: an upgrade prorated at an earlier time charges for the new
 * plan from then, the price difference for every minute since (on Pro → Team, £30 a month, about 2p
 * for the half hour), and the account's balance or discounts may have changed meanwhile.
 */
export const PRORATION_DATE_MAX_AGE_MS = 30 * 60_000;
/** How far ahead of this api's clock a proration date may be: the clock skew between the api's processes. */
export const PRORATION_DATE_SKEW_MS = 5_000;

export interface PlanChangeResult {
  status: 'upgraded' | 'scheduled' | 'checkout_required' | 'canceled' | 'unchanged';
  checkoutUrl: string | null;
  effectiveAt: string | null;
  planId: string | null;
}

export interface PlanRow {
  id: string;
  code: string;
  name: string;
  rank: number;
  price_minor: string;
  currency: string;
  monthly_allowance_credits: string;
  stripe_price_id: string | null;
  is_active: boolean;
}

export interface SubscriptionRow {
  plan_id: string;
  status: string;
  current_period_start: Date;
  current_period_end: Date;
  pending_plan_id: string | null;
  pending_change_at: Date | null;
  cancel_at_period_end: boolean;
  stripe_subscription_id: string | null;
  stripe_schedule_id: string | null;
}

export async function readSubscription(db: pg.Pool | pg.PoolClient, orgId: string): Promise<SubscriptionRow> {
  const { rows } = await db.query<SubscriptionRow>('select * from public.organization_subscriptions where organization_id = $1', [orgId]);
  if (!rows[0]) throw new AppError('ORGANIZATION_NOT_FOUND', `org ${orgId} has no subscription`);
  return rows[0];
}

/** How many plan changes of one api may hold their lock connections at once; the rest wait for one. */
const PLAN_CHANGE_LOCKS = 4;
const lockPools = new WeakMap<pg.Pool, pg.Pool>();

/** The plan-change locks' own small pool, beside the api's (same database). */
function lockPool(db: pg.Pool): pg.Pool {
  let pool = lockPools.get(db);
  if (!pool) {
    pool = new pg.Pool({ ...db.options, max: PLAN_CHANGE_LOCKS, allowExitOnIdle: true });
    pool.on('error', () => undefined); // an idle lock connection dropped: the pool makes another
    lockPools.set(db, pool);
  }
  return pool;
}

/**
 * Runs a plan change of the org alone: a session advisory lock held across the Stripe calls (no
 * transaction stays open meanwhile), so two tabs' changes take turns. The lock lives on a connection
 * of its own pool, not the api's: the change's queries use the api's pool, and a lock holder waiting
 * for a connection that lock waiters hold would stop the whole api (25 changes at once filled a pool
 * of 20 and no org was answered again).
 */
export async function withPlanChangeLock<T>(ctx: ActionContext, orgId: string, work: () => Promise<T>): Promise<T> {
  const client = await lockPool(ctx.db).connect();
  const key = "hashtextextended('org_credits_plan_change:' || $1, 0)";
  // A connection that may still hold the lock is closed, never pooled again: the next change of the
  // org on it would take the lock again (advisory locks are re-entrant) while this one still holds it.
  let broken: Error | undefined;
  try {
    await client.query(`select pg_advisory_lock(${key})`, [orgId]).catch((error: Error) => {
      broken = error;
      throw error;
    });
    try {
      return await work();
    } finally {
      await client.query(`select pg_advisory_unlock(${key})`, [orgId]).catch((error: Error) => {
        broken = error;
      });
    }
  } finally {
    client.release(broken);
  }
}

/** The org's subscription on its current period: one that has ended is rolled first (as the cron does). */
export async function currentSubscription(db: pg.Pool | pg.PoolClient, orgId: string, now: Date): Promise<SubscriptionRow> {
  await rollPeriodIfEnded(db, orgId, now);
  return readSubscription(db, orgId);
}

export const planById = async (db: pg.Pool | pg.PoolClient, id: string) =>
  (
    await db.query<PlanRow>(
      `select id, code, name, rank, price_minor::text, currency, monthly_allowance_credits::text, stripe_price_id, is_active
       from public.plans where id = $1`,
      [id],
    )
  ).rows[0];

/** The plan an org may change to: one that exists and is offered (INVALID_INPUT otherwise). */
export async function offeredPlan(db: pg.Pool, planId: string): Promise<PlanRow> {
  const plan = await planById(db, planId);
  if (!plan?.is_active) throw new AppError('INVALID_INPUT', `plan ${planId} is not offered`);
  return plan;
}

/** What changePlan does to move a subscription from `current` to `target` (its answer's status). */
export type PlanChangeKind = 'unchanged' | 'checkout_required' | 'scheduled' | 'upgraded';

/** A paid plan: one Stripe bills (a move to it from no Stripe subscription needs a Checkout). */
export const isPaid = (plan: PlanRow) => plan.price_minor !== '0';

/** A larger paid plan: charged and granted now. Anything else (smaller, free, another version of the same size) waits for the period end. */
export function isUpgrade(current: PlanRow, target: PlanRow): boolean {
  return isPaid(target) && target.rank > current.rank;
}

/**
 * What moving the subscription from `current` to `target` is, with the checks made before anything
 * is written (the same errors for changePlan and previewPlanChange):
 * - the same plan: `unchanged`;
 * - a paid plan without a Stripe subscription: `checkout_required` (the plan needs its Stripe price);
 * - a smaller plan, free, or another version of the same size: `scheduled` at the period end;
 * - a larger paid plan: `upgraded` now (its Stripe price, and a subscription whose last payment went through).
 */
export function planChangeKind(sub: SubscriptionRow, current: PlanRow, target: PlanRow): PlanChangeKind {
  if (target.id === current.id) return 'unchanged';
  const paidTarget = isPaid(target);
  if (paidTarget && !sub.stripe_subscription_id) {
    if (!target.stripe_price_id) throw new AppError('PAYMENT_PROVIDER_ERROR', `plan ${target.code} has no Stripe price`);
    return 'checkout_required';
  }
  // A smaller plan, or another version of the same size: at the period end, never a charge now.
  if (!isUpgrade(current, target)) return 'scheduled';
  if (!target.stripe_price_id) throw new AppError('PAYMENT_PROVIDER_ERROR', `plan ${target.code} has no Stripe price`);
  if (sub.status !== 'active') {
    // A renewal Stripe could not collect: an upgrade would grant the unpaid period's allowance.
    throw new AppError(
      'INVALID_INPUT',
      `the subscription's last payment did not go through (status ${sub.status}): update the card, then upgrade`,
    );
  }
  return 'upgraded';
}

/** A time to the whole second, as Stripe takes a proration date (the fraction dropped). */
export const toWholeSecond = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000);

/**
 * The time an upgrade is prorated at, from changePlan's `prorationDate` (the time previewPlanChange
 * prorated its figure at), in whole seconds as Stripe takes it. Refused, before anything is written,
 * when it cannot be the preview of this upgrade now:
 * - later than the api's clock by more than PRORATION_DATE_SKEW_MS: no preview answers such a time
 *   (INVALID_INPUT);
 * - older than PRORATION_DATE_MAX_AGE_MS (PRORATION_DATE_STALE);
 * - outside the subscription's current period: the period renewed since the preview, so its figure
 *   was the old period's, and Stripe prorates only within the current one (PRORATION_DATE_STALE).
 */
export function upgradeProrationDate(sub: SubscriptionRow, given: string, now: Date): Date {
  const date = toWholeSecond(new Date(given));
  const iso = date.toISOString();
  if (date.getTime() > now.getTime() + PRORATION_DATE_SKEW_MS) {
    throw new AppError(
      'INVALID_INPUT',
      `prorationDate ${iso} is later than the server's time (${now.toISOString()}); send the preview's own`,
    );
  }
  if (date.getTime() < now.getTime() - PRORATION_DATE_MAX_AGE_MS) {
    throw new AppError(
      'PRORATION_DATE_STALE',
      `prorationDate ${iso} is more than ${PRORATION_DATE_MAX_AGE_MS / 60_000} minutes old: preview the change again and confirm its figure`,
    );
  }
  if (date < sub.current_period_start || date >= sub.current_period_end) {
    throw new AppError(
      'PRORATION_DATE_STALE',
      `prorationDate ${iso} is not in the subscription's current period (from ${sub.current_period_start.toISOString()}): ` +
        'preview the change again and confirm its figure',
    );
  }
  return date;
}

export async function changePlan(ctx: ActionContext, args: z.output<typeof input>): Promise<PlanChangeResult> {
  const payments = requirePayments(ctx.payments);
  const actor = await requireBillingActor(ctx.db, ctx.session);
  const target = await offeredPlan(ctx.db, args.planId);
  return withPlanChangeLock(ctx, actor.orgId, () => changePlanAlone(ctx, payments, actor.orgId, target, args.prorationDate ?? null));
}

async function changePlanAlone(
  ctx: ActionContext,
  payments: Payments,
  orgId: string,
  target: PlanRow,
  prorationDate: string | null,
): Promise<PlanChangeResult> {
  const now = ctx.clock();
  const sub = await currentSubscription(ctx.db, orgId, now);
  const current = (await planById(ctx.db, sub.plan_id))!;
  const kind = planChangeKind(sub, current, target);
  // Only an upgrade is prorated: for any other change (nothing charged now, or Stripe Checkout's own
  // price) a proration date is ignored. For an upgrade it is checked here, before any Stripe call.
  const proratedAt = kind === 'upgraded' && prorationDate !== null ? upgradeProrationDate(sub, prorationDate, now) : undefined;
  if (kind === 'unchanged') {
    return { status: 'unchanged', checkoutUrl: null, effectiveAt: null, planId: current.id };
  }
  const periodKey = sub.current_period_start.toISOString();
  // Idempotency keys of this request (the SDK's retries reuse them; a new request gets new ones).
  const requestKey = now.toISOString();

  if (kind === 'checkout_required') {
    const customerId = await viaProvider(() => ensureCustomer(ctx.db, payments.provider, orgId));
    const session = await viaProvider(() =>
      payments.provider.createSubscriptionCheckout({
        customerId,
        orgId: orgId,
        planId: target.id,
        stripePriceId: target.stripe_price_id!,
        successUrl: `${payments.webOrigin}/billing?plan=success`,
        cancelUrl: `${payments.webOrigin}/billing?plan=canceled`,
        // One open checkout per org, plan, period and hour: asking again (a second click, another tab)
        // gets the same session back from Stripe, so a customer cannot pay for two subscriptions of one
        // plan; the hour bounds how long a failed answer, which Stripe keeps for the key, is repeated.
        idempotencyKey: `subscription_checkout:${orgId}:${target.id}:${periodKey}:${now.toISOString().slice(0, 13)}`,
      }),
    );
    return { status: 'checkout_required', checkoutUrl: session.url, effectiveAt: null, planId: target.id };
  }

  // A smaller plan, or another version of the same size: at the period end, never a charge now.
  if (kind === 'scheduled') {
    const paidTarget = isPaid(target);
    const effectiveAt = sub.current_period_end;
    let scheduleId: string | null = sub.stripe_schedule_id;
    let cancel = false;
    if (sub.stripe_subscription_id) {
      const subscriptionId = sub.stripe_subscription_id;
      if (!paidTarget) {
        if (scheduleId) await viaProvider(() => payments.provider.releaseSchedule(scheduleId!, `release:${scheduleId}:${requestKey}`));
        scheduleId = null;
        cancel = true;
        await viaProvider(() =>
          payments.provider.setCancelAtPeriodEnd(subscriptionId, true, `cancel_at_period_end:${subscriptionId}:${requestKey}`),
        );
      } else {
        if (sub.cancel_at_period_end) {
          await viaProvider(() =>
            payments.provider.setCancelAtPeriodEnd(subscriptionId, false, `keep:${subscriptionId}:${requestKey}:${target.id}`),
          );
        }
        const scheduled = await viaProvider(() =>
          payments.provider.scheduleDowngrade({
            subscriptionId,
            priceId: target.stripe_price_id!,
            idempotencyKey: `downgrade:${subscriptionId}:${requestKey}:${target.id}`,
          }),
        );
        scheduleId = scheduled.scheduleId;
      }
    }
    await ctx.db.query(
      `update public.organization_subscriptions
       set pending_plan_id = $2, pending_change_at = $3, stripe_schedule_id = $4, cancel_at_period_end = $5, updated_at = $6
       where organization_id = $1`,
      [orgId, target.id, effectiveAt, scheduleId, cancel, now],
    );
    return { status: 'scheduled', checkoutUrl: null, effectiveAt: effectiveAt.toISOString(), planId: target.id };
  }

  // Upgrade of a paid subscription (planChangeKind checked it may be): now, prorated, only once paid.
  const subscriptionId = sub.stripe_subscription_id!;
  if (sub.stripe_schedule_id) {
    const scheduleId = sub.stripe_schedule_id;
    await viaProvider(() => payments.provider.releaseSchedule(scheduleId, `release:${scheduleId}:${requestKey}`));
  }
  if (sub.cancel_at_period_end) {
    await viaProvider(() =>
      payments.provider.setCancelAtPeriodEnd(subscriptionId, false, `keep:${subscriptionId}:${requestKey}:${target.id}`),
    );
  }
  const upgrade = await viaProvider(() =>
    payments.provider.upgradeSubscription({
      subscriptionId,
      priceId: target.stripe_price_id!,
      ...(proratedAt ? { prorationDate: proratedAt } : {}),
      // This request's key: a retry after the card is fixed is a new request, not Stripe's cached
      // refusal; two requests at once cannot both upgrade (withPlanChangeLock, then the plan is read again).
      idempotencyKey: `upgrade:${subscriptionId}:${periodKey}:${target.id}:${requestKey}`,
    }),
  );
  if (!upgrade.paid) {
    await restorePendingChange(ctx, payments, orgId, sub, requestKey, now);
    throw new AppError('PAYMENT_PROVIDER_ERROR', `the upgrade to ${target.name} was not applied: ${upgrade.message}`);
  }
  await ledger(() => ctx.db.query('select public.apply_plan_change($1, $2, p_now => $3)', [orgId, target.id, now]));
  await ctx.db.query(
    `insert into public.notifications (organization_id, kind, title, body, action_url, dedupe_key, created_at)
     values ($1, 'plan_changed', $2, $3, $4, $5, $6) on conflict (organization_id, dedupe_key) do nothing`,
    [
      orgId,
      `Upgraded to ${target.name}`,
      `The ${target.name} plan applies now, with the difference of this period's allowance added.`,
      `${payments.webOrigin}/billing`,
      `plan_upgraded:${periodKey}:${target.id}`,
      now,
    ],
  );
  return { status: 'upgraded', checkoutUrl: null, effectiveAt: now.toISOString(), planId: target.id };
}

/**
 * After an upgrade that was not paid: the subscription stays on its plan, so what the upgrade undid in
 * Stripe on the way goes back: the cancellation at the period end, or the scheduled downgrade (a new
 * schedule, since a released one cannot be resumed). When that fails, the database is made to say
 * what Stripe does (no pending change), so that the roll does not move the org to a plan Stripe does
 * not bill.
 */
async function restorePendingChange(
  ctx: ActionContext,
  payments: Payments,
  orgId: string,
  sub: SubscriptionRow,
  requestKey: string,
  now: Date,
): Promise<void> {
  const subscriptionId = sub.stripe_subscription_id!;
  try {
    if (sub.cancel_at_period_end) {
      await payments.provider.setCancelAtPeriodEnd(subscriptionId, true, `restore_cancel:${subscriptionId}:${requestKey}`);
    } else if (sub.stripe_schedule_id && sub.pending_plan_id) {
      const pending = await planById(ctx.db, sub.pending_plan_id);
      if (!pending?.stripe_price_id) throw new Error(`plan ${sub.pending_plan_id} has no Stripe price`);
      const { scheduleId } = await payments.provider.scheduleDowngrade({
        subscriptionId,
        priceId: pending.stripe_price_id,
        idempotencyKey: `restore_downgrade:${subscriptionId}:${requestKey}:${pending.id}`,
      });
      await ctx.db.query(
        'update public.organization_subscriptions set stripe_schedule_id = $2, updated_at = $3 where organization_id = $1',
        [orgId, scheduleId, now],
      );
    }
  } catch (error) {
    console.error(
      `[plans] org ${orgId}: could not put back the pending change after an unpaid upgrade; it is dropped (Stripe has none)`,
      error,
    );
    await clearPendingChange(ctx, orgId, now);
  }
}

/** The org has no pending plan change (no schedule, no cancellation at the period end). */
export async function clearPendingChange(ctx: ActionContext, orgId: string, now: Date): Promise<void> {
  await ctx.db.query(
    `update public.organization_subscriptions
     set pending_plan_id = null, pending_change_at = null, stripe_schedule_id = null, cancel_at_period_end = false, updated_at = $2
     where organization_id = $1`,
    [orgId, now],
  );
}

export default defineAction(input, changePlan);
