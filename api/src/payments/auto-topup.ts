// Auto top-up: when an org's available credits fall below its threshold, one off-session charge.
// The database decides whether to charge (claim_auto_topup_attempt: enabled, below threshold, a
// saved card, none in flight, cooldown, an hour after a failure, spend limits with room, monthly caps;
// racing claims start one attempt); the attempt's idempotency key goes to Stripe, so a retried call
// never charges twice; the outcome is recorded once (resolve_auto_topup_attempt). An answer we never
// got leaves the attempt in flight: the payment_intent.* webhook, or the sweep's retry with the same
// key, resolves it. A card Stripe refuses outright fails the attempt and is forgotten; a charge Stripe
// refuses outright for another reason (its amount or currency) fails the attempt and keeps the card.

import { inTransaction } from '@org-credits/db';
import type pg from 'pg';
import { minorUnitsForStripe } from '../decimal.ts';
import { rollPeriodIfEnded } from '../ledger.ts';
import {
  type NotificationKind,
  notifyBillingContacts,
  type StoredNotification,
  sendAll,
  storeNotification,
} from '../notifications/index.ts';
import { lockPayment, replayEarlierChargeEvents } from './charge-events.ts';
import type { Payments } from './index.ts';
import type { OffSessionResult } from './provider.ts';

/** The failure code of a charge the provider refused because of the saved card itself (see provider.ts). */
const UNUSABLE_CARD = 'payment_method_unusable';

export interface AttemptRow {
  id: string;
  organization_id: string;
  package_id: string;
  status: string;
  idempotency_key: string;
  credits: string;
  price_minor: string;
  currency: string;
}

export interface AutoTopUpDeps {
  db: pg.Pool;
  payments: Payments;
  logger?: Pick<Console, 'error' | 'info'>;
}

/** Claims and charges one auto top-up for the org when its rules say so; the attempt's final status, or null when none was due. */
export async function runAutoTopUp(deps: AutoTopUpDeps, orgId: string, now: Date): Promise<string | null> {
  // A period that has ended is rolled first: the new allowance may lift the org above its threshold,
  // and the card is not charged for credits the roll brings anyway.
  await rollPeriodIfEnded(deps.db, orgId, now);
  const { rows } = await deps.db.query<AttemptRow>('select * from public.claim_auto_topup_attempt($1, $2)', [orgId, now]);
  const attempt = rows[0];
  if (!attempt?.id) return null;
  return chargeAttempt(deps, attempt, now);
}

/** Sends the attempt's charge (again, for a retry: same idempotency key, same charge) and records the outcome. */
export async function chargeAttempt(deps: AutoTopUpDeps, attempt: AttemptRow, now: Date): Promise<string> {
  const logger = deps.logger ?? console;
  const { rows } = await deps.db.query<{ customer: string | null; payment_method: string | null }>(
    `select o.stripe_customer_id as customer, s.stripe_payment_method_id as payment_method
     from public.organizations o left join public.auto_topup_settings s on s.organization_id = o.id where o.id = $1`,
    [attempt.organization_id],
  );
  let result: OffSessionResult;
  try {
    result = await deps.payments.provider.chargeOffSession({
      customerId: rows[0]?.customer ?? null,
      paymentMethodId: rows[0]?.payment_method ?? null,
      amountMinor: minorUnitsForStripe(attempt.price_minor),
      currency: attempt.currency,
      idempotencyKey: attempt.idempotency_key,
      metadata: { organization_id: attempt.organization_id, auto_topup_attempt_id: attempt.id, package_id: attempt.package_id },
    });
  } catch (error) {
    logger.error(`[auto-topup] attempt ${attempt.id}: outcome unknown, left in flight`, error);
    return 'in_flight';
  }
  if (result.status === 'processing') {
    await deps.db.query(
      'update public.auto_topup_attempts set stripe_payment_intent_id = $2 where id = $1 and stripe_payment_intent_id is null',
      [attempt.id, result.paymentIntentId],
    );
    return 'in_flight';
  }
  return recordAttemptOutcome(deps, attempt.id, result, now, rows[0]?.payment_method ?? null);
}

/** Records an outcome from the charge's answer, in its own transaction, then sends its notifications. */
export async function recordAttemptOutcome(
  deps: AutoTopUpDeps,
  attemptId: string,
  result: Exclude<OffSessionResult, { status: 'processing' }>,
  now: Date,
  /** The saved card the charge was sent with. */
  card: string | null = null,
): Promise<string> {
  const { status, outbox } = await inTransaction(deps.db, (tx) => resolveAttempt(tx, deps.payments, attemptId, result, now, card));
  await sendAll(deps.db, deps.payments.notifier, outbox, deps.logger ?? console);
  return status;
}

/** Records an outcome once inside the caller's transaction (a webhook's); returns the notifications to send after commit. */
export async function resolveAttempt(
  tx: pg.PoolClient,
  payments: Payments,
  attemptId: string,
  result: Exclude<OffSessionResult, { status: 'processing' }>,
  now: Date,
  /** The saved card the charge was sent with, when known: cleared when the provider refused it outright. */
  card: string | null = null,
): Promise<{ status: string; outbox: StoredNotification[] }> {
  // First, before the settings and attempt rows: a refund or dispute of this payment waits for us,
  // or we for it (see charge-events.ts).
  await lockPayment(tx, result.paymentIntentId);
  const { rows } = await tx.query<{ organization_id: string; status: string; changed: boolean; auto_topup_disabled: boolean }>(
    'select * from public.resolve_auto_topup_attempt($1, $2, $3, $4, $5, $6)',
    [
      attemptId,
      result.status,
      result.paymentIntentId,
      result.status === 'succeeded' ? null : result.code,
      result.status === 'succeeded' ? null : result.message,
      now,
    ],
  );
  const outcome = rows[0]!;
  // A card Stripe refuses outright (removed from the customer, say) is forgotten, so no more charges
  // are tried with it: auto top-up waits for a new card (the settings row then says so, trigger
  // auto_topup_settings_wait_for_card). Only that card: one saved meanwhile stays.
  const unusableCard = outcome.changed && result.status === 'failed' && result.code === UNUSABLE_CARD;
  if (unusableCard && card) {
    await tx.query(
      'update public.auto_topup_settings set stripe_payment_method_id = null where organization_id = $1 and stripe_payment_method_id = $2',
      [outcome.organization_id, card],
    );
  }
  const outbox = outcome.changed ? await attemptNotifications(tx, payments, attemptId, outcome, result, now) : [];
  // Refunds and disputes of the charge that Stripe delivered before this success found no credits
  // to take back then: they apply now, once.
  if (outcome.changed && outcome.status === 'succeeded' && result.paymentIntentId) {
    await replayEarlierChargeEvents(tx, payments, result.paymentIntentId, now, outbox);
  }
  return { status: outcome.status, outbox };
}

/** A provider's message as a sentence: ends with a full stop. */
const sentence = (message: string) => (/[.!?]$/.test(message.trim()) ? message.trim() : `${message.trim()}.`);

async function attemptNotifications(
  tx: pg.PoolClient,
  payments: Payments,
  attemptId: string,
  outcome: { organization_id: string; status: string; auto_topup_disabled: boolean },
  result: Exclude<OffSessionResult, { status: 'processing' }>,
  now: Date,
): Promise<StoredNotification[]> {
  const orgId = outcome.organization_id;
  const out: StoredNotification[] = [];
  /** The attempt's notice of `kind` (once per attempt), to the org or (`to: 'billing'`) each billing contact. */
  const notify = async (to: 'org' | 'billing', n: { kind: NotificationKind; title: string; body: string; path: string }): Promise<void> => {
    const notice = {
      orgId,
      kind: n.kind,
      title: n.title,
      body: n.body,
      actionUrl: `${payments.webOrigin}${n.path}`,
      dedupeKey: `${n.kind}:${attemptId}`,
    };
    if (to === 'billing') {
      out.push(...(await notifyBillingContacts(tx, notice, now)));
    } else {
      const stored = await storeNotification(tx, notice, now);
      if (stored) out.push(stored);
    }
  };
  if (outcome.status === 'succeeded') {
    await notify('org', {
      kind: 'auto_topup_succeeded',
      title: 'Auto top-up added credits',
      body: 'Your balance fell below the threshold, so a pack was bought with your saved card.',
      path: '/credits',
    });
  } else if (outcome.status === 'requires_action') {
    await notify('billing', {
      kind: 'auto_topup_action_required',
      title: 'Your bank wants you to confirm an auto top-up',
      body: 'The off-session payment needs authentication. Buy the pack now to confirm it with your bank.',
      path: '/credits?topup=buy',
    });
  } else if (outcome.status === 'failed' && result.status === 'failed' && result.code === UNUSABLE_CARD) {
    await notify('billing', {
      kind: 'auto_topup_failed',
      title: 'Auto top-up cannot use your saved card',
      body:
        'Stripe refused the saved card (it was removed or can no longer be used), so nothing was charged and no more ' +
        'auto top-ups will be tried with it. Buy a pack once with auto top-up on to save a new card.',
      path: '/credits?topup=buy',
    });
  } else if (outcome.status === 'failed' && result.status === 'failed' && result.refused) {
    // Not the card: a new one would be refused the same, so the owners are told what Stripe said.
    await notify('billing', {
      kind: 'auto_topup_failed',
      title: 'Stripe refused an auto top-up charge',
      body:
        `Stripe refused the charge for the auto top-up pack: ${sentence(result.message)} Nothing was charged and your saved ` +
        "card is kept: the problem is the charge (the pack's price or currency), not the card, so another card would " +
        'be refused too. Choose another pack for auto top-up; two failures in a row turn it off.',
      path: '/billing',
    });
  } else if (outcome.status === 'failed') {
    await notify('org', {
      kind: 'auto_topup_failed',
      title: 'Auto top-up payment failed',
      body: 'message' in result ? result.message : 'declined',
      path: '/credits',
    });
  }
  if (outcome.status === 'failed' && outcome.auto_topup_disabled) {
    const message = 'message' in result ? result.message : 'declined';
    const refused = result.status === 'failed' && result.refused;
    await notify('billing', {
      kind: 'auto_topup_disabled',
      title: 'Auto top-up is off',
      // A card is saved only by a pack bought while auto top-up is on: turn it on first.
      body: refused
        ? `Two payments in a row failed (last: Stripe refused the charge: ${message}). Choose another pack and turn it on again.`
        : `Two payments in a row failed (last: ${message}). Turn it on again; to use another card, buy a pack once while it is on.`,
      path: refused ? '/billing' : '/credits',
    });
  }
  return out;
}
