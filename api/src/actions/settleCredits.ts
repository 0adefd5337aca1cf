// settleCredits(reservationId, usage): charges what the call really used — tokens in and out for
// the reservation's model, or one call for per-call capabilities — at the prices saved on the
// reservation when it was made; the rest of the hold goes back. Above the hold, settle_reservation
// charges only as far as credits are available and the spend limits leave room: the answer is then
// capped, with chargedCredits what was charged (docs/ledger.md, Reservations). Sending the same
// usage again after a lost answer returns the same settlement; anything else on a resolved
// reservation is RESERVATION_ALREADY_RESOLVED.
//
// `usage: { holdAmount: true }` (and no counts) charges exactly the hold, the amount the reserve
// admitted, saved as the usage {"hold_amount": true}: for a call that ran but whose usage cannot be
// reported or was refused (the client falls back to it after an INVALID_INPUT settle).
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { CREDIT_SCALE, formatDecimal, parseDecimal } from '../decimal.ts';
import { AppError, ledger } from '../errors.ts';
import { availableCredits, availableOf, availableSql } from '../ledger.ts';
import { creditsFor } from '../pricing.ts';
import { type OrgActor, requireOrgActor } from '../session.ts';
import { type ActionContext, defineAction } from './context.ts';
import { tokenCount, uuid } from './inputs.ts';
import { loadReservation, RESERVATION_COLUMNS, type ReservationRow, type ReservationState, toReservationState } from './reservations.ts';

export const input = z.object({
  reservationId: uuid,
  usage: z.object({
    inputTokens: tokenCount.nullish(),
    outputTokens: tokenCount.nullish(),
    calls: z.number().int('calls must be a whole number').nullish(),
    /** Charge the hold itself instead of counted usage (no counts with it). */
    holdAmount: z.boolean('holdAmount must be a boolean').nullish(),
  }),
});

export interface SettleCreditsOutput {
  reservationId: string;
  chargedCredits: string;
  releasedCredits: string;
  capped: boolean;
  availableCredits: string;
}

/** The usage as saved on the reservation (snake case, like every column). */
type SavedUsage = { input_tokens: number; output_tokens: number; calls: number } | { calls: number } | { hold_amount: true };

function chargeFor(reservation: ReservationState, usage: z.output<typeof input>['usage']): { amount: string; saved: SavedUsage } {
  if (usage.holdAmount) {
    if (usage.inputTokens != null || usage.outputTokens != null || usage.calls != null) {
      throw new AppError('INVALID_INPUT', 'usage.holdAmount charges the hold: send it without inputTokens, outputTokens or calls');
    }
    return { amount: reservation.amountCredits, saved: { hold_amount: true } };
  }
  const pricing = reservation.pricing;
  if (!pricing) throw new AppError('INVALID_INPUT', `reservation ${reservation.id} has no saved prices to charge usage against`);
  if (pricing.pricing_mode === 'per_call') {
    const calls = usage.calls ?? 1;
    if (calls !== 1)
      throw new AppError('INVALID_INPUT', `reservation ${reservation.id} is for one call of a per-call capability, not ${calls}`);
    return { amount: creditsFor(pricing, 0, 0), saved: { calls: 1 } };
  }
  if (usage.inputTokens == null || usage.outputTokens == null) {
    throw new AppError('INVALID_INPUT', `reservation ${reservation.id} is priced per token: usage needs inputTokens and outputTokens`);
  }
  if (usage.calls != null && usage.calls !== 1) throw new AppError('INVALID_INPUT', `a reservation covers one call, not ${usage.calls}`);
  return {
    amount: creditsFor(pricing, usage.inputTokens, usage.outputTokens),
    saved: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens, calls: 1 },
  };
}

function settledOutput(reservation: ReservationState, available: string): SettleCreditsOutput {
  const held = parseDecimal(reservation.amountCredits, CREDIT_SCALE);
  const charged = parseDecimal(reservation.settledAmountCredits ?? '0', CREDIT_SCALE);
  return {
    reservationId: reservation.id,
    chargedCredits: formatDecimal(charged, CREDIT_SCALE),
    releasedCredits: formatDecimal(held > charged ? held - charged : 0n, CREDIT_SCALE),
    capped: reservation.capped,
    availableCredits: available,
  };
}

/**
 * The common case in one round trip: the open reservation of the org, its charge computed from the
 * prices saved on it (exactly as `creditsFor`: credits × 1000 = base × 1000 + input × input price +
 * output × output price, rounded up), settle_reservation with it, and the available credits after
 * it (see `availableSql`). No row when the reservation is missing, not open, or the usage does not
 * fit its pricing: the slow path then finds the precise answer.
 */
const SETTLE_FAST_SQL = `
select ${RESERVATION_COLUMNS.split(', ')
  .map((column) => `s.${column}`)
  .join(', ')}, ${availableSql('$2', '$6')}
from public.credit_reservations r
cross join lateral public.settle_reservation(
  p_reservation_id => r.id,
  p_actual_amount => case when r.pricing ->> 'pricing_mode' = 'per_call' then (r.pricing ->> 'base_cost_credits')::numeric
    else ceil((r.pricing ->> 'base_cost_credits')::numeric * 1000 + $3::int * (r.pricing ->> 'input_credits_per_1k_tokens')::numeric
      + $4::int * (r.pricing ->> 'output_credits_per_1k_tokens')::numeric) / 1000
  end::numeric(20, 3),
  p_org_id => $2,
  p_usage => case when r.pricing ->> 'pricing_mode' = 'per_call' then '{"calls": 1}'::jsonb
    else jsonb_build_object('input_tokens', $3::int, 'output_tokens', $4::int, 'calls', 1) end,
  p_now => $6) s
where r.id = $1 and r.organization_id = $2 and r.status = 'open'
  and coalesce($5::int, 1) = 1
  and (r.pricing ->> 'pricing_mode' = 'per_call' or (r.pricing ->> 'pricing_mode' = 'per_token' and $3::int is not null and $4::int is not null))`;

export async function settleCredits(ctx: ActionContext, args: z.output<typeof input>): Promise<SettleCreditsOutput> {
  const actor = await requireOrgActor(ctx.db, ctx.session);
  const now = ctx.clock();
  const { inputTokens = null, outputTokens = null, calls = null } = args.usage;
  let after: Settled | undefined;
  // The hold amount is rare (a fallback): the slow path charges it.
  if (!args.usage.holdAmount) {
    try {
      const { rows } = await ledger(() =>
        ctx.db.query<SettledRow>({ name: 'api-settle', text: SETTLE_FAST_SQL }, [
          args.reservationId,
          actor.orgId,
          inputTokens,
          outputTokens,
          calls,
          now,
        ]),
      );
      if (rows[0]) after = settled(rows[0]);
    } catch (error) {
      // Resolved by someone else between our look and the ledger's lock: the slow path answers.
      if (!(error instanceof AppError && error.code === 'RESERVATION_ALREADY_RESOLVED')) throw error;
    }
  }
  after ??= await settleSlowly(ctx, actor, args, now);
  return settledOutput(after.reservation, after.available ?? (await availableCredits(ctx.db, actor.orgId, now)));
}

/** A settle statement's row: the reservation after it, and the org's available credits after it. */
type SettledRow = ReservationRow & { available_credits: string | null };

interface Settled {
  reservation: ReservationState;
  /** Null when no statement of this request read them (a retry answered from the saved settlement). */
  available: string | null;
}

const settled = (row: SettledRow): Settled => ({ reservation: toReservationState(row), available: availableOf(row) });

/** Loads the reservation (answering RESERVATION_NOT_FOUND or INVALID_INPUT), then settles. */
async function settleSlowly(ctx: ActionContext, actor: OrgActor, args: z.output<typeof input>, now: Date): Promise<Settled> {
  const before = await loadReservation(ctx.db, actor.orgId, args.reservationId);
  const { amount, saved } = chargeFor(before, args.usage);
  try {
    const { rows } = await ledger(() =>
      ctx.db.query<SettledRow>(
        `select ${RESERVATION_COLUMNS}, ${availableSql('$3', '$5')}
         from public.settle_reservation(p_reservation_id => $1, p_actual_amount => $2::numeric, p_org_id => $3, p_usage => $4::jsonb, p_now => $5)`,
        [before.id, amount, actor.orgId, saved, now],
      ),
    );
    return settled(rows[0] as SettledRow);
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'RESERVATION_ALREADY_RESOLVED')) throw error;
    const after = await loadReservation(ctx.db, actor.orgId, args.reservationId);
    // A retry of the settle that already happened: answer it again, charge nothing more.
    if (after.status !== 'settled' || !isDeepStrictEqual(after.usage, saved)) throw error;
    return { reservation: after, available: null };
  }
}

export default defineAction(input, settleCredits);
