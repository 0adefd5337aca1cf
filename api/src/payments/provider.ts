// What the service needs from a payment provider. Two implement it: Stripe (production, and the
// tests' fake Stripe server) and the local provider (`pnpm dev` without STRIPE_SECRET_KEY), which
// serves its own test payment page and sends Stripe-shaped, signed events to the same webhook.
// Amounts are integers of minor units (pence); every write carries an idempotency key.

export interface CheckoutSession {
  sessionId: string;
  url: string;
}

export interface TopUpCheckoutRequest {
  customerId: string;
  orgId: string;
  purchaseId: string;
  packageId: string;
  packageName: string;
  priceMinor: number;
  currency: string;
  /** Save the card for off-session charges (the org has auto top-up on). */
  saveCard: boolean;
  successUrl: string;
  cancelUrl: string;
  idempotencyKey: string;
}

export interface SubscriptionCheckoutRequest {
  customerId: string;
  orgId: string;
  planId: string;
  stripePriceId: string;
  successUrl: string;
  cancelUrl: string;
  idempotencyKey: string;
}

export interface OffSessionCharge {
  customerId: string | null;
  paymentMethodId: string | null;
  amountMinor: number;
  currency: string;
  idempotencyKey: string;
  metadata: Record<string, string>;
}

/**
 * The outcome of an off-session charge; a thrown error means "unknown" (the attempt stays in flight).
 * `failed` with code `payment_method_unusable`: the provider refused the saved card itself (removed
 * from the customer, say), so it is no use trying it again.
 * `failed` and `refused`: the provider refused the charge itself, not the card (an amount or currency
 * it does not take, say; `code` is the provider's reason): nothing was charged, the card is fine, and
 * the same charge would be refused again, with this card or another.
 */
export type OffSessionResult =
  | { status: 'succeeded'; paymentIntentId: string }
  | { status: 'requires_action'; paymentIntentId: string | null; code: string; message: string }
  | { status: 'failed'; paymentIntentId: string | null; code: string; message: string; refused?: boolean }
  | { status: 'processing'; paymentIntentId: string };

export interface SubscriptionState {
  id: string;
  status: string;
  priceId: string | null;
  periodStart: Date;
  periodEnd: Date;
  cancelAtPeriodEnd: boolean;
}

/** What an upgrade would charge at once: integer minor units of `currency` (ISO 4217, upper case). */
export interface UpgradePreview {
  amountDueMinor: number;
  currency: string;
}

export interface PaymentProvider {
  readonly kind: 'stripe' | 'local';
  createCustomer(org: { orgId: string; name: string }, idempotencyKey: string): Promise<string>;
  createTopUpCheckout(request: TopUpCheckoutRequest): Promise<CheckoutSession>;
  createSubscriptionCheckout(request: SubscriptionCheckoutRequest): Promise<CheckoutSession>;
  chargeOffSession(charge: OffSessionCharge): Promise<OffSessionResult>;
  /** The payment method a paid payment intent used (to save for auto top-up), or null. */
  paymentMethodOf(paymentIntentId: string): Promise<string | null>;
  retrieveSubscription(subscriptionId: string): Promise<SubscriptionState>;
  /**
   * Moves the subscription to a price now, invoicing the proration; `paid` only when that invoice was
   * paid. With `prorationDate` the proration is worked out as if the change were made then (Stripe's
   * `proration_date`, whole seconds): given the date a previewUpgrade used, the invoice is the one it
   * previewed. Without it, the provider prorates at its own clock when the update reaches it.
   */
  upgradeSubscription(request: {
    subscriptionId: string;
    priceId: string;
    prorationDate?: Date;
    idempotencyKey: string;
  }): Promise<{ paid: boolean; message: string }>;
  /**
   * What upgradeSubscription would invoice at once if it ran at `prorationDate`, changing nothing:
   * the provider's own preview of the prorated invoice (Stripe: an invoice preview of the same item
   * and price change, `always_invoice`, prorated at that date). `currency` is the plan's, for a
   * provider that knows no prices (the local one, which charges nothing); Stripe answers its invoice's.
   */
  previewUpgrade(request: { subscriptionId: string; priceId: string; prorationDate: Date; currency: string }): Promise<UpgradePreview>;
  /** Schedules the subscription to move to a price at the end of the current period. */
  scheduleDowngrade(request: { subscriptionId: string; priceId: string; idempotencyKey: string }): Promise<{ scheduleId: string }>;
  releaseSchedule(scheduleId: string, idempotencyKey: string): Promise<void>;
  setCancelAtPeriodEnd(subscriptionId: string, cancel: boolean, idempotencyKey: string): Promise<void>;
  /**
   * Ends a subscription that should not exist (paid while the org already had one) at once, without
   * proration, and refunds what its first invoice collected. Safe to call again: a canceled
   * subscription and a refunded payment are left as they are. Answers the minor units refunded now.
   */
  cancelDuplicateSubscription(request: { subscriptionId: string; invoiceId: string | null; idempotencyKey: string }): Promise<{
    refundedMinor: number;
  }>;
}

/** A provider call that failed: answered as PAYMENT_PROVIDER_ERROR. */
export class PaymentProviderError extends Error {
  override name = 'PaymentProviderError';
  readonly code: string;
  constructor(message: string, code = 'provider_error') {
    super(message);
    this.code = code;
  }
}
