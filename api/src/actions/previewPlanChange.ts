// previewPlanChange(planId, organizationId?): what changePlan(planId) would do if asked now, changing
// nothing — for the confirmation an owner or admin reads before changing plan. The same checks as
// changePlan (owners and admins; an offered plan; no upgrade while the renewal is unpaid) with the
// same error codes, then the same decision:
// - upgrade of a paid subscription (`upgraded`): now; what Stripe would invoice at once is Stripe's
//   own preview of the same item and price change (always_invoice, prorated at the api's clock, to
//   the second), and the credits are the allowance difference apply_plan_change would grant
//   (grant_period_allowance; both ask ledger.period_allowance_missing). The answer's `prorationDate` is the second it was prorated at: passed
//   back to changePlan with the confirmation, Stripe invoices the upgrade at that time, which is the
//   figure previewed;
// - downgrade (`scheduled`): at the period end, 0 now, no credits, Stripe is not asked;
// - from a plan without a Stripe subscription to a paid one (`checkout_required`): the plan's price,
//   paid on Stripe Checkout, once paid (no date, no credits before);
// - the same plan (`unchanged`): nothing.
// organizationId, when given, must be the session's org (FORBIDDEN otherwise, as reserveCredits).
// Nothing is written: no Stripe write (a retrieve and an invoice preview), no row. A period that has
// ended (before the hourly roll) is rolled first, as changePlan does, inside a transaction that is
// always rolled back, so that the answer is about the period the change would apply to.
import { inTransaction } from '@org-credits/db';
import type pg from 'pg';
import { z } from 'zod';
import { CREDIT_SCALE, formatDecimal } from '../decimal.ts';
import { requireBillingActor, requirePayments, viaProvider } from '../payments/index.ts';
import { requireSessionOrg } from '../session.ts';
import {
  currentSubscription,
  isUpgrade,
  offeredPlan,
  type PlanRow,
  planById,
  planChangeKind,
  type SubscriptionRow,
  toWholeSecond,
} from './changePlan.ts';
import { type ActionContext, defineAction } from './context.ts';
import { uuid } from './inputs.ts';

export const input = z.object({
  planId: z.uuid('planId must be a uuid'),
  organizationId: uuid.nullish(),
});

export interface PlanChangePreview {
  planId: string;
  direction: 'upgrade' | 'downgrade' | 'same';
  /** What changePlan would answer. */
  status: 'upgraded' | 'scheduled' | 'checkout_required' | 'unchanged';
  effectiveAt: string | null;
  /** Integer minor units of `currency`, as a string (Hasura's bigint). */
  amountDueMinor: string;
  currency: string;
  /** Credits granted at once (scale 3). */
  creditsGrantedNow: string;
  /** The time, to the second, Stripe's figure was prorated at (an upgrade only; null otherwise): changePlan's `prorationDate`. */
  prorationDate: string | null;
}

interface Snapshot {
  sub: SubscriptionRow;
  current: PlanRow;
  /** The credits grant_period_allowance would add on the target plan (ledger.period_allowance_missing). */
  allowanceMissing: string;
}

/**
 * The subscription as changePlan would find it at `now` (currentSubscription: an ended period rolled
 * first), with its plan and what the target plan's allowance lacks in that period, read in a
 * transaction that is always rolled back: nothing is written.
 */
function snapshot(db: pg.Pool, orgId: string, now: Date, target: PlanRow): Promise<Snapshot> {
  return inTransaction(
    db,
    async (client) => {
      const sub = await currentSubscription(client, orgId, now);
      const current = (await planById(client, sub.plan_id))!;
      const { rows } = await client.query<{ missing: string }>('select ledger.period_allowance_missing($1, $2, $3)::text as missing', [
        orgId,
        sub.current_period_start,
        target.monthly_allowance_credits,
      ]);
      return { sub, current, allowanceMissing: rows[0]!.missing };
    },
    { rollBack: true },
  );
}

const NO_CREDITS = formatDecimal(0n, CREDIT_SCALE);

export async function previewPlanChange(ctx: ActionContext, args: z.output<typeof input>): Promise<PlanChangePreview> {
  const payments = requirePayments(ctx.payments);
  const actor = await requireBillingActor(ctx.db, ctx.session);
  requireSessionOrg(actor.orgId, args.organizationId);
  const target = await offeredPlan(ctx.db, args.planId);
  const now = ctx.clock();
  const { sub, current, allowanceMissing } = await snapshot(ctx.db, actor.orgId, now, target);
  // changePlan's decision and the checks it makes before it writes anything (the same errors).
  const kind = planChangeKind(sub, current, target);
  const answer = { planId: target.id, currency: target.currency, prorationDate: null };
  if (kind === 'unchanged') {
    return { ...answer, direction: 'same', status: kind, effectiveAt: null, amountDueMinor: '0', creditsGrantedNow: NO_CREDITS };
  }
  const direction = isUpgrade(current, target) ? 'upgrade' : 'downgrade';
  if (kind === 'checkout_required') {
    return { ...answer, direction, status: kind, effectiveAt: null, amountDueMinor: target.price_minor, creditsGrantedNow: NO_CREDITS };
  }
  if (kind === 'scheduled') {
    return {
      ...answer,
      direction,
      status: kind,
      effectiveAt: sub.current_period_end.toISOString(),
      amountDueMinor: '0',
      creditsGrantedNow: NO_CREDITS,
    };
  }

  // Upgrade of a paid subscription: Stripe's own preview of the invoice changePlan's update would make,
  // at this second (Stripe takes whole seconds; the answer names the very time it used).
  const prorationDate = toWholeSecond(now);
  const preview = await viaProvider(() =>
    payments.provider.previewUpgrade({
      subscriptionId: sub.stripe_subscription_id!,
      priceId: target.stripe_price_id!,
      prorationDate,
      currency: target.currency,
    }),
  );
  return {
    ...answer,
    direction,
    status: 'upgraded',
    effectiveAt: now.toISOString(),
    amountDueMinor: String(preview.amountDueMinor),
    currency: preview.currency,
    creditsGrantedNow: allowanceMissing,
    prorationDate: prorationDate.toISOString(),
  };
}

export default defineAction(input, previewPlanChange);
