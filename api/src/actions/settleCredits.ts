// settleCredits(reservationId, usage): charges what the call really used — tokens in and out for
// the reservation's model, or one call for per-call capabilities — at the prices saved on the
// reservation when it was made; the rest of the hold goes back. Sending the same usage again after
// a lost answer returns the same settlement; anything else on a resolved reservation is
// RESERVATION_ALREADY_RESOLVED.
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { CREDIT_SCALE, formatDecimal, parseDecimal } from '../decimal.ts';
import { AppError, ledger } from '../errors.ts';
import { availableCredits } from '../ledger.ts';
import { creditsFor } from '../pricing.ts';
import { requireOrgActor } from '../session.ts';
import { type ActionContext, defineAction } from './context.ts';
import { tokenCount, uuid } from './inputs.ts';
import { loadReservation, RESERVATION_COLUMNS, type ReservationRow, type ReservationState, toReservationState } from './reservations.ts';

export const input = z.object({
  reservationId: uuid,
  usage: z.object({
    inputTokens: tokenCount.nullish(),
    outputTokens: tokenCount.nullish(),
    calls: z.number().int('calls must be a whole number').nullish(),
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
type SavedUsage = { input_tokens: number; output_tokens: number; calls: number } | { calls: number };

function chargeFor(reservation: ReservationState, usage: z.output<typeof input>['usage']): { amount: string; saved: SavedUsage } {
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

export async function settleCredits(ctx: ActionContext, args: z.output<typeof input>): Promise<SettleCreditsOutput> {
  const actor = await requireOrgActor(ctx.db, ctx.session);
  const now = ctx.clock();
  const before = await loadReservation(ctx.db, actor.orgId, args.reservationId);
  const { amount, saved } = chargeFor(before, args.usage);
  let after: ReservationState;
  try {
    const { rows } = await ledger(() =>
      ctx.db.query<ReservationRow>(
        `select ${RESERVATION_COLUMNS} from public.settle_reservation(p_reservation_id => $1, p_actual_amount => $2::numeric, p_org_id => $3,
           p_usage => $4::jsonb, p_now => $5)`,
        [before.id, amount, actor.orgId, saved, now],
      ),
    );
    after = toReservationState(rows[0] as ReservationRow);
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'RESERVATION_ALREADY_RESOLVED')) throw error;
    after = await loadReservation(ctx.db, actor.orgId, args.reservationId);
    // A retry of the settle that already happened: answer it again, charge nothing more.
    if (after.status !== 'settled' || !isDeepStrictEqual(after.usage, saved)) throw error;
  }
  return settledOutput(after, await availableCredits(ctx.db, actor.orgId, now));
}

export default defineAction(input, settleCredits);
