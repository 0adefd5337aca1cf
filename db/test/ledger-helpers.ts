// Shared by the ledger tests: fresh organizations, calls to the ledger functions, and snapshots
// of everything the ledger keeps for one org (to check that a failure changed nothing).
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { type LedgerError, type LedgerErrorCode, ledgerErrorFromPg } from '../src/errors.ts';
import { inTransaction, type pg } from '../src/index.ts';

export const PLAN = {
  free: 'a0000000-0000-4000-8000-000000000001',
  pro: 'a0000000-0000-4000-8000-000000000002',
  team: 'a0000000-0000-4000-8000-000000000003',
} as const;

/** A fixed clock for tests: 2030-01-15 12:00 UTC, and offsets from it. */
export const T0 = new Date('2030-01-15T12:00:00Z');
export const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
export const DAY = 86_400;

type Queryable = pg.Pool | pg.PoolClient;

/** A new organization of its own (so tests never share balances), on the given plan. */
export async function createOrg(db: Queryable, plan: keyof typeof PLAN = 'team'): Promise<string> {
  const id = randomUUID();
  await db.query('insert into public.organizations (id, name, slug) values ($1, $2, $3)', [id, `Org ${id}`, `org-${id}`]);
  await db.query(
    `insert into public.organization_subscriptions (organization_id, plan_id, current_period_start, current_period_end)
     values ($1, $2, $3, $4)`,
    [id, PLAN[plan], new Date('2030-01-01T00:00:00Z'), new Date('2030-02-01T00:00:00Z')],
  );
  return id;
}

export interface GrantOptions {
  expiresAt?: Date | null;
  priority?: number | null;
  effectiveAt?: Date | null;
  now?: Date;
}

export interface GrantRow {
  id: string;
  organization_id: string;
  source: string;
  amount_credits: string;
  remaining_credits: string;
  priority: number;
  expires_at: Date | null;
  external_ref: string;
}

export async function grant(db: Queryable, org: string, amount: string, source: string, ref: string, o: GrantOptions = {}) {
  const { rows } = await db.query<GrantRow>(
    `select * from public.grant_credits($1, $2, $3, $4, p_expires_at => $5, p_priority => $6, p_effective_at => $7, p_now => $8)`,
    [org, amount, source, ref, o.expiresAt ?? null, o.priority ?? null, o.effectiveAt ?? null, o.now ?? T0],
  );
  return rows[0]!;
}

export interface ReservationRow {
  id: string;
  organization_id: string;
  amount_credits: string;
  status: string;
  settled_amount_credits: string | null;
  capped: boolean;
  model_id: string | null;
  expires_at: Date;
  idempotency_key: string;
}

export interface ReserveOptions {
  capability?: string | null;
  quality?: string | null;
  ttlSeconds?: number;
  now?: Date;
}

export async function reserve(db: Queryable, org: string, amount: string, key: string, o: ReserveOptions = {}) {
  const { rows } = await db.query<ReservationRow>(
    `select * from public.reserve_credits($1, $2, $3, p_capability_code => $4, p_quality_level_code => $5,
       p_ttl_seconds => $6, p_now => $7)`,
    [org, amount, key, o.capability ?? null, o.quality ?? null, o.ttlSeconds ?? 600, o.now ?? T0],
  );
  return rows[0]!;
}

export async function settle(db: Queryable, reservationId: string, actual: string, o: { org?: string; now?: Date } = {}) {
  const { rows } = await db.query<ReservationRow>('select * from public.settle_reservation($1, $2, p_org_id => $3, p_now => $4)', [
    reservationId,
    actual,
    o.org ?? null,
    o.now ?? T0,
  ]);
  return rows[0]!;
}

export async function release(db: Queryable, reservationId: string, o: { org?: string; now?: Date; reason?: string } = {}) {
  const { rows } = await db.query<ReservationRow>(
    'select * from public.release_reservation($1, p_reason => $2, p_org_id => $3, p_now => $4)',
    [reservationId, o.reason ?? null, o.org ?? null, o.now ?? T0],
  );
  return rows[0]!;
}

export async function clawback(db: Queryable, org: string, amount: string, ref: string, o: { grantId?: string; now?: Date } = {}) {
  const { rows } = await db.query<{ id: string; amount_credits: string; balance_after_credits: string }>(
    'select * from public.clawback_credits($1, $2, $3, p_grant_id => $4, p_now => $5)',
    [org, amount, ref, o.grantId ?? null, o.now ?? T0],
  );
  return rows[0]!;
}

export interface Balance {
  allowance_remaining_credits: string;
  purchased_remaining_credits: string;
  bonus_remaining_credits: string;
  debt_credits: string;
  reserved_credits: string;
  balance_credits: string;
  available_credits: string;
  next_expiry_at: Date | null;
  next_expiry_credits: string | null;
}

export async function balance(db: Queryable, org: string, now: Date = T0): Promise<Balance> {
  const { rows } = await db.query<Balance>('select * from public.get_credit_balance($1, $2)', [org, now]);
  return rows[0]!;
}

/**
 * Runs `work` in one transaction (inTransaction) with generic plans, as a pooled connection uses
 * once it has made a few calls.
 */
export function inGenericPlanTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, async (client) => {
    await client.query('set local plan_cache_mode = force_generic_plan');
    return work(client);
  });
}

/**
 * How many scans of each index `work` made and how many index entries they read. Postgres counts
 * these per connection and reports them between transactions, so the caller runs this inside a
 * transaction (inGenericPlanTransaction) and the difference is the work's alone.
 */
export async function indexReads(client: pg.PoolClient, indexes: string[], work: () => Promise<unknown>) {
  const read = async () =>
    (
      await client.query<{ index: string; scans: string; read: string }>(
        `select i as index, pg_stat_get_xact_numscans(i::regclass) as scans, pg_stat_get_xact_tuples_returned(i::regclass) as read
         from unnest($1::text[]) as i`,
        [indexes],
      )
    ).rows;
  const before = await read();
  await work();
  const after = await read();
  return Object.fromEntries(
    after.map((a, n) => [a.index, { scans: Number(a.scans) - Number(before[n]!.scans), read: Number(a.read) - Number(before[n]!.read) }]),
  );
}

/** Everything the ledger keeps for one org, as text, to compare before and after a failure. */
export async function snapshot(db: Queryable, org: string): Promise<string> {
  const { rows } = await db.query<{ s: string }>(
    `select jsonb_build_object(
       'balance', (select to_jsonb(b) from public.credit_balances b where b.organization_id = $1),
       'holds', (select to_jsonb(h) from public.credit_holds h where h.organization_id = $1),
       'grants', (select coalesce(jsonb_agg(to_jsonb(g) order by g.id), '[]') from public.credit_grants g where g.organization_id = $1),
       'reservations', (select coalesce(jsonb_agg(to_jsonb(r) order by r.id), '[]') from public.credit_reservations r where r.organization_id = $1),
       'ledger', (select coalesce(jsonb_agg(to_jsonb(l) order by l.id), '[]') from public.credit_ledger_entries l where l.organization_id = $1),
       'usage', (select coalesce(jsonb_agg(to_jsonb(u) order by u.day, u.capability_code, u.quality_level_code), '[]')
                 from public.organization_usage_daily u where u.organization_id = $1),
       'rate', (select coalesce(jsonb_agg(to_jsonb(u) order by u.capability_code), '[]') from public.organization_rate_usage u where u.organization_id = $1)
     )::text as s`,
    [org],
  );
  return rows[0]!.s;
}

/** The ledger error of a rejected promise (fails the test when it resolves or is not ours). */
export async function ledgerError(promise: Promise<unknown>): Promise<LedgerError> {
  try {
    await promise;
  } catch (error) {
    const ledger = ledgerErrorFromPg(error);
    if (!ledger) throw error;
    return ledger;
  }
  throw new Error('expected a ledger error, but the call succeeded');
}

/** Row counts of every ledger table, for failures that name no existing org. */
export async function ledgerTableCounts(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ s: string }>(
    `select jsonb_build_object(
       'grants', (select count(*) from public.credit_grants),
       'reservations', (select count(*) from public.credit_reservations),
       'ledger', (select count(*) from public.credit_ledger_entries),
       'balances', (select jsonb_agg(to_jsonb(b) order by b.organization_id) from public.credit_balances b),
       'holds', (select jsonb_agg(to_jsonb(h) order by h.organization_id) from public.credit_holds h)
     )::text as s`,
  );
  return rows[0]!.s;
}

/** The ledger code of a rejected promise (fails the test when it resolves or is not ours). */
export async function ledgerCode(promise: Promise<unknown>): Promise<LedgerErrorCode> {
  try {
    await promise;
  } catch (error) {
    const ledger = ledgerErrorFromPg(error);
    if (!ledger) throw error;
    return ledger.code;
  }
  throw new Error('expected a ledger error, but the call succeeded');
}

/** Runs a call that must fail with `code` and checks that the org's data did not change. */
export async function expectRefusedUnchanged(db: Queryable, org: string, code: LedgerErrorCode, call: () => Promise<unknown>) {
  const before = await snapshot(db, org);
  expect(await ledgerCode(call())).toBe(code);
  expect(await snapshot(db, org)).toBe(before);
}

/** The sum of the org's ledger entries and its balance (remaining - debt), as exact strings. */
export async function ledgerSumAndBalance(db: Queryable, org: string) {
  const { rows } = await db.query<{ sum: string; balance: string }>(
    `select (select coalesce(sum(amount_credits), 0)::numeric(20,3)::text from public.credit_ledger_entries where organization_id = $1) as sum,
            (select (allowance_remaining_credits + purchased_remaining_credits + bonus_remaining_credits - debt_credits)::text
               from public.credit_balances where organization_id = $1) as balance`,
    [org],
  );
  return rows[0]!;
}
