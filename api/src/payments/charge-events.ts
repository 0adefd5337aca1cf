// Refunds and disputes of a payment (charge.refunded, charge.dispute.created / .closed), for a
// top-up purchase or an auto top-up's charge. Stripe may deliver them before the event that grants
// the payment's credits (checkout.session.completed for a purchase, payment_intent.succeeded or the
// charge's own answer for an auto top-up): the SQL functions then find nothing to claw back from and
// answer no row, the event stays in stripe_events with its payment intent, and the transaction that
// grants the credits applies it (replayEarlierChargeEvents), once. lockPayment makes the two take
// turns, so an early event is either seen by that replay or finds the credits granted.

import type pg from 'pg';
import type Stripe from 'stripe';
import { displayCredits } from '../decimal.ts';
import { type StoredNotification, storeNotification } from '../notifications/index.ts';
import type { Payments } from './index.ts';

export type Handled = 'processed' | 'duplicate' | 'ignored';

export const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value == null ? null : typeof value === 'string' ? value : value.id;

export type ChargeEvent = Stripe.ChargeRefundedEvent | Stripe.ChargeDisputeCreatedEvent | Stripe.ChargeDisputeClosedEvent;
const CHARGE_EVENTS: readonly string[] = ['charge.refunded', 'charge.dispute.created', 'charge.dispute.closed'];

/** The payment intent a refund or dispute is about (null for other events). */
export function paymentIntentOfChargeEvent(event: Stripe.Event): string | null {
  return CHARGE_EVENTS.includes(event.type) ? idOf((event as ChargeEvent).data.object.payment_intent) : null;
}

/**
 * One Stripe payment's events, one at a time: a refund or dispute and the event that grants the
 * payment's credits (a purchase's checkout completion, an auto top-up's success) wait for each
 * other, so an early charge event is either seen by that event's replay or finds the credits
 * granted. Taken first, before any row lock.
 */
export async function lockPayment(tx: pg.PoolClient, intentId: string | null): Promise<void> {
  if (intentId) await tx.query("select pg_advisory_xact_lock(hashtextextended('stripe_payment:' || $1, 0))", [intentId]);
}

/**
 * The org's auto top-up settings row, locked before its purchase or attempt row and the ledger (the
 * payments' lock order: settings -> purchase / attempt -> ledger), for a change to it later in the
 * transaction. Nothing when the payment is unknown or the org has no settings.
 */
export async function lockSettingsOfPayment(tx: pg.PoolClient, intentId: string | null, chargeId: string | null, sessionId?: string) {
  const { rows } = await tx.query<{ organization_id: string }>(
    `select organization_id from public.topup_purchases
     where stripe_payment_intent_id = $1 or stripe_charge_id = $2 or stripe_checkout_session_id = $3
     union all
     select organization_id from public.auto_topup_attempts where stripe_payment_intent_id = $1
     limit 1`,
    [intentId, chargeId, sessionId ?? null],
  );
  const orgId = rows[0]?.organization_id;
  if (orgId) await tx.query('select 1 from public.auto_topup_settings where organization_id = $1 for update', [orgId]);
}

/** Applies one refund or dispute event inside the caller's transaction (a webhook's, or a replay). */
export async function applyChargeEvent(
  tx: pg.PoolClient,
  payments: Payments,
  event: ChargeEvent,
  now: Date,
  outbox: StoredNotification[],
): Promise<Handled> {
  const webOrigin = payments.webOrigin;
  const keep = (n: StoredNotification | null) => n && outbox.push(n);
  switch (event.type) {
    case 'charge.refunded': {
      const charge = event.data.object;
      await lockPayment(tx, idOf(charge.payment_intent));
      const { rows } = await tx.query<{ purchase_id: string | null; organization_id: string; clawed_back_credits: string }>(
        'select * from public.refund_topup_purchase($1, $2, $3, $4)',
        [idOf(charge.payment_intent), charge.id, charge.amount_refunded, now],
      );
      let refund = rows[0]?.purchase_id ? rows[0] : undefined;
      if (!refund) {
        // Not a purchase: maybe an auto top-up's charge.
        const attempt = await tx.query<{ attempt_id: string | null; organization_id: string; clawed_back_credits: string }>(
          'select * from public.refund_auto_topup_attempt($1, $2, $3, $4)',
          [idOf(charge.payment_intent), charge.amount_refunded, charge.id, now],
        );
        const row = attempt.rows[0];
        if (!row?.attempt_id) return 'ignored';
        refund = { purchase_id: row.attempt_id, organization_id: row.organization_id, clawed_back_credits: row.clawed_back_credits };
      }
      if (!/^0(\.0*)?$/.test(refund.clawed_back_credits)) {
        keep(
          await storeNotification(
            tx,
            {
              orgId: refund.organization_id,
              kind: 'refund',
              title: 'A top-up was refunded',
              body: `${displayCredits(refund.clawed_back_credits)} credits were taken back for the refunded amount.`,
              actionUrl: `${webOrigin}/credits`,
              dedupeKey: `refund:${charge.id}:${charge.amount_refunded}`,
            },
            now,
          ),
        );
      }
      return 'processed';
    }
    case 'charge.dispute.created':
    case 'charge.dispute.closed': {
      const dispute = event.data.object;
      const won = event.type === 'charge.dispute.created' ? null : dispute.status === 'won' || dispute.status === 'warning_closed';
      await lockPayment(tx, idOf(dispute.payment_intent));
      await lockSettingsOfPayment(tx, idOf(dispute.payment_intent), idOf(dispute.charge));
      const { rows } = await tx.query<{ purchase_id: string | null; organization_id: string }>(
        'select * from public.dispute_topup_purchase($1, $2, $3, $4, $5, $6)',
        [idOf(dispute.payment_intent), dispute.id, dispute.amount, won, idOf(dispute.charge), now],
      );
      let orgId = rows[0]?.purchase_id ? rows[0].organization_id : null;
      if (!orgId) {
        // Not a purchase: maybe an auto top-up's charge.
        const attempt = await tx.query<{ attempt_id: string | null; organization_id: string }>(
          'select * from public.dispute_auto_topup_attempt($1, $2, $3, $4, $5)',
          [idOf(dispute.payment_intent), dispute.id, dispute.amount, won, now],
        );
        orgId = attempt.rows[0]?.attempt_id ? attempt.rows[0].organization_id : null;
      }
      if (!orgId) return 'ignored';
      // A customer who disputes a charge is not charged off-session again until someone decides to:
      // auto top-up turns off when the dispute opens (an owner can turn it on again). Not when its
      // "created" comes after it was closed as won, and not again when it is closed.
      if (event.type === 'charge.dispute.created') {
        await tx.query(
          `update public.auto_topup_settings set enabled = false, disabled_reason = $2, updated_at = $3
           where organization_id = $1 and enabled
             and not exists (select 1 from public.credit_grants g where g.organization_id = $1 and g.external_ref = $4)`,
          [
            orgId,
            `Turned off because a payment was disputed (${dispute.id}); turn it on again once that is settled`,
            now,
            `dispute_won:${dispute.id}`,
          ],
        );
      }
      return 'processed';
    }
  }
}

/**
 * The refunds and disputes of a payment that Stripe delivered before its credits were granted,
 * applied now, oldest first, in the transaction that grants them (which holds lockPayment).
 * `disputed`: one of them was a dispute.
 */
export async function replayEarlierChargeEvents(
  tx: pg.PoolClient,
  payments: Payments,
  intentId: string,
  now: Date,
  outbox: StoredNotification[],
): Promise<{ disputed: boolean }> {
  const earlier = await tx.query<{ payload: ChargeEvent }>(
    // (A body pruned after 90 days, see the expire_grants job, has nothing left to apply.)
    `select payload from public.stripe_events where payment_intent_id = $1 and payload ? 'data' order by created_at_stripe, id`,
    [intentId],
  );
  let disputed = false;
  for (const { payload } of earlier.rows) {
    await applyChargeEvent(tx, payments, payload, now, outbox);
    if (payload.type !== 'charge.refunded') disputed = true;
  }
  return { disputed };
}
