// releaseCredits(reservationId, reason?): gives every held credit back. Releasing again a
// reservation that is already released answers the same; a settled or expired one is
// RESERVATION_ALREADY_RESOLVED.
import { z } from 'zod';
import { credits } from '../decimal.ts';
import { AppError, ledger } from '../errors.ts';
import { availableCredits, availableOf, availableSql } from '../ledger.ts';
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

/**
 * The common case in one round trip: the org's open reservation, release_reservation on it, and
 * the available credits after it (see `availableSql`). No row when the reservation is missing or
 * not open: the slow path then finds the precise answer.
 */
const RELEASE_FAST_SQL = `
select r.id, r.amount_credits::text, ${availableSql('$3', '$4')}
from public.credit_reservations r
cross join lateral public.release_reservation(p_reservation_id => r.id, p_reason => $2, p_org_id => $3, p_now => $4) x
where r.id = $1 and r.organization_id = $3 and r.status = 'open'`;

export async function releaseCredits(ctx: ActionContext, args: z.output<typeof input>): Promise<ReleaseCreditsOutput> {
  const actor = await requireOrgActor(ctx.db, ctx.session);
  const now = ctx.clock();
  try {
    const { rows } = await ledger(() =>
      ctx.db.query<{ id: string; amount_credits: string; available_credits: string | null }>(
        { name: 'api-release', text: RELEASE_FAST_SQL },
        [args.reservationId, args.reason ?? null, actor.orgId, now],
      ),
    );
    const row = rows[0];
    if (row) {
      return {
        reservationId: row.id,
        releasedCredits: credits(row.amount_credits),
        availableCredits: availableOf(row),
      };
    }
  } catch (error) {
    // Resolved by someone else between our look and the ledger's lock: the slow path answers.
    if (!(error instanceof AppError && error.code === 'RESERVATION_ALREADY_RESOLVED')) throw error;
  }
  return releaseSlowly(ctx, actor.orgId, args, now);
}

/** Loads the reservation (answering RESERVATION_NOT_FOUND), then releases it, or answers a repeated release. */
async function releaseSlowly(ctx: ActionContext, orgId: string, args: z.output<typeof input>, now: Date): Promise<ReleaseCreditsOutput> {
  const reservation = await loadReservation(ctx.db, orgId, args.reservationId);
  let available: string | null = null;
  try {
    const { rows } = await ledger(() =>
      ctx.db.query<{ available_credits: string | null }>(
        `select ${availableSql('$3', '$4')} from public.release_reservation(p_reservation_id => $1, p_reason => $2, p_org_id => $3, p_now => $4)`,
        [reservation.id, args.reason ?? null, orgId, now],
      ),
    );
    available = availableOf(rows[0]);
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'RESERVATION_ALREADY_RESOLVED')) throw error;
    const after = await loadReservation(ctx.db, orgId, args.reservationId);
    if (after.status !== 'released') throw error;
  }
  return {
    reservationId: reservation.id,
    releasedCredits: reservation.amountCredits,
    availableCredits: available ?? (await availableCredits(ctx.db, orgId, now)),
  };
}

export default defineAction(input, releaseCredits);
