// The local payment provider of `pnpm dev` (no STRIPE_SECRET_KEY): the api's own test payment page,
// whose buttons send signed Stripe-shaped events to the real webhook over HTTP.
import type { AddressInfo } from 'node:net';
import { useTestDatabase } from '@org-credits/db/testing';
import express from 'express';
import { afterAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createLocalProvider } from '../../src/payments/local-provider.ts';
import { start } from '../../src/server.ts';
import { ACTION_SECRET, createOrg, envelope, instantAI, NOW, type Session } from '../helpers.ts';
import { availableAt, PACKS, paymentState } from './harness.ts';

const db = await useTestDatabase();
const server = await start({
  overrides: {
    port: 0,
    host: '127.0.0.1',
    databaseUrl: db.url,
    databasePoolSize: 10,
    actionSecret: ACTION_SECRET,
    production: false,
    stripeSecretKey: null,
    webOrigin: 'http://web.test',
    publicApiUrl: null,
  },
  ai: instantAI,
  clock: () => NOW,
});
afterAll(() => server.stop());

async function action(name: string, input: Record<string, unknown>, session: Session) {
  const response = await fetch(`${server.url}/actions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-org-credits-secret': ACTION_SECRET },
    body: JSON.stringify(envelope(name, input, session)),
  });
  return { status: response.status, body: await response.json() };
}

const press = (checkoutUrl: string, button: string) => fetch(`${checkoutUrl}/${button}`, { method: 'POST', redirect: 'manual' });

describe('the local test payment provider', () => {
  it('serves a page plainly labelled as a test payment, whose Pay sends the paid event through the real webhook', async () => {
    const org = await createOrg(db.pool);
    const res = await action('createTopUpCheckout', { packageId: PACKS.pack500 }, org.session);
    expect(res.status).toBe(200);
    expect(res.body.checkoutUrl).toMatch(new RegExp(`^${server.url}/pay/checkout/cs_local_`));
    const page = await fetch(res.body.checkoutUrl);
    const html = await page.text();
    expect(html).toContain('Test payment — no money moves');
    expect(html).toContain('<p>£10.00</p>'); // the pack's 1000 GBP minor units
    for (const label of ['>Pay<', '>Decline<', '>Needs authentication<']) expect(html).toContain(label);

    const paid = await press(res.body.checkoutUrl, 'pay');
    expect(paid.status).toBe(303);
    expect(paid.headers.get('location')).toBe(`http://web.test/credits?topup=success&purchase_id=${res.body.purchaseId}`);
    expect(await availableAt(db.pool, org.orgId)).toBe('500.000');
    const state = await paymentState(db.pool, org.orgId);
    expect(state.purchases[0]).toMatchObject({ status: 'paid' });
    const { rows } = await db.pool.query("select type from public.stripe_events where payload->'data'->'object'->>'id' = $1", [
      state.purchases[0].stripe_checkout_session_id,
    ]);
    expect(rows).toEqual([{ type: 'checkout.session.completed' }]);
    // Pressing Pay again (a double click) sends nothing more.
    await press(res.body.checkoutUrl, 'pay');
    expect(await availableAt(db.pool, org.orgId)).toBe('500.000');
  });

  it('keeps the customer on the page on Decline, as Stripe Checkout does, and tells the app nothing; "Needs authentication" asks to confirm', async () => {
    const org = await createOrg(db.pool);
    const first = await action('createTopUpCheckout', { packageId: PACKS.pack500 }, org.session);
    const declined = await press(first.body.checkoutUrl, 'decline');
    expect(declined.status).toBe(200);
    expect(await declined.text()).toContain('Your card was declined. Nothing was charged');
    const second = await action('createTopUpCheckout', { packageId: PACKS.pack500 }, org.session);
    const challenge = await press(second.body.checkoutUrl, 'authenticate');
    expect(challenge.status).toBe(200);
    expect(await challenge.text()).toContain('Your bank asks you to confirm');
    const failed = await press(second.body.checkoutUrl, 'decline');
    expect(await failed.text()).toContain('Your card was declined');
    const state = await paymentState(db.pool, org.orgId);
    expect(state.purchases.map((p) => [p.id, p.status]).sort()).toEqual(
      [
        [first.body.purchaseId, 'pending'],
        [second.body.purchaseId, 'pending'],
      ].sort(),
    );
    expect(state.notifications).toEqual([]);
    expect(await availableAt(db.pool, org.orgId)).toBe('0.000');
    // The declined checkout can still be paid.
    const paid = await press(first.body.checkoutUrl, 'pay');
    expect(paid.headers.get('location')).toBe(`http://web.test/credits?topup=success&purchase_id=${first.body.purchaseId}`);
    expect(await availableAt(db.pool, org.orgId)).toBe('500.000');
  });

  it('tops up off-session at once for auto top-up, and its payment_intent.succeeded event grants nothing more', async () => {
    const org = await createOrg(db.pool, { credits: '50.000' });
    // With the card a pack bought through the local checkout saves (no attempt starts without one).
    await db.pool.query(
      `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
       values ($1, true, 100, $2, 'pm_local_card')`,
      [org.orgId, PACKS.pack500],
    );
    const response = await fetch(`${server.url}/events/auto_topup_check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-org-credits-secret': ACTION_SECRET },
      body: JSON.stringify({ event: { op: 'INSERT', data: { old: null, new: { id: 1, organization_id: org.orgId } } } }),
    });
    expect(await response.json()).toEqual({ autoTopUp: 'succeeded' });
    // The provider's event follows its answer; wait until the webhook has recorded it.
    await vi.waitFor(
      async () => {
        const { rows } = await db.pool.query(
          "select 1 from public.stripe_events where type = 'payment_intent.succeeded' and payload->'data'->'object'->'metadata'->>'organization_id' = $1",
          [org.orgId],
        );
        expect(rows).toHaveLength(1);
      },
      { timeout: 5000, interval: 20 },
    );
    expect(await availableAt(db.pool, org.orgId)).toBe('550.000');
  });
});

describe("the local test payment page's price", () => {
  it("shows the amount with Stripe's decimals for its currency, exactly", async () => {
    const app = express();
    const listening = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => listening.once('listening', resolve));
    onTestFinished(() => new Promise<void>((resolve) => listening.close(() => resolve())));
    const url = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
    const provider = createLocalProvider({ apiPublicUrl: () => url, webhookSecret: 'whsec_local_page_test' });
    app.use(provider.router());

    const priceOf = async (priceMinor: number, currency: string) => {
      const session = await provider.createTopUpCheckout({
        customerId: 'cus_local_test',
        orgId: 'org',
        purchaseId: `purchase-${currency}`,
        packageId: 'pack',
        packageName: `A ${currency} pack`,
        priceMinor,
        currency,
        saveCard: false,
        successUrl: 'http://web.test/ok',
        cancelUrl: 'http://web.test/back',
        idempotencyKey: `page-price:${currency}`,
      });
      const html = await (await fetch(session.url)).text();
      return /<h1>[^<]*<\/h1><p>([^<]*)<\/p>/.exec(html)?.[1];
    };
    // Intl puts a no-break space between an ISO code and the amount.
    expect(await priceOf(1500, 'JPY')).toBe('JP¥1,500'); // zero-decimal: 1500 is ¥1,500 (it showed "15.00 JPY")
    expect(await priceOf(5000, 'KWD')).toBe('KWD\u00a05.000'); // three-decimal (it showed "50.00 KWD")
    expect(await priceOf(350000, 'HUF')).toBe('HUF\u00a03,500.00'); // two-decimal in Stripe amounts, whatever ICU says
    expect(await priceOf(1299, 'GBP')).toBe('£12.99');
  });

  it("previews an upgrade as what its upgrade charges: nothing (it moves the price without proration), in the plan's currency", async () => {
    const provider = createLocalProvider({ apiPublicUrl: () => server.url, webhookSecret: 'whsec_local_preview_test' });
    const preview = { subscriptionId: 'sub_local_unknown', priceId: 'price_team_v1_monthly', prorationDate: NOW };
    expect(await provider.previewUpgrade({ ...preview, currency: 'gbp' })).toEqual({ amountDueMinor: 0, currency: 'GBP' });
    expect(await provider.upgradeSubscription({ ...preview, idempotencyKey: 'k' })).toEqual({
      paid: true,
      message: 'paid (local test payment)',
    });
    expect(await provider.previewUpgrade({ ...preview, currency: 'EUR' })).toEqual({ amountDueMinor: 0, currency: 'EUR' });
  });
});
