// A concurrency stress test of the ledger functions on several organizations at once. Each round
// fires, all at once on their own pool connections, a mix of grant_credits (new buckets of every
// source, and grants that repay debt), reserve_credits, settle_reservation below, equal to and above
// the hold, release_reservation, clawback_credits (some pushing the balance into debt), the two
// expiry jobs with clocks that make holds and grants due, get_credit_balance reads, and reads of
// every invariant in one statement (so at one committed state in the middle of the race). Same-key
// and conflicting duplicates race too, and settles naming another organization probe the tenancy
// check. After each round the invariants of docs/ledger.md are checked in SQL, every call's answer
// is checked against what it may answer (any other error, a deadlock or a serialization failure
// fails the test), and what each refused call left behind is checked to be nothing. One org has
// spend limits: what its day and month consumed plus what it holds stays within them, mid-race and
// after each round, and no settle of it passes its per-call limit.
// ledger-concurrency.test.ts covers the single-org races one call kind at a time; this file mixes them.
// Amounts are decimal strings with three places throughout; sums are made in SQL, comparisons of
// answers in BigInt thousandths. The clock and the choices come from a seeded generator: set
// LEDGER_RACES_SEED to replay a run (the seed is in every failure message).
import { describe, expect, it } from 'vitest';
import { type LedgerErrorCode, ledgerErrorFromPg } from '../src/errors.ts';
import { useTestDatabase } from '../src/testing.ts';
import {
  type Balance,
  clawback,
  createOrg,
  type GrantRow,
  grant,
  type ReservationRow,
  release,
  reserve,
  settle,
  T0,
} from './ledger-helpers.ts';

const db = await useTestDatabase();
const pool = db.pool;

const ROUNDS = 120;
const ROUND_SECONDS = 600;
const SEED = Number(process.env.LEDGER_RACES_SEED ?? Math.floor(Math.random() * 2 ** 31));

// ---------------------------------------------------------------------------------------------
// Exact amounts and a seeded generator
// ---------------------------------------------------------------------------------------------

/** Thousandths of a credit (a BigInt) from a numeric(20,3) text such as '-3.250'. */
const milli = (credits: string): bigint => {
  if (!/^-?\d+\.\d{3}$/.test(credits)) throw new Error(`not a numeric(20,3) text: ${credits}`);
  return BigInt(credits.replace('.', ''));
};
/** A decimal string with three places from non-negative thousandths. */
const credits = (thousandths: bigint | number): string => {
  const m = BigInt(thousandths);
  if (m < 0n) throw new Error(`negative amount ${m}`);
  return `${m / 1000n}.${String(m % 1000n).padStart(3, '0')}`;
};
const min0 = (m: bigint) => (m < 0n ? m : 0n);

function generator(seed: number) {
  let state = seed | 0;
  const next = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const chance = (p: number) => next() < p;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const shuffle = <T>(items: T[]): T[] => {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  };
  return { int, chance, pick, shuffle };
}

const seconds = (base: Date, s: number) => new Date(base.getTime() + s * 1000);

// ---------------------------------------------------------------------------------------------
// The invariants, in one statement (one snapshot: they hold at every committed state)
// ---------------------------------------------------------------------------------------------

/** One row per broken invariant among the organizations $1; none when all hold. */
const INVARIANTS_SQL = `
with orgs as (select unnest($1::uuid[]) as org),
rows as (
  select b.organization_id as org, b.allowance_remaining_credits as allowance, b.purchased_remaining_credits as purchased,
    b.bonus_remaining_credits as bonus, b.debt_credits as debt, b.released_credits as released, h.held_credits as held,
    b.next_expiry_at,
    b.allowance_remaining_credits + b.purchased_remaining_credits + b.bonus_remaining_credits - b.debt_credits as balance
  from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id
  where b.organization_id in (select org from orgs)
),
grants as (
  select g.organization_id as org,
    coalesce(sum(g.remaining_credits) filter (where g.source = 'plan_allowance'), 0) as allowance,
    coalesce(sum(g.remaining_credits) filter (where g.source in ('purchase', 'auto_top_up')), 0) as purchased,
    coalesce(sum(g.remaining_credits) filter (where g.source in ('promotion', 'adjustment', 'migration')), 0) as bonus,
    min(g.expires_at) filter (where g.remaining_credits > 0) as next_expiry_at
  from public.credit_grants g where g.organization_id in (select org from orgs) group by g.organization_id
),
entries as (
  select l.*, sum(l.amount_credits) over (partition by l.organization_id order by l.id) as running
  from public.credit_ledger_entries l where l.organization_id in (select org from orgs)
),
open_holds as (
  select r.organization_id as org, sum(r.amount_credits) as open
  from public.credit_reservations r where r.organization_id in (select org from orgs) and r.status = 'open' group by r.organization_id
),
consumed as (
  select e.reservation_id, sum(-e.amount_credits) as credits, count(*) as n
  from entries e where e.entry_type = 'consume' group by e.reservation_id
),
usage as (
  select u.organization_id as org, sum(u.credits_consumed) as credits, sum(u.calls) as calls
  from public.organization_usage_daily u where u.organization_id in (select org from orgs) group by u.organization_id
)
select format('grant %s of org %s: remaining %s is not within [0, %s]', g.id, g.organization_id, g.remaining_credits, g.amount_credits) as problem
  from public.credit_grants g where g.organization_id in (select org from orgs)
   and not (g.remaining_credits between 0 and g.amount_credits)
union all
select format('org %s: its ledger entries sum to %s, its balance is %s', r.org, (select coalesce(sum(e.amount_credits), 0) from entries e where e.organization_id = r.org), r.balance)
  from rows r where (select coalesce(sum(e.amount_credits), 0) from entries e where e.organization_id = r.org) <> r.balance
union all
select format('org %s: entry %s (%s %s) says balance after %s, the running sum is %s', e.organization_id, e.id, e.entry_type, e.amount_credits, e.balance_after_credits, e.running)
  from entries e where e.balance_after_credits <> e.running
union all
select format('org %s: buckets allowance %s purchased %s bonus %s, its grants hold %s %s %s', r.org, r.allowance, r.purchased, r.bonus,
    coalesce(g.allowance, 0), coalesce(g.purchased, 0), coalesce(g.bonus, 0))
  from rows r left join grants g on g.org = r.org
  where (r.allowance, r.purchased, r.bonus) <> (coalesce(g.allowance, 0), coalesce(g.purchased, 0), coalesce(g.bonus, 0))
union all
select format('org %s: held %s - released %s = %s reserved, its open reservations hold %s', r.org, r.held, r.released, r.held - r.released, coalesce(o.open, 0))
  from rows r left join open_holds o on o.org = r.org where r.held - r.released <> coalesce(o.open, 0)
union all
select format('org %s: debt %s while its grants hold %s', r.org, r.debt, r.allowance + r.purchased + r.bonus)
  from rows r where r.debt > 0 and r.allowance + r.purchased + r.bonus > 0
union all
select format('org %s: next_expiry_at %s is later than its grants'' earliest expiry %s', r.org, r.next_expiry_at, g.next_expiry_at)
  from rows r join grants g on g.org = r.org where g.next_expiry_at is not null and (r.next_expiry_at is null or r.next_expiry_at > g.next_expiry_at)
union all
select format('reservation %s (%s, settled %s): its consume entries take %s in %s entries', res.id, res.status, res.settled_amount_credits, c.credits, coalesce(c.n, 0))
  from public.credit_reservations res left join consumed c on c.reservation_id = res.id
  where res.organization_id in (select org from orgs)
    and case when res.status = 'settled' then coalesce(c.credits, 0) <> res.settled_amount_credits else c.n is not null end
union all
select format('reservation %s drew grant %s (entry %s of %s) out of burn order or before emptying it (%s left)', x.reservation_id, x.grant_id, x.n_entry, x.n, x.remaining_credits)
  from (
    select e.reservation_id, e.grant_id, g.remaining_credits,
      row_number() over (partition by e.reservation_id order by e.id) as n_entry,
      row_number() over (partition by e.reservation_id order by (g.source <> 'plan_allowance'), g.priority, g.expires_at nulls last, g.created_at, g.id) as n_burn,
      count(*) over (partition by e.reservation_id) as n
    from entries e join public.credit_grants g on g.id = e.grant_id where e.entry_type = 'consume'
  ) x
  where x.n_entry <> x.n_burn or (x.n_entry < x.n and x.remaining_credits <> 0)
union all
select format('grant %s (%s %s): %s grant entries, of %s', g.id, g.source, g.amount_credits, count(e.id), coalesce(sum(e.amount_credits), 0))
  from public.credit_grants g
  left join entries e on e.grant_id = g.id and e.entry_type = case when g.source = 'adjustment' then 'adjustment' else 'grant' end
  where g.organization_id in (select org from orgs)
  group by g.id having count(e.id) <> 1 or sum(e.amount_credits) <> g.amount_credits
union all
select format('org %s: daily usage counts %s credits in %s calls, its consume entries %s and settled reservations %s', o.org,
    coalesce(u.credits, 0), coalesce(u.calls, 0), coalesce(c.credits, 0), coalesce(s.n, 0))
  from orgs o
  left join usage u on u.org = o.org
  left join (select e.organization_id as org, sum(-e.amount_credits) as credits from entries e where e.entry_type = 'consume' group by 1) c on c.org = o.org
  left join (select r.organization_id as org, count(*) as n from public.credit_reservations r where r.status = 'settled' group by 1) s on s.org = o.org
  where coalesce(u.credits, 0) <> coalesce(c.credits, 0) or coalesce(u.calls, 0) <> coalesce(s.n, 0)
union all
select format('org %s: %s reservations for %s in the %s from %s, its plan allows %s', x.org, x.n, x.capability_code, x.span, x.start,
    case x.span when 'hour' then pc.rate_limit_per_hour else pc.rate_limit_per_day end)
  from (
    select r.organization_id as org, r.capability_code, w.span, w.start, count(*) as n
    from public.credit_reservations r
    cross join lateral (values ('hour', date_trunc('hour', r.created_at at time zone 'UTC')),
                               ('day', date_trunc('day', r.created_at at time zone 'UTC'))) as w (span, start)
    where r.organization_id in (select org from orgs) and r.capability_code is not null
    group by 1, 2, 3, 4
  ) x
  join public.organization_subscriptions s on s.organization_id = x.org
  join public.plan_capabilities pc on pc.plan_id = s.plan_id and pc.capability_code = x.capability_code
  where x.n > case x.span when 'hour' then pc.rate_limit_per_hour else pc.rate_limit_per_day end
union all
select format('org %s: the rate counters of %s say %s calls in the hour from %s and %s on %s, its reservations %s and %s', u.organization_id,
    u.capability_code, u.hour_calls, u.hour_start, u.day_calls, u.day, c.hour, c.day)
  from public.organization_rate_usage u
  cross join lateral (
    select count(*) filter (where r.created_at >= u.hour_start and r.created_at < u.hour_start + interval '1 hour') as hour,
           count(*) filter (where (r.created_at at time zone 'UTC')::date = u.day) as day
    from public.credit_reservations r where r.organization_id = u.organization_id and r.capability_code = u.capability_code
  ) c
  where u.organization_id in (select org from orgs) and (u.hour_calls, u.day_calls) <> (c.hour, c.day)`;

/**
 * One row per broken spend limit among the organizations $1, at the time $2 (no call of the round is
 * dated later): the counter of $2's UTC day or month (the counters only move forward, so none is
 * later) plus what is reserved stays within the daily and monthly limits, and no settle charged more
 * than the per-call limit (its holds were within it, and a settle above the hold is capped by it).
 */
const SPEND_LIMITS_SQL = `
select format('org %s: %s consumed on %s + %s reserved passes its daily limit %s', b.organization_id, b.spend_day_credits, b.spend_day,
    h.held_credits - b.released_credits, l.daily_limit_credits) as problem
  from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id
  join public.spend_limits l on l.organization_id = b.organization_id
  where b.organization_id = any($1::uuid[])
    and case when b.spend_day >= ($2::timestamptz at time zone 'UTC')::date then b.spend_day_credits else 0 end
      + h.held_credits - b.released_credits > l.daily_limit_credits
union all
select format('org %s: %s consumed in %s + %s reserved passes its monthly limit %s', b.organization_id, b.spend_month_credits, b.spend_month,
    h.held_credits - b.released_credits, l.monthly_limit_credits)
  from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id
  join public.spend_limits l on l.organization_id = b.organization_id
  where b.organization_id = any($1::uuid[])
    and case when b.spend_month >= date_trunc('month', $2::timestamptz at time zone 'UTC')::date then b.spend_month_credits else 0 end
      + h.held_credits - b.released_credits > l.monthly_limit_credits
union all
select format('reservation %s (hold %s) of org %s was charged %s, its per-call limit is %s', r.id, r.amount_credits, r.organization_id,
    r.settled_amount_credits, l.per_call_limit_credits)
  from public.credit_reservations r join public.spend_limits l on l.organization_id = r.organization_id
  where r.organization_id = any($1::uuid[]) and r.settled_amount_credits > l.per_call_limit_credits`;

/** Each org's balance, reserved and available (balance - reserved) from its maintained rows, as text. */
async function rowState(orgs: string[]) {
  const { rows } = await pool.query<{ org: string; balance: string; debt: string; reserved: string; available: string }>(
    `select b.organization_id as org,
       (b.allowance_remaining_credits + b.purchased_remaining_credits + b.bonus_remaining_credits - b.debt_credits)::text as balance,
       b.debt_credits::text as debt, (h.held_credits - b.released_credits)::text as reserved,
       (b.allowance_remaining_credits + b.purchased_remaining_credits + b.bonus_remaining_credits - b.debt_credits
         - (h.held_credits - b.released_credits))::text as available
     from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id
     where b.organization_id = any($1::uuid[])`,
    [orgs],
  );
  return new Map(rows.map((r) => [r.org, r]));
}

// ---------------------------------------------------------------------------------------------
// Calls and what each may answer
// ---------------------------------------------------------------------------------------------

type Outcome = { ok: true; value: unknown } | { ok: false; code: LedgerErrorCode };

interface Call {
  label: string;
  /** The ledger codes this call may be refused with; anything else fails the test. */
  allowed: readonly LedgerErrorCode[];
  run: () => Promise<unknown>;
  outcome?: Outcome;
}

interface OpenHold {
  id: string;
  org: string;
  amount: string;
  expires_at: Date;
}

const SOURCES = ['plan_allowance', 'purchase', 'auto_top_up', 'promotion', 'adjustment', 'migration'] as const;

describe('the ledger under mixed concurrent calls on several organizations', () => {
  it('keeps every invariant after and during each round, answers only documented codes and leaves nothing behind a refusal', async () => {
    const rand = generator(SEED);
    const at = (what: string) => `seed ${SEED}: ${what}`;
    // A call that waits this long is stuck: it fails (and the test with it) instead of the run timing out.
    // Set on this file's own database, so every racing connection opened below has it.
    await pool.query(`alter database "${db.name}" set statement_timeout = '20s'`);
    const racers = db.newPool(90);

    const orgs = [await createOrg(pool, 'team'), await createOrg(pool, 'pro'), await createOrg(pool, 'free')];
    // Buckets of every source, priority and kind of expiry; the short ones come due in the first rounds.
    for (const [i, org] of orgs.entries()) {
      await grant(pool, org, credits(40_000 + i * 5_000), 'plan_allowance', 'allowance', { priority: 0 });
      await grant(pool, org, credits(15_250 + i * 1_000), 'promotion', 'promo-soon', {
        priority: 50,
        expiresAt: seconds(T0, 1_500 + i * 600),
      });
      await grant(pool, org, credits(60_000), 'purchase', 'cs_initial');
      await grant(pool, org, credits(10_125), 'adjustment', 'goodwill', { expiresAt: null });
      await grant(pool, org, credits(20_000 - i * 3_000), 'migration', 'legacy', { priority: 150, expiresAt: seconds(T0, 4_000) });
      await grant(pool, org, credits(25_500), 'auto_top_up', 'auto_topup:initial', { expiresAt: seconds(T0, 2 * 86_400) });
    }
    // The second org has spend limits: its reserves meet them, and its settles above the hold are capped by them.
    const limited = orgs[1]!;
    await pool.query(
      'insert into public.spend_limits (organization_id, per_call_limit_credits, daily_limit_credits, monthly_limit_credits) values ($1, 15, 1000, 1800)',
      [limited],
    );

    const seen = {
      codes: {} as Record<string, number>,
      settleBelow: 0,
      settleEqual: 0,
      settleAbove: 0,
      capped: 0,
      cappedWithLimits: 0,
      released: 0,
      expiredByJob: 0,
      reserves: 0,
      grants: 0,
      clawbacks: 0,
      roundsEndingInDebt: 0,
      conflictsAnswered: 0,
      notFoundProbes: 0,
      calls: 0,
    };
    let serial = 0;

    for (let round = 1; round <= ROUNDS; round++) {
      const t = seconds(T0, round * ROUND_SECONDS);
      const callNow = () => seconds(t, rand.int(0, 20)); // each caller read the clock at its own moment
      const where = (what: string) => at(`round ${round}: ${what}`);

      const before = await rowState(orgs);
      const { rows: openRows } = await pool.query<OpenHold>(
        `select id, organization_id as org, amount_credits::text as amount, expires_at from public.credit_reservations
         where organization_id = any($1::uuid[]) and status = 'open' order by id`,
        [orgs],
      );
      const { rows: grantRows } = await pool.query<{ id: string; org: string }>(
        `select id, organization_id as org from public.credit_grants where organization_id = any($1::uuid[]) and remaining_credits > 0 order by id`,
        [orgs],
      );

      const calls: Call[] = [];
      const add = (call: Call) => {
        calls.push(call);
        return call;
      };
      const resolves: { hold: OpenHold; tries: { call: Call; action: 'settle' | 'release'; actual?: string; wrongOrg: boolean }[] }[] = [];
      const reserveGroups: { org: string; key: string; tries: { call: Call; amount: string }[] }[] = [];
      const grantGroups: { org: string; ref: string; conflicting: boolean; tries: { call: Call; amount: string }[] }[] = [];
      const clawbackGroups: { org: string; ref: string; conflicting: boolean; tries: { call: Call; amount: string }[] }[] = [];
      const reads: { org: string; call: Call }[] = [];
      const clawedBack = new Set<string>();

      for (const [i, org] of orgs.entries()) {
        const other = orgs[(i + 1) % orgs.length]!;
        const state = before.get(org)!;

        // Resolve some open holds: settle below, at or above the hold, or release; some twice at
        // once, some past their expiry (so the job races for them too), some probed by another org.
        const holds = rand.shuffle(openRows.filter((h) => h.org === org)).slice(0, 7);
        for (const hold of holds) {
          const group: (typeof resolves)[number] = { hold, tries: [] };
          const tries = rand.chance(0.35) ? 2 : 1;
          for (let n = 0; n < tries; n++) {
            const kind = rand.pick(['below', 'equal', 'above', 'above', 'release'] as const);
            const now = callNow();
            const byOrg = rand.chance(0.5) ? org : undefined;
            if (kind === 'release') {
              const call = add({
                label: `release ${hold.id}`,
                allowed: ['RESERVATION_ALREADY_RESOLVED'],
                run: () => release(racers, hold.id, { org: byOrg, now }),
              });
              group.tries.push({ call, action: 'release', wrongOrg: false });
            } else {
              const hold1000 = milli(hold.amount);
              const actual = credits(
                kind === 'below'
                  ? BigInt(rand.int(0, Number(hold1000) - 1))
                  : kind === 'equal'
                    ? hold1000
                    : hold1000 + BigInt(rand.int(1, 25_000)),
              );
              const call = add({
                label: `settle ${hold.id} (hold ${hold.amount}) with ${actual}`,
                allowed: ['RESERVATION_ALREADY_RESOLVED'],
                run: () => settle(racers, hold.id, actual, { org: byOrg, now }),
              });
              group.tries.push({ call, action: 'settle', actual, wrongOrg: false });
            }
          }
          if (rand.chance(0.1)) {
            const now = callNow();
            const call = add({
              label: `settle ${hold.id} of org ${org} named as org ${other}`,
              allowed: ['RESERVATION_NOT_FOUND'],
              run: () => settle(racers, hold.id, hold.amount, { org: other, now }),
            });
            group.tries.push({ call, action: 'settle', actual: hold.amount, wrongOrg: true });
          }
          resolves.push(group);
        }

        // New holds, a few of them raced by a call with the same key (same or other arguments). On the
        // free plan half of them name a capability it limits to 5 calls an hour and 20 a day.
        for (let n = 0; n < 6; n++) {
          const capability = i === 2 && n % 2 === 0 ? 'summarization' : null;
          const key = `r${round}-${n}-${serial++}`;
          const amount = credits(rand.int(1, 20_000));
          const ttl = rand.pick([60, 240, 700, 1_500, 3_000]);
          const group: (typeof reserveGroups)[number] = { org, key, tries: [] };
          const amounts = [amount];
          if (rand.chance(0.15)) amounts.push(amount);
          else if (rand.chance(0.1)) amounts.push(credits(milli(amount) + 1_000n));
          const conflicting = new Set(amounts).size > 1;
          for (const a of amounts) {
            const now = callNow();
            const refusals: LedgerErrorCode[] = ['INSUFFICIENT_CREDITS'];
            if (capability) refusals.push('RATE_LIMITED');
            if (org === limited) refusals.push('SPEND_LIMIT_EXCEEDED');
            if (conflicting) refusals.push('IDEMPOTENCY_CONFLICT');
            const call = add({
              label: `reserve ${a}${capability ? ` for ${capability}` : ''} as ${key} for org ${org}`,
              allowed: refusals,
              run: () => reserve(racers, org, a, key, { capability, ttlSeconds: ttl, now }),
            });
            group.tries.push({ call, amount: a });
          }
          reserveGroups.push(group);
        }

        // New grants (which repay any debt first), of every source, priority and kind of expiry.
        for (let n = 0, count = rand.int(1, 2); n < count; n++) {
          const ref = `g${round}-${n}-${serial++}`;
          const source = rand.pick(SOURCES);
          const amount = credits(rand.int(5_000, 60_000));
          const now = callNow();
          const expiresIn = rand.pick([null, 300, 900, 1_800, 30 * 86_400] as const);
          const options = {
            priority: rand.pick([null, 0, 50, 100, 150] as const),
            expiresAt: expiresIn === null ? null : seconds(now, expiresIn),
          };
          const amounts = [amount];
          if (rand.chance(0.15)) amounts.push(amount);
          else if (rand.chance(0.1)) amounts.push(credits(milli(amount) + 500n));
          const conflicting = new Set(amounts).size > 1;
          const group: (typeof grantGroups)[number] = { org, ref, conflicting, tries: [] };
          for (const a of amounts) {
            const grantNow = callNow();
            const call = add({
              label: `grant ${a} ${source} as ${ref} to org ${org}`,
              allowed: conflicting ? ['IDEMPOTENCY_CONFLICT'] : [],
              run: () => grant(racers, org, a, source, ref, { ...options, now: grantNow }),
            });
            group.tries.push({ call, amount: a });
          }
          grantGroups.push(group);
        }

        // Clawbacks: in turn each org gets one larger than its balance (debt); others at random,
        // some from a named grant first.
        const forceDebt = round % 5 === i % 5;
        if (forceDebt || rand.chance(0.4)) {
          const ref = `refund:${round}-${serial++}`;
          const balance = milli(state.balance);
          const amount = credits(
            forceDebt ? (balance > 0n ? balance : 0n) + BigInt(rand.int(1_000, 15_000)) : BigInt(rand.int(1_000, 25_000)),
          );
          const ownGrants = grantRows.filter((g) => g.org === org);
          const grantId = ownGrants.length > 0 && rand.chance(0.4) ? rand.pick(ownGrants).id : undefined;
          const amounts = [amount];
          if (rand.chance(0.15)) amounts.push(amount);
          else if (rand.chance(0.1)) amounts.push(credits(milli(amount) + 250n));
          const conflicting = new Set(amounts).size > 1;
          const group: (typeof clawbackGroups)[number] = { org, ref, conflicting, tries: [] };
          for (const a of amounts) {
            const now = callNow();
            const call = add({
              label: `clawback ${a} as ${ref} from org ${org}${grantId ? ` grant ${grantId} first` : ''}`,
              allowed: conflicting ? ['IDEMPOTENCY_CONFLICT'] : [],
              run: () => clawback(racers, org, a, ref, { grantId, now }),
            });
            group.tries.push({ call, amount: a });
          }
          clawbackGroups.push(group);
          clawedBack.add(org);
        }

        for (let n = 0; n < 2; n++) {
          const now = callNow();
          const call = add({
            label: `get_credit_balance of org ${org}`,
            allowed: [],
            run: async () => (await racers.query<Balance>('select * from public.get_credit_balance($1, $2)', [org, now])).rows[0],
          });
          reads.push({ org, call });
        }
      }

      // The jobs (over every org, one at a time in id order), twice each with their own clock.
      const jobTimes = [seconds(t, rand.int(0, 25)), seconds(t, rand.int(0, 25))];
      const reservationJobs = jobTimes.map((now) =>
        add({
          label: `expire_reservations(${now.toISOString()})`,
          allowed: [],
          run: async () => (await racers.query<{ n: number }>('select public.expire_reservations($1) as n', [now])).rows[0]!.n,
        }),
      );
      for (const now of jobTimes)
        add({
          label: `expire_grants(${now.toISOString()})`,
          allowed: [],
          run: () => racers.query('select public.expire_grants($1)', [now]),
        });
      // The invariants read in the middle of the race, at whatever committed state they see.
      const latest = seconds(t, 25); // no call of the round is dated later
      const midRaceChecks = [0, 1].map(() =>
        add({
          label: 'the invariants, read mid-race',
          allowed: [],
          run: async () => (await racers.query<{ problem: string }>(INVARIANTS_SQL, [orgs])).rows.map((r) => r.problem),
        }),
      );
      const midRaceSpendChecks = [0, 1].map(() =>
        add({
          label: 'the spend limits, read mid-race',
          allowed: [],
          run: async () => (await racers.query<{ problem: string }>(SPEND_LIMITS_SQL, [orgs, latest])).rows.map((r) => r.problem),
        }),
      );

      // All at once, in a random order.
      rand.shuffle(calls);
      const settled = await Promise.allSettled(calls.map((c) => c.run()));
      seen.calls += calls.length;
      const unexpected: string[] = [];
      for (const [n, result] of settled.entries()) {
        const call = calls[n]!;
        if (result.status === 'fulfilled') {
          call.outcome = { ok: true, value: result.value };
          continue;
        }
        const ledger = ledgerErrorFromPg(result.reason);
        if (!ledger) {
          const e = result.reason as { code?: string; message?: string };
          unexpected.push(`${call.label}: ${e.code ?? 'no SQLSTATE'} ${e.message ?? String(result.reason)}`);
          continue;
        }
        call.outcome = { ok: false, code: ledger.code };
        seen.codes[ledger.code] = (seen.codes[ledger.code] ?? 0) + 1;
        if (!call.allowed.includes(ledger.code)) unexpected.push(`${call.label}: ${ledger.code} ${ledger.message}`);
      }
      // No deadlock (40P01), serialization failure (40001), timeout or other error; only the codes each call may answer.
      expect(unexpected, where('calls answered what they may not')).toEqual([]);

      const ok = (c: Call) => c.outcome!.ok;
      const value = <T>(c: Call) => (c.outcome as { ok: true; value: T }).value;
      const code = (c: Call) => (c.outcome!.ok ? undefined : c.outcome!.code);

      for (const check of midRaceChecks) expect(value<string[]>(check), where('an invariant was broken mid-race')).toEqual([]);
      for (const check of midRaceSpendChecks) expect(value<string[]>(check), where('a spend limit was passed mid-race')).toEqual([]);

      // Each hold resolved exactly once: by one of its calls, or (only when due) by the job.
      const { rows: resolvedRows } = await pool.query<{ id: string; status: string; settled: string | null; capped: boolean }>(
        `select id, status, settled_amount_credits::text as settled, capped from public.credit_reservations where id = any($1::uuid[])`,
        [resolves.map((r) => r.hold.id)],
      );
      const resolvedById = new Map(resolvedRows.map((r) => [r.id, r]));
      const lastJob = Math.max(...jobTimes.map((d) => d.getTime()));
      for (const { hold, tries } of resolves) {
        const row = resolvedById.get(hold.id)!;
        const label = where(
          `hold ${hold.id} of ${hold.amount}: ${tries.map((x) => `${x.call.label} -> ${code(x.call) ?? 'ok'}`).join('; ')} -> ${row.status}`,
        );
        for (const x of tries.filter((x) => x.wrongOrg)) {
          expect(code(x.call), label).toBe('RESERVATION_NOT_FOUND');
          seen.notFoundProbes++;
        }
        const own = tries.filter((x) => !x.wrongOrg);
        const won = own.filter((x) => ok(x.call));
        expect(won.length, label).toBeLessThanOrEqual(1);
        const winner = won[0];
        if (!winner) {
          // Every call was refused as already resolved: the job expired it, so it was due.
          expect(row.status, label).toBe('expired');
          expect(hold.expires_at.getTime(), label).toBeLessThanOrEqual(lastJob);
          seen.expiredByJob++;
          continue;
        }
        const answer = value<ReservationRow>(winner.call);
        expect(answer.id, label).toBe(hold.id);
        if (winner.action === 'release') {
          expect(row.status, label).toBe('released');
          expect(answer.status, label).toBe('released');
          seen.released++;
          continue;
        }
        expect(row.status, label).toBe('settled');
        expect({ settled: answer.settled_amount_credits, capped: answer.capped }, label).toEqual({
          settled: row.settled,
          capped: row.capped,
        });
        const charged = milli(row.settled!);
        const actual = milli(winner.actual!);
        const hold1000 = milli(hold.amount);
        // Never more than asked; capped exactly when less.
        expect(charged <= actual, label).toBe(true);
        expect(row.capped, label).toBe(charged < actual);
        if (row.capped) seen.capped++;
        if (row.capped && hold.org === limited) seen.cappedWithLimits++;
        if (actual < hold1000) seen.settleBelow++;
        else if (actual === hold1000) seen.settleEqual++;
        else seen.settleAbove++;
      }

      // The job counted exactly the holds it expired.
      const expiredByJobs = reservationJobs.reduce((sum, c) => sum + value<number>(c), 0);
      const { rows: expiredRows } = await pool.query<{ n: number }>(
        `select count(*)::int as n from public.credit_reservations where status = 'expired' and resolved_at = any($1::timestamptz[])`,
        [jobTimes],
      );
      expect(expiredByJobs, where('expire_reservations returned')).toBe(expiredRows[0]!.n);

      // Reserves: one reservation per key when any call made it, all answers the same; none when all were refused.
      const { rows: reservationRows } = await pool.query<{ org: string; key: string; id: string; amount: string }>(
        `select organization_id as org, idempotency_key as key, id, amount_credits::text as amount from public.credit_reservations
         where (organization_id, idempotency_key) in (select * from unnest($1::uuid[], $2::text[]))`,
        [reserveGroups.map((g) => g.org), reserveGroups.map((g) => g.key)],
      );
      const reservationByKey = new Map(reservationRows.map((r) => [`${r.org}/${r.key}`, r]));
      for (const group of reserveGroups) {
        const row = reservationByKey.get(`${group.org}/${group.key}`);
        const won = group.tries.filter((x) => ok(x.call));
        const label = where(`reserve ${group.key}: ${group.tries.map((x) => `${x.amount} -> ${code(x.call) ?? 'ok'}`).join(', ')}`);
        if (won.length === 0) {
          expect(row, label).toBeUndefined();
          continue;
        }
        seen.reserves++;
        expect(new Set(won.map((x) => value<ReservationRow>(x.call).id)), label).toEqual(new Set([row?.id]));
        expect(new Set(won.map((x) => x.amount)), label).toEqual(new Set([row!.amount]));
        for (const x of group.tries.filter((x) => code(x.call) === 'IDEMPOTENCY_CONFLICT')) {
          expect(x.amount, label).not.toBe(row!.amount);
          seen.conflictsAnswered++;
        }
      }

      // Grants and clawbacks: made once per reference, with the winner's amount; a conflicting call made nothing.
      const { rows: grantMade } = await pool.query<{ org: string; ref: string; id: string; amount: string }>(
        `select organization_id as org, external_ref as ref, id, amount_credits::text as amount from public.credit_grants
         where (organization_id, external_ref) in (select * from unnest($1::uuid[], $2::text[]))`,
        [grantGroups.map((g) => g.org), grantGroups.map((g) => g.ref)],
      );
      const { rows: clawbackMade } = await pool.query<{ org: string; ref: string; id: string; amount: string }>(
        `select organization_id as org, external_ref as ref, id::text, (-amount_credits)::text as amount from public.credit_ledger_entries
         where entry_type = 'clawback' and (organization_id, external_ref) in (select * from unnest($1::uuid[], $2::text[]))`,
        [clawbackGroups.map((g) => g.org), clawbackGroups.map((g) => g.ref)],
      );
      for (const [kind, groups, made] of [
        ['grant', grantGroups, grantMade],
        ['clawback', clawbackGroups, clawbackMade],
      ] as const) {
        const byRef = new Map(made.map((r) => [`${r.org}/${r.ref}`, r]));
        for (const group of groups) {
          const row = byRef.get(`${group.org}/${group.ref}`);
          const won = group.tries.filter((x) => ok(x.call));
          const label = where(`${kind} ${group.ref}: ${group.tries.map((x) => `${x.amount} -> ${code(x.call) ?? 'ok'}`).join(', ')}`);
          expect(row, label).toBeDefined();
          expect(won.length, label).toBe(group.conflicting ? 1 : group.tries.length);
          expect(new Set(won.map((x) => String(value<GrantRow | { id: string }>(x.call).id))), label).toEqual(new Set([row!.id]));
          expect(won[0]!.amount, label).toBe(row!.amount);
          seen.conflictsAnswered += group.tries.length - won.length;
          if (kind === 'grant') seen.grants++;
          else seen.clawbacks++;
        }
      }

      // The invariants after the round, and what available and debt did.
      const problems = (await pool.query<{ problem: string }>(INVARIANTS_SQL, [orgs])).rows.map((r) => r.problem);
      expect(problems, where('an invariant was broken after the round')).toEqual([]);
      const spendProblems = (await pool.query<{ problem: string }>(SPEND_LIMITS_SQL, [orgs, latest])).rows.map((r) => r.problem);
      expect(spendProblems, where('a spend limit was passed after the round')).toEqual([]);
      const after = await rowState(orgs);
      for (const org of orgs) {
        const [b, a] = [before.get(org)!, after.get(org)!];
        if (milli(a.debt) > 0n) seen.roundsEndingInDebt++;
        if (clawedBack.has(org)) continue;
        // Without a clawback, nothing makes available negative, or more negative than it was; nor adds debt.
        const label = where(`org ${org} without a clawback: available ${b.available} -> ${a.available}, debt ${b.debt} -> ${a.debt}`);
        expect(milli(a.available) >= min0(milli(b.available)), label).toBe(true);
        expect(milli(a.debt) <= milli(b.debt), label).toBe(true);
      }
      // Each read mid-race: available = balance - reserved, nothing reserved below zero, and the same
      // floor for available as above (a read sees some committed state between the round's start and end).
      for (const { org, call } of reads) {
        const r = value<Balance>(call);
        const label = where(`get_credit_balance of org ${org}: ${JSON.stringify(r)}, available ${before.get(org)!.available} at the start`);
        expect(milli(r.available_credits), label).toBe(milli(r.balance_credits) - milli(r.reserved_credits));
        expect(milli(r.reserved_credits) >= 0n && milli(r.debt_credits) >= 0n, label).toBe(true);
        if (!clawedBack.has(org)) expect(milli(r.available_credits) >= min0(milli(before.get(org)!.available)), label).toBe(true);
      }
    }

    // At the end, the sweep alone at the last clock: every grant due then holds at most what open holds keep back.
    const end = seconds(T0, (ROUNDS + 1) * ROUND_SECONDS);
    await pool.query('select public.expire_grants($1)', [end]);
    const { rows: dueLeft } = await pool.query<{ problem: string }>(
      `select format('org %s: grants due at %s still hold %s, open holds %s', b.organization_id, $2::timestamptz, due.credits,
         h.held_credits - b.released_credits) as problem
       from public.credit_balances b join public.credit_holds h on h.organization_id = b.organization_id
       cross join lateral (select coalesce(sum(g.remaining_credits), 0) as credits from public.credit_grants g
         where g.organization_id = b.organization_id and g.expires_at <= $2) due
       where b.organization_id = any($1::uuid[]) and due.credits > greatest(0, h.held_credits - b.released_credits)`,
      [orgs, end],
    );
    expect(dueLeft, at('expire_grants left due credits')).toEqual([]);
    expect((await pool.query<{ problem: string }>(INVARIANTS_SQL, [orgs])).rows, at('invariants at the end')).toEqual([]);

    // The run raced what it claims to race.
    const { rows: coverage } = await pool.query<{ repaid: number; expired_grants: number }>(
      `select (select count(*)::int from public.credit_ledger_entries where organization_id = any($1::uuid[]) and description like '%repaid debt%') as repaid,
              (select count(*)::int from public.credit_ledger_entries where organization_id = any($1::uuid[]) and entry_type = 'expire') as expired_grants`,
      [orgs],
    );
    const { rows: version } = await pool.query<{ server_version: string }>('show server_version');
    const summary = {
      postgres: version[0]!.server_version,
      seed: SEED,
      rounds: ROUNDS,
      ...seen,
      grantsRepayingDebt: coverage[0]!.repaid,
      expireEntries: coverage[0]!.expired_grants,
    };
    console.log(`ledger races: ${JSON.stringify(summary)}`);
    for (const [name, count] of Object.entries({
      settleBelow: seen.settleBelow,
      settleEqual: seen.settleEqual,
      settleAbove: seen.settleAbove,
      capped: seen.capped,
      released: seen.released,
      expiredByJob: seen.expiredByJob,
      roundsEndingInDebt: seen.roundsEndingInDebt,
      grantsRepayingDebt: coverage[0]!.repaid,
      expireEntries: coverage[0]!.expired_grants,
      insufficient: seen.codes.INSUFFICIENT_CREDITS ?? 0,
      alreadyResolved: seen.codes.RESERVATION_ALREADY_RESOLVED ?? 0,
      rateLimited: seen.codes.RATE_LIMITED ?? 0,
      spendLimited: seen.codes.SPEND_LIMIT_EXCEEDED ?? 0,
      cappedWithLimits: seen.cappedWithLimits,
    }))
      expect(count, at(`the run never raced ${name}: ${JSON.stringify(summary)}`)).toBeGreaterThan(0);
  }, 120_000);
});
