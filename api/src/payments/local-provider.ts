// The local payment provider for `pnpm dev` without STRIPE_SECRET_KEY (never in production): the
// checkout URL is a page of the api itself, plainly a test payment where no money moves, with Pay,
// Decline and "Needs authentication" buttons. Pay sends a Stripe-shaped `checkout.session.completed`
// event, signed with the webhook secret, to the api's own POST /webhooks/stripe over HTTP: from there
// on it is the real code path. Decline, like a declined card on Stripe Checkout, says so on the page
// and sends nothing. Off-session charges (auto top-up) succeed at once and send
// `payment_intent.succeeded` the same way (or decline / ask for authentication, for trying those).
import { randomBytes } from 'node:crypto';
import { formatMinorUnits } from '@org-credits/client/money';
import express, { type Router } from 'express';
import { Stripe } from '../stripe/client.ts';
import { type OffSessionResult, type PaymentProvider, PaymentProviderError, type SubscriptionState } from './provider.ts';

export type LocalOffSessionOutcome = 'succeed' | 'decline' | 'authenticate';

export interface LocalProviderOptions {
  /** Where the api is reached (its own webhook and pay pages). */
  apiPublicUrl: () => string;
  webhookSecret: string;
  /** @default 'succeed' */
  offSessionOutcome?: LocalOffSessionOutcome;
  clock?: () => Date;
  /** @default console */
  logger?: Pick<Console, 'error' | 'info'>;
}

interface LocalSession {
  id: string;
  mode: 'payment' | 'subscription';
  customer: string;
  amountMinor: number;
  currency: string;
  title: string;
  priceId: string | null;
  metadata: Record<string, string>;
  successUrl: string;
  cancelUrl: string;
  done: boolean;
}

export interface LocalProvider extends PaymentProvider {
  /** GET/POST /pay/checkout/:id — the test payment page. */
  router(): Router;
  offSessionOutcome: LocalOffSessionOutcome;
}

const newId = (prefix: string) => `${prefix}_local_${randomBytes(12).toString('hex')}`;
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

export function createLocalProvider(options: LocalProviderOptions): LocalProvider {
  const clock = options.clock ?? (() => new Date());
  const logger = options.logger ?? console;
  const sessions = new Map<string, LocalSession>();
  const subscriptions = new Map<string, SubscriptionState>();
  const intents = new Map<string, { paymentMethod: string | null }>();
  const byKey = new Map<string, unknown>();

  /** Same idempotency key, same answer (as Stripe does). */
  function once<T>(key: string, make: () => T): T {
    if (!byKey.has(key)) byKey.set(key, make());
    return byKey.get(key) as T;
  }

  async function sendEvent(type: string, object: Record<string, unknown>): Promise<void> {
    const payload = JSON.stringify({
      id: newId('evt'),
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: seconds(clock()),
      livemode: false,
      type,
      data: { object },
    });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: options.webhookSecret, timestamp: seconds(clock()) });
    const response = await fetch(`${options.apiPublicUrl()}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      body: payload,
    });
    if (!response.ok) throw new Error(`the api answered ${response.status} to ${type}: ${await response.text()}`);
  }

  function sessionObject(session: LocalSession, paymentStatus: 'paid' | 'unpaid', extra: Record<string, unknown> = {}) {
    return {
      id: session.id,
      object: 'checkout.session',
      mode: session.mode,
      status: paymentStatus === 'paid' ? 'complete' : 'open',
      payment_status: paymentStatus,
      customer: session.customer,
      amount_total: session.amountMinor,
      currency: session.currency.toLowerCase(),
      metadata: session.metadata,
      client_reference_id: session.metadata.organization_id ?? null,
      payment_intent: null,
      subscription: null,
      ...extra,
    };
  }

  /** Pay: the paid event through the real webhook, then the success address (once; a double click sends nothing more). */
  async function pay(session: LocalSession): Promise<string> {
    if (session.done) return session.successUrl;
    session.done = true;
    if (session.mode === 'payment') {
      const intent = newId('pi');
      intents.set(intent, { paymentMethod: 'pm_local_card' });
      await sendEvent('checkout.session.completed', sessionObject(session, 'paid', { payment_intent: intent }));
    } else {
      const now = clock();
      const end = oneMonthLater(now);
      const subscription: SubscriptionState = {
        id: newId('sub'),
        status: 'active',
        priceId: session.priceId,
        periodStart: now,
        periodEnd: end,
        cancelAtPeriodEnd: false,
      };
      subscriptions.set(subscription.id, subscription);
      await sendEvent('checkout.session.completed', sessionObject(session, 'paid', { subscription: subscription.id }));
    }
    return session.successUrl;
  }

  function page(session: LocalSession, step: 'choose' | 'authenticate' | 'declined'): string {
    // Stripe's decimals for the currency (¥1,500 is 1500, KWD 5.000 is 5000), exact; Intl for the symbol.
    const price = escapeHtml(formatMinorUnits(session.amountMinor, session.currency, 'en-GB'));
    const form = (outcome: string, label: string) =>
      `<form method="post" action="/pay/checkout/${escapeHtml(session.id)}/${outcome}"><button type="submit">${label}</button></form>`;
    const choose = form('pay', 'Pay') + form('decline', 'Decline') + form('authenticate', 'Needs authentication');
    const buttons =
      step === 'choose'
        ? choose
        : step === 'declined'
          ? `<p role="alert" class="declined">Your card was declined. Nothing was charged: pay again, or go back without paying.</p>${choose}`
          : `<p>Your bank asks you to confirm this payment.</p>${form('pay', 'Confirm')}${form('decline', 'Fail authentication')}`;
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test payment — no money moves</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}.flag{background:#fff3cd;border:1px solid #c9a400;padding:.75rem;border-radius:6px}.declined{color:#8a1c1c;background:#fdecea;border:1px solid #d9534f;padding:.75rem;border-radius:6px}form{display:inline-block;margin:.5rem .5rem 0 0}button{font-size:1rem;padding:.5rem 1rem}</style></head>
<body><p class="flag" role="note"><strong>Test payment — no money moves.</strong> This page stands in for Stripe Checkout in development.</p>
<h1>${escapeHtml(session.title)}</h1><p>${price}</p>${buttons}<p><a href="${escapeHtml(session.cancelUrl)}">Back without paying</a></p></body></html>`;
  }

  const provider: LocalProvider = {
    kind: 'local',
    offSessionOutcome: options.offSessionOutcome ?? 'succeed',

    async createCustomer(_org, idempotencyKey) {
      return once(`customer:${idempotencyKey}`, () => newId('cus'));
    },

    async createTopUpCheckout(r) {
      return once(r.idempotencyKey, () => {
        const session: LocalSession = {
          id: newId('cs'),
          mode: 'payment',
          customer: r.customerId,
          amountMinor: r.priceMinor,
          currency: r.currency,
          title: r.packageName,
          priceId: null,
          metadata: { organization_id: r.orgId, package_id: r.packageId, purchase_id: r.purchaseId, kind: 'topup' },
          successUrl: r.successUrl,
          cancelUrl: r.cancelUrl,
          done: false,
        };
        sessions.set(session.id, session);
        return { sessionId: session.id, url: `${options.apiPublicUrl()}/pay/checkout/${session.id}` };
      });
    },

    async createSubscriptionCheckout(r) {
      return once(r.idempotencyKey, () => {
        const session: LocalSession = {
          id: newId('cs'),
          mode: 'subscription',
          customer: r.customerId,
          amountMinor: 0,
          currency: 'GBP',
          title: `Subscription (${r.stripePriceId})`,
          priceId: r.stripePriceId,
          metadata: { organization_id: r.orgId, plan_id: r.planId, kind: 'subscription' },
          successUrl: r.successUrl,
          cancelUrl: r.cancelUrl,
          done: false,
        };
        sessions.set(session.id, session);
        return { sessionId: session.id, url: `${options.apiPublicUrl()}/pay/checkout/${session.id}` };
      });
    },

    async chargeOffSession(charge): Promise<OffSessionResult> {
      const paymentIntentId = newId('pi');
      if (provider.offSessionOutcome === 'decline') {
        return { status: 'failed', paymentIntentId, code: 'card_declined', message: 'Your card was declined (local test payment).' };
      }
      if (provider.offSessionOutcome === 'authenticate') {
        return {
          status: 'requires_action',
          paymentIntentId,
          code: 'authentication_required',
          message: 'The bank asks the cardholder to confirm.',
        };
      }
      intents.set(paymentIntentId, { paymentMethod: charge.paymentMethodId });
      const object = {
        id: paymentIntentId,
        object: 'payment_intent',
        status: 'succeeded',
        amount: charge.amountMinor,
        currency: charge.currency.toLowerCase(),
        customer: charge.customerId,
        metadata: charge.metadata,
      };
      // The event follows the answer, as Stripe's does; the handler finds the attempt already resolved.
      setImmediate(() => sendEvent('payment_intent.succeeded', object).catch((error) => logger.error('[pay] local event failed', error)));
      return { status: 'succeeded', paymentIntentId };
    },

    async paymentMethodOf(paymentIntentId) {
      return intents.get(paymentIntentId)?.paymentMethod ?? null;
    },

    async retrieveSubscription(subscriptionId) {
      const subscription = subscriptions.get(subscriptionId);
      if (!subscription)
        throw new PaymentProviderError(`the local provider has no subscription ${subscriptionId} (it forgets them on restart)`);
      return subscription;
    },

    // No proration here (no money moves), so a `prorationDate` changes nothing either.
    async upgradeSubscription({ subscriptionId, priceId }) {
      const subscription = subscriptions.get(subscriptionId);
      if (subscription) subscription.priceId = priceId;
      return { paid: true, message: 'paid (local test payment)' };
    },

    // upgradeSubscription above moves the price and charges nothing (no proration: no money moves on
    // the local provider), so its preview is exactly that: 0, in the plan's currency.
    async previewUpgrade({ currency }) {
      return { amountDueMinor: 0, currency: currency.toUpperCase() };
    },

    async scheduleDowngrade({ idempotencyKey }) {
      return once(idempotencyKey, () => ({ scheduleId: newId('sub_sched') }));
    },

    async releaseSchedule() {},

    async setCancelAtPeriodEnd(subscriptionId, cancel) {
      const subscription = subscriptions.get(subscriptionId);
      if (subscription) subscription.cancelAtPeriodEnd = cancel;
    },

    async cancelDuplicateSubscription({ subscriptionId }) {
      const subscription = subscriptions.get(subscriptionId);
      if (!subscription || subscription.status === 'canceled') return { refundedMinor: 0 };
      subscription.status = 'canceled';
      return { refundedMinor: 0 }; // no money moved on the test page, so none goes back
    },

    router() {
      const router = express.Router();
      router.get('/pay/checkout/:id', (req, res) => {
        const session = sessions.get(req.params.id);
        if (!session) {
          res.status(404).type('text/plain').send('No such test checkout (the local provider forgets them on restart).');
          return;
        }
        res.type('html').send(page(session, 'choose'));
      });
      router.post('/pay/checkout/:id/:outcome', async (req, res) => {
        const session = sessions.get(req.params.id);
        const outcome = req.params.outcome;
        if (!session || !['pay', 'decline', 'authenticate'].includes(outcome)) {
          res.status(404).type('text/plain').send('No such test checkout.');
          return;
        }
        if (outcome === 'pay' || session.done) {
          res.redirect(303, await pay(session));
          return;
        }
        // As Stripe Checkout does, a declined card or a failed authentication keeps the customer on
        // the page, says so, and tells the app nothing: the session stays open for another try.
        res.type('html').send(page(session, outcome === 'authenticate' ? 'authenticate' : 'declined'));
      });
      return router;
    },
  };
  return provider;
}

/** One month later in UTC, on the month's last day when the day does not exist, as Stripe bills. */
function oneMonthLater(date: Date): Date {
  const end = new Date(date);
  const day = end.getUTCDate();
  end.setUTCDate(1);
  end.setUTCMonth(end.getUTCMonth() + 1);
  const lastDay = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() + 1, 0)).getUTCDate();
  end.setUTCDate(Math.min(day, lastDay));
  return end;
}
