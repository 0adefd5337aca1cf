// changePlan(planId): owners and admins move the org to another plan.
// - From a plan without a Stripe subscription (free) to a paid one: a Checkout Session in
//   subscription mode (`checkout_required`); the webhook applies the plan once it is paid.
// - Upgrade: the subscription moves to the new price now with a prorated invoice, applied only if
//   that invoice was paid; the org gets the allowance difference at once (`upgraded`).
// - Downgrade: a subscription schedule moves it at the period end (`scheduled`, shown as pending,
//   cancellable with cancelPlanChange); to free: the subscription cancels at the period end.
import { z } from 'zod';
import { AppError, ledger } from '../errors.ts';
import { ensureCustomer, requireBillingActor, requirePayments, viaProvider } from '../payments/index.ts';
import { type ActionContext, defineAction } from './context.ts';

export const input = z.object({ planId: z.uuid('planId must be a uuid') });

export interface PlanChangeResult {
  status: 'upgraded' | 'scheduled' | 'checkout_required' | 'canceled' | 'unchanged';
  checkoutUrl: string | null;
  effectiveAt: string | null;
  planId: string | null;
}

interface PlanRow {
  id: string;
  code: string;
  name: string;
  rank: number;
  price_minor: string;
  stripe_price_id: string | null;
  is_active: boolean;
}

export interface SubscriptionRow {
  plan_id: string;
  current_period_start: Date;
  current_period_end: Date;
  pending_plan_id: string | null;
  pending_change_at: Date | null;
  cancel_at_period_end: boolean;
  stripe_subscription_id: string | null;
  stripe_schedule_id: string | null;
}

export async function readSubscription(ctx: ActionContext, orgId: string): Promise<SubscriptionRow> {
  const { rows } = await ctx.db.query<SubscriptionRow>('select * from public.organization_subscriptions where organization_id = $1', [
    orgId,
  ]);
  if (!rows[0]) throw new AppError('ORGANIZATION_NOT_FOUND', `org ${orgId} has no subscription`);
  return rows[0];
}

const planById = async (ctx: ActionContext, id: string) =>
  (
    await ctx.db.query<PlanRow>(
      'select id, code, name, rank, price_minor::text, stripe_price_id, is_active from public.plans where id = $1',
      [id],
    )
  ).rows[0];

export async function changePlan(ctx: ActionContext, args: z.output<typeof input>): Promise<PlanChangeResult> {
  const payments = requirePayments(ctx.payments);
  const actor = await requireBillingActor(ctx.db, ctx.session);
  const now = ctx.clock();
  const target = await planById(ctx, args.planId);
  if (!target?.is_active) throw new AppError('INVALID_INPUT', `plan ${args.planId} is not offered`);
  const sub = await readSubscription(ctx, actor.orgId);
  const current = (await planById(ctx, sub.plan_id))!;
  if (target.id === current.id) {
    return { status: 'unchanged', checkoutUrl: null, effectiveAt: null, planId: current.id };
  }
  const paidTarget = target.price_minor !== '0';
  const periodKey = sub.current_period_start.toISOString();
  // Idempotency keys of this request (the SDK's retries reuse them; a new request gets new ones).
  const requestKey = now.toISOString();

  if (paidTarget && !sub.stripe_subscription_id) {
    if (!target.stripe_price_id) throw new AppError('PAYMENT_PROVIDER_ERROR', `plan ${target.code} has no Stripe price`);
    const customerId = await viaProvider(() => ensureCustomer(ctx.db, payments.provider, actor.orgId));
    const session = await viaProvider(() =>
      payments.provider.createSubscriptionCheckout({
        customerId,
        orgId: actor.orgId,
        planId: target.id,
        stripePriceId: target.stripe_price_id!,
        successUrl: `${payments.webOrigin}/billing?plan=success`,
        cancelUrl: `${payments.webOrigin}/billing?plan=canceled`,
        // One open checkout per org, plan, period and hour: asking again (a second click, another tab)
        // gets the same session back from Stripe, so a customer cannot pay for two subscriptions of one
        // plan; the hour bounds how long a failed answer, which Stripe keeps for the key, is repeated.
        idempotencyKey: `subscription_checkout:${actor.orgId}:${target.id}:${periodKey}:${now.toISOString().slice(0, 13)}`,
      }),
    );
    return { status: 'checkout_required', checkoutUrl: session.url, effectiveAt: null, planId: target.id };
  }

  // A smaller plan, or another version of the same size: at the period end, never a charge now.
  if (!paidTarget || target.rank <= current.rank) {
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
      [actor.orgId, target.id, effectiveAt, scheduleId, cancel, now],
    );
    return { status: 'scheduled', checkoutUrl: null, effectiveAt: effectiveAt.toISOString(), planId: target.id };
  }

  // Upgrade of a paid subscription: now, prorated, only once paid.
  const subscriptionId = sub.stripe_subscription_id!;
  if (!target.stripe_price_id) throw new AppError('PAYMENT_PROVIDER_ERROR', `plan ${target.code} has no Stripe price`);
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
      idempotencyKey: `upgrade:${subscriptionId}:${periodKey}:${target.id}`,
    }),
  );
  if (!upgrade.paid) {
    throw new AppError('PAYMENT_PROVIDER_ERROR', `the upgrade to ${target.name} was not applied: ${upgrade.message}`);
  }
  await ledger(() => ctx.db.query('select public.apply_plan_change($1, $2, p_now => $3)', [actor.orgId, target.id, now]));
  await ctx.db.query(
    `insert into public.notifications (organization_id, kind, title, body, action_url, dedupe_key, created_at)
     values ($1, 'plan_changed', $2, $3, $4, $5, $6) on conflict (organization_id, dedupe_key) do nothing`,
    [
      actor.orgId,
      `Upgraded to ${target.name}`,
      `The ${target.name} plan applies now, with the difference of this period's allowance added.`,
      `${payments.webOrigin}/billing`,
      `plan_upgraded:${periodKey}:${target.id}`,
      now,
    ],
  );
  return { status: 'upgraded', checkoutUrl: null, effectiveAt: now.toISOString(), planId: target.id };
}

export default defineAction(input, changePlan);
