// The api with its payment side on a real port, against the test file's own database and a fake
// Stripe server: actions as Hasura sends them, Stripe events signed as Stripe signs them, cron and
// event-trigger calls as Hasura makes them. The clock is the test's: `api.now` moves it.
import { randomUUID } from 'node:crypto';
import type {} from '@org-credits/db/global-setup';
import type { TestDatabase } from '@org-credits/db/testing';
import type pg from 'pg';
import { afterAll } from 'vitest';
import type { StoredNotification } from '../../src/notifications/index.ts';
import type { Payments } from '../../src/payments/index.ts';
import { createStripeProvider } from '../../src/payments/stripe-provider.ts';
import { start } from '../../src/server.ts';
import { Stripe } from '../../src/stripe/client.ts';
import { ACTION_SECRET, type ActionResponse, createOrg, envelope, instantAI, NOW, PLANS, type Session } from '../helpers.ts';
import { type FakeStripe, startFakeStripe } from './fake-stripe.ts';

export const WEBHOOK_SECRET = 'whsec_test_0123456789abcdef0123456789abcdef';
export const WEB_ORIGIN = 'http://web.test';

export const PACKS = {
  pack500: '0c000000-0000-4000-8000-000000000001',
  pack1400: '0c000000-0000-4000-8000-000000000002',
} as const;

export interface PaymentsApi {
  url: string;
  fake: FakeStripe;
  /** Notifications handed to the outgoing adapter. */
  sent: StoredNotification[];
  /** The api's clock. */
  now: Date;
  action(name: string, input: Record<string, unknown>, session: Session): Promise<ActionResponse>;
  /** POSTs a Stripe event, signed with the endpoint secret (or as given). */
  webhook(event: object, options?: { secret?: string; signature?: string | null; timestamp?: number }): Promise<ActionResponse>;
  cron(job: string, scheduledTime?: Date, secret?: string | null): Promise<ActionResponse>;
  /** Hasura's auto_topup_check event for one check row (as the ledger wrote it, or made up). */
  checkEvent(check: CheckRow): Promise<ActionResponse>;
  /** Delivers the event of every check row of the org, in order, as Hasura would; their answers. */
  deliverChecks(orgId: string): Promise<ActionResponse[]>;
}

export async function startPaymentsApi(db: TestDatabase): Promise<PaymentsApi> {
  const fake = await startFakeStripe();
  const sent: StoredNotification[] = [];
  const payments: Payments = {
    provider: createStripeProvider({ secretKey: 'sk_test_fake', apiUrl: fake.url, maxNetworkRetries: 0 }),
    webhookSecret: WEBHOOK_SECRET,
    webOrigin: WEB_ORIGIN,
    notifier: {
      async send(n) {
        sent.push(n);
      },
    },
  };
  const api = { now: NOW } as PaymentsApi;
  // Stripe's clock is the test's too: an update without a proration_date prorates at api.now.
  fake.now = () => api.now;
  const server = await start({
    overrides: { port: 0, host: '127.0.0.1', databaseUrl: db.url, databasePoolSize: 20, actionSecret: ACTION_SECRET, production: false },
    ai: instantAI,
    clock: () => api.now,
    payments,
  });
  afterAll(async () => {
    await server.stop();
    await fake.close();
  });
  const post = async (path: string, body: string, headers: Record<string, string>) => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  return Object.assign(api, {
    url: server.url,
    fake,
    sent,
    action: (name: string, input: Record<string, unknown>, session: Session) =>
      post('/actions', JSON.stringify(envelope(name, input, session)), { 'x-org-credits-secret': ACTION_SECRET }),
    webhook(event: object, options: { secret?: string; signature?: string | null; timestamp?: number } = {}) {
      const payload = JSON.stringify(event);
      const signature =
        options.signature !== undefined
          ? options.signature
          : Stripe.webhooks.generateTestHeaderString({
              payload,
              secret: options.secret ?? WEBHOOK_SECRET,
              timestamp: options.timestamp ?? Math.floor(api.now.getTime() / 1000),
            });
      return post('/webhooks/stripe', payload, signature === null ? {} : { 'stripe-signature': signature });
    },
    cron: (job: string, scheduledTime?: Date, secret: string | null = ACTION_SECRET) =>
      post(
        `/cron/${job}`,
        JSON.stringify({ name: job, scheduled_time: (scheduledTime ?? api.now).toISOString(), payload: {}, id: randomUUID() }),
        secret === null ? {} : { 'x-org-credits-secret': secret },
      ),
    checkEvent: (check: CheckRow) =>
      post(
        '/events/auto_topup_check',
        JSON.stringify({
          id: randomUUID(),
          created_at: api.now.toISOString(),
          trigger: { name: 'auto_topup_check' },
          table: { schema: 'public', name: 'auto_topup_checks' },
          event: { op: 'INSERT', data: { old: null, new: check }, session_variables: null },
        }),
        { 'x-org-credits-secret': ACTION_SECRET },
      ),
    async deliverChecks(orgId: string) {
      const answers: ActionResponse[] = [];
      for (const check of await checksOf(db.pool, orgId)) answers.push(await api.checkEvent(check));
      return answers;
    },
  });
}

let eventCounter = 0;

/** A Stripe event as the pinned API version sends it. */
export function stripeEvent(type: string, object: object, options: { id?: string; created?: Date } = {}) {
  return {
    id: options.id ?? `evt_test_${++eventCounter}_${randomUUID().slice(0, 8)}`,
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: Math.floor((options.created ?? NOW).getTime() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  };
}

/** Adds a member with a role to the org; returns the member's session. */
export async function addMember(pool: pg.Pool, orgId: string, role: 'owner' | 'admin' | 'member'): Promise<Session> {
  const userId = randomUUID();
  await pool.query('insert into public.users (id, email) values ($1, $2)', [userId, `${role}-${userId.slice(0, 8)}@test.example`]);
  await pool.query('insert into public.organization_members (organization_id, user_id, role) values ($1, $2, $3)', [orgId, userId, role]);
  return { role: 'user', userId, orgId };
}

/** Spends credits of the org through the ledger (reserve, then settle), at the test's time. */
export async function spend(pool: pg.Pool, orgId: string, amount: string, now: Date = NOW): Promise<void> {
  const { rows } = await pool.query<{ id: string }>('select id from public.reserve_credits($1, $2::numeric, $3, p_now => $4)', [
    orgId,
    amount,
    `spend-${randomUUID()}`,
    now,
  ]);
  await pool.query('select public.settle_reservation($1, $2::numeric, p_now => $3)', [rows[0]!.id, amount, now]);
}

/** An auto_topup_checks row as Hasura's event carries it (numerics as text, as the engine sends them). */
export interface CheckRow {
  id: string | number;
  organization_id: string;
  ledger_entry_id?: string | number;
  created_at?: string;
}

/** The org's auto top-up checks, oldest first. */
export async function checksOf(pool: pg.Pool, orgId: string): Promise<CheckRow[]> {
  const { rows } = await pool.query<CheckRow>(
    `select id::text, organization_id, ledger_entry_id::text, created_at::text
     from public.auto_topup_checks where organization_id = $1 order by id`,
    [orgId],
  );
  return rows;
}

/** Everything of an org that payments can change, to compare before and after. */
export async function paymentState(pool: pg.Pool, orgId: string) {
  const q = async (sql: string) => (await pool.query(sql, [orgId])).rows;
  return {
    balance: await q('select * from public.get_credit_balance($1)'),
    grants: await q(
      'select id, source, amount_credits, remaining_credits, external_ref from public.credit_grants where organization_id = $1 order by id',
    ),
    entries: await q('select id, entry_type, amount_credits from public.credit_ledger_entries where organization_id = $1 order by id'),
    purchases: await q('select * from public.topup_purchases where organization_id = $1 order by id'),
    attempts: await q('select * from public.auto_topup_attempts where organization_id = $1 order by id'),
    checks: await q('select * from public.auto_topup_checks where organization_id = $1 order by id'),
    settings: await q('select * from public.auto_topup_settings where organization_id = $1'),
    subscription: await q('select * from public.organization_subscriptions where organization_id = $1'),
    notifications: await q('select id, kind, dedupe_key from public.notifications where organization_id = $1 order by id'),
  };
}

/** The Stripe price of the paid plans an org is subscribed to by {@link subscribedOrg}. */
export const PLAN_PRICES: Record<string, string> = { [PLANS.pro]: 'price_pro_v2_monthly', [PLANS.team]: 'price_team_v1_monthly' };

/**
 * An org on a paid plan with a live Stripe subscription for it in the fake Stripe and this period's
 * allowance; the period (by default 10 days before NOW to 20 days after, createOrg's) is Stripe's and
 * the database's. The price is the plan's in PLAN_PRICES unless given.
 */
export async function subscribedOrg(
  pool: pg.Pool,
  fake: FakeStripe,
  planId: string,
  options: { priceId?: string; period?: { start: Date; end: Date } } = {},
) {
  const period = options.period ?? { start: new Date(NOW.getTime() - 10 * 86_400_000), end: new Date(NOW.getTime() + 20 * 86_400_000) };
  const org = await createOrg(pool, { plan: 'pro' });
  const customer = `cus_${org.orgId.slice(0, 8)}`;
  const subscription = fake.createSubscription({
    customer,
    priceId: options.priceId ?? PLAN_PRICES[planId]!,
    periodStart: period.start,
    periodEnd: period.end,
  });
  await pool.query('update public.organizations set stripe_customer_id = $2 where id = $1', [org.orgId, customer]);
  await pool.query(
    `update public.organization_subscriptions
     set plan_id = $2, stripe_subscription_id = $3, current_period_start = $4, current_period_end = $5
     where organization_id = $1`,
    [org.orgId, planId, subscription.id, period.start, period.end],
  );
  await pool.query('select public.grant_period_allowance($1, $2)', [org.orgId, NOW]);
  return { ...org, subscriptionId: subscription.id as string, itemId: subscription.items.data[0].id as string };
}

/** Everything of the org in the database, and everything of the fake Stripe, to compare before and after. */
export async function paymentsAndStripe(pool: pg.Pool, fake: FakeStripe, orgId: string) {
  return {
    db: await paymentState(pool, orgId),
    stripeWrites: fake.writes().length,
    stripeEvents: fake.subscriptionEvents.length,
    stripeObjects: JSON.stringify([...fake.objects.entries()]),
  };
}

export async function availableAt(pool: pg.Pool, orgId: string, now: Date = NOW): Promise<string> {
  const { rows } = await pool.query<{ a: string }>('select available_credits::text as a from public.get_credit_balance($1, $2)', [
    orgId,
    now,
  ]);
  return rows[0]!.a;
}

/**
 * A billing period's key in allowance refs and notification keys, as ledger.period_key writes it:
 * the UTC date when the period starts at midnight UTC, else the UTC instant (2026-11-12T10:15:00Z).
 */
export function periodKey(start: Date): string {
  const iso = start.toISOString();
  if (start.getTime() % 86_400_000 === 0) return iso.slice(0, 10);
  return iso.endsWith('.000Z') ? `${iso.slice(0, 19)}Z` : iso.replace(/Z$/, '000Z');
}
