// Auto top-up: the ledger writes a check when a spend may take an org below its threshold; the
// check's event and the cron sweep charge one pack off-session — exactly once when they race — and
// handle declines, authentication and lost answers. Real Postgres, real HTTP, a fake Stripe server
// at the edge.
import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { createOrg, NOW } from '../helpers.ts';
import { addMember, availableAt, checksOf, PACKS, paymentState, spend, startPaymentsApi, stripeEvent, WEB_ORIGIN } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

const minutes = (n: number) => new Date(NOW.getTime() + n * 60_000);

/** An org with 120 credits and a Stripe customer, without auto top-up settings. */
async function customerOrg() {
  const org = await createOrg(db.pool, { credits: '120.000' });
  await db.pool.query('update public.organizations set stripe_customer_id = $2 where id = $1', [
    org.orgId,
    `cus_auto_${org.orgId.slice(0, 8)}`,
  ]);
  return org;
}

/** An org with 120 credits, a saved card and auto top-up on: below 100, buy pack_500 (1,000p). */
async function autoTopUpOrg(settings: { monthly_max_count?: number; monthly_max_minor?: number; cooldown_minutes?: number } = {}) {
  const org = await customerOrg();
  await db.pool.query(
    `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id,
       monthly_max_count, monthly_max_minor, cooldown_minutes)
     values ($1, true, 100, $2, 'pm_card_visa', $3, $4, $5)`,
    [org.orgId, PACKS.pack500, settings.monthly_max_count ?? null, settings.monthly_max_minor ?? null, settings.cooldown_minutes ?? 60],
  );
  return org;
}

const chargesFor = (orgId: string) =>
  api.fake.requestsTo('POST', '/v1/payment_intents').filter((r) => r.body.metadata?.organization_id === orgId);

describe('auto top-up', () => {
  it('writes no check while available stays at or above the threshold, and a check that finds nothing to do charges nothing', async () => {
    const org = await autoTopUpOrg();
    await spend(db.pool, org.orgId, '20.000');
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    // A check whose org is above its threshold again by the time it is handled (here: made up).
    const res = await api.checkEvent({ id: 0, organization_id: org.orgId });
    expect(res).toMatchObject({ status: 200, body: { autoTopUp: null } });
    expect(chargesFor(org.orgId)).toEqual([]);
    expect((await paymentState(db.pool, org.orgId)).attempts).toEqual([]);
  });

  it('the ledger writes a check only when a spend could start an attempt', async () => {
    // No auto top-up, or auto top-up off: never a check, however low the balance goes.
    const plain = await createOrg(db.pool, { credits: '120.000' });
    await spend(db.pool, plain.orgId, '119.000');
    const off = await autoTopUpOrg();
    await db.pool.query('update public.auto_topup_settings set enabled = false where organization_id = $1', [off.orgId]);
    await spend(db.pool, off.orgId, '119.000');
    expect(await checksOf(db.pool, plain.orgId)).toEqual([]);
    expect(await checksOf(db.pool, off.orgId)).toEqual([]);

    // Holds count: 120 with 30 held is 90 available, so a spend of 1 that leaves a balance of 119 is
    // below the threshold of 100.
    const org = await autoTopUpOrg();
    await db.pool.query("select public.reserve_credits($1, 30, 'held', p_now => $2)", [org.orgId, NOW]);
    await spend(db.pool, org.orgId, '1.000');
    const [check, ...more] = await checksOf(db.pool, org.orgId);
    expect(more).toEqual([]);
    const [entry] = (await paymentState(db.pool, org.orgId)).entries.filter((e) => e.entry_type === 'consume');
    expect(check!.ledger_entry_id).toBe(String(entry!.id));

    // Delivered: one attempt, the check deleted; spends within the cooldown after it write none.
    api.fake.chargeMode = 'succeed';
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body)).toEqual([{ autoTopUp: 'succeeded' }]);
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    await spend(db.pool, org.orgId, '500.000', minutes(30));
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    // After the cooldown (60 minutes), a spend below the threshold writes one again.
    await spend(db.pool, org.orgId, '1.000', minutes(61));
    expect(await checksOf(db.pool, org.orgId)).toHaveLength(1);
    api.now = minutes(61);
    try {
      expect((await api.deliverChecks(org.orgId)).map((r) => r.body)).toEqual([{ autoTopUp: 'succeeded' }]);
    } finally {
      api.now = NOW;
    }
    expect((await paymentState(db.pool, org.orgId)).attempts.map((a) => a.status)).toEqual(['succeeded', 'succeeded']);
  });

  it('turning auto top-up on, or raising its threshold, below the threshold writes a check at once', async () => {
    api.fake.chargeMode = 'succeed';
    const org = await customerOrg();
    const save = (enabled: boolean, threshold: string) =>
      db.pool.query(
        `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id, updated_at)
         values ($1, $2, $3, $4, 'pm_card_visa', $5)
         on conflict (organization_id) do update
         set enabled = excluded.enabled, threshold_credits = excluded.threshold_credits, updated_at = excluded.updated_at`,
        [org.orgId, enabled, threshold, PACKS.pack500, NOW],
      );
    // Off, or on with 120 available at or above the threshold: no check.
    await save(false, '200');
    await save(true, '120');
    await save(true, '100');
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    // The threshold raised above what is available: one check, naming no ledger entry.
    await save(true, '150');
    const [check, ...more] = await checksOf(db.pool, org.orgId);
    expect(more).toEqual([]);
    expect(check).toMatchObject({ organization_id: org.orgId, ledger_entry_id: null });
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body)).toEqual([{ autoTopUp: 'succeeded' }]);
    expect(await availableAt(db.pool, org.orgId)).toBe('620.000');
    // Off and on again within the cooldown of that attempt: none. Then off, so that the other
    // tests' sweeps leave this org alone.
    await save(false, '150');
    await save(true, '1000');
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    await save(false, '1000');
  });

  it('charges one pack off-session when the ledger shows the org fell below its threshold, with the attempt as idempotency key', async () => {
    api.fake.chargeMode = 'succeed';
    const org = await autoTopUpOrg();
    await spend(db.pool, org.orgId, '30.000');
    const [res, ...more] = await api.deliverChecks(org.orgId);
    expect(more).toEqual([]);
    expect(res).toMatchObject({ status: 200, body: { autoTopUp: 'succeeded' } });
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    expect(await availableAt(db.pool, org.orgId)).toBe('590.000');
    const state = await paymentState(db.pool, org.orgId);
    expect(state.attempts).toEqual([expect.objectContaining({ status: 'succeeded', credits: '500.000', price_minor: '1000' })]);
    const [charge] = chargesFor(org.orgId);
    expect(charge!.idempotencyKey).toBe(state.attempts[0].idempotency_key);
    expect(charge!.body).toMatchObject({
      amount: '1000',
      currency: 'gbp',
      customer: `cus_auto_${org.orgId.slice(0, 8)}`,
      payment_method: 'pm_card_visa',
      off_session: 'true',
      confirm: 'true',
      metadata: { auto_topup_attempt_id: state.attempts[0].id },
    });
    expect(state.grants.filter((g) => g.source === 'auto_top_up')).toEqual([
      expect.objectContaining({ amount_credits: '500.000', external_ref: state.attempts[0].idempotency_key }),
    ]);
    expect(api.sent.filter((n) => n.organization_id === org.orgId).map((n) => n.kind)).toEqual(['auto_topup_succeeded']);

    // Stripe's payment_intent.succeeded for the same charge arrives afterwards: nothing more.
    const intent = {
      id: state.attempts[0].stripe_payment_intent_id,
      object: 'payment_intent',
      status: 'succeeded',
      metadata: charge!.body.metadata,
    };
    await api.webhook(stripeEvent('payment_intent.succeeded', intent));
    expect(await availableAt(db.pool, org.orgId)).toBe('590.000');
  });

  it('makes exactly one charge when redelivered check events and the sweep race', async () => {
    api.fake.chargeMode = 'succeed';
    const org = await autoTopUpOrg();
    await spend(db.pool, org.orgId, '50.000');
    const [check] = await checksOf(db.pool, org.orgId);
    const results = await Promise.all([
      api.checkEvent(check!),
      api.checkEvent(check!),
      api.checkEvent(check!),
      api.cron('auto_topup_sweep'),
      api.checkEvent(check!),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(chargesFor(org.orgId)).toHaveLength(1);
    const state = await paymentState(db.pool, org.orgId);
    expect(state.attempts).toHaveLength(1);
    expect(state.checks).toEqual([]);
    expect(await availableAt(db.pool, org.orgId)).toBe('570.000');
  });

  it('counts a decline, and turns auto top-up off with the reason after two in a row', async () => {
    api.fake.chargeMode = 'decline';
    const org = await autoTopUpOrg({ cooldown_minutes: 30 });
    await spend(db.pool, org.orgId, '30.000');
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['failed']);
    let state = await paymentState(db.pool, org.orgId);
    expect(state.settings[0]).toMatchObject({ enabled: true, consecutive_failures: 1 });
    expect(state.attempts[0]).toMatchObject({ status: 'failed', failure_code: 'insufficient_funds' });
    // Within the cooldown, and within the hour after a decline (longer than this cooldown): no second charge.
    expect((await api.cron('auto_topup_sweep', minutes(10))).body.attempts).toEqual({});
    expect((await api.cron('auto_topup_sweep', minutes(31))).body.attempts).toEqual({});
    // After it: the second decline turns it off.
    const second = await api.cron('auto_topup_sweep', minutes(61));
    expect(second.body.attempts[org.orgId]).toBe('failed');
    state = await paymentState(db.pool, org.orgId);
    expect(state.settings[0]).toMatchObject({ enabled: false, consecutive_failures: 2 });
    expect(state.settings[0].disabled_reason).toMatch(/two payments in a row failed.*insufficient funds/i);
    expect(state.notifications.map((n) => n.kind).sort()).toEqual(['auto_topup_disabled', 'auto_topup_failed', 'auto_topup_failed']);
    expect(await availableAt(db.pool, org.orgId)).toBe('90.000');
    expect((await api.cron('auto_topup_sweep', minutes(120))).body.attempts).toEqual({});
    expect(chargesFor(org.orgId)).toHaveLength(2);
    // An owner turns it on again: it starts afresh, so one more decline does not turn it off at once.
    await db.pool.query('update public.auto_topup_settings set enabled = true where organization_id = $1', [org.orgId]);
    state = await paymentState(db.pool, org.orgId);
    expect(state.settings[0]).toMatchObject({ enabled: true, consecutive_failures: 0, disabled_reason: null });
    expect((await api.cron('auto_topup_sweep', minutes(180))).body.attempts[org.orgId]).toBe('failed');
    state = await paymentState(db.pool, org.orgId);
    expect(state.settings[0]).toMatchObject({ enabled: true, consecutive_failures: 1, disabled_reason: null });
  });

  it('stamps an attempt with the time it ran, not the time a late sweep was scheduled for', async () => {
    // Hasura delivers a cron run up to its tolerance late (after an outage, say). The sweep scheduled
    // for NOW runs 10 minutes later and the card is declined then. Before: the attempt was dated NOW,
    // so the hour without a retry after a decline ended 10 minutes early, and the next sweep charged
    // the card again 51 minutes after the decline (the second decline turned auto top-up off).
    api.fake.chargeMode = 'decline';
    const org = await autoTopUpOrg({ cooldown_minutes: 0 });
    await spend(db.pool, org.orgId, '30.000');
    try {
      api.now = minutes(10);
      expect((await api.cron('auto_topup_sweep', NOW)).body.attempts[org.orgId]).toBe('failed');
      const state = await paymentState(db.pool, org.orgId);
      expect(new Date(state.attempts[0].created_at).toISOString()).toBe(minutes(10).toISOString());
      expect(new Date(state.attempts[0].resolved_at).toISOString()).toBe(minutes(10).toISOString());
      api.now = minutes(61);
      expect((await api.cron('auto_topup_sweep', minutes(61))).body.attempts[org.orgId]).toBeUndefined();
      expect(chargesFor(org.orgId)).toHaveLength(1);
      expect((await paymentState(db.pool, org.orgId)).settings[0]).toMatchObject({ enabled: true, consecutive_failures: 1 });
    } finally {
      api.now = NOW;
      await db.pool.query('update public.auto_topup_settings set enabled = false where organization_id = $1', [org.orgId]);
    }
  });

  it('asks the owners to pay on-session when the bank requires authentication, and completes when they do', async () => {
    api.fake.chargeMode = 'authenticate';
    const org = await autoTopUpOrg();
    const secondOwner = await addMember(db.pool, org.orgId, 'owner');
    await addMember(db.pool, org.orgId, 'member');
    await spend(db.pool, org.orgId, '30.000');
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['requires_action']);
    const state = await paymentState(db.pool, org.orgId);
    expect(state.attempts[0]).toMatchObject({ status: 'requires_action', failure_code: 'authentication_required' });
    expect(state.settings[0]).toMatchObject({ enabled: true, consecutive_failures: 0 });
    const { rows } = await db.pool.query(
      'select user_id, action_url from public.notifications where organization_id = $1 and kind = $2 order by user_id',
      [org.orgId, 'auto_topup_action_required'],
    );
    expect(rows.map((r) => r.user_id).sort()).toEqual([org.userId, secondOwner.userId].sort());
    expect(rows[0].action_url).toBe(`${WEB_ORIGIN}/credits?topup=buy`);
    expect(await availableAt(db.pool, org.orgId)).toBe('90.000');
    // The customer confirms with the bank: Stripe reports the intent succeeded.
    const intent = {
      id: state.attempts[0].stripe_payment_intent_id,
      object: 'payment_intent',
      status: 'succeeded',
      metadata: { organization_id: org.orgId, auto_topup_attempt_id: state.attempts[0].id },
    };
    await api.webhook(stripeEvent('payment_intent.succeeded', intent));
    expect(await availableAt(db.pool, org.orgId)).toBe('590.000');
  });

  it('tells the admins what it tells the owners when the org has no owner', async () => {
    // The last owner left or was made an admin (nothing forbids it; an app mirroring its roles may
    // have no owners at all). Before: nobody was told that the bank wanted the payment confirmed,
    // nor that auto top-up was turned off.
    api.fake.chargeMode = 'authenticate';
    const org = await autoTopUpOrg();
    const admin = await addMember(db.pool, org.orgId, 'admin');
    await addMember(db.pool, org.orgId, 'member');
    await db.pool.query(`update public.organization_members set role = 'admin' where organization_id = $1 and user_id = $2`, [
      org.orgId,
      org.userId,
    ]);
    await spend(db.pool, org.orgId, '30.000');
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['requires_action']);
    const told = async (kind: string) =>
      (
        await db.pool.query<{ user_id: string }>('select user_id from public.notifications where organization_id = $1 and kind = $2', [
          org.orgId,
          kind,
        ])
      ).rows
        .map((r) => r.user_id)
        .sort();
    const admins = [org.userId, admin.userId].sort();
    expect(await told('auto_topup_action_required')).toEqual(admins);
    // The pack the org buys gets dearer: auto top-up off, and the admins told (by the database).
    const { rows } = await db.pool.query<{ id: string }>(
      `insert into public.topup_packages (code, name, credits, price_minor) values ($1, 'Dearer', 500, 1000) returning id`,
      [`dearer_${randomUUID().slice(0, 8)}`],
    );
    await db.pool.query('update public.auto_topup_settings set package_id = $2 where organization_id = $1', [org.orgId, rows[0]!.id]);
    await db.pool.query('update public.topup_packages set price_minor = 1200 where id = $1', [rows[0]!.id]);
    expect(await told('auto_topup_disabled')).toEqual(admins);
    // With an owner again, only the owner is told.
    await db.pool.query(`update public.organization_members set role = 'owner' where organization_id = $1 and user_id = $2`, [
      org.orgId,
      org.userId,
    ]);
    await db.pool.query('update public.auto_topup_settings set enabled = true where organization_id = $1', [org.orgId]);
    await db.pool.query('update public.topup_packages set price_minor = 1500, is_active = false where id = $1', [rows[0]!.id]);
    const { rows: offSale } = await db.pool.query<{ user_id: string }>(
      `select user_id from public.notifications where organization_id = $1 and dedupe_key like 'auto_topup_disabled:pack_off_sale:%'`,
      [org.orgId],
    );
    expect(offSale.map((r) => r.user_id)).toEqual([org.userId]);
    await db.pool.query('update public.auto_topup_settings set enabled = false where organization_id = $1', [org.orgId]);
  });

  it('keeps an attempt in flight when Stripe fails, then the sweep retries it with the same key and one charge results', async () => {
    api.fake.chargeMode = 'fail';
    const org = await autoTopUpOrg();
    await spend(db.pool, org.orgId, '30.000');
    const [check] = await checksOf(db.pool, org.orgId);
    expect((await api.checkEvent(check!)).body.autoTopUp).toBe('in_flight');
    // While it is in flight a spend writes no check, and the same event again charges nothing new.
    await spend(db.pool, org.orgId, '1.000');
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    expect((await api.checkEvent(check!)).body.autoTopUp).toBe(null);
    api.fake.chargeMode = 'succeed';
    const sweep = await api.cron('auto_topup_sweep', minutes(11));
    expect(sweep.body.retried).toBeGreaterThanOrEqual(1);
    const charges = chargesFor(org.orgId);
    expect(charges).toHaveLength(2);
    expect(new Set(charges.map((c) => c.idempotencyKey)).size).toBe(1);
    const state = await paymentState(db.pool, org.orgId);
    expect(state.attempts).toEqual([expect.objectContaining({ status: 'succeeded' })]);
    expect(await availableAt(db.pool, org.orgId, minutes(11))).toBe('589.000');
  });

  it('sends again every attempt whose answer was lost, not only the first hundred, and says when it left some for the next sweep', async () => {
    api.fake.chargeMode = 'succeed';
    const orgIds: string[] = [];
    for (let i = 0; i < 101; i++) {
      const org = await autoTopUpOrg();
      const id = randomUUID();
      await db.pool.query(
        `insert into public.auto_topup_attempts (id, organization_id, package_id, status, idempotency_key, credits, price_minor, currency, created_at)
         select $1::uuid, $2, k.id, 'in_flight', 'auto_topup:' || $1::text, k.credits, k.price_minor, k.currency, $3 from public.topup_packages k where k.id = $4`,
        [id, org.orgId, minutes(-15), PACKS.pack500],
      );
      orgIds.push(org.orgId);
    }
    const sweep = await api.cron('auto_topup_sweep', NOW);
    expect(sweep.body).toMatchObject({ retried: 101, more: false, stuck: [] });
    const { rows } = await db.pool.query(
      "select count(*)::int as n from public.auto_topup_attempts where organization_id = any($1) and status = 'succeeded'",
      [orgIds],
    );
    expect(rows[0].n).toBe(101);
  });

  it('does not send an attempt again once Stripe has forgotten its idempotency key (a day), and reports it as stuck', async () => {
    api.fake.chargeMode = 'fail';
    const org = await autoTopUpOrg();
    await spend(db.pool, org.orgId, '30.000');
    const [check] = await checksOf(db.pool, org.orgId);
    expect((await api.checkEvent(check!)).body.autoTopUp).toBe('in_flight');
    api.fake.chargeMode = 'succeed';
    const [attempt] = (await paymentState(db.pool, org.orgId)).attempts;
    const sweep = await api.cron('auto_topup_sweep', minutes(30 * 60));
    expect(sweep.status).toBe(200);
    expect(sweep.body.stuck).toContain(attempt.id);
    expect(chargesFor(org.orgId)).toHaveLength(1);
    expect((await paymentState(db.pool, org.orgId)).attempts).toEqual([expect.objectContaining({ id: attempt.id, status: 'in_flight' })]);
  });

  it('claws back a refunded auto top-up charge once', async () => {
    api.fake.chargeMode = 'succeed';
    const org = await autoTopUpOrg();
    await spend(db.pool, org.orgId, '30.000');
    await api.deliverChecks(org.orgId);
    const [attempt] = (await paymentState(db.pool, org.orgId)).attempts;
    const refunded = {
      id: 'ch_auto_refund',
      object: 'charge',
      amount: 1000,
      amount_refunded: 1000,
      payment_intent: attempt.stripe_payment_intent_id,
    };
    await api.webhook(stripeEvent('charge.refunded', refunded));
    await api.webhook(stripeEvent('charge.refunded', refunded));
    expect(await availableAt(db.pool, org.orgId)).toBe('90.000');
    const state = await paymentState(db.pool, org.orgId);
    expect(state.attempts[0]).toMatchObject({ status: 'succeeded', amount_refunded_minor: '1000' });
    expect(state.entries.filter((e) => e.entry_type === 'clawback').map((e) => e.amount_credits)).toEqual(['-500.000']);
  });

  it('claws back a disputed auto top-up charge once, and grants it back when the dispute is won', async () => {
    api.fake.chargeMode = 'succeed';
    const org = await autoTopUpOrg();
    await spend(db.pool, org.orgId, '30.000');
    await api.deliverChecks(org.orgId);
    const [attempt] = (await paymentState(db.pool, org.orgId)).attempts;
    expect(await availableAt(db.pool, org.orgId)).toBe('590.000');
    const dispute = {
      id: 'dp_auto',
      object: 'dispute',
      amount: 1000,
      charge: 'ch_auto_dispute',
      payment_intent: attempt.stripe_payment_intent_id,
      status: 'needs_response',
    };
    const opened = await api.webhook(stripeEvent('charge.dispute.created', dispute));
    expect(opened).toMatchObject({ status: 200, body: { outcome: 'processed' } });
    await api.webhook(stripeEvent('charge.dispute.created', dispute));
    expect(await availableAt(db.pool, org.orgId)).toBe('90.000');
    // No more off-session charges to a card whose owner disputes one: auto top-up is off, saying why.
    expect((await paymentState(db.pool, org.orgId)).settings[0]).toMatchObject({
      enabled: false,
      disabled_reason: 'Turned off because a payment was disputed (dp_auto); turn it on again once that is settled',
    });
    await api.webhook(stripeEvent('charge.dispute.closed', { ...dispute, status: 'won' }));
    expect(await availableAt(db.pool, org.orgId)).toBe('590.000');
    const { rows } = await db.pool.query(
      `select entry_type, amount_credits, external_ref from public.credit_ledger_entries
       where organization_id = $1 and external_ref like 'dispute%' order by id`,
      [org.orgId],
    );
    expect(rows).toEqual([
      { entry_type: 'clawback', amount_credits: '-500.000', external_ref: 'dispute:dp_auto' },
      { entry_type: 'grant', amount_credits: '500.000', external_ref: 'dispute_won:dp_auto' },
    ]);
  });

  it('stops at the monthly count cap', async () => {
    api.fake.chargeMode = 'succeed';
    const org = await autoTopUpOrg({ monthly_max_count: 1, cooldown_minutes: 0 });
    await spend(db.pool, org.orgId, '30.000');
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['succeeded']);
    await spend(db.pool, org.orgId, '550.000');
    // No cooldown, but the cap is reached: the spend writes no check (no Hasura event for a claim
    // that would refuse), and the sweep's claim refuses too.
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    await api.cron('auto_topup_sweep', NOW);
    expect(chargesFor(org.orgId)).toHaveLength(1);
  });

  it('starts no new attempt for 24 hours while one waits for the bank, and writes no check meanwhile', async () => {
    api.fake.chargeMode = 'authenticate';
    const org = await autoTopUpOrg({ cooldown_minutes: 60 });
    await spend(db.pool, org.orgId, '30.000');
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['requires_action']);
    const later = (hours: number) => new Date(NOW.getTime() + hours * 3_600_000);
    // Past the cooldown: before, another off-session charge (and notification) every hour.
    await spend(db.pool, org.orgId, '1.000', later(2));
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    await api.cron('auto_topup_sweep', later(2));
    await api.cron('auto_topup_sweep', later(12));
    expect(chargesFor(org.orgId)).toHaveLength(1);
    // A day later one more is tried.
    await api.cron('auto_topup_sweep', later(25));
    expect(chargesFor(org.orgId)).toHaveLength(2);
    api.fake.chargeMode = 'succeed';
  });

  it('needs the shared secret on the event and cron routes', async () => {
    const res = await api.cron('auto_topup_sweep', NOW, null);
    expect(res.status).toBe(401);
    expect(res.body.extensions.code).toBe('UNAUTHORIZED');
  });
});

// From the audit of auto top-up's rules (migration 1795322402200_auto_topup_rules). Each org is
// turned off at the end, so that the sweeps of later tests leave it alone.
describe('auto top-up rules', () => {
  const hours = (n: number) => new Date(NOW.getTime() + n * 3_600_000);
  const off = (orgId: string) => db.pool.query('update public.auto_topup_settings set enabled = false where organization_id = $1', [orgId]);
  const NEEDS_CARD = 'Auto top-up needs a card: buy a pack once with auto top-up on to save it';

  it('after a declined payment, tries the card again only an hour later, even with cooldown 0 and two settles at once', async () => {
    api.fake.chargeMode = 'decline';
    const org = await autoTopUpOrg({ cooldown_minutes: 0 });
    // 120 available: each spend alone takes it below 100, so each writes a check.
    await Promise.all([spend(db.pool, org.orgId, '25.000'), spend(db.pool, org.orgId, '25.000')]);
    expect(await checksOf(db.pool, org.orgId)).toHaveLength(2);
    // Before: two declined charges for one dip, and auto top-up off.
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['failed', null]);
    expect(chargesFor(org.orgId)).toHaveLength(1);
    expect((await paymentState(db.pool, org.orgId)).settings[0]).toMatchObject({ enabled: true, consecutive_failures: 1 });
    // The next spend, a minute later, writes no check; the sweeps within the hour start nothing.
    await spend(db.pool, org.orgId, '1.000', minutes(1));
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    expect((await api.cron('auto_topup_sweep', minutes(59))).body.attempts[org.orgId]).toBeUndefined();
    expect(chargesFor(org.orgId)).toHaveLength(1);
    // An hour after the decline, one more try (the card works again).
    api.fake.chargeMode = 'succeed';
    expect((await api.cron('auto_topup_sweep', minutes(61))).body.attempts[org.orgId]).toBe('succeeded');
    expect((await paymentState(db.pool, org.orgId)).settings[0]).toMatchObject({ enabled: true, consecutive_failures: 0 });
    await off(org.orgId);
  });

  it('starts no attempt without a saved card and counts no failure, says what to do, and buys once a pack bought saves a card', async () => {
    api.fake.chargeMode = 'succeed';
    const org = await customerOrg();
    // Turned on well below the threshold, as the billing form does: no card yet.
    await db.pool.query(
      `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, updated_at)
       values ($1, true, 1000, $2, $3)`,
      [org.orgId, PACKS.pack500, NOW],
    );
    // Before: a check, an attempt failed at once (no_payment_method) and another after the cooldown: auto top-up off.
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    expect((await api.cron('auto_topup_sweep', minutes(5))).body.attempts[org.orgId]).toBeUndefined();
    expect((await api.cron('auto_topup_sweep', minutes(125))).body.attempts[org.orgId]).toBeUndefined();
    let state = await paymentState(db.pool, org.orgId);
    expect(state.attempts).toEqual([]);
    expect(chargesFor(org.orgId)).toEqual([]);
    expect(state.settings[0]).toMatchObject({ enabled: true, consecutive_failures: 0, disabled_reason: NEEDS_CARD });

    // The owner buys a pack: auto top-up is on, so Checkout saves the card, which clears the reason.
    const res = await api.action('createTopUpCheckout', { packageId: PACKS.pack500 }, org.session);
    expect(res.status).toBe(200);
    const { rows } = await db.pool.query('select * from public.topup_purchases where id = $1', [res.body.purchaseId]);
    const purchase = rows[0];
    const session = api.fake.requestsTo('POST', '/v1/checkout/sessions').find((r) => r.body.metadata?.purchase_id === purchase.id);
    expect(session!.body.payment_intent_data.setup_future_usage).toBe('off_session');
    const intent = `pi_card_${org.orgId.slice(0, 8)}`;
    api.fake.objects.set(intent, { id: intent, object: 'payment_intent', payment_method: 'pm_saved_card' });
    await api.webhook(
      stripeEvent('checkout.session.completed', {
        id: purchase.stripe_checkout_session_id,
        object: 'checkout.session',
        mode: 'payment',
        status: 'complete',
        payment_status: 'paid',
        payment_intent: intent,
        subscription: null,
        metadata: { organization_id: org.orgId, package_id: PACKS.pack500, purchase_id: purchase.id },
      }),
    );
    state = await paymentState(db.pool, org.orgId);
    expect(state.settings[0]).toMatchObject({ enabled: true, stripe_payment_method_id: 'pm_saved_card', disabled_reason: null });
    // 620 available, still below 1,000: the sweep buys with the card.
    expect((await api.cron('auto_topup_sweep', minutes(130))).body.attempts[org.orgId]).toBe('succeeded');
    expect(chargesFor(org.orgId).map((c) => c.body.payment_method)).toEqual(['pm_saved_card']);
    await off(org.orgId);
  });

  it('fails an attempt whose saved card Stripe refuses outright, forgets the card and tells the owners; a 409 or a 429 stays in flight', async () => {
    const org = await autoTopUpOrg();
    const secondOwner = await addMember(db.pool, org.orgId, 'owner');
    await addMember(db.pool, org.orgId, 'member');
    await spend(db.pool, org.orgId, '30.000');
    // Another request with the key in progress (409), then Stripe busy (429): the outcome is unknown.
    api.fake.chargeMode = 'key_in_use';
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['in_flight']);
    api.fake.chargeMode = 'lock_timeout';
    await api.cron('auto_topup_sweep', minutes(11));
    let state = await paymentState(db.pool, org.orgId);
    expect(state.attempts).toEqual([expect.objectContaining({ status: 'in_flight' })]);

    // The card was removed from the customer in Stripe: 400 invalid_request_error. Before: left in
    // flight, sent again until stuck, and auto top-up blocked for good without a word.
    api.fake.chargeMode = 'detached_card';
    await api.cron('auto_topup_sweep', minutes(22));
    state = await paymentState(db.pool, org.orgId);
    expect(state.attempts).toEqual([expect.objectContaining({ status: 'failed', failure_code: 'payment_method_unusable' })]);
    expect(state.attempts[0].failure_message).toMatch(/detached from a Customer/);
    expect(state.settings[0]).toMatchObject({
      enabled: true,
      stripe_payment_method_id: null,
      consecutive_failures: 1,
      disabled_reason: NEEDS_CARD,
    });
    const { rows } = await db.pool.query(
      'select user_id, title, action_url from public.notifications where organization_id = $1 and kind = $2 order by user_id',
      [org.orgId, 'auto_topup_failed'],
    );
    expect(rows.map((r) => r.user_id).sort()).toEqual([org.userId, secondOwner.userId].sort());
    expect(rows[0]).toMatchObject({ title: 'Auto top-up cannot use your saved card', action_url: `${WEB_ORIGIN}/credits?topup=buy` });
    expect(api.sent.filter((n) => n.organization_id === org.orgId).map((n) => n.kind)).toEqual(['auto_topup_failed', 'auto_topup_failed']);
    const charges = chargesFor(org.orgId);
    expect(charges).toHaveLength(3);
    expect(new Set(charges.map((c) => c.idempotencyKey)).size).toBe(1);

    // No card: nothing more is tried, however long it stays below the threshold.
    api.fake.chargeMode = 'succeed';
    for (const at of [hours(2), hours(30)]) {
      const sweep = await api.cron('auto_topup_sweep', at);
      expect(sweep.body.attempts[org.orgId]).toBeUndefined();
      expect(sweep.body.stuck).not.toContain(state.attempts[0].id);
    }
    expect(chargesFor(org.orgId)).toHaveLength(3);
    await off(org.orgId);
  });

  it('turns auto top-up off, saying why and telling the owners, when its pack is taken off sale; back on sale it buys only once turned on again', async () => {
    api.fake.chargeMode = 'succeed';
    const code = `retiring_${randomUUID().slice(0, 8)}`;
    const { rows: made } = await db.pool.query<{ id: string }>(
      `insert into public.topup_packages (code, name, credits, price_minor) values ($1, 'Retiring', 500, 1000) returning id`,
      [code],
    );
    const pack = made[0]!.id;
    const org = await customerOrg();
    await db.pool.query(
      `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
       values ($1, true, 100, $2, 'pm_card_visa')`,
      [org.orgId, pack],
    );
    // Before: still on, no reason, nobody told; it just never bought again.
    await db.pool.query('update public.topup_packages set is_active = false where id = $1', [pack]);
    let state = await paymentState(db.pool, org.orgId);
    expect(state.settings[0]).toMatchObject({
      enabled: false,
      disabled_reason: 'Turned off because the pack Retiring is no longer on sale; choose another pack and turn it on again',
    });
    const { rows: notes } = await db.pool.query('select user_id, kind, body from public.notifications where organization_id = $1', [
      org.orgId,
    ]);
    expect(notes).toEqual([
      { user_id: org.userId, kind: 'auto_topup_disabled', body: expect.stringMatching(/Retiring .* no longer on sale/) },
    ]);

    // Back on sale at a new price: before, charged at once at that price. Now nothing, until someone
    // turns auto top-up on again with it (the billing form shows the pack's price now).
    await spend(db.pool, org.orgId, '30.000');
    await db.pool.query('update public.topup_packages set is_active = true, price_minor = 4000 where id = $1', [pack]);
    expect((await api.cron('auto_topup_sweep', minutes(5))).body.attempts[org.orgId]).toBeUndefined();
    expect(chargesFor(org.orgId)).toEqual([]);
    await db.pool.query('update public.auto_topup_settings set enabled = true where organization_id = $1', [org.orgId]);
    state = await paymentState(db.pool, org.orgId);
    expect(state.settings[0]).toMatchObject({ enabled: true, disabled_reason: null });
    expect((await api.cron('auto_topup_sweep', minutes(10))).body.attempts[org.orgId]).toBe('succeeded');
    expect(chargesFor(org.orgId).map((c) => c.body.amount)).toEqual(['4000']);
    await off(org.orgId);
    await db.pool.query('update public.topup_packages set is_active = false where id = $1', [pack]);
  });

  it('turns auto top-up off, saying why and telling the owners, when its pack gets dearer; it charges the new price only once turned on again', async () => {
    api.fake.chargeMode = 'succeed';
    const pack = async (name: string) => {
      const { rows } = await db.pool.query<{ id: string }>(
        `insert into public.topup_packages (code, name, credits, price_minor) values ($1, $2, 500, 1000) returning id`,
        [`repriced_${randomUUID().slice(0, 8)}`, name],
      );
      return rows[0]!.id;
    };
    const withPack = async (packId: string) => {
      const org = await customerOrg();
      await db.pool.query(
        `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
         values ($1, true, 100, $2, 'pm_card_visa')`,
        [org.orgId, packId],
      );
      return org;
    };
    const dearer = await pack('Dearer');
    const fewer = await pack('Fewer');
    const euro = await pack('Euro');
    const cheaper = await pack('Cheaper');
    const orgs = {
      dearer: await withPack(dearer),
      fewer: await withPack(fewer),
      euro: await withPack(euro),
      cheaper: await withPack(cheaper),
    };
    // Before: the next top-up charged 4,000p where the owner had turned it on at 1,000p.
    await db.pool.query('update public.topup_packages set price_minor = 4000 where id = $1', [dearer]);
    await db.pool.query('update public.topup_packages set credits = 400 where id = $1', [fewer]);
    await db.pool.query(`update public.topup_packages set currency = 'EUR' where id = $1`, [euro]);
    // Cheaper, or more credits for the price: what was agreed still covers it, and it stays on.
    await db.pool.query('update public.topup_packages set price_minor = 900, credits = 600 where id = $1', [cheaper]);
    for (const [name, org] of Object.entries(orgs)) {
      const state = await paymentState(db.pool, org.orgId);
      if (name === 'cheaper') {
        expect(state.settings[0]).toMatchObject({ enabled: true, disabled_reason: null });
        continue;
      }
      expect(state.settings[0]).toMatchObject({
        enabled: false,
        disabled_reason: `Turned off because the pack ${name[0]!.toUpperCase()}${name.slice(1)} changed its price or credits; check it and turn auto top-up on again`,
      });
      const { rows: notes } = await db.pool.query('select user_id, kind, body from public.notifications where organization_id = $1', [
        org.orgId,
      ]);
      expect(notes).toEqual([
        { user_id: org.userId, kind: 'auto_topup_disabled', body: expect.stringMatching(/changed its price or credits/) },
      ]);
    }
    await spend(db.pool, orgs.dearer.orgId, '30.000');
    await spend(db.pool, orgs.cheaper.orgId, '30.000');
    const sweep = await api.cron('auto_topup_sweep', minutes(5));
    expect(sweep.body.attempts[orgs.dearer.orgId]).toBeUndefined();
    expect(chargesFor(orgs.dearer.orgId)).toEqual([]);
    expect(sweep.body.attempts[orgs.cheaper.orgId]).toBe('succeeded');
    expect(chargesFor(orgs.cheaper.orgId).map((c) => c.body.amount)).toEqual(['900']);
    // Turned on again by someone who saw the new price: it buys at that price.
    await db.pool.query('update public.auto_topup_settings set enabled = true where organization_id = $1', [orgs.dearer.orgId]);
    expect((await paymentState(db.pool, orgs.dearer.orgId)).settings[0]).toMatchObject({ enabled: true, disabled_reason: null });
    expect((await api.cron('auto_topup_sweep', minutes(10))).body.attempts[orgs.dearer.orgId]).toBe('succeeded');
    expect(chargesFor(orgs.dearer.orgId).map((c) => c.body.amount)).toEqual(['4000']);
    for (const org of Object.values(orgs)) await off(org.orgId);
    await db.pool.query('update public.topup_packages set is_active = false where id = any($1)', [[dearer, fewer, euro, cheaper]]);
  });

  it('does not count attempts that waited for the bank (nothing charged) in the monthly caps', async () => {
    api.fake.chargeMode = 'authenticate';
    const org = await autoTopUpOrg({ monthly_max_count: 1, monthly_max_minor: 1000 });
    await spend(db.pool, org.orgId, '30.000');
    expect((await api.deliverChecks(org.orgId)).map((r) => r.body.autoTopUp)).toEqual(['requires_action']);
    // A day later one more is tried (before: none this month, the cap counted the one that charged nothing).
    api.fake.chargeMode = 'succeed';
    expect((await api.cron('auto_topup_sweep', hours(25))).body.attempts[org.orgId]).toBe('succeeded');
    // That one charged, and counts: nothing more this month.
    await spend(db.pool, org.orgId, '550.000', hours(26));
    expect(await checksOf(db.pool, org.orgId)).toEqual([]);
    expect((await api.cron('auto_topup_sweep', hours(27))).body.attempts[org.orgId]).toBeUndefined();
    expect(chargesFor(org.orgId)).toHaveLength(2);
    await off(org.orgId);
  });

  it('buys nothing while a spend limit leaves no room for the credits, and buys once the limit has room again', async () => {
    api.fake.chargeMode = 'succeed';
    // The month's limit used up. Before: 500 credits bought for 1,000p that no call could use this month.
    const monthly = await autoTopUpOrg();
    await db.pool.query('insert into public.spend_limits (organization_id, monthly_limit_credits) values ($1, 50)', [monthly.orgId]);
    await spend(db.pool, monthly.orgId, '50.000');
    expect(await checksOf(db.pool, monthly.orgId)).toEqual([]);
    expect((await api.cron('auto_topup_sweep', minutes(5))).body.attempts[monthly.orgId]).toBeUndefined();
    expect(chargesFor(monthly.orgId)).toEqual([]);
    await off(monthly.orgId);

    // The day's limit used up at 10:15: nothing until the next UTC day, then the sweep buys.
    const daily = await autoTopUpOrg();
    await db.pool.query('insert into public.spend_limits (organization_id, daily_limit_credits) values ($1, 30)', [daily.orgId]);
    await spend(db.pool, daily.orgId, '30.000');
    expect(await checksOf(db.pool, daily.orgId)).toEqual([]);
    expect((await api.cron('auto_topup_sweep', hours(13))).body.attempts[daily.orgId]).toBeUndefined();
    expect(chargesFor(daily.orgId)).toEqual([]);
    expect((await api.cron('auto_topup_sweep', hours(14))).body.attempts[daily.orgId]).toBe('succeeded');
    await off(daily.orgId);
  });
});
