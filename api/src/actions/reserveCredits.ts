// reserveCredits(capability, qualityLevel, idempotencyKey, inputTokens?, estimatedCredits?,
// ttlSeconds?, organizationId?): holds credits for one AI call, for ttlSeconds (default 600, at most
// 86400; choose it above the longest call). organizationId, when given, must be the session's org
// (FORBIDDEN otherwise, nothing held): a service token for one org never charges it for a call meant
// for another. The amount is computed here: the estimate's maximum for the input; a
// larger estimate from the caller raises it, a smaller one never lowers it. The same key again
// returns the same reservation (reserve_credits is idempotent per org and key). The key names the
// call: a retry for the same capability and quality level gets the hold made the first time even
// when the amount worked out now differs (a price, the plan's model or the estimate changed in
// between); only another capability or quality level under the key is IDEMPOTENCY_CONFLICT.
import { z } from 'zod';
import { CREDIT_SCALE, formatDecimal, parseDecimal } from '../decimal.ts';
import { AppError, ledger } from '../errors.ts';
import { availableOf, availableSql, rollPeriodIfEnded } from '../ledger.ts';
import { findOffer, holdAmount, requiredPlanCode } from '../pricing.ts';
import { type OrgActor, requireOrgActor, requireSessionOrg } from '../session.ts';
import { type ActionContext, defineAction } from './context.ts';
import { code, positiveCredits, tokenCount, uuid } from './inputs.ts';

/** How long a hold lasts when the caller does not say (reserve_credits' own default). */
export const DEFAULT_HOLD_TTL_SECONDS = 600;
/** reserve_credits' bound on a hold's life: one day. */
export const MAX_HOLD_TTL_SECONDS = 86_400;

export const input = z.object({
  capability: code('capability'),
  qualityLevel: code('qualityLevel'),
  idempotencyKey: z.string().min(1, 'idempotencyKey must not be empty').max(255, 'idempotencyKey is longer than 255 characters'),
  inputTokens: tokenCount.nullish(),
  estimatedCredits: positiveCredits.nullish(),
  ttlSeconds: z
    .number()
    .int('ttlSeconds must be a whole number of seconds')
    .min(1, 'ttlSeconds must be at least 1')
    .max(MAX_HOLD_TTL_SECONDS, `ttlSeconds must be at most ${MAX_HOLD_TTL_SECONDS}`)
    .nullish(),
  organizationId: uuid.nullish(),
});

export interface ReserveCreditsOutput {
  reservationId: string;
  amountCredits: string;
  expiresAt: string;
  /** Seconds the hold has left, by the server's clock (a replayed key's hold has less than its ttl). */
  expiresInSeconds: number;
  /** The key's hold was made by an earlier request (a retry, or another caller using the same key). */
  replayed: boolean;
  modelId: string;
  availableCredits: string;
}

interface ReservationRow {
  id: string;
  status: string;
  amount_credits: string;
  expires_at: Date;
  /** The key's reservation was there before this request (see REPLAYED_SQL). */
  replayed: boolean;
  model_id: string;
  /** The org's available credits after the hold, read in the same statement (see `availableSql`). */
  available_credits: string | null;
}

/**
 * Whether the key's reservation was there before this request: not written by this statement's
 * transaction. Read by `api_reservation_is_new` in a new snapshot, because the statement's own does
 * not show a reservation that another request with the same key committed while this one's reserve
 * waited for it on the key (migration 1795322402400_reservation_is_new).
 */
const REPLAYED_SQL = 'not public.api_reservation_is_new(r.id) as replayed';

/**
 * The common case in one round trip: the org's plan's offer, the hold computed from its prices
 * (the estimate's maximum, exactly as `creditsFor`: credits × 1000 = base × 1000 + input × input
 * price + output × output price, rounded up), reserve_credits with it, and the available credits
 * after it. No row when the plan lacks the offer or the input is over the capability's maximum:
 * the slow path then finds the precise error.
 */
const RESERVE_FAST_SQL = `
with offer as (
  select c.code as capability_code, pq.quality_level_code, m.id as model_id,
    jsonb_build_object('pricing_mode', c.pricing_mode, 'model_id', m.id, 'base_cost_credits', c.base_cost_credits::text,
      'input_credits_per_1k_tokens', m.input_credits_per_1k_tokens::text,
      'output_credits_per_1k_tokens', m.output_credits_per_1k_tokens::text) as pricing,
    case when c.pricing_mode = 'per_call' then c.base_cost_credits
      else ceil(c.base_cost_credits * 1000 + coalesce($6::int, c.typical_input_tokens) * m.input_credits_per_1k_tokens
        + c.max_output_tokens * m.output_credits_per_1k_tokens) / 1000
    end as hold
  from public.organization_subscriptions s
  join public.ai_capabilities c on c.code = $2 and c.is_active
  join public.plan_capabilities pc on pc.plan_id = s.plan_id and pc.capability_code = c.code
  join public.plan_capability_quality_levels pq on pq.plan_id = s.plan_id and pq.capability_code = c.code and pq.quality_level_code = $3
  join public.llm_models m on m.id = pq.model_id
  where s.organization_id = $1 and ($6::int is null or c.pricing_mode = 'per_call' or $6::int <= c.max_input_tokens)
)
select r.id, r.status, r.amount_credits::text, r.expires_at, r.model_id, ${availableSql('$1', '$8')},
  ${REPLAYED_SQL}
from offer o
cross join lateral public.reserve_credits(p_org_id => $1, p_amount => greatest(o.hold, coalesce($7::numeric, 0))::numeric(20, 3),
  p_idempotency_key => $4, p_capability_code => o.capability_code, p_quality_level_code => o.quality_level_code,
  p_model_id => o.model_id, p_pricing => o.pricing, p_user_id => $5, p_ttl_seconds => $9::int, p_now => $8) r`;

export async function reserveCredits(ctx: ActionContext, args: z.output<typeof input>): Promise<ReserveCreditsOutput> {
  const actor = await requireOrgActor(ctx.db, ctx.session);
  requireSessionOrg(actor.orgId, args.organizationId, ': nothing was held (a service token is for one organization)');
  const now = ctx.clock();
  const row = await reserveOnce(ctx, actor, args, now).catch(async (error: unknown) => {
    // Refused for credits just after the period's end, before the hourly roll granted the new
    // allowance (the old one has expired): roll now and try once more.
    if (error instanceof AppError && error.code === 'INSUFFICIENT_CREDITS' && (await rollPeriodIfEnded(ctx.db, actor.orgId, now))) {
      return reserveOnce(ctx, actor, args, now);
    }
    throw error;
  });
  // The key's reservation was already settled, released or expired: its AI call is over. Answering
  // it as a hold would let the caller run the call again and never be charged for it. A hold past
  // its expiry is over too: reserve_credits expires it when its key is replayed, and a replay whose
  // amount works out differently now reads the row as it is (sameCallUnderKey), open until the job.
  const status = row.status === 'open' && row.expires_at.getTime() <= now.getTime() ? 'expired' : row.status;
  if (status !== 'open') {
    throw new AppError(
      'RESERVATION_ALREADY_RESOLVED',
      `idempotency key ${args.idempotencyKey} belongs to reservation ${row.id}, which is already ${status}: a new AI call needs a new key`,
      { detail: { reservation_id: row.id, status } },
    );
  }
  return {
    reservationId: row.id,
    amountCredits: formatDecimal(parseDecimal(row.amount_credits, CREDIT_SCALE), CREDIT_SCALE),
    expiresAt: row.expires_at.toISOString(),
    expiresInSeconds: Math.max(0, Math.floor((row.expires_at.getTime() - now.getTime()) / 1000)),
    replayed: row.replayed,
    modelId: row.model_id,
    availableCredits: availableOf(row),
  };
}

/** The reservation for the key: the one-statement path, or the slow one when it finds no offer. */
async function reserveOnce(ctx: ActionContext, actor: OrgActor, args: z.output<typeof input>, now: Date): Promise<ReservationRow> {
  const row = await ledger(() =>
    ctx.db.query<ReservationRow>({ name: 'api-reserve', text: RESERVE_FAST_SQL }, [
      actor.orgId,
      args.capability,
      args.qualityLevel,
      args.idempotencyKey,
      actor.userId,
      args.inputTokens ?? null,
      args.estimatedCredits ?? null,
      now,
      args.ttlSeconds ?? DEFAULT_HOLD_TTL_SECONDS,
    ]),
  )
    .then((result) => result.rows[0])
    .catch((error: unknown) => withRequiredPlan(ctx, args, error))
    .catch((error: unknown) => sameCallUnderKey(ctx, actor, args, now, error));
  return row ?? reserveSlowly(ctx, actor, args, now).catch((error: unknown) => sameCallUnderKey(ctx, actor, args, now, error));
}

/** Looks the offer up on its own (answering the precise error when there is none), then reserves. */
async function reserveSlowly(ctx: ActionContext, actor: OrgActor, args: z.output<typeof input>, now: Date): Promise<ReservationRow> {
  const offer = await findOffer(ctx.db, actor.orgId, args.capability, args.qualityLevel);
  const amount = holdAmount(offer, args.inputTokens, args.estimatedCredits);
  const { rows } = await ledger(() =>
    ctx.db.query<ReservationRow>(
      `select r.id, r.status, r.amount_credits::text, r.expires_at, r.model_id, ${availableSql('$1', '$9')}, ${REPLAYED_SQL}
       from public.reserve_credits(p_org_id => $1, p_amount => $2::numeric, p_idempotency_key => $3, p_capability_code => $4,
         p_quality_level_code => $5, p_model_id => $6, p_pricing => $7::jsonb, p_user_id => $8, p_ttl_seconds => $10::int, p_now => $9) r`,
      [
        actor.orgId,
        amount,
        args.idempotencyKey,
        offer.capability,
        offer.qualityLevel,
        offer.modelId,
        offer.pricing,
        actor.userId,
        now,
        args.ttlSeconds ?? DEFAULT_HOLD_TTL_SECONDS,
      ],
    ),
  ).catch((error: unknown) => withRequiredPlan(ctx, args, error));
  return rows[0] as ReservationRow;
}

/**
 * On IDEMPOTENCY_CONFLICT: the reservation the key already has, when it is for the same capability
 * and quality level (the same call, retried after its amount changed); otherwise the conflict.
 */
async function sameCallUnderKey(
  ctx: ActionContext,
  actor: OrgActor,
  args: z.output<typeof input>,
  now: Date,
  error: unknown,
): Promise<ReservationRow> {
  if (!(error instanceof AppError && error.code === 'IDEMPOTENCY_CONFLICT')) throw error;
  const { rows } = await ledger(() =>
    ctx.db.query<ReservationRow>(
      `select r.id, r.status, r.amount_credits::text, r.expires_at, r.model_id, ${availableSql('$1', '$5')}, true as replayed
       from public.credit_reservations r
       where r.organization_id = $1 and r.idempotency_key = $2 and r.capability_code = $3 and r.quality_level_code = $4`,
      [actor.orgId, args.idempotencyKey, args.capability, args.qualityLevel, now],
    ),
  );
  if (!rows[0]) throw error;
  return rows[0];
}

/** The ledger names the plan to upgrade to; when it cannot, look it up. */
async function withRequiredPlan(ctx: ActionContext, args: z.output<typeof input>, error: unknown): Promise<never> {
  if (
    error instanceof AppError &&
    !error.details.requiredPlan &&
    (error.code === 'CAPABILITY_NOT_IN_PLAN' || error.code === 'QUALITY_NOT_IN_PLAN')
  ) {
    const plan = await requiredPlanCode(ctx.db, args.capability, error.code === 'QUALITY_NOT_IN_PLAN' ? args.qualityLevel : null);
    if (plan) throw new AppError(error.code, error.message, { ...error.details, requiredPlan: plan });
  }
  throw error;
}

export default defineAction(input, reserveCredits);
