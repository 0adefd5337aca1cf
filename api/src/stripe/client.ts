// The one place the Stripe SDK is configured: its API version is pinned here, to the version the
// installed SDK was generated for, so the shapes the code reads are the shapes Stripe sends.
import Stripe from 'stripe';

/** The Stripe API version every request uses (the pinned SDK's own; bump the two together). */
export const STRIPE_API_VERSION = '2026-10-28.endive' as const satisfies Stripe.LatestApiVersion;

export interface StripeClientOptions {
  secretKey: string;
  /** Where the Stripe API is: tests point the SDK at a fake server on 127.0.0.1. @default Stripe's own */
  apiUrl?: string | null;
  /** @default 2 (the SDK retries safely: every write carries an idempotency key) */
  maxNetworkRetries?: number;
}

export function createStripeClient(options: StripeClientOptions): Stripe {
  const config: Stripe.StripeConfig = {
    apiVersion: STRIPE_API_VERSION,
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: 20_000,
    telemetry: false,
  };
  if (options.apiUrl) {
    const url = new URL(options.apiUrl);
    config.host = url.hostname;
    config.port = url.port || (url.protocol === 'https:' ? 443 : 80);
    config.protocol = url.protocol === 'http:' ? 'http' : 'https';
  }
  return new Stripe(options.secretKey, config);
}

export { Stripe };
