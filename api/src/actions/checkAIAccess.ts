// checkAIAccess(capability, qualityLevel, inputTokens?, estimatedCredits?): may the org run it now,
// and if not why and what to do;
// the plan's model for it, the estimated cost, the rate limit budget left and the balance.
// It answers the same checks reserve_credits makes, in the same order, without holding anything;
// like a reserve, it first starts the org's next billing period if the current one has ended and the
// hourly roll has not run yet (else it would say "top up" where the reserve passes on the new
// allowance).
import { z } from 'zod';
import { CREDIT_SCALE, parseDecimal } from '../decimal.ts';
import { AppError, type UserAction } from '../errors.ts';
import { availableCredits, rateBudget, rollPeriodIfEnded, spendState } from '../ledger.ts';
import { estimate, findOffer, holdAmount, type Offer } from '../pricing.ts';
import { requireOrgActor } from '../session.ts';
import { type ActionContext, defineAction } from './context.ts';
import { code, positiveCredits, tokenCount } from './inputs.ts';

export const input = z.object({
  capability: code('capability'),
  qualityLevel: code('qualityLevel'),
  /** The call's input size and the caller's own estimate, as the reserve takes them: the hold checked is the one it would take. */
  inputTokens: tokenCount.nullish(),
  estimatedCredits: positiveCredits.nullish(),
});

export interface AIAccessCheck {
  allowed: boolean;
  reason: string | null;
  message: string | null;
  action: UserAction | null;
  requiredPlanCode: string | null;
  modelId: string | null;
  modelDisplayName: string | null;
  estimatedCredits: string | null;
  rateLimitHourRemaining: number | null;
  rateLimitDayRemaining: number | null;
  retryAfterSeconds: number | null;
  availableCredits: string;
}

const units = (amount: string) => parseDecimal(amount, CREDIT_SCALE);

export async function checkAIAccess(ctx: ActionContext, args: z.output<typeof input>): Promise<AIAccessCheck> {
  const actor = await requireOrgActor(ctx.db, ctx.session);
  const now = ctx.clock();
  await rollPeriodIfEnded(ctx.db, actor.orgId, now);
  const available = await availableCredits(ctx.db, actor.orgId, now);
  const denied = (error: AppError, extra: Partial<AIAccessCheck> = {}): AIAccessCheck => ({
    allowed: false,
    reason: error.code,
    message: error.message,
    action: error.action ?? null,
    requiredPlanCode: error.details.requiredPlan ?? null,
    modelId: null,
    modelDisplayName: null,
    estimatedCredits: null,
    rateLimitHourRemaining: null,
    rateLimitDayRemaining: null,
    retryAfterSeconds: error.details.retryAfterSeconds ?? null,
    availableCredits: available,
    ...extra,
  });

  let offer: Offer;
  try {
    offer = await findOffer(ctx.db, actor.orgId, args.capability, args.qualityLevel);
  } catch (error) {
    if (error instanceof AppError && (error.code === 'CAPABILITY_NOT_IN_PLAN' || error.code === 'QUALITY_NOT_IN_PLAN'))
      return denied(error);
    throw error;
  }
  // estimate refuses an input over the capability's maximum, as the reserve does.
  const typical = estimate(offer, { inputTokens: args.inputTokens ?? null }).typicalCredits;
  // The hold a reserve with the same arguments would take.
  const hold = holdAmount(offer, args.inputTokens, args.estimatedCredits);
  const rate = await rateBudget(
    ctx.db,
    actor.orgId,
    offer.capability,
    { perHour: offer.rateLimitPerHour, perDay: offer.rateLimitPerDay },
    now,
  );
  const known: Partial<AIAccessCheck> = {
    modelId: offer.modelId,
    modelDisplayName: offer.modelDisplayName,
    estimatedCredits: typical,
    rateLimitHourRemaining: rate.hourRemaining,
    rateLimitDayRemaining: rate.dayRemaining,
  };

  if (rate.retryAfterSeconds !== null) {
    const window = rate.dayRemaining === 0 ? 'daily' : 'hourly';
    return denied(
      new AppError('RATE_LIMITED', `the ${window} limit of the ${offer.planCode} plan for ${offer.capability} is reached`, {
        retryAfterSeconds: rate.retryAfterSeconds,
      }),
      known,
    );
  }
  const spend = await spendState(ctx.db, actor.orgId, now);
  const spendError = (which: string, limit: string, retryAt: Date | null) =>
    denied(
      new AppError('SPEND_LIMIT_EXCEEDED', `a call holds up to ${hold} credits, which would pass the ${which} spend limit of ${limit}`, {
        ...(retryAt ? { retryAfterSeconds: Math.ceil((retryAt.getTime() - now.getTime()) / 1000) } : {}),
        // No wait passes the per-call limit: it must change (as reserveCredits answers).
        ...(which === 'per-call' ? { action: 'raise_limit' as const } : {}),
      }),
      known,
    );
  if (spend.perCallLimit && units(hold) > units(spend.perCallLimit)) return spendError('per-call', spend.perCallLimit, null);
  // The month before the day, as reserve_credits: when both refuse, only the month's end lets a
  // retry pass.
  if (spend.monthlyLimit && units(spend.monthCommitted) + units(hold) > units(spend.monthlyLimit)) {
    return spendError('monthly', spend.monthlyLimit, spend.monthEndsAt);
  }
  if (spend.dailyLimit && units(spend.dayCommitted) + units(hold) > units(spend.dailyLimit)) {
    return spendError('daily', spend.dailyLimit, spend.dayEndsAt);
  }
  if (units(hold) > units(available)) {
    return denied(
      new AppError('INSUFFICIENT_CREDITS', `a call holds up to ${hold} credits while it runs and ${available} are available`),
      known,
    );
  }
  return {
    allowed: true,
    reason: null,
    message: null,
    action: null,
    requiredPlanCode: null,
    ...(known as Required<Pick<AIAccessCheck, 'modelId' | 'modelDisplayName' | 'estimatedCredits'>>),
    rateLimitHourRemaining: rate.hourRemaining,
    rateLimitDayRemaining: rate.dayRemaining,
    retryAfterSeconds: null,
    availableCredits: available,
  };
}

export default defineAction(input, checkAIAccess);
