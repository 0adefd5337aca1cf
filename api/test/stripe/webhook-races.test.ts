// Races of the Stripe webhook's lock order (docs/ledger.md, Locks): events that touch the same org or
// the same payment, delivered at the same time, many rounds each, through the real api and a real
// Postgres. (a) A dispute locks the org's auto top-up settings before the purchase or attempt and the
// ledger, as resolving an attempt does, so the two cannot deadlock. (b) A refund or dispute and the
// checkout completion of the same payment intent take turns on an advisory lock, so a charge event
// that arrives while its purchase is being fulfilled is applied once, by one or the other. After
// every round: every delivery answered 200 (a deadlock, SQLSTATE 40P01, answers 500), each event is
// recorded once, and the org's money state is exactly what one serial order of the same events gives
// (the reference: the same events sent one after the other to an org set up the same way).
// Checked to fail: without the advisory lock, (b) keeps credits whose refund or dispute came while
// the purchase was being fulfilled (neither transaction saw the other's); without the dispute's
// settings lock, (a) answers 500 (deadlock detected) within a few rounds.
import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { type ActionResponse, createOrg, NOW } from '../helpers.ts';
import { availableAt, PACKS, spend, startPaymentsApi, stripeEvent } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

const ROUNDS = 20;

type Event = ReturnType<typeof stripeEvent>;
// biome-ignore lint/suspicious/noExplicitAny: rows are compared whole
type Row = Record<string, any>;

let tagCounter = 0;
/** A token unique to the file's run, in every Stripe id of one scenario (payments are found by id across orgs). */
const newTag = () => `r${++tagCounter}x${randomUUID().slice(0, 6)}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Delivers the events at once (the i-th i × staggerMs later); the answers, in the same order. */
function deliverTogether(events: Event[], staggerMs = 0): Promise<ActionResponse[]> {
  return Promise.all(
    events.map(async (event, i) => {
      if (i > 0 && staggerMs > 0) await sleep(i * staggerMs);
      return api.webhook(event);
    }),
  );
}

/** Delivers the events one after the other (the serial reference). */
async function deliverInTurn(events: Event[]): Promise<ActionResponse[]> {
  const answers: ActionResponse[] = [];
  for (const event of events) answers.push(await api.webhook(event));
  return answers;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * What payments changed for the org, with everything that names this org or its scenario (uuids, the
 * tag, the fake Stripe's numbered ids) replaced, so that two orgs given the same events compare equal.
 */
async function moneyState(orgId: string, tag: string) {
  const norm = (value: unknown) =>
    typeof value === 'string'
      ? value
          .replaceAll(tag, '#')
          .replace(UUID, '<uuid>')
          .replace(/_fake_\d+/g, '_fake_N')
      : value;
  const rows = async (sql: string, params: unknown[] = [orgId]): Promise<Row[]> =>
    (await db.pool.query(sql, params)).rows.map((row: Row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, norm(v)])));
  const sorted = (list: Row[]) => list.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return {
    balance: await rows(
      `select allowance_remaining_credits, purchased_remaining_credits, bonus_remaining_credits, debt_credits, reserved_credits,
         balance_credits, available_credits
       from public.get_credit_balance($1, $2)`,
      [orgId, NOW],
    ),
    ledgerSum: await rows(
      'select coalesce(sum(amount_credits), 0)::text as sum from public.credit_ledger_entries where organization_id = $1',
    ),
    entries: await rows(
      `select entry_type, amount_credits, balance_after_credits, external_ref
       from public.credit_ledger_entries where organization_id = $1 order by id`,
    ),
    grants: sorted(
      await rows('select source, amount_credits, remaining_credits, external_ref from public.credit_grants where organization_id = $1'),
    ),
    purchases: await rows(
      `select status, amount_refunded_minor, stripe_payment_intent_id, stripe_charge_id, grant_id is not null as granted
       from public.topup_purchases where organization_id = $1 order by created_at`,
    ),
    attempts: sorted(
      await rows(
        `select status, amount_refunded_minor, stripe_payment_intent_id, failure_code, grant_id is not null as granted
         from public.auto_topup_attempts where organization_id = $1`,
      ),
    ),
    settings: await rows(
      `select enabled, disabled_reason, consecutive_failures, stripe_payment_method_id
       from public.auto_topup_settings where organization_id = $1`,
    ),
    notifications: sorted(await rows('select kind, dedupe_key from public.notifications where organization_id = $1')),
    checks: await rows('select count(*)::int as n from public.auto_topup_checks where organization_id = $1'),
  };
}

/** Each event's row in stripe_events (id and type), by event id: one per event, however often it was delivered. */
async function recorded(events: Event[]) {
  const { rows } = await db.pool.query<{ id: string; type: string; n: number }>(
    'select id, type, count(*)::int as n from public.stripe_events where id = any($1) group by id, type order by id',
    [events.map((e) => e.id)],
  );
  return rows;
}

const recordedOnce = (events: Event[]) =>
  [...new Map(events.map((e) => [e.id, { id: e.id, type: e.type, n: 1 }])).values()].sort((a, b) => a.id.localeCompare(b.id));

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/**
 * An org with no credits, auto top-up on (threshold 0, so no check is ever due; the card pm_old) and
 * a pending purchase of pack_500 (500 credits for 1,000p) made through the api; the payment intent
 * its checkout will name, whose card (read by the webhook, since auto top-up is on) is pm_new.
 */
async function pendingPurchase(tag: string) {
  const org = await createOrg(db.pool);
  await db.pool.query(
    `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
     values ($1, true, 0, $2, 'pm_old')`,
    [org.orgId, PACKS.pack500],
  );
  const res = await api.action('createTopUpCheckout', { packageId: PACKS.pack500 }, org.session);
  expect(res.status).toBe(200);
  const { rows } = await db.pool.query('select * from public.topup_purchases where id = $1', [res.body.purchaseId]);
  const purchase = rows[0];
  const paymentIntent = `pi_${tag}`;
  api.fake.objects.set(paymentIntent, { id: paymentIntent, object: 'payment_intent', payment_method: `pm_new_${tag}` });
  const completed = stripeEvent('checkout.session.completed', {
    id: purchase.stripe_checkout_session_id,
    object: 'checkout.session',
    mode: 'payment',
    status: 'complete',
    payment_status: 'paid',
    payment_intent: paymentIntent,
    subscription: null,
    metadata: { organization_id: org.orgId, package_id: PACKS.pack500, purchase_id: purchase.id },
  });
  const refunded = (amountRefunded: number) =>
    stripeEvent('charge.refunded', {
      id: `ch_${tag}`,
      object: 'charge',
      amount: 1000,
      amount_refunded: amountRefunded,
      refunded: amountRefunded === 1000,
      payment_intent: paymentIntent,
    });
  const disputed = (amount: number) =>
    stripeEvent('charge.dispute.created', {
      id: `dp_${tag}`,
      object: 'dispute',
      amount,
      charge: `ch_${tag}`,
      payment_intent: paymentIntent,
      status: 'needs_response',
    });
  return { orgId: org.orgId, completed, refunded, disputed };
}

/**
 * An org with auto top-up on (below 100, pack_500 for 1,000p, no cooldown) and two attempts made
 * through the api: `paid` succeeded (its 500 credits granted), `awaiting` needs the customer to
 * authenticate with their bank. 120 credits, 30 and then 500 spent: 90 available.
 */
async function orgWithTwoAttempts(tag: string) {
  const org = await createOrg(db.pool);
  // Granted a day before: burns before the auto top-ups' grants (made at NOW), so every org of this
  // scenario spends from the same grants.
  await db.pool.query("select public.grant_credits($1, 120, 'purchase', $2, p_now => $3::timestamptz - interval '1 day')", [
    org.orgId,
    `credits_${tag}`,
    NOW,
  ]);
  await db.pool.query('update public.organizations set stripe_customer_id = $2 where id = $1', [org.orgId, `cus_${tag}`]);
  await db.pool.query(
    `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id, cooldown_minutes)
     values ($1, true, 100, $2, 'pm_card_visa', 0)`,
    [org.orgId, PACKS.pack500],
  );
  try {
    api.fake.chargeMode = 'succeed';
    await spend(db.pool, org.orgId, '30.000');
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body)).toEqual([{ autoTopUp: 'succeeded' }]);
    api.fake.chargeMode = 'authenticate';
    await spend(db.pool, org.orgId, '500.000');
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body)).toEqual([{ autoTopUp: 'requires_action' }]);
  } finally {
    api.fake.chargeMode = 'succeed';
  }
  expect(await availableAt(db.pool, org.orgId)).toBe('90.000');
  const attempt = async (status: string) =>
    (await db.pool.query('select * from public.auto_topup_attempts where organization_id = $1 and status = $2', [org.orgId, status]))
      .rows[0];
  const paid = await attempt('succeeded');
  const awaiting = await attempt('requires_action');
  const disputed = stripeEvent('charge.dispute.created', {
    id: `dp_${tag}`,
    object: 'dispute',
    amount: 1000,
    charge: `ch_${tag}`,
    payment_intent: paid.stripe_payment_intent_id,
    status: 'needs_response',
  });
  const succeeded = stripeEvent('payment_intent.succeeded', {
    id: awaiting.stripe_payment_intent_id,
    object: 'payment_intent',
    status: 'succeeded',
    metadata: { organization_id: org.orgId, auto_topup_attempt_id: awaiting.id, package_id: PACKS.pack500 },
  });
  return { orgId: org.orgId, disputed, succeeded };
}

type MoneyState = Awaited<ReturnType<typeof moneyState>>;

/** Checks one round's answers and records, and that its state is the given serial order's. */
async function expectRound(
  round: number,
  answers: ActionResponse[],
  events: Event[],
  state: MoneyState,
  reference: MoneyState,
): Promise<void> {
  const label = `round ${round}`;
  expect(
    answers.map((a) => a.status),
    `${label}: ${JSON.stringify(answers.filter((a) => a.status !== 200).map((a) => a.body))}`,
  ).toEqual(answers.map(() => 200));
  expect(await recorded(events), label).toEqual(recordedOnce(events));
  expect(state, label).toEqual(reference);
  expect(state.ledgerSum[0]!.sum, label).toBe(state.balance[0]!.balance_credits);
}

// ---------------------------------------------------------------------------------------------
// (a) A dispute and the resolution of an auto top-up attempt of the same org
// ---------------------------------------------------------------------------------------------

describe('a dispute of an auto top-up charge racing the resolution of the org’s next attempt', () => {
  // Both lock the org's settings, then an attempt row, then the ledger; the dispute then turns auto
  // top-up off (the settings row again) and the resolution resets the failure count. Were the
  // dispute to take its attempt and the ledger before the settings, each would wait for the other.
  // The two name different payment intents, so the advisory lock does not keep them apart.
  it(`ends as one serial order, with no deadlock (2 × ${ROUNDS} rounds, the arrival orders alternating)`, async () => {
    const references = new Map<string, MoneyState>();
    for (const order of ['dispute first', 'succeeded first']) {
      const tag = newTag();
      const s = await orgWithTwoAttempts(tag);
      const answers = await deliverInTurn(order === 'dispute first' ? [s.disputed, s.succeeded] : [s.succeeded, s.disputed]);
      expect(answers.map((a) => a.body.outcome)).toEqual(['processed', 'processed']);
      references.set(order, await moneyState(s.orgId, tag));
    }
    // Either way: the disputed charge's 500 taken back once, the new charge's 500 granted once, auto
    // top-up off, and 90 available as before.
    for (const reference of references.values()) {
      expect(reference.balance[0]!.available_credits).toBe('90.000');
      expect(reference.entries.filter((e) => e.entry_type === 'clawback')).toEqual([
        expect.objectContaining({ amount_credits: '-500.000', external_ref: 'dispute:dp_#' }),
      ]);
      expect(reference.grants.filter((g) => g.source === 'auto_top_up').map((g) => g.amount_credits)).toEqual(['500.000', '500.000']);
      expect(reference.attempts.map((a) => [a.status, a.granted])).toEqual([
        ['succeeded', true],
        ['succeeded', true],
      ]);
      expect(reference.settings[0]).toMatchObject({ enabled: false, consecutive_failures: 0 });
    }

    let disputeFirst = 0;
    for (let round = 0; round < 2 * ROUNDS; round++) {
      const tag = newTag();
      const s = await orgWithTwoAttempts(tag);
      const events = round % 2 === 0 ? [s.disputed, s.succeeded] : [s.succeeded, s.disputed];
      const answers = await deliverTogether(events, Math.floor(round / 2) % 3);
      const state = await moneyState(s.orgId, tag);
      // Which went first: the dispute's clawback entry, or the grant of the attempt resolved now (the
      // last auto top-up grant entry).
      const clawback = state.entries.findIndex((e) => e.external_ref === 'dispute:dp_#');
      const grant = state.entries.map((e) => e.entry_type === 'grant' && e.external_ref?.startsWith('auto_topup:')).lastIndexOf(true);
      const order = clawback >= 0 && clawback < grant ? 'dispute first' : 'succeeded first';
      if (order === 'dispute first') disputeFirst++;
      await expectRound(round, answers, events, state, references.get(order)!);
    }
    console.info(`dispute vs payment_intent.succeeded: the dispute went first in ${disputeFirst} of ${2 * ROUNDS} rounds`);
  });
});

// ---------------------------------------------------------------------------------------------
// (b) A refund or dispute and the checkout completion of the same payment
// ---------------------------------------------------------------------------------------------

describe('a refund or a dispute racing the checkout completion of the same payment', () => {
  for (const arrival of ['charge event sent first', 'checkout completion sent first'] as const) {
    it(`a partial refund is clawed back exactly once (${ROUNDS} rounds, ${arrival})`, async () => {
      // Serial, in either order, the same state: a refund that comes first finds no purchase (it has
      // no payment intent until fulfilled) and is applied by the fulfilment.
      const references = new Map<string, MoneyState>();
      for (const order of ['refund first', 'checkout first']) {
        const tag = newTag();
        const s = await pendingPurchase(tag);
        const refund = s.refunded(333);
        const answers = await deliverInTurn(order === 'refund first' ? [refund, s.completed] : [s.completed, refund]);
        expect(answers.map((a) => a.body.outcome)).toEqual(
          order === 'refund first' ? ['ignored', 'processed'] : ['processed', 'processed'],
        );
        references.set(order, await moneyState(s.orgId, tag));
      }
      expect(references.get('refund first')).toEqual(references.get('checkout first'));
      const reference = references.get('checkout first')!;
      // 333p of 1,000p: 500 × 333 / 1000 = 166.5 credits back, once.
      expect(reference.balance[0]!.available_credits).toBe('333.500');
      expect(reference.entries).toEqual([
        { entry_type: 'grant', amount_credits: '500.000', balance_after_credits: '500.000', external_ref: 'cs_test_fake_N' },
        { entry_type: 'clawback', amount_credits: '-166.500', balance_after_credits: '333.500', external_ref: 'refund:ch_#:333' },
      ]);
      expect(reference.purchases).toEqual([
        {
          status: 'partially_refunded',
          amount_refunded_minor: '333',
          stripe_payment_intent_id: 'pi_#',
          stripe_charge_id: 'ch_#',
          granted: true,
        },
      ]);
      expect(reference.notifications).toEqual([{ kind: 'refund', dedupe_key: 'refund:ch_#:333' }]);

      let chargeEventFirst = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const tag = newTag();
        const s = await pendingPurchase(tag);
        const refund = s.refunded(333);
        const events = arrival === 'charge event sent first' ? [refund, s.completed] : [s.completed, refund];
        const answers = await deliverTogether(events, round % 4);
        if (answers[events.indexOf(refund)]!.body?.outcome === 'ignored') chargeEventFirst++;
        await expectRound(round, answers, events, await moneyState(s.orgId, tag), reference);
      }
      // How the rounds interleaved (for whoever reads the output; either way the state must match).
      console.info(`refund vs checkout, ${arrival}: the refund went first in ${chargeEventFirst} of ${ROUNDS} rounds`);
    });

    it(`a dispute is clawed back exactly once and turns auto top-up off (${ROUNDS} rounds, ${arrival})`, async () => {
      // Serial: the same ledger either way. The card of the payment is saved for auto top-up only when
      // the completion comes before the dispute (one that comes after finds the payment disputed).
      const references = new Map<string, MoneyState>();
      for (const order of ['dispute first', 'checkout first']) {
        const tag = newTag();
        const s = await pendingPurchase(tag);
        const dispute = s.disputed(1000);
        const answers = await deliverInTurn(order === 'dispute first' ? [dispute, s.completed] : [s.completed, dispute]);
        expect(answers.map((a) => a.body.outcome)).toEqual(
          order === 'dispute first' ? ['ignored', 'processed'] : ['processed', 'processed'],
        );
        references.set(order, await moneyState(s.orgId, tag));
      }
      for (const [order, reference] of references) {
        expect(reference.balance[0]!.available_credits).toBe('0.000');
        expect(reference.entries).toEqual([
          { entry_type: 'grant', amount_credits: '500.000', balance_after_credits: '500.000', external_ref: 'cs_test_fake_N' },
          { entry_type: 'clawback', amount_credits: '-500.000', balance_after_credits: '0.000', external_ref: 'dispute:dp_#' },
        ]);
        expect(reference.purchases).toEqual([
          { status: 'disputed', amount_refunded_minor: '0', stripe_payment_intent_id: 'pi_#', stripe_charge_id: 'ch_#', granted: true },
        ]);
        expect(reference.settings).toEqual([
          {
            enabled: false,
            disabled_reason: 'Turned off because a payment was disputed (dp_#); turn it on again once that is settled',
            consecutive_failures: 0,
            stripe_payment_method_id: order === 'dispute first' ? 'pm_old' : 'pm_new_#',
          },
        ]);
      }

      let chargeEventFirst = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const tag = newTag();
        const s = await pendingPurchase(tag);
        const dispute = s.disputed(1000);
        const events = arrival === 'charge event sent first' ? [dispute, s.completed] : [s.completed, dispute];
        const answers = await deliverTogether(events, round % 4);
        // A dispute that found no purchase went first; the fulfilment applied it.
        const disputeFirst = answers[events.indexOf(dispute)]!.body?.outcome === 'ignored';
        if (disputeFirst) chargeEventFirst++;
        const reference = references.get(disputeFirst ? 'dispute first' : 'checkout first')!;
        await expectRound(round, answers, events, await moneyState(s.orgId, tag), reference);
      }
      console.info(`dispute vs checkout, ${arrival}: the dispute went first in ${chargeEventFirst} of ${ROUNDS} rounds`);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Duplicate deliveries
// ---------------------------------------------------------------------------------------------

describe('the same event delivered several times at once', () => {
  const COPIES = 3;
  const copies = (event: Event) => Array.from({ length: COPIES }, () => event);

  /** One delivery did the work (processed), the others found the event recorded (duplicate). */
  function expectOnce(round: number, answers: ActionResponse[]) {
    expect(
      answers.map((a) => a.status),
      `round ${round}`,
    ).toEqual(answers.map(() => 200));
    expect(answers.map((a) => a.body.outcome).sort(), `round ${round}`).toEqual([
      ...Array.from({ length: COPIES - 1 }, () => 'duplicate'),
      'processed',
    ]);
  }

  it(`a checkout completion, then a refund, then a dispute of the same purchase: each applied once (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const tag = newTag();
      const s = await pendingPurchase(tag);
      // 333p refunded, then the other 667p disputed: 166.5 + 333.5 = the 500 credits, each taken once.
      const refund = s.refunded(333);
      const dispute = s.disputed(667);
      for (const event of [s.completed, refund, dispute]) expectOnce(round, await deliverTogether(copies(event)));
      const state = await moneyState(s.orgId, tag);
      expect(await recorded([s.completed, refund, dispute]), `round ${round}`).toEqual(recordedOnce([s.completed, refund, dispute]));
      expect(state.balance[0]!.available_credits, `round ${round}`).toBe('0.000');
      expect(state.ledgerSum[0]!.sum, `round ${round}`).toBe('0.000');
      expect(state.entries, `round ${round}`).toEqual([
        { entry_type: 'grant', amount_credits: '500.000', balance_after_credits: '500.000', external_ref: 'cs_test_fake_N' },
        { entry_type: 'clawback', amount_credits: '-166.500', balance_after_credits: '333.500', external_ref: 'refund:ch_#:333' },
        { entry_type: 'clawback', amount_credits: '-333.500', balance_after_credits: '0.000', external_ref: 'dispute:dp_#' },
      ]);
      expect(state.purchases, `round ${round}`).toEqual([
        { status: 'disputed', amount_refunded_minor: '333', stripe_payment_intent_id: 'pi_#', stripe_charge_id: 'ch_#', granted: true },
      ]);
      expect(state.notifications, `round ${round}`).toEqual([{ kind: 'refund', dedupe_key: 'refund:ch_#:333' }]);
      expect(state.settings[0], `round ${round}`).toMatchObject({ enabled: false, stripe_payment_method_id: `pm_new_#` });
    }
  });

  it(`an auto top-up's payment_intent.succeeded, then a dispute of the org's earlier auto top-up: each applied once (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const tag = newTag();
      const s = await orgWithTwoAttempts(tag);
      expectOnce(round, await deliverTogether(copies(s.succeeded)));
      expect(await availableAt(db.pool, s.orgId), `round ${round}`).toBe('590.000');
      expectOnce(round, await deliverTogether(copies(s.disputed)));
      const state = await moneyState(s.orgId, tag);
      expect(await recorded([s.succeeded, s.disputed]), `round ${round}`).toEqual(recordedOnce([s.succeeded, s.disputed]));
      expect(state.balance[0]!.available_credits, `round ${round}`).toBe('90.000');
      expect(state.ledgerSum[0]!.sum, `round ${round}`).toBe(state.balance[0]!.balance_credits);
      expect(
        state.grants.filter((g) => g.source === 'auto_top_up').map((g) => g.amount_credits),
        `round ${round}`,
      ).toEqual(['500.000', '500.000']);
      expect(
        state.entries.filter((e) => e.entry_type === 'clawback'),
        `round ${round}`,
      ).toEqual([
        { entry_type: 'clawback', amount_credits: '-500.000', balance_after_credits: expect.any(String), external_ref: 'dispute:dp_#' },
      ]);
      expect(
        state.notifications.filter((n) => n.kind === 'auto_topup_succeeded'),
        `round ${round}`,
      ).toHaveLength(2);
      expect(state.settings[0], `round ${round}`).toMatchObject({ enabled: false, consecutive_failures: 0 });
    }
  });
});
