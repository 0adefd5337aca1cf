// releaseCredits(reservationId, reason?): gives every held credit back. Releasing again a
// reservation that is already released answers the same; a settled or expired one is
// RESERVATION_ALREADY_RESOLVED.
import { z } from 'zod';
import { AppError, ledger } from '../errors.ts';
import { availableCredits } from '../ledger.ts';
import { requireOrgActor } from '../session.ts';
import { type ActionContext, defineAction } from './context.ts';
import { uuid } from './inputs.ts';
import { loadReservation } from './reservations.ts';

export const input = z.object({
  reservationId: uuid,
  reason: z.string().max(500, 'reason is longer than 500 characters').nullish(),
});

export interface ReleaseCreditsOutput {
  reservationId: string;
  releasedCredits: string;
  availableCredits: string;
}

export async function releaseCredits(ctx: ActionContext, args: z.output<typeof input>): Promise<ReleaseCreditsOutput> {
  const actor = await requireOrgActor(ctx.db, ctx.session);
  const now = ctx.clock();
  const reservation = await loadReservation(ctx.db, actor.orgId, args.reservationId);
  try {
    await ledger(() =>
      ctx.db.query('select 1 from public.release_reservation(p_reservation_id => $1, p_reason => $2, p_org_id => $3, p_now => $4)', [
        reservation.id,
        args.reason ?? null,
        actor.orgId,
        now,
      ]),
    );
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'RESERVATION_ALREADY_RESOLVED')) throw error;
    const after = await loadReservation(ctx.db, actor.orgId, args.reservationId);
    if (after.status !== 'released') throw error;
  }
  return {
    reservationId: reservation.id,
    releasedCredits: reservation.amountCredits,
    availableCredits: await availableCredits(ctx.db, actor.orgId, now),
  };
}

export default defineAction(input, releaseCredits);
