// What the payment side of the service needs, built once at start: the provider (Stripe or the
// local test provider), the webhook secret, where the web app is, and where notifications go.
import type pg from 'pg';
import { AppError } from '../errors.ts';
import { logSender, type NotificationSender, webhookSender } from '../notifications/index.ts';
import type { Session } from '../session.ts';
import { createLocalProvider, type LocalOffSessionOutcome } from './local-provider.ts';
import type { PaymentProvider } from './provider.ts';
import { createStripeProvider } from './stripe-provider.ts';

export interface Payments {
  provider: PaymentProvider;
  /** The signing secret of the webhook endpoint (whsec_…); every event is checked against it. */
  webhookSecret: string;
  /** The web app's origin, for checkout return URLs and notification links. */
  webOrigin: string;
  notifier: NotificationSender;
}

export interface PaymentsConfig {
  stripeSecretKey: string | null;
  stripeApiUrl?: string | null;
  stripeWebhookSecret: string;
  webOrigin: string;
  /** Where the api itself is reached (the local provider's pay page and its events). */
  apiPublicUrl: () => string;
  notificationsWebhookUrl?: string | null;
  localOffSessionOutcome?: LocalOffSessionOutcome;
  clock?: () => Date;
}

export function createPayments(config: PaymentsConfig): Payments {
  const provider = config.stripeSecretKey
    ? createStripeProvider({ secretKey: config.stripeSecretKey, apiUrl: config.stripeApiUrl ?? null })
    : createLocalProvider({
        apiPublicUrl: config.apiPublicUrl,
        webhookSecret: config.stripeWebhookSecret,
        ...(config.localOffSessionOutcome ? { offSessionOutcome: config.localOffSessionOutcome } : {}),
        ...(config.clock ? { clock: config.clock } : {}),
      });
  return {
    provider,
    webhookSecret: config.stripeWebhookSecret,
    webOrigin: config.webOrigin.replace(/\/$/, ''),
    notifier: config.notificationsWebhookUrl ? webhookSender(config.notificationsWebhookUrl) : logSender(),
  };
}

export function requirePayments(payments: Payments | undefined): Payments {
  if (!payments) throw new AppError('PAYMENT_PROVIDER_ERROR', 'payments are not configured on this api');
  return payments;
}

export interface BillingActor {
  orgId: string;
  userId: string;
}

/** Buying and changing plan are for the org's owners and admins (their membership row says so). */
export async function requireBillingActor(db: pg.Pool, session: Session): Promise<BillingActor> {
  if (!session.orgId) throw new AppError('UNAUTHORIZED', 'the session names no organization (x-hasura-org-id)');
  if (!session.userId) throw new AppError('UNAUTHORIZED', 'the session names no user (x-hasura-user-id)');
  const { rows } = await db.query<{ role: string }>(
    'select role from public.organization_members where organization_id = $1 and user_id = $2',
    [session.orgId, session.userId],
  );
  const role = rows[0]?.role;
  if (!role) throw new AppError('FORBIDDEN', `user ${session.userId} is not a member of organization ${session.orgId}`);
  if (role !== 'owner' && role !== 'admin') {
    throw new AppError('FORBIDDEN', `only owners and admins can manage billing; user ${session.userId} is a ${role} of ${session.orgId}`);
  }
  return { orgId: session.orgId, userId: session.userId };
}

/** The org's Stripe customer, created once (a racing second call gets the same one back). */
export async function ensureCustomer(db: pg.Pool, provider: PaymentProvider, orgId: string): Promise<string> {
  const { rows } = await db.query<{ name: string; stripe_customer_id: string | null }>(
    'select name, stripe_customer_id from public.organizations where id = $1',
    [orgId],
  );
  const org = rows[0];
  if (!org) throw new AppError('ORGANIZATION_NOT_FOUND', `org ${orgId} does not exist`);
  if (org.stripe_customer_id) return org.stripe_customer_id;
  const created = await provider.createCustomer({ orgId, name: org.name }, `customer:${orgId}`);
  const saved = await db.query<{ stripe_customer_id: string }>(
    `update public.organizations set stripe_customer_id = coalesce(stripe_customer_id, $2) where id = $1 returning stripe_customer_id`,
    [orgId, created],
  );
  return saved.rows[0]!.stripe_customer_id;
}

/** A provider call from an action: its failure answers PAYMENT_PROVIDER_ERROR. */
export async function viaProvider<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof AppError) throw error;
    // Stripe's words are kept (a declined card says why), but not a key's visible part
    // ("Invalid API Key provided: sk_live_****1234").
    const message = (error instanceof Error ? error.message : String(error)).replace(/\b(sk|rk|pk)_(live|test)_[A-Za-z0-9*]+/g, '[key]');
    throw new AppError('PAYMENT_PROVIDER_ERROR', message);
  }
}
