// The PaymentProvider on Stripe's API, through the official SDK (version pinned in stripe/client.ts).
import type Stripe from 'stripe';
import { createStripeClient, type StripeClientOptions } from '../stripe/client.ts';
import { idOf } from './charge-events.ts';
import {
  type CheckoutSession,
  type OffSessionCharge,
  type OffSessionResult,
  type PaymentProvider,
  PaymentProviderError,
  type SubscriptionCheckoutRequest,
  type SubscriptionState,
  type TopUpCheckoutRequest,
  type UpgradePreview,
} from './provider.ts';

/** Runs a Stripe call; its errors become PaymentProviderError with Stripe's message and code. */
async function call<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof PaymentProviderError) throw error;
    const stripeError = error as { message?: string; code?: string; type?: string };
    throw new PaymentProviderError(
      `Stripe could not ${what}: ${stripeError.message ?? String(error)}`,
      stripeError.code ?? stripeError.type,
    );
  }
}

/** What Stripe says about a request it refused (the SDK's error, as far as we read it). */
interface StripeRefusal {
  type?: string;
  statusCode?: number;
  code?: string;
  param?: string;
  message?: string;
}

/** A 4xx invalid_request_error from Stripe other than 409 and 429: Stripe will not do this request, however often it is sent. */
function refusedRequest(e: StripeRefusal): boolean {
  const status = e.statusCode;
  return (
    e.type === 'StripeInvalidRequestError' &&
    typeof status === 'number' &&
    status >= 400 &&
    status < 500 &&
    status !== 409 &&
    status !== 429
  );
}

/**
 * Error codes that say the saved payment method (or its customer) itself cannot be used: a new card
 * would do. Not those about the charge (`amount_too_small`, `amount_too_large`, `invalid_charge_amount*`,
 * a currency, `parameter_*` of another field), nor passing trouble (`payment_method_not_available`,
 * `payment_method_provider_timeout`), nor the account's set-up (`payment_method_unactivated`).
 */
const UNUSABLE_PAYMENT_METHOD_CODES = new Set([
  // Only customer and payment_method name objects in an off-session charge: one of them is gone.
  'resource_missing',
  'payment_method_unexpected_state',
  'payment_intent_incompatible_payment_method',
  'payment_method_currency_mismatch',
  'payment_method_unsupported_type',
  'payment_method_invalid_parameter',
  'payment_method_billing_details_address_missing',
  'payment_method_bank_account_blocked',
  'payment_method_restricted',
  'expired_payment_method',
  'expired_card',
  'india_recurring_payment_mandate_canceled',
]);

/** Stripe's messages for a card detached from, or never attached to, the customer (they may come with neither code nor param). */
const UNUSABLE_PAYMENT_METHOD_MESSAGE =
  /No such (PaymentMethod|payment_method|customer)\b|detached from a Customer|does not have a payment method|does not belong to (a|the) Customer/i;

/**
 * A refused request (see refusedRequest) about the saved card or the customer: the field Stripe
 * names is payment_method or customer, or its code (or, with neither, its message) says the payment
 * method or customer is missing or unusable. Any other refusal is about the charge itself.
 */
function unusablePaymentMethod(e: StripeRefusal): boolean {
  if (!refusedRequest(e)) return false;
  const param = e.param?.replace(/\[.*$/, '');
  if (param === 'payment_method' || param === 'customer') return true;
  if (e.code) return UNUSABLE_PAYMENT_METHOD_CODES.has(e.code);
  return !param && UNUSABLE_PAYMENT_METHOD_MESSAGE.test(e.message ?? '');
}

function sessionOut(session: Stripe.Checkout.Session): CheckoutSession {
  if (!session.url) throw new PaymentProviderError(`checkout session ${session.id} has no URL`);
  return { sessionId: session.id, url: session.url };
}

/** A subscription's one item (its plan's price): what an upgrade or a scheduled change moves. */
function itemOf(subscription: Stripe.Subscription): Stripe.SubscriptionItem {
  const item = subscription.items.data[0];
  if (!item) throw new PaymentProviderError(`subscription ${subscription.id} has no item`);
  return item;
}

/**
 * An upgrade's change of the subscription's item to `priceId`, invoiced at once and prorated: what
 * upgradeSubscription's update asks, and so what previewUpgrade's invoice preview asks too.
 */
const upgradeChange = (item: Stripe.SubscriptionItem, priceId: string) => ({
  items: [{ id: item.id, price: priceId }],
  proration_behavior: 'always_invoice' as const,
});

/** A proration date as Stripe takes it: Unix seconds (a date's fraction of a second dropped). */
const prorationSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

export function subscriptionState(subscription: Stripe.Subscription): SubscriptionState {
  const item = itemOf(subscription);
  return {
    id: subscription.id,
    status: subscription.status,
    priceId: item.price?.id ?? null,
    periodStart: new Date(item.current_period_start * 1000),
    periodEnd: new Date(item.current_period_end * 1000),
    cancelAtPeriodEnd: subscription.cancel_at_period_end,
  };
}

export function createStripeProvider(options: StripeClientOptions): PaymentProvider {
  const stripe = createStripeClient(options);
  return {
    kind: 'stripe',

    createCustomer: ({ orgId, name }, idempotencyKey) =>
      call(
        'create a customer',
        async () => (await stripe.customers.create({ name, metadata: { organization_id: orgId } }, { idempotencyKey })).id,
      ),

    createTopUpCheckout: (r: TopUpCheckoutRequest) =>
      call('start a checkout', async () => {
        const metadata = { organization_id: r.orgId, package_id: r.packageId, purchase_id: r.purchaseId, kind: 'topup' };
        const session = await stripe.checkout.sessions.create(
          {
            mode: 'payment',
            customer: r.customerId,
            client_reference_id: r.orgId,
            line_items: [
              {
                quantity: 1,
                price_data: { currency: r.currency.toLowerCase(), unit_amount: r.priceMinor, product_data: { name: r.packageName } },
              },
            ],
            metadata,
            payment_intent_data: { metadata, ...(r.saveCard ? { setup_future_usage: 'off_session' as const } : {}) },
            success_url: r.successUrl,
            cancel_url: r.cancelUrl,
          },
          { idempotencyKey: r.idempotencyKey },
        );
        return sessionOut(session);
      }),

    createSubscriptionCheckout: (r: SubscriptionCheckoutRequest) =>
      call('start a subscription checkout', async () => {
        const metadata = { organization_id: r.orgId, plan_id: r.planId, kind: 'subscription' };
        const session = await stripe.checkout.sessions.create(
          {
            mode: 'subscription',
            customer: r.customerId,
            client_reference_id: r.orgId,
            line_items: [{ price: r.stripePriceId, quantity: 1 }],
            metadata,
            subscription_data: { metadata },
            success_url: r.successUrl,
            cancel_url: r.cancelUrl,
          },
          { idempotencyKey: r.idempotencyKey },
        );
        return sessionOut(session);
      }),

    async chargeOffSession(charge: OffSessionCharge): Promise<OffSessionResult> {
      if (!charge.customerId || !charge.paymentMethodId) {
        return {
          status: 'failed',
          paymentIntentId: null,
          code: 'no_payment_method',
          message: 'No saved card: buy a pack once with auto top-up on',
        };
      }
      try {
        const intent = await stripe.paymentIntents.create(
          {
            amount: charge.amountMinor,
            currency: charge.currency.toLowerCase(),
            customer: charge.customerId,
            payment_method: charge.paymentMethodId,
            off_session: true,
            confirm: true,
            metadata: charge.metadata,
          },
          { idempotencyKey: charge.idempotencyKey },
        );
        if (intent.status === 'succeeded') return { status: 'succeeded', paymentIntentId: intent.id };
        if (intent.status === 'requires_action') {
          return {
            status: 'requires_action',
            paymentIntentId: intent.id,
            code: 'authentication_required',
            message: 'The bank asks the cardholder to confirm',
          };
        }
        if (intent.status === 'processing') return { status: 'processing', paymentIntentId: intent.id };
        const last = intent.last_payment_error;
        return {
          status: 'failed',
          paymentIntentId: intent.id,
          code: last?.decline_code ?? last?.code ?? intent.status,
          message: last?.message ?? intent.status,
        };
      } catch (error) {
        const e = error as StripeRefusal & { decline_code?: string; payment_intent?: { id: string } };
        if (e.type === 'StripeCardError') {
          const paymentIntentId = e.payment_intent?.id ?? null;
          if (e.code === 'authentication_required') {
            return {
              status: 'requires_action',
              paymentIntentId,
              code: 'authentication_required',
              message: e.message ?? 'authentication required',
            };
          }
          return { status: 'failed', paymentIntentId, code: e.decline_code ?? e.code ?? 'card_declined', message: e.message ?? 'declined' };
        }
        // Stripe refused the request itself: nothing was charged, and the same request would be
        // refused again, so it is a definite failure, not an unknown outcome to retry until it is
        // stuck. Not a 409 (another request with this key is in progress) or a 429 (rate limit, lock
        // timeout): those are worth another try with the same key.
        if (unusablePaymentMethod(e)) {
          // The saved card itself (detached from the customer in Stripe, say): no use trying it again.
          return {
            status: 'failed',
            paymentIntentId: e.payment_intent?.id ?? null,
            code: 'payment_method_unusable',
            message: e.message || 'Stripe refused the saved card',
          };
        }
        if (refusedRequest(e)) {
          // The charge itself (an amount or currency Stripe does not take, say): the card is fine,
          // and another card would be refused the same. Stripe's own code says why.
          return {
            status: 'failed',
            paymentIntentId: e.payment_intent?.id ?? null,
            code: e.code || 'charge_refused',
            message: e.message || 'Stripe refused the charge',
            refused: true,
          };
        }
        // Anything else (a timeout, a 5xx, a 409 or 429) leaves the outcome unknown: the caller keeps the attempt in flight.
        throw new PaymentProviderError(`Stripe could not charge off-session: ${e.message ?? String(error)}`, e.code ?? e.type);
      }
    },

    paymentMethodOf: (paymentIntentId) =>
      call('read a payment intent', async () => idOf((await stripe.paymentIntents.retrieve(paymentIntentId)).payment_method)),

    retrieveSubscription: (subscriptionId) =>
      call('read a subscription', async () => subscriptionState(await stripe.subscriptions.retrieve(subscriptionId))),

    upgradeSubscription: ({ subscriptionId, priceId, prorationDate, idempotencyKey }) =>
      call('upgrade the subscription', async () => {
        const item = itemOf(await stripe.subscriptions.retrieve(subscriptionId));
        const updated = await stripe.subscriptions.update(
          subscriptionId,
          {
            ...upgradeChange(item, priceId),
            // The preview's date: Stripe then prorates exactly as the invoice preview the person
            // confirmed did, not at the second this update reaches it.
            ...(prorationDate ? { proration_date: prorationSeconds(prorationDate) } : {}),
            // The new price applies only once the prorated invoice is paid.
            payment_behavior: 'pending_if_incomplete',
            expand: ['latest_invoice'],
          },
          { idempotencyKey },
        );
        const invoice = updated.latest_invoice && typeof updated.latest_invoice !== 'string' ? updated.latest_invoice : null;
        const applied = !updated.pending_update && updated.items.data[0]?.price?.id === priceId;
        const paid = applied && (invoice === null || invoice.status === 'paid');
        return { paid, message: paid ? 'paid' : `the prorated invoice is ${invoice?.status ?? 'unpaid'}` };
      }),

    // The invoice upgradeSubscription's update would make at once (the same item and price change,
    // always_invoice), prorated at `prorationDate`: Stripe's own figure, tax, discounts and the
    // customer's balance included; the update given the same date invoices the same. A preview
    // changes nothing in Stripe.
    previewUpgrade: ({ subscriptionId, priceId, prorationDate }) =>
      call('preview the upgrade', async (): Promise<UpgradePreview> => {
        const item = itemOf(await stripe.subscriptions.retrieve(subscriptionId));
        const invoice = await stripe.invoices.createPreview({
          subscription: subscriptionId,
          subscription_details: {
            ...upgradeChange(item, priceId),
            proration_date: prorationSeconds(prorationDate),
          },
        });
        if (!Number.isSafeInteger(invoice.amount_due) || invoice.amount_due < 0)
          throw new PaymentProviderError(`Stripe previewed an amount due of ${invoice.amount_due}`);
        return { amountDueMinor: invoice.amount_due, currency: invoice.currency.toUpperCase() };
      }),

    scheduleDowngrade: ({ subscriptionId, priceId, idempotencyKey }) =>
      call('schedule the plan change', async () => {
        const subscription = await stripe.subscriptions.retrieve(subscriptionId);
        const item = itemOf(subscription);
        const existing = idOf(subscription.schedule);
        const schedule = existing
          ? await stripe.subscriptionSchedules.retrieve(existing)
          : await stripe.subscriptionSchedules.create(
              { from_subscription: subscriptionId },
              { idempotencyKey: `${idempotencyKey}:create` },
            );
        await stripe.subscriptionSchedules.update(
          schedule.id,
          {
            end_behavior: 'release',
            phases: [
              { items: [{ price: item.price.id, quantity: 1 }], start_date: item.current_period_start, end_date: item.current_period_end },
              { items: [{ price: priceId, quantity: 1 }], duration: { interval: 'month', interval_count: 1 } },
            ],
          },
          { idempotencyKey: `${idempotencyKey}:phases` },
        );
        return { scheduleId: schedule.id };
      }),

    releaseSchedule: (scheduleId, idempotencyKey) =>
      call('cancel the scheduled change', async () => {
        // Already released, completed or canceled (in Stripe's dashboard, or by an earlier call whose
        // answer was lost): nothing to release.
        const schedule = await stripe.subscriptionSchedules.retrieve(scheduleId);
        if (schedule.status !== 'active' && schedule.status !== 'not_started') return;
        await stripe.subscriptionSchedules.release(scheduleId, {}, { idempotencyKey });
      }),

    setCancelAtPeriodEnd: (subscriptionId, cancel, idempotencyKey) =>
      call(cancel ? 'cancel the subscription at the period end' : 'keep the subscription', async () => {
        await stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: cancel }, { idempotencyKey });
      }),

    cancelDuplicateSubscription: ({ subscriptionId, invoiceId, idempotencyKey }) =>
      call('cancel and refund the second subscription', async () => {
        const subscription = await stripe.subscriptions.retrieve(subscriptionId);
        // DELETE takes no idempotency key; a canceled subscription is left as it is.
        if (subscription.status !== 'canceled') await stripe.subscriptions.cancel(subscriptionId, { prorate: false });
        let refundedMinor = 0;
        if (!invoiceId) return { refundedMinor };
        const payments = await stripe.invoicePayments.list({ invoice: invoiceId, status: 'paid', limit: 10 });
        for (const payment of payments.data) {
          const intentId = idOf(payment.payment.payment_intent);
          if (!intentId) continue;
          const intent = await stripe.paymentIntents.retrieve(intentId, { expand: ['latest_charge'] });
          const charge = intent.latest_charge as Stripe.Charge | null;
          if (charge?.refunded) continue; // refunded by an earlier call whose answer was lost
          const refund = await stripe.refunds.create(
            { payment_intent: intentId, reason: 'duplicate', metadata: { subscription_id: subscriptionId } },
            { idempotencyKey: `${idempotencyKey}:refund:${intentId}` },
          );
          refundedMinor += refund.amount;
        }
        return { refundedMinor };
      }),
  };
}
