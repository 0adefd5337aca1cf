// Random sequences of grant / reserve / settle / release / expire / clawback on one org, with or
// without spend limits, with the ledger's invariants checked after every step and each settle's
// charge checked against a model of it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ledgerErrorFromPg } from '../src/errors.ts';
import { useTestDatabase } from '../src/testing.ts';
import { at, clawback, createOrg, grant, release, reserve, settle, snapshot } from './ledger-helpers.ts';

const db = await useTestDatabase();
const pool = db.pool;

/** Thousandths of a credit as an exact decimal string (integers only: no float ever holds an amount). */
const credits = (thousandths: number) => `${Math.floor(thousandths / 1000)}.${String(thousandths % 1000).padStart(3, '0')}`;
const amount = (max: number) => fc.integer({ min: 1, max }).map(credits);
/** Thousandths from a numeric(20,3) text such as '-3.250'. */
const milli = (text: string) => {
  if (!/^-?\d+\.\d{3}$/.test(text)) throw new Error(`not a numeric(20,3) text: ${text}`);
  return Number(text.replace('.', ''));
};

type Command =
  | { kind: 'grant'; amount: string; source: string; expiresIn: number | null; priority: number | null }
  | { kind: 'reserve'; amount: string; key: number }
  | { kind: 'settle'; pick: number; actual: string }
  | { kind: 'release'; pick: number }
  | { kind: 'advance'; seconds: number; job: 'none' | 'reservations' | 'grants' }
  | { kind: 'clawback'; amount: string; ref: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('grant' as const),
      amount: amount(40_000),
      source: fc.constantFrom('plan_allowance', 'purchase', 'auto_top_up', 'promotion', 'adjustment', 'migration'),
      expiresIn: fc.option(fc.integer({ min: 600, max: 10 * 86_400 }), { nil: null }),
      priority: fc.option(fc.constantFrom(0, 50, 100, 150), { nil: null }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('reserve' as const), amount: amount(15_000), key: fc.integer({ min: 0, max: 60 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      pick: fc.nat(),
      actual: fc.integer({ min: 0, max: 25_000 }).map(credits),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      seconds: fc.integer({ min: 0, max: 43_200 }),
      job: fc.constantFrom('none' as const, 'reservations' as const, 'grants' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('clawback' as const), amount: amount(20_000), ref: fc.integer({ min: 0, max: 3 }) }),
  },
);

/** The org's spend limits for a whole run, in thousandths (null: no such limit); null: no spend_limits row. */
interface Limits {
  perCall: number | null;
  daily: number | null;
  monthly: number | null;
}
const limitsOfRun: fc.Arbitrary<Limits | null> = fc.option(
  fc.record({
    perCall: fc.option(fc.integer({ min: 3_000, max: 20_000 }), { nil: null }),
    daily: fc.option(fc.integer({ min: 10_000, max: 60_000 }), { nil: null }),
    monthly: fc.option(fc.integer({ min: 20_000, max: 120_000 }), { nil: null }),
  }),
  { nil: null },
);

// Refusals the random sequences run into by design; each must leave the org unchanged.
const EXPECTED_REFUSALS = new Set(['INSUFFICIENT_CREDITS', 'RESERVATION_ALREADY_RESOLVED', 'IDEMPOTENCY_CONFLICT', 'SPEND_LIMIT_EXCEEDED']);

/** What a settle sees: its reservation, and the org's credits and spend as of its time. */
async function beforeSettle(org: string, reservationId: string, now: Date) {
  const { rows } = await pool.query<Record<string, string>>(
    `select r.status, r.amount_credits::text as hold,
       (g.allowance_remaining_credits + g.purchased_remaining_credits + g.bonus_remaining_credits)::numeric(20,3)::text as remaining,
       g.available_credits::numeric(20,3)::text as available, g.reserved_credits::numeric(20,3)::text as reserved,
       (case when b.spend_day >= ($3::timestamptz at time zone 'UTC')::date then b.spend_day_credits else 0 end)::numeric(20,3)::text as used_day,
       (case when b.spend_month >= date_trunc('month', $3::timestamptz at time zone 'UTC')::date then b.spend_month_credits else 0 end)
         ::numeric(20,3)::text as used_month
     from public.credit_reservations r
     cross join public.get_credit_balance($2, $3) g
     join public.credit_balances b on b.organization_id = $2
     where r.id = $1`,
    [reservationId, org, now],
  );
  return rows[0]!;
}

/**
 * The model of a settle's charge (docs/ledger.md, Reservations): the actual amount, but never more
 * than remains; above the hold, the extra only as far as credits are available and the spend limits
 * leave room (the whole charge within the per-call limit, the day's and month's consumed plus every
 * open hold within theirs), never cutting the hold itself.
 */
function expectedCharge(seen: Record<string, string>, actual: number, limits: Limits | null): number {
  const hold = milli(seen.hold!);
  const remaining = milli(seen.remaining!);
  if (actual <= hold) return Math.min(actual, remaining);
  const reserved = milli(seen.reserved!);
  const rooms = [milli(seen.available!)];
  if (limits?.perCall != null) rooms.push(limits.perCall - hold);
  if (limits?.daily != null) rooms.push(limits.daily - milli(seen.used_day!) - reserved);
  if (limits?.monthly != null) rooms.push(limits.monthly - milli(seen.used_month!) - reserved);
  return Math.min(actual, hold + Math.max(0, Math.min(...rooms)), remaining);
}

/** With spend limits: what the day and the month consumed plus what is reserved stays within them, and no settle passed the per-call limit. */
async function checkSpendLimits(org: string, now: Date, limits: Limits) {
  const { rows } = await pool.query<Record<string, string>>(
    `select
       (case when b.spend_day >= ($2::timestamptz at time zone 'UTC')::date then b.spend_day_credits else 0 end
         + h.held_credits - b.released_credits)::numeric(20,3)::text as day,
       (case when b.spend_month >= date_trunc('month', $2::timestamptz at time zone 'UTC')::date then b.spend_month_credits else 0 end
         + h.held_credits - b.released_credits)::numeric(20,3)::text as month,
       (select coalesce(max(r.settled_amount_credits), 0) from public.credit_reservations r where r.organization_id = $1)::numeric(20,3)::text
         as largest_charge
     from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id
     where b.organization_id = $1`,
    [org, now],
  );
  const r = rows[0]!;
  if (limits.daily != null) expect(milli(r.day!)).toBeLessThanOrEqual(limits.daily);
  if (limits.monthly != null) expect(milli(r.month!)).toBeLessThanOrEqual(limits.monthly);
  if (limits.perCall != null) expect(milli(r.largest_charge!)).toBeLessThanOrEqual(limits.perCall);
}

interface GrantState {
  id: string;
  source: string;
  amount_credits: string;
  remaining_credits: string;
  burn: number;
  expires_at: Date | null;
}

async function grantsInBurnOrder(org: string): Promise<GrantState[]> {
  const { rows } = await pool.query<GrantState>(
    `select id, source, amount_credits::text, remaining_credits::text, expires_at,
       row_number() over (order by (source <> 'plan_allowance'), priority, expires_at nulls last, created_at, id)::int as burn
     from public.credit_grants where organization_id = $1 order by burn`,
    [org],
  );
  return rows;
}

async function checkInvariants(org: string, now: Date, clawedBack: boolean) {
  // Each grant's remaining is within [0, amount].
  const { rows: bad } = await pool.query(
    'select id from public.credit_grants where organization_id = $1 and (remaining_credits < 0 or remaining_credits > amount_credits)',
    [org],
  );
  expect(bad).toEqual([]);
  // The maintained row agrees with the grants and the open reservations, and the ledger sums to the balance.
  const { rows } = await pool.query<Record<string, string>>(
    `select
       (b.allowance_remaining_credits + b.purchased_remaining_credits + b.bonus_remaining_credits - b.debt_credits)::text as balance,
       (select coalesce(sum(amount_credits), 0) from public.credit_ledger_entries l where l.organization_id = $1)::numeric(20,3)::text as ledger_sum,
       (select count(*) from (
          select l.balance_after_credits, sum(l.amount_credits) over (order by l.id) as running
          from public.credit_ledger_entries l where l.organization_id = $1) e
        where e.balance_after_credits <> e.running)::text as entries_off_running_balance,
       b.allowance_remaining_credits::text as allowance,
       (select coalesce(sum(remaining_credits), 0) from public.credit_grants g where g.organization_id = $1 and g.source = 'plan_allowance')::numeric(20,3)::text as allowance_from_grants,
       b.purchased_remaining_credits::text as purchased,
       (select coalesce(sum(remaining_credits), 0) from public.credit_grants g where g.organization_id = $1 and g.source in ('purchase', 'auto_top_up'))::numeric(20,3)::text as purchased_from_grants,
       b.bonus_remaining_credits::text as bonus,
       (select coalesce(sum(remaining_credits), 0) from public.credit_grants g where g.organization_id = $1 and g.source in ('promotion', 'adjustment', 'migration'))::numeric(20,3)::text as bonus_from_grants,
       (h.held_credits - b.released_credits)::text as reserved,
       (select coalesce(sum(amount_credits), 0) from public.credit_reservations r where r.organization_id = $1 and r.status = 'open')::numeric(20,3)::text as reserved_from_reservations,
       (select (available_credits < 0)::text from public.get_credit_balance($1, $2)) as available_negative,
       (b.debt_credits > 0 and b.allowance_remaining_credits + b.purchased_remaining_credits + b.bonus_remaining_credits > 0)::text as debt_with_credits
     from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id
     where b.organization_id = $1`,
    [org, now],
  );
  const r = rows[0]!;
  expect(r.ledger_sum).toBe(r.balance);
  // Each entry's balance after is the running sum of the org's entries up to it.
  expect(r.entries_off_running_balance).toBe('0');
  expect(r.allowance).toBe(r.allowance_from_grants);
  expect(r.purchased).toBe(r.purchased_from_grants);
  expect(r.bonus).toBe(r.bonus_from_grants);
  expect(r.reserved).toBe(r.reserved_from_reservations);
  expect(r.debt_with_credits).toBe('false');
  // Available is never negative except through a clawback.
  if (!clawedBack) expect(r.available_negative).toBe('false');
}

/** After a settle: every consume followed the burn order. */
async function checkBurnOrder(org: string, reservationId: string, before: GrantState[]) {
  const { rows: drawn } = await pool.query<{ grant_id: string }>(
    `select grant_id from public.credit_ledger_entries where reservation_id = $1 and entry_type = 'consume' order by id`,
    [reservationId],
  );
  const after = new Map((await grantsInBurnOrder(org)).map((g) => [g.id, g]));
  const burnOf = new Map(before.map((g) => [g.id, g.burn]));
  const ranks = drawn.map((d) => burnOf.get(d.grant_id)!);
  // Drawn in burn order, each grant once...
  expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
  expect(new Set(ranks).size).toBe(ranks.length);
  if (ranks.length === 0) return;
  const last = ranks[ranks.length - 1]!;
  // ...every grant drawn before the last one was emptied, and no grant that still holds credits
  // comes before the last one drawn.
  for (const d of drawn.slice(0, -1)) expect(after.get(d.grant_id)!.remaining_credits).toBe('0.000');
  for (const g of after.values()) {
    if (g.remaining_credits !== '0.000') expect(burnOf.get(g.id) ?? Number.POSITIVE_INFINITY).toBeGreaterThanOrEqual(last);
  }
}

describe('the ledger under random sequences of operations', () => {
  it('keeps grants within bounds, the ledger equal to the balance, available non-negative but for clawbacks, spend within its limits, consumes in burn order and charges what the model says', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 30 }), limitsOfRun, async (commands, limits) => {
        run++;
        const org = await createOrg(pool);
        if (limits)
          await pool.query(
            `insert into public.spend_limits (organization_id, per_call_limit_credits, daily_limit_credits, monthly_limit_credits)
             values ($1, $2::int / 1000.0, $3::int / 1000.0, $4::int / 1000.0)`,
            [org, limits.perCall, limits.daily, limits.monthly],
          );
        let clock = 0;
        let clawedBack = false;
        const reservationIds: string[] = [];
        for (const [step, c] of commands.entries()) {
          const now = at(clock);
          const before = await snapshot(pool, org);
          const grantsBefore = await grantsInBurnOrder(org);
          try {
            switch (c.kind) {
              case 'grant':
                await grant(pool, org, c.amount, c.source, `g-${run}-${step}`, {
                  expiresAt: c.expiresIn === null ? null : at(clock + c.expiresIn),
                  priority: c.priority,
                  now,
                });
                break;
              case 'reserve': {
                const r = await reserve(pool, org, c.amount, `k-${c.key}`, { now, ttlSeconds: 3600 });
                if (!reservationIds.includes(r.id)) reservationIds.push(r.id);
                break;
              }
              case 'settle': {
                if (reservationIds.length === 0) break;
                const id = reservationIds[c.pick % reservationIds.length]!;
                const seen = await beforeSettle(org, id, now);
                const settled = await settle(pool, id, c.actual, { now, org });
                const expected = expectedCharge(seen, milli(c.actual), limits);
                expect({ settled: settled.settled_amount_credits, capped: settled.capped }).toEqual({
                  settled: credits(expected),
                  capped: expected < milli(c.actual),
                });
                await checkBurnOrder(org, id, grantsBefore);
                break;
              }
              case 'release':
                if (reservationIds.length === 0) break;
                await release(pool, reservationIds[c.pick % reservationIds.length]!, { now, org });
                break;
              case 'advance':
                clock += c.seconds;
                if (c.job === 'reservations') await pool.query('select public.expire_reservations($1)', [at(clock)]);
                if (c.job === 'grants') await pool.query('select public.expire_grants($1)', [at(clock)]);
                break;
              case 'clawback':
                await clawback(pool, org, c.amount, `re-${c.ref}`, { now });
                clawedBack = true;
                break;
            }
          } catch (error) {
            const ledger = ledgerErrorFromPg(error);
            if (!ledger || !EXPECTED_REFUSALS.has(ledger.code)) throw error;
            expect(await snapshot(pool, org)).toBe(before);
          }
          await checkInvariants(org, at(clock), clawedBack);
          if (limits) await checkSpendLimits(org, at(clock), limits);
        }
      }),
      { numRuns: 40 },
    );
  });
});
