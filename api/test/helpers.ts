// Test helpers: the api running on a real port against the test file's own database, requests
// exactly as Hasura sends them to an action handler, orgs of the test's own, and snapshots of an
// org's ledger state to check that a failure changed nothing.
import { randomUUID } from 'node:crypto';
// The global setup declares what it provides to tests (the admin URL and template name).
import type {} from '@org-credits/db/global-setup';
import type { TestDatabase } from '@org-credits/db/testing';
import type pg from 'pg';
import { afterAll } from 'vitest';
import { type AIProvider, createLocalProvider } from '../src/ai/index.ts';
import { type RunningServer, type StartOptions, start } from '../src/server.ts';

export const ACTION_SECRET = 'test-action-secret-0123456789';
/** Every test runs at this instant (functions take the time as a parameter; nothing waits). */
export const NOW = new Date('2026-11-22T10:15:00.000Z');

export const PLANS = {
  free: 'a0000000-0000-4000-8000-000000000001',
  pro: 'a0000000-0000-4000-8000-000000000002',
  team: 'a0000000-0000-4000-8000-000000000003',
} as const;

/** The local provider without its simulated latency. */
export const instantAI = createLocalProvider({ delay: async () => undefined });

export interface Api {
  url: string;
  server: RunningServer;
  /** POSTs an action envelope, as Hasura does. */
  action(name: string, input: Record<string, unknown>, session: Session, options?: { secret?: string | null }): Promise<ActionResponse>;
}

export interface Session {
  role?: string;
  userId?: string | null;
  orgId?: string | null;
}

export interface ActionResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are checked field by field
  body: any;
}

export function envelope(name: string, input: Record<string, unknown>, session: Session) {
  const variables: Record<string, string> = { 'x-hasura-role': session.role ?? 'user' };
  if (session.userId) variables['x-hasura-user-id'] = session.userId;
  if (session.orgId) variables['x-hasura-org-id'] = session.orgId;
  return {
    action: { name },
    input,
    session_variables: variables,
    request_query: `mutation { ${name} }`,
  };
}

/**
 * The api's server on a free port over the test's database, stopped after the file's tests (a test
 * may stop it first: `stop()` runs once). `overrides` change the test configuration (a drain time,
 * payments off, a web origin).
 */
export async function startApi(
  db: TestDatabase,
  options: { ai?: AIProvider; clock?: () => Date; overrides?: StartOptions['overrides'] } = {},
): Promise<Api> {
  const server = await start({
    overrides: {
      port: 0,
      host: '127.0.0.1',
      databaseUrl: db.url,
      databasePoolSize: 20,
      actionSecret: ACTION_SECRET,
      production: false,
      ...options.overrides,
    },
    ai: options.ai ?? instantAI,
    clock: options.clock ?? (() => NOW),
  });
  afterAll(() => server.stop());
  return {
    url: server.url,
    server,
    async action(name, input, session, requestOptions = {}) {
      const secret = requestOptions.secret === undefined ? ACTION_SECRET : requestOptions.secret;
      const response = await fetch(`${server.url}/actions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(secret === null ? {} : { 'x-org-credits-secret': secret }) },
        body: JSON.stringify(envelope(name, input, session)),
      });
      return { status: response.status, body: await response.json() };
    },
  };
}

export interface TestOrg {
  orgId: string;
  /** An owner of the org. */
  userId: string;
  session: Session;
}

/** A fresh org of the test's own on a plan, with one member and (optionally) purchased credits. */
export async function createOrg(pool: pg.Pool, options: { plan?: keyof typeof PLANS; credits?: string } = {}): Promise<TestOrg> {
  const orgId = randomUUID();
  const userId = randomUUID();
  const slug = `org-${orgId.slice(0, 8)}`;
  await pool.query('insert into public.organizations (id, name, slug) values ($1, $2, $3)', [orgId, `Org ${slug}`, slug]);
  await pool.query('insert into public.users (id, email, display_name) values ($1, $2, $3)', [userId, `${slug}@test.example`, 'Owner']);
  await pool.query("insert into public.organization_members (organization_id, user_id, role) values ($1, $2, 'owner')", [orgId, userId]);
  await pool.query(
    `insert into public.organization_subscriptions (organization_id, plan_id, status, current_period_start, current_period_end)
     values ($1, $2, 'active', $3::timestamptz - interval '10 days', $3::timestamptz + interval '20 days')`,
    [orgId, PLANS[options.plan ?? 'pro'], NOW],
  );
  // Every org gets a balance row from the ledger's first grant; make sure one exists either way.
  await pool.query('insert into public.credit_balances (organization_id) values ($1) on conflict do nothing', [orgId]);
  if (options.credits) await grant(pool, orgId, options.credits);
  return { orgId, userId, session: { role: 'user', userId, orgId } };
}

export async function grant(pool: pg.Pool, orgId: string, amount: string): Promise<void> {
  await pool.query("select public.grant_credits($1, $2::numeric, 'purchase', $3, p_now => $4)", [
    orgId,
    amount,
    `test-${randomUUID()}`,
    NOW,
  ]);
}

export async function available(pool: pg.Pool, orgId: string, now: Date = NOW): Promise<string> {
  const { rows } = await pool.query<{ available: string }>(
    'select available_credits::text as available from public.get_credit_balance($1, $2)',
    [orgId, now],
  );
  return rows[0]!.available;
}

/** 5 bonus credits granted two hours before NOW that expired an hour before it, which no job has expired. */
export async function grantExpiredPromotion(pool: pg.Pool, orgId: string): Promise<void> {
  await pool.query(
    `select public.grant_credits($1, 5, 'promotion', 'expired-promo', p_expires_at => $2::timestamptz - interval '1 hour',
       p_now => $2::timestamptz - interval '2 hours')`,
    [orgId, NOW],
  );
}

/** Everything a credit action can change for an org, to compare before and after a failure. */
export async function snapshot(pool: pg.Pool, orgId: string) {
  const q = async (sql: string) => (await pool.query(sql, [orgId])).rows;
  return {
    balance: await q('select * from public.credit_balances where organization_id = $1'),
    grants: await q('select id, remaining_credits from public.credit_grants where organization_id = $1 order by id'),
    reservations: await q('select * from public.credit_reservations where organization_id = $1 order by id'),
    entries: await q('select id, amount_credits from public.credit_ledger_entries where organization_id = $1 order by id'),
    rateUsage: await q('select * from public.organization_rate_usage where organization_id = $1 order by capability_code'),
    usage: await q('select * from public.organization_usage_daily where organization_id = $1 order by day, capability_code'),
  };
}
