// reserveCredits(capability, qualityLevel, idempotencyKey, inputTokens?, estimatedCredits?): holds
// credits for one AI call. The amount is computed here: the estimate's maximum for the input; a
// larger estimate from the caller raises it, a smaller one never lowers it. The same key again
// returns the same reservation (reserve_credits is idempotent per org and key).
import { z } from 'zod';
import { CREDIT_SCALE, formatDecimal, maxBigInt, parseDecimal } from '../decimal.ts';
import { AppError, ledger } from '../errors.ts';
import { availableCredits } from '../ledger.ts';
import { findOffer, holdAmount, requiredPlanCode } from '../pricing.ts';
import { requireOrgActor } from '../session.ts';
import { type ActionContext, defineAction } from './context.ts';
import { code, positiveCredits, tokenCount } from './inputs.ts';

export const input = z.object({
  capability: code('capability'),
  qualityLevel: code('qualityLevel'),
  idempotencyKey: z.string().min(1, 'idempotencyKey must not be empty').max(255, 'idempotencyKey is longer than 255 characters'),
  inputTokens: tokenCount.nullish(),
  estimatedCredits: positiveCredits.nullish(),
});

export interface ReserveCreditsOutput {
  reservationId: string;
  amountCredits: string;
  expiresAt: string;
  modelId: string;
  availableCredits: string;
}

interface ReservationRow {
  id: string;
  amount_credits: string;
  expires_at: Date;
  model_id: string;
}

export async function reserveCredits(ctx: ActionContext, args: z.output<typeof input>): Promise<ReserveCreditsOutput> {
  const actor = await requireOrgActor(ctx.db, ctx.session);
  const now = ctx.clock();
  const offer = await findOffer(ctx.db, actor.orgId, args.capability, args.qualityLevel);
  const server = parseDecimal(holdAmount(offer, args.inputTokens), CREDIT_SCALE);
  const client = args.estimatedCredits ? parseDecimal(args.estimatedCredits, CREDIT_SCALE) : 0n;
  const amount = formatDecimal(maxBigInt(server, client), CREDIT_SCALE);
  let row: ReservationRow;
  try {
    const { rows } = await ledger(() =>
      ctx.db.query<ReservationRow>(
        `select id, amount_credits::text, expires_at, model_id
         from public.reserve_credits(p_org_id => $1, p_amount => $2::numeric, p_idempotency_key => $3, p_capability_code => $4,
           p_quality_level_code => $5, p_model_id => $6, p_pricing => $7::jsonb, p_user_id => $8, p_now => $9)`,
        [actor.orgId, amount, args.idempotencyKey, offer.capability, offer.qualityLevel, offer.modelId, offer.pricing, actor.userId, now],
      ),
    );
    row = rows[0] as ReservationRow;
  } catch (error) {
    // The plan may change between our look-up and the ledger's own check: name the plan to upgrade to.
    if (
      error instanceof AppError &&
      !error.details.requiredPlan &&
      (error.code === 'CAPABILITY_NOT_IN_PLAN' || error.code === 'QUALITY_NOT_IN_PLAN')
    ) {
      const plan = await requiredPlanCode(ctx.db, offer.capability, error.code === 'QUALITY_NOT_IN_PLAN' ? offer.qualityLevel : null);
      if (plan) throw new AppError(error.code, error.message, { ...error.details, requiredPlan: plan });
    }
    throw error;
  }
  return {
    reservationId: row.id,
    amountCredits: formatDecimal(parseDecimal(row.amount_credits, CREDIT_SCALE), CREDIT_SCALE),
    expiresAt: row.expires_at.toISOString(),
    modelId: row.model_id,
    availableCredits: await availableCredits(ctx.db, actor.orgId, now),
  };
}

export default defineAction(input, reserveCredits);
