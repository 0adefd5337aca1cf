// cancelPlanChange: owners and admins drop the org's scheduled plan change (a downgrade's
// subscription schedule is released; a cancellation at the period end is withdrawn).
import { z } from 'zod';
import { type Payments, requireBillingActor, requirePayments, viaProvider } from '../payments/index.ts';
import { clearPendingChange, currentSubscription, type PlanChangeResult, withPlanChangeLock } from './changePlan.ts';
import { type ActionContext, defineAction } from './context.ts';

export const input = z.object({}).strict();

export async function cancelPlanChange(ctx: ActionContext): Promise<PlanChangeResult> {
  const payments = requirePayments(ctx.payments);
  const actor = await requireBillingActor(ctx.db, ctx.session);
  return withPlanChangeLock(ctx, actor.orgId, () => cancelAlone(ctx, payments, actor.orgId));
}

async function cancelAlone(ctx: ActionContext, payments: Payments, orgId: string): Promise<PlanChangeResult> {
  // A change that came due with the period's end was applied by the roll: there is nothing left to cancel.
  const sub = await currentSubscription(ctx.db, orgId, ctx.clock());
  if (!sub.pending_plan_id) return { status: 'unchanged', checkoutUrl: null, effectiveAt: null, planId: sub.plan_id };
  const requestKey = ctx.clock().toISOString();
  if (sub.stripe_schedule_id) {
    const scheduleId = sub.stripe_schedule_id;
    await viaProvider(() => payments.provider.releaseSchedule(scheduleId, `release:${scheduleId}:${requestKey}`));
  }
  if (sub.cancel_at_period_end && sub.stripe_subscription_id) {
    const subscriptionId = sub.stripe_subscription_id;
    await viaProvider(() => payments.provider.setCancelAtPeriodEnd(subscriptionId, false, `keep:${subscriptionId}:${requestKey}:cancel`));
  }
  await clearPendingChange(ctx, orgId, ctx.clock());
  return { status: 'canceled', checkoutUrl: null, effectiveAt: null, planId: sub.plan_id };
}

export default defineAction(input, (ctx) => cancelPlanChange(ctx));
