// Reading one reservation of the session's org, for settle and release.
import type pg from 'pg';
import { CREDIT_SCALE, formatDecimal, parseDecimal } from '../decimal.ts';
import { AppError } from '../errors.ts';
import type { Pricing } from '../pricing.ts';

export interface ReservationState {
  id: string;
  status: 'open' | 'settled' | 'released' | 'expired';
  amountCredits: string;
  settledAmountCredits: string | null;
  capped: boolean;
  capabilityCode: string | null;
  qualityLevelCode: string | null;
  modelId: string | null;
  pricing: Pricing | null;
  usage: Record<string, unknown> | null;
}

export interface ReservationRow {
  id: string;
  status: ReservationState['status'];
  amount_credits: string;
  settled_amount_credits: string | null;
  capped: boolean;
  capability_code: string | null;
  quality_level_code: string | null;
  model_id: string | null;
  pricing: Pricing | null;
  usage: Record<string, unknown> | null;
}

/** The columns to select from credit_reservations (or a function returning its rows) for `toReservationState`. */
export const RESERVATION_COLUMNS =
  'id, status, amount_credits::text, settled_amount_credits::text, capped, capability_code, quality_level_code, model_id, pricing, usage';

const money = (text: string) => formatDecimal(parseDecimal(text, CREDIT_SCALE), CREDIT_SCALE);

export function toReservationState(row: ReservationRow): ReservationState {
  return {
    id: row.id,
    status: row.status,
    amountCredits: money(row.amount_credits),
    settledAmountCredits: row.settled_amount_credits === null ? null : money(row.settled_amount_credits),
    capped: row.capped,
    capabilityCode: row.capability_code,
    qualityLevelCode: row.quality_level_code,
    modelId: row.model_id,
    pricing: row.pricing,
    usage: row.usage,
  };
}

/** The reservation, when it belongs to the org; RESERVATION_NOT_FOUND otherwise (one tenant cannot learn of another's). */
export async function loadReservation(db: pg.Pool, orgId: string, reservationId: string): Promise<ReservationState> {
  const { rows } = await db.query<ReservationRow>(
    `select ${RESERVATION_COLUMNS} from public.credit_reservations where id = $1 and organization_id = $2`,
    [reservationId, orgId],
  );
  const row = rows[0];
  if (!row) throw new AppError('RESERVATION_NOT_FOUND', `reservation ${reservationId} does not exist in organization ${orgId}`);
  return toReservationState(row);
}
