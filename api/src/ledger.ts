// Reads of an org's ledger state that the actions answer with: the available balance, the rate
// limit budget left in the current windows, and the spend limits.
import type pg from 'pg';
import { credits } from './decimal.ts';
import { ledger } from './errors.ts';

/**
 * The SQL expression of the org's available credits (balance − reserved) at `now`, for the select
 * list of a statement: `public.api_available_credits` (migration 1795322400300) reads them from the
 * balance row alone while no grant is due to expire, else from `get_credit_balance`, which
 * discounts grants past expiry that no call has expired yet. It is VOLATILE, so in the select list
 * over a ledger function's row (`from public.reserve_credits(...) r`) it runs after that function
 * with a new snapshot and sees its changes: each action is one statement and one round trip.
 */
export const availableSql = (org: string, now: string) => `public.api_available_credits(${org}, ${now})::text as available_credits`;

/** The available credits a statement with `availableSql` answered (0 for an org without a balance row). */
export const availableOf = (row: { available_credits: string | null } | undefined): string => credits(row?.available_credits ?? '0');

/** The org's available credits at `now`, on their own (when no ledger statement answers them). */
export async function availableCredits(db: pg.Pool, orgId: string, now: Date): Promise<string> {
  const { rows } = await ledger(() =>
    db.query<{ available_credits: string | null }>({ name: 'api-available', text: `select ${availableSql('$1', '$2')}` }, [orgId, now]),
  );
  return availableOf(rows[0]);
}

export interface RateBudget {
  hourRemaining: number | null;
  dayRemaining: number | null;
  /** When a limit is used up: seconds until its window ends. */
  retryAfterSeconds: number | null;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * What is left of the plan's hourly and daily limits for a capability: fixed UTC windows, counted
 * in `organization_rate_usage` by `reserve_credits`. Null when the plan sets no limit. As there, a
 * stored window at or after `now`'s counts (the counters only move forward: a reserve dated after
 * `now` may have moved them on), and a used-up limit waits until that window's end.
 */
export async function rateBudget(
  db: pg.Pool,
  orgId: string,
  capability: string,
  limits: { perHour: number | null; perDay: number | null },
  now: Date,
): Promise<RateBudget> {
  const nowHour = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS);
  const nowDay = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
  const { rows } = await db.query<{ hour_calls: number; day_calls: number; hour_start: Date; day_start: Date }>(
    `select case when hour_start >= $3 then hour_calls else 0 end as hour_calls,
            case when day >= ($4::timestamptz at time zone 'UTC')::date then day_calls else 0 end as day_calls,
            greatest(hour_start, $3) as hour_start,
            greatest(day, ($4::timestamptz at time zone 'UTC')::date)::timestamp at time zone 'UTC' as day_start
     from public.organization_rate_usage where organization_id = $1 and capability_code = $2`,
    [orgId, capability, nowHour, nowDay],
  );
  const used = rows[0] ?? { hour_calls: 0, day_calls: 0, hour_start: nowHour, day_start: nowDay };
  const hourStart = used.hour_start;
  const dayStart = used.day_start;
  const hourRemaining = limits.perHour === null ? null : Math.max(0, limits.perHour - used.hour_calls);
  const dayRemaining = limits.perDay === null ? null : Math.max(0, limits.perDay - used.day_calls);
  let retryAfterSeconds: number | null = null;
  if (dayRemaining === 0) retryAfterSeconds = Math.ceil((dayStart.getTime() + DAY_MS - now.getTime()) / 1000);
  else if (hourRemaining === 0) retryAfterSeconds = Math.ceil((hourStart.getTime() + HOUR_MS - now.getTime()) / 1000);
  return { hourRemaining, dayRemaining, retryAfterSeconds };
}

export interface SpendState {
  perCallLimit: string | null;
  dailyLimit: string | null;
  monthlyLimit: string | null;
  /** Consumed today and this month (UTC), plus what is reserved now. */
  dayCommitted: string;
  monthCommitted: string;
  /** When the day and the month counted end (a counter already on a later day or month is that one's). */
  dayEndsAt: Date;
  monthEndsAt: Date;
}

/**
 * The org's spend limits and what counts against them at `now`, as `reserve_credits` counts it: a
 * spend counter of `now`'s UTC day or month, or of a later one (a settle dated after `now` moved it
 * on), plus what is reserved now.
 */
export async function spendState(db: pg.Pool, orgId: string, now: Date): Promise<SpendState> {
  const { rows } = await db.query<{
    per_call: string | null;
    daily: string | null;
    monthly: string | null;
    day_committed: string;
    month_committed: string;
    day_ends_at: Date;
    month_ends_at: Date;
  }>(
    `select l.per_call_limit_credits::text as per_call, l.daily_limit_credits::text as daily, l.monthly_limit_credits::text as monthly,
       (coalesce(case when b.spend_day >= (($2::timestamptz) at time zone 'UTC')::date then b.spend_day_credits end, 0)
         + coalesce(h.held_credits - b.released_credits, 0))::text as day_committed,
       (coalesce(case when b.spend_month >= date_trunc('month', ($2::timestamptz) at time zone 'UTC')::date then b.spend_month_credits end, 0)
         + coalesce(h.held_credits - b.released_credits, 0))::text as month_committed,
       (greatest(b.spend_day, (($2::timestamptz) at time zone 'UTC')::date) + 1)::timestamp at time zone 'UTC' as day_ends_at,
       (greatest(b.spend_month, date_trunc('month', ($2::timestamptz) at time zone 'UTC')::date) + interval '1 month')
         at time zone 'UTC' as month_ends_at
     from (select 1) one
     left join public.spend_limits l on l.organization_id = $1
     left join public.credit_balances b on b.organization_id = $1
     left join public.credit_holds h on h.organization_id = $1`,
    [orgId, now],
  );
  const row = rows[0]!;
  return {
    perCallLimit: row.per_call,
    dailyLimit: row.daily,
    monthlyLimit: row.monthly,
    dayCommitted: credits(row.day_committed),
    monthCommitted: credits(row.month_committed),
    dayEndsAt: row.day_ends_at,
    monthEndsAt: row.month_ends_at,
  };
}

/**
 * Starts the org's next billing period now if its current one has ended (as the hourly roll will):
 * true when it did. Called where the gap until the roll would cost the org: a reserve refused for
 * credits (the old allowance has expired, the new one is not granted yet) and an auto top-up about
 * to charge the card for credits the new allowance brings anyway.
 */
export async function rollPeriodIfEnded(db: pg.Pool | pg.PoolClient, orgId: string, now: Date): Promise<boolean> {
  const { rowCount } = await ledger(() =>
    db.query(
      `select public.roll_billing_period(s.organization_id, $2) from public.organization_subscriptions s
       where s.organization_id = $1 and s.current_period_end <= $2`,
      [orgId, now],
    ),
  );
  return (rowCount ?? 0) > 0;
}
