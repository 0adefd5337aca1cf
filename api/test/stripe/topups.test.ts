// Top-ups through Stripe Checkout and the webhook: the checkout, payment, duplicate and late
// events, bad signatures, refunds after spending, disputes won and lost. Real Postgres, real HTTP,
// a fake Stripe server at the edge.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { createOrg, NOW } from '../helpers.ts';
import { addMember, availableAt, PACKS, paymentState, spend, startPaymentsApi, stripeEvent, WEB_ORIGIN } from './harness.ts';

const db = await useTestDatabase();
const api = await startPaymentsApi(db);

/** An org with a pending purchase of pack_500 (500 credits for 1,000p) through the api. */
async function checkout(options: { credits?: string } = {}) {
  const org = await createOrg(db.pool, options.credits ? { credits: options.credits } : {});
  const res = await api.action('createTopUpCheckout', { packageId: PACKS.pack500 }, org.session);
  expect(res.status).toBe(200);
  const { rows } = await db.pool.query('select * from public.topup_purchases where id = $1', [res.body.purchaseId]);
  return { org, res, purchase: rows[0] };
}

const paidSession = (purchase: { stripe_checkout_session_id: string; organization_id: string; id: string }, paymentIntent: string) => ({
  id: purchase.stripe_checkout_session_id,
  object: 'checkout.session',
  mode: 'payment',
  status: 'complete',
  payment_status: 'paid',
  payment_intent: paymentIntent,
  subscription: null,
  metadata: { organization_id: purchase.organization_id, package_id: PACKS.pack500, purchase_id: purchase.id },
});

const charge = (paymentIntent: string, amountRefunded: number) => ({
  id: `ch_${paymentIntent}`,
  object: 'charge',
  amount: 1000,
  amount_refunded: amountRefunded,
  refunded: amountRefunded === 1000,
  payment_intent: paymentIntent,
});

describe('createTopUpCheckout', () => {
  it('records a pending purchase and answers a Checkout URL for the pack, with the ids in metadata and the web app return URLs', async () => {
    const { org, res, purchase } = await checkout();
    expect(res.body.checkoutUrl).toMatch(/^https:\/\/checkout\.stripe\.test\/c\/pay\/cs_test_/);
    expect(purchase).toMatchObject({
      organization_id: org.orgId,
      user_id: org.userId,
      status: 'pending',
      credits: '500.000',
      price_minor: '1000',
    });
    const [call] = api.fake.requestsTo('POST', '/v1/checkout/sessions').filter((r) => r.body.metadata.purchase_id === purchase.id);
    expect(call!.body).toMatchObject({
      mode: 'payment',
      metadata: { organization_id: org.orgId, package_id: PACKS.pack500, purchase_id: purchase.id },
      success_url: `${WEB_ORIGIN}/credits?topup=success&purchase_id=${purchase.id}`,
      cancel_url: `${WEB_ORIGIN}/credits?topup=canceled`,
      line_items: [{ quantity: '1', price_data: { currency: 'gbp', unit_amount: '1000' } }],
    });
    expect(call!.idempotencyKey).toBe(`topup_checkout:${purchase.id}`);
    // No auto top-up: the card is not saved for off-session use.
    expect(call!.body.payment_intent_data.setup_future_usage).toBeUndefined();
    expect(purchase.stripe_checkout_session_id).toBe(res.body.checkoutUrl.split('/').pop());
    expect(await availableAt(db.pool, org.orgId)).toBe('0.000');
  });

  it('creates the org its Stripe customer once, and saves the card for off-session use when auto top-up is on', async () => {
    const org = await createOrg(db.pool);
    await db.pool.query(
      'insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id) values ($1, true, 50, $2)',
      [org.orgId, PACKS.pack500],
    );
    const before = api.fake.requestsTo('POST', '/v1/customers').length;
    const first = await api.action('createTopUpCheckout', { packageId: PACKS.pack500 }, org.session);
    const second = await api.action('createTopUpCheckout', { packageId: PACKS.pack1400 }, org.session);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(api.fake.requestsTo('POST', '/v1/customers').length).toBe(before + 1);
    const { rows } = await db.pool.query('select stripe_customer_id from public.organizations where id = $1', [org.orgId]);
    const sessions = api.fake.requestsTo('POST', '/v1/checkout/sessions').filter((r) => r.body.metadata.organization_id === org.orgId);
    expect(sessions.map((s) => s.body.customer)).toEqual([rows[0].stripe_customer_id, rows[0].stripe_customer_id]);
    expect(sessions[0]!.body.payment_intent_data.setup_future_usage).toBe('off_session');
  });

  it('is refused to members (FORBIDDEN) and to an unknown pack (INVALID_INPUT), and then nothing changes', async () => {
    const org = await createOrg(db.pool);
    const member = await addMember(db.pool, org.orgId, 'member');
    const admin = await addMember(db.pool, org.orgId, 'admin');
    const before = await paymentState(db.pool, org.orgId);
    const stripeCalls = api.fake.requests.length;
    const forbidden = await api.action('createTopUpCheckout', { packageId: PACKS.pack500 }, member);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.extensions.code).toBe('FORBIDDEN');
    const unknown = await api.action('createTopUpCheckout', { packageId: '0c000000-0000-4000-8000-0000000000ff' }, admin);
    expect(unknown.body.extensions.code).toBe('INVALID_INPUT');
    expect(api.fake.requests.length).toBe(stripeCalls);
    expect(await paymentState(db.pool, org.orgId)).toEqual(before);
  });

  it('answers PAYMENT_PROVIDER_ERROR when Stripe cannot start the checkout, and the purchase is canceled', async () => {
    const org = await createOrg(db.pool);
    api.fake.failing = /^\/v1\/checkout\/sessions$/;
    const res = await api.action('createTopUpCheckout', { packageId: PACKS.pack500 }, org.session);
    api.fake.failing = null;
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe('PAYMENT_PROVIDER_ERROR');
    const state = await paymentState(db.pool, org.orgId);
    expect(state.purchases).toEqual([expect.objectContaining({ status: 'canceled', stripe_checkout_session_id: null })]);
    expect(state.grants).toEqual([]);
  });
});

describe('the Stripe webhook', () => {
  it('grants the credits once when Stripe says the session is paid, whatever arrives twice', async () => {
    const { org, purchase } = await checkout();
    const event = stripeEvent('checkout.session.completed', paidSession(purchase, 'pi_paid_1'));
    const first = await api.webhook(event);
    expect(first).toMatchObject({ status: 200, body: { outcome: 'processed' } });
    expect(await availableAt(db.pool, org.orgId)).toBe('500.000');
    const after = await paymentState(db.pool, org.orgId);
    expect(after.purchases[0]).toMatchObject({ status: 'paid', stripe_payment_intent_id: 'pi_paid_1' });
    expect(after.grants).toEqual([
      expect.objectContaining({ source: 'purchase', amount_credits: '500.000', external_ref: purchase.stripe_checkout_session_id }),
    ]);

    // The same event redelivered, and another event for the same session, change nothing.
    expect((await api.webhook(event)).body.outcome).toBe('duplicate');
    const late = await api.webhook(stripeEvent('checkout.session.async_payment_succeeded', paidSession(purchase, 'pi_paid_1')));
    expect(late.status).toBe(200);
    // A failure arriving late (after the payment) does not undo it.
    await api.webhook(
      stripeEvent('checkout.session.async_payment_failed', { ...paidSession(purchase, 'pi_paid_1'), payment_status: 'unpaid' }),
    );
    expect(await paymentState(db.pool, org.orgId)).toEqual(after);
    const { rows } = await db.pool.query('select count(*)::int as n from public.stripe_events where id = $1', [event.id]);
    expect(rows[0].n).toBe(1);
  });

  it('finds the purchase by the metadata when its session id was never saved, and grants it', async () => {
    const { org, purchase } = await checkout();
    await db.pool.query('update public.topup_purchases set stripe_checkout_session_id = null where id = $1', [purchase.id]);
    await api.webhook(stripeEvent('checkout.session.completed', paidSession(purchase, 'pi_relinked')));
    expect(await availableAt(db.pool, org.orgId)).toBe('500.000');
    expect((await paymentState(db.pool, org.orgId)).purchases[0]).toMatchObject({
      status: 'paid',
      stripe_checkout_session_id: purchase.stripe_checkout_session_id,
    });
  });

  it('processes two concurrent deliveries of one event once', async () => {
    const { org, purchase } = await checkout();
    const event = stripeEvent('checkout.session.completed', paidSession(purchase, 'pi_race_1'));
    const outcomes = await Promise.all([api.webhook(event), api.webhook(event), api.webhook(event)]);
    expect(outcomes.map((o) => o.status)).toEqual([200, 200, 200]);
    expect(outcomes.filter((o) => o.body.outcome === 'processed')).toHaveLength(1);
    expect(await availableAt(db.pool, org.orgId)).toBe('500.000');
  });

  it('grants nothing for a completed session that is not paid yet, then fails the purchase when the async payment fails', async () => {
    const { org, purchase } = await checkout();
    await api.webhook(stripeEvent('checkout.session.completed', { ...paidSession(purchase, 'pi_async_1'), payment_status: 'unpaid' }));
    expect((await paymentState(db.pool, org.orgId)).purchases[0].status).toBe('pending');
    await api.webhook(
      stripeEvent('checkout.session.async_payment_failed', { ...paidSession(purchase, 'pi_async_1'), payment_status: 'unpaid' }),
    );
    const state = await paymentState(db.pool, org.orgId);
    expect(state.purchases[0].status).toBe('failed');
    expect(state.grants).toEqual([]);
    expect(state.notifications.map((n) => n.kind)).toEqual(['payment_failed']);
  });

  it('answers 400 to a missing or bad signature, or one signed with another secret, and nothing changes', async () => {
    const { org, purchase } = await checkout();
    const event = stripeEvent('checkout.session.completed', paidSession(purchase, 'pi_forged'));
    const before = await paymentState(db.pool, org.orgId);
    const missing = await api.webhook(event, { signature: null });
    const garbage = await api.webhook(event, { signature: 't=1,v1=deadbeef' });
    const otherSecret = await api.webhook(event, { secret: 'whsec_someone_else_entirely_000000' });
    const stale = await api.webhook(event, { timestamp: Math.floor(NOW.getTime() / 1000) - 3600 });
    for (const res of [missing, garbage, otherSecret, stale]) {
      expect(res.status).toBe(400);
      expect(res.body.extensions.code).toBe('INVALID_INPUT');
    }
    expect(await paymentState(db.pool, org.orgId)).toEqual(before);
    const { rows } = await db.pool.query('select count(*)::int as n from public.stripe_events where id = $1', [event.id]);
    expect(rows[0].n).toBe(0);
  });

  it('answers 200 to an event type it does not handle, and records it', async () => {
    const event = stripeEvent('customer.created', { id: 'cus_other', object: 'customer' });
    const res = await api.webhook(event);
    expect(res).toMatchObject({ status: 200, body: { outcome: 'ignored' } });
  });
});

describe('refunds and disputes', () => {
  async function paidPurchase(paymentIntent: string) {
    const bought = await checkout();
    await api.webhook(stripeEvent('checkout.session.completed', paidSession(bought.purchase, paymentIntent)));
    return bought;
  }

  it('claws back a full refund after 400 of the 500 credits were spent: the balance goes negative and new reserves are blocked', async () => {
    const { org } = await paidPurchase('pi_refund_full');
    await spend(db.pool, org.orgId, '400.000');
    expect(await availableAt(db.pool, org.orgId)).toBe('100.000');
    const res = await api.webhook(stripeEvent('charge.refunded', charge('pi_refund_full', 1000)));
    expect(res.status).toBe(200);
    expect(await availableAt(db.pool, org.orgId)).toBe('-400.000');
    const state = await paymentState(db.pool, org.orgId);
    expect(state.purchases[0]).toMatchObject({ status: 'refunded', amount_refunded_minor: '1000', stripe_charge_id: 'ch_pi_refund_full' });
    expect(state.entries.at(-1)).toMatchObject({ entry_type: 'clawback', amount_credits: '-500.000' });
    expect(state.notifications.map((n) => n.kind)).toContain('refund');
    const body = await db.pool.query("select body from public.notifications where organization_id = $1 and kind = 'refund'", [org.orgId]);
    expect(body.rows).toEqual([{ body: '500 credits were taken back for the refunded amount.' }]);
    const reserve = await api.action(
      'reserveCredits',
      { capability: 'question_suggestions', qualityLevel: 'fast', idempotencyKey: 'after-refund' },
      org.session,
    );
    expect(reserve.status).toBe(402);
    expect(reserve.body.extensions.code).toBe('INSUFFICIENT_CREDITS');
  });

  it('takes nothing back, and tells no one it did, for a refund of a payment that granted nothing', async () => {
    const { org, purchase } = await checkout({ credits: '50.000' });
    await db.pool.query("update public.topup_purchases set stripe_payment_intent_id = 'pi_refund_ungranted' where id = $1", [purchase.id]);
    const before = await paymentState(db.pool, org.orgId);
    const res = await api.webhook(stripeEvent('charge.refunded', charge('pi_refund_ungranted', 1000)));
    expect(res).toMatchObject({ status: 200, body: { outcome: 'processed' } });
    const after = await paymentState(db.pool, org.orgId);
    expect(after.purchases[0]).toMatchObject({ grant_id: null, amount_refunded_minor: '1000', status: 'refunded' });
    expect(after.entries).toEqual(before.entries);
    expect(after.balance).toEqual(before.balance);
    expect(after.notifications.map((n) => n.kind)).not.toContain('refund');
    expect(await availableAt(db.pool, org.orgId)).toBe('50.000');
  });

  it('claws back partial refunds from the cumulative refunded amount, in any order, rounding up to 0.001', async () => {
    const { org } = await paidPurchase('pi_refund_parts');
    // 333p of 1,000p: 500 × 333 / 1000 = 166.5 credits.
    await api.webhook(stripeEvent('charge.refunded', charge('pi_refund_parts', 333)));
    expect(await availableAt(db.pool, org.orgId)).toBe('333.500');
    // Then 1,000p in total arrives before 700p (out of order): 500 - 166.5 = 333.5 more, then nothing.
    await api.webhook(stripeEvent('charge.refunded', charge('pi_refund_parts', 1000)));
    await api.webhook(stripeEvent('charge.refunded', charge('pi_refund_parts', 700)));
    expect(await availableAt(db.pool, org.orgId)).toBe('0.000');
    const state = await paymentState(db.pool, org.orgId);
    expect(state.entries.filter((e) => e.entry_type === 'clawback').map((e) => e.amount_credits)).toEqual(['-166.500', '-333.500']);
    expect(state.purchases[0]).toMatchObject({ status: 'refunded', amount_refunded_minor: '1000' });
  });

  it('claws back a dispute when it opens and keeps it taken when the dispute is lost', async () => {
    const { org } = await paidPurchase('pi_dispute_lost');
    const dispute = {
      id: 'dp_lost',
      object: 'dispute',
      amount: 1000,
      charge: 'ch_dispute_lost',
      payment_intent: 'pi_dispute_lost',
      status: 'needs_response',
    };
    await api.webhook(stripeEvent('charge.dispute.created', dispute));
    expect(await availableAt(db.pool, org.orgId)).toBe('0.000');
    await api.webhook(stripeEvent('charge.dispute.closed', { ...dispute, status: 'lost' }));
    const state = await paymentState(db.pool, org.orgId);
    expect(await availableAt(db.pool, org.orgId)).toBe('0.000');
    expect(state.purchases[0].status).toBe('disputed');
    expect(state.entries.filter((e) => e.entry_type === 'clawback')).toHaveLength(1);
  });

  it('claws back no more than the payment bought when a partly refunded payment is disputed for its full amount, and gives back what the dispute took when it is won', async () => {
    // Stripe allows a dispute for the full charge after a partial refund; the customer cannot get
    // more than the 1,000p back in all. Before: 250 for the refund, then 500 for the dispute, 750 of
    // the 500 credits taken, available -250; won, 500 given back.
    const lost = (await paidPurchase('pi_refund_then_dispute')).org;
    await api.webhook(stripeEvent('charge.refunded', charge('pi_refund_then_dispute', 500)));
    const dispute = {
      id: 'dp_after_refund',
      object: 'dispute',
      amount: 1000,
      charge: 'ch_pi_refund_then_dispute',
      payment_intent: 'pi_refund_then_dispute',
      status: 'needs_response',
    };
    await api.webhook(stripeEvent('charge.dispute.created', dispute));
    await api.webhook(stripeEvent('charge.dispute.closed', { ...dispute, status: 'lost' }));
    let state = await paymentState(db.pool, lost.orgId);
    expect(state.entries.map((e) => [e.entry_type, e.amount_credits])).toEqual([
      ['grant', '500.000'],
      ['clawback', '-250.000'],
      ['clawback', '-250.000'],
    ]);
    expect(await availableAt(db.pool, lost.orgId)).toBe('0.000');

    const won = (await paidPurchase('pi_refund_then_won')).org;
    await api.webhook(stripeEvent('charge.refunded', charge('pi_refund_then_won', 500)));
    const wonDispute = { ...dispute, id: 'dp_won_after_refund', charge: 'ch_pi_refund_then_won', payment_intent: 'pi_refund_then_won' };
    await api.webhook(stripeEvent('charge.dispute.created', wonDispute));
    expect(await availableAt(db.pool, won.orgId)).toBe('0.000');
    await api.webhook(stripeEvent('charge.dispute.closed', { ...wonDispute, status: 'won' }));
    state = await paymentState(db.pool, won.orgId);
    expect(state.entries.map((e) => [e.entry_type, e.amount_credits])).toEqual([
      ['grant', '500.000'],
      ['clawback', '-250.000'],
      ['clawback', '-250.000'],
      ['grant', '250.000'],
    ]);
    // The refunded half stays refunded.
    expect(await availableAt(db.pool, won.orgId)).toBe('250.000');
    expect(state.purchases[0]).toMatchObject({ status: 'partially_refunded', amount_refunded_minor: '500' });
  });

  it('ends the same when the refund is delivered after the dispute: no more than the payment bought, and the refunded half kept when the dispute is won', async () => {
    // Before: the dispute took 500, then the late refund 250 more (750 of 500 credits); won, the
    // dispute gave back 500 and the refunded half was not taken at all.
    const lateRefund = async (pi: string, dp: string, outcome: 'lost' | 'won') => {
      const { org } = await paidPurchase(pi);
      const dispute = { id: dp, object: 'dispute', amount: 1000, charge: `ch_${pi}`, payment_intent: pi, status: 'needs_response' };
      await api.webhook(stripeEvent('charge.dispute.created', dispute));
      await api.webhook(stripeEvent('charge.refunded', charge(pi, 500)));
      await api.webhook(stripeEvent('charge.dispute.closed', { ...dispute, status: outcome }));
      const state = await paymentState(db.pool, org.orgId);
      return { entries: state.entries.map((e) => [e.entry_type, e.amount_credits]), available: await availableAt(db.pool, org.orgId) };
    };
    expect(await lateRefund('pi_late_refund_lost', 'dp_late_lost', 'lost')).toEqual({
      entries: [
        ['grant', '500.000'],
        ['clawback', '-500.000'],
      ],
      available: '0.000',
    });
    expect(await lateRefund('pi_late_refund_won', 'dp_late_won', 'won')).toEqual({
      entries: [
        ['grant', '500.000'],
        ['clawback', '-500.000'],
        ['grant', '250.000'],
      ],
      available: '250.000',
    });
  });

  it('applies a refund that Stripe delivered before the checkout completed, once the purchase is fulfilled', async () => {
    const { org, purchase } = await checkout();
    const early = await api.webhook(stripeEvent('charge.refunded', charge('pi_refund_early', 1000)));
    // Nothing to take back yet: the purchase learns its payment intent when it is fulfilled.
    expect(early).toMatchObject({ status: 200, body: { outcome: 'ignored' } });
    expect(await availableAt(db.pool, org.orgId)).toBe('0.000');
    await api.webhook(stripeEvent('checkout.session.completed', paidSession(purchase, 'pi_refund_early')));
    expect(await availableAt(db.pool, org.orgId)).toBe('0.000');
    const state = await paymentState(db.pool, org.orgId);
    expect(state.purchases[0]).toMatchObject({ status: 'refunded', amount_refunded_minor: '1000', stripe_charge_id: 'ch_pi_refund_early' });
    expect(state.entries.map((e) => [e.entry_type, e.amount_credits])).toEqual([
      ['grant', '500.000'],
      ['clawback', '-500.000'],
    ]);
    // Stripe delivers the completion again, or the async success follows: nothing more.
    await api.webhook(stripeEvent('checkout.session.async_payment_succeeded', paidSession(purchase, 'pi_refund_early')));
    expect(await paymentState(db.pool, org.orgId)).toEqual(state);
  });

  it('applies a dispute opened before the checkout completed, once the purchase is fulfilled', async () => {
    const { org, purchase } = await checkout();
    await db.pool.query(
      'insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id) values ($1, true, 50, $2)',
      [org.orgId, PACKS.pack500],
    );
    // The card of this payment, which the completion saves for auto top-up.
    api.fake.objects.set('pi_dispute_early', { id: 'pi_dispute_early', object: 'payment_intent', payment_method: 'pm_card_visa' });
    const dispute = {
      id: 'dp_early',
      object: 'dispute',
      amount: 1000,
      charge: 'ch_early',
      payment_intent: 'pi_dispute_early',
      status: 'needs_response',
    };
    await api.webhook(stripeEvent('charge.dispute.created', dispute));
    await api.webhook(stripeEvent('checkout.session.completed', paidSession(purchase, 'pi_dispute_early')));
    expect(await availableAt(db.pool, org.orgId)).toBe('0.000');
    const state = await paymentState(db.pool, org.orgId);
    expect(state.purchases[0]).toMatchObject({ status: 'disputed', stripe_charge_id: 'ch_early' });
    expect(state.entries.map((e) => [e.entry_type, e.amount_credits])).toEqual([
      ['grant', '500.000'],
      ['clawback', '-500.000'],
    ]);
    expect(state.settings[0]).toMatchObject({ enabled: false });
    // The owner turns auto top-up on again; a later event of the same checkout applies nothing again.
    await db.pool.query('update public.auto_topup_settings set enabled = true where organization_id = $1', [org.orgId]);
    const on = await paymentState(db.pool, org.orgId);
    await api.webhook(stripeEvent('checkout.session.async_payment_succeeded', paidSession(purchase, 'pi_dispute_early')));
    const after = await paymentState(db.pool, org.orgId);
    expect(after.settings[0]).toMatchObject({ enabled: true, disabled_reason: null });
    expect(after.entries).toEqual(on.entries);
    expect(after.purchases).toEqual(on.purchases);
  });

  it('gives the credits back when a dispute is won, even when "closed" arrives before "created"', async () => {
    const { org } = await paidPurchase('pi_dispute_won');
    // Auto top-up is on (with a saved card): a dispute already won does not turn it off when its "created" comes late.
    await db.pool.query(
      `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
       values ($1, true, 50, $2, 'pm_card_visa')`,
      [org.orgId, PACKS.pack500],
    );
    const dispute = {
      id: 'dp_won',
      object: 'dispute',
      amount: 1000,
      charge: 'ch_dispute_won',
      payment_intent: 'pi_dispute_won',
      status: 'won',
    };
    await api.webhook(stripeEvent('charge.dispute.closed', dispute));
    await api.webhook(stripeEvent('charge.dispute.created', { ...dispute, status: 'needs_response' }));
    const state = await paymentState(db.pool, org.orgId);
    expect(state.settings[0]).toMatchObject({ enabled: true, disabled_reason: null });
    expect(await availableAt(db.pool, org.orgId)).toBe('500.000');
    expect(state.purchases[0].status).toBe('paid');
    expect(state.entries.map((e) => [e.entry_type, e.amount_credits])).toEqual([
      ['grant', '500.000'],
      ['clawback', '-500.000'],
      ['grant', '500.000'],
    ]);
  });
});
