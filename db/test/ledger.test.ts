import { describe, expect, it } from 'vitest';
import { seed } from '../src/index.ts';
import { useTestDatabase } from '../src/testing.ts';
import {
  at,
  balance,
  clawback,
  createOrg,
  DAY,
  expectRefusedUnchanged,
  grant,
  indexReads,
  inGenericPlanTransaction,
  ledgerCode,
  ledgerError,
  ledgerSumAndBalance,
  ledgerTableCounts,
  release,
  reserve,
  settle,
  snapshot,
  T0,
} from './ledger-helpers.ts';

const db = await useTestDatabase();
const pool = db.pool;

const NO_ORG = '00000000-0000-4000-8000-00000000dead';
const ACME = '0a000000-0000-4000-8000-000000000001';
const GLOBEX = '0a000000-0000-4000-8000-000000000002';

describe('seeded demo organizations', () => {
  it('have their allowance, a purchased top-up and (Acme) a promotion, with a ledger that sums to the balance', async () => {
    // Read when the seeds ran (the template may be older than this run: the allowance they granted
    // ends with that month).
    const { rows } = await pool.query<{ at: Date }>(
      'select max(created_at) as at from public.credit_grants where organization_id = any($1::uuid[])',
      [[ACME, GLOBEX]],
    );
    const seededAt = rows[0]!.at;
    const acme = await balance(pool, ACME, seededAt);
    expect(acme).toMatchObject({
      allowance_remaining_credits: '500.000',
      purchased_remaining_credits: '1400.000',
      bonus_remaining_credits: '50.000',
      available_credits: '1950.000',
    });
    const globex = await balance(pool, GLOBEX, seededAt);
    expect(globex).toMatchObject({
      allowance_remaining_credits: '10.000',
      purchased_remaining_credits: '500.000',
      available_credits: '510.000',
    });
    for (const org of [ACME, GLOBEX]) {
      const { sum, balance: b } = await ledgerSumAndBalance(pool, org);
      expect(sum).toBe(b);
    }
  });
});

describe('seeds', () => {
  it('can run again (the dev database runs them on every start) without changing anything', async () => {
    const before = await Promise.all([snapshot(pool, ACME), snapshot(pool, GLOBEX), ledgerTableCounts(pool)]);
    await seed(db.url);
    expect(await Promise.all([snapshot(pool, ACME), snapshot(pool, GLOBEX), ledgerTableCounts(pool)])).toEqual(before);
  });
});

describe('burn order', () => {
  it('consumes the plan allowance first, then by priority, then earliest expiry, then oldest', async () => {
    const org = await createOrg(pool);
    const late = await grant(pool, org, '10', 'purchase', 'p-late', { expiresAt: at(300 * DAY) });
    const never = await grant(pool, org, '10', 'promotion', 'promo-never', { expiresAt: null });
    const soon = await grant(pool, org, '10', 'promotion', 'promo-soon', { expiresAt: at(10 * DAY) });
    const prioritized = await grant(pool, org, '10', 'purchase', 'p-priority', { expiresAt: at(400 * DAY), priority: 50 });
    const older = await grant(pool, org, '10', 'purchase', 'p-same-expiry-older', { expiresAt: at(300 * DAY), now: at(-60) });
    const allowance = await grant(pool, org, '10', 'plan_allowance', 'allowance', { expiresAt: at(16 * DAY) });

    const r = await reserve(pool, org, '60', 'all');
    await settle(pool, r.id, '55.5');
    const { rows } = await pool.query<{ grant_id: string; amount_credits: string; balance_after_credits: string }>(
      `select grant_id, amount_credits, balance_after_credits from public.credit_ledger_entries
       where reservation_id = $1 and entry_type = 'consume' order by id`,
      [r.id],
    );
    expect(rows.map((e) => [e.grant_id, e.amount_credits])).toEqual([
      [allowance.id, '-10.000'],
      [prioritized.id, '-10.000'],
      [soon.id, '-10.000'],
      [older.id, '-10.000'],
      [late.id, '-10.000'],
      [never.id, '-5.500'],
    ]);
    expect(rows.map((e) => e.balance_after_credits)).toEqual(['50.000', '40.000', '30.000', '20.000', '10.000', '4.500']);
    expect(await balance(pool, org)).toMatchObject({
      available_credits: '4.500',
      reserved_credits: '0.000',
      bonus_remaining_credits: '4.500',
    });
  });

  it('draws from the same order for a clawback, starting with the named grant', async () => {
    const org = await createOrg(pool);
    const allowance = await grant(pool, org, '5', 'plan_allowance', 'a', { expiresAt: at(DAY) });
    const bought = await grant(pool, org, '20', 'purchase', 'cs_1');
    await clawback(pool, org, '22', 're_1', { grantId: bought.id });
    const { rows } = await pool.query<{ id: string; remaining_credits: string }>(
      'select id, remaining_credits from public.credit_grants where organization_id = $1',
      [org],
    );
    const remaining = Object.fromEntries(rows.map((g) => [g.id, g.remaining_credits]));
    expect(remaining).toEqual({ [bought.id]: '0.000', [allowance.id]: '3.000' });
  });
});

describe('grants', () => {
  it('granting twice with one external reference grants once', async () => {
    const org = await createOrg(pool);
    const first = await grant(pool, org, '25', 'purchase', 'cs_twice');
    const before = await snapshot(pool, org);
    const second = await grant(pool, org, '25', 'purchase', 'cs_twice');
    expect(second.id).toBe(first.id);
    expect(await snapshot(pool, org)).toBe(before);
  });

  it('a purchase expires 365 days after it takes effect, an allowance at the end of the current period', async () => {
    const org = await createOrg(pool);
    const bought = await grant(pool, org, '1', 'purchase', 'cs_exp');
    expect(bought.expires_at).toEqual(at(365 * DAY));
    const allowance = await grant(pool, org, '1', 'plan_allowance', 'period');
    expect(allowance.expires_at).toEqual(new Date('2030-02-01T00:00:00Z'));
  });

  it('refuses an allowance with no expiry for an org that has no subscription period', async () => {
    const org = await createOrg(pool);
    await pool.query('delete from public.organization_subscriptions where organization_id = $1', [org]);
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => grant(pool, org, '10', 'plan_allowance', 'no-period'));
    expect((await grant(pool, org, '10', 'plan_allowance', 'no-period', { expiresAt: at(DAY) })).expires_at).toEqual(at(DAY));
  });

  it('refuses bad input with INVALID_INPUT or IDEMPOTENCY_CONFLICT and changes nothing', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '5', 'purchase', 'cs_taken');
    for (const [amount, source, ref, code] of [
      ['0', 'purchase', 'x1', 'INVALID_INPUT'],
      ['-1', 'purchase', 'x2', 'INVALID_INPUT'],
      ['1.0001', 'purchase', 'x3', 'INVALID_INPUT'],
      ['1', 'gift', 'x4', 'INVALID_INPUT'],
      ['1', 'purchase', '', 'INVALID_INPUT'],
      ['6', 'purchase', 'cs_taken', 'IDEMPOTENCY_CONFLICT'],
    ] as const) {
      await expectRefusedUnchanged(pool, org, code, () => grant(pool, org, amount, source, ref));
    }
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => grant(pool, org, '1', 'promotion', 'past', { expiresAt: at(-1) }));
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => grant(pool, org, '1', 'promotion', 'future', { effectiveAt: at(60) }));
  });

  it('to an unknown organization fails with ORGANIZATION_NOT_FOUND and changes nothing anywhere', async () => {
    const before = await ledgerTableCounts(pool);
    expect(await ledgerCode(grant(pool, NO_ORG, '1', 'promotion', 'nobody'))).toBe('ORGANIZATION_NOT_FOUND');
    expect(await ledgerCode(reserve(pool, NO_ORG, '1', 'k'))).toBe('ORGANIZATION_NOT_FOUND');
    expect(await ledgerCode(clawback(pool, NO_ORG, '1', 're'))).toBe('ORGANIZATION_NOT_FOUND');
    expect(await ledgerCode(settle(pool, NO_ORG, '1'))).toBe('RESERVATION_NOT_FOUND');
    expect(await ledgerCode(release(pool, NO_ORG))).toBe('RESERVATION_NOT_FOUND');
    expect(await ledgerTableCounts(pool)).toBe(before);
  });
});

describe('reservations', () => {
  it('hold credits: available falls by the hold, and the same key returns the same reservation', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    const r = await reserve(pool, org, '4', 'call-1');
    expect(r).toMatchObject({ status: 'open', amount_credits: '4.000', expires_at: at(600) });
    const before = await snapshot(pool, org);
    expect((await reserve(pool, org, '4', 'call-1')).id).toBe(r.id);
    expect(await snapshot(pool, org)).toBe(before);
    expect(await balance(pool, org)).toMatchObject({ reserved_credits: '4.000', available_credits: '6.000', balance_credits: '10.000' });
  });

  it('reserving again with a key after the reservation resolved still returns it, unchanged', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    const r = await reserve(pool, org, '4', 'done');
    await settle(pool, r.id, '3');
    const again = await reserve(pool, org, '4', 'done');
    expect(again).toMatchObject({ id: r.id, status: 'settled', settled_amount_credits: '3.000' });
  });

  it('refuses a reserve that would make available negative with INSUFFICIENT_CREDITS and changes nothing', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    await reserve(pool, org, '7', 'a');
    await expectRefusedUnchanged(pool, org, 'INSUFFICIENT_CREDITS', () => reserve(pool, org, '3.001', 'b'));
    const error = await ledgerError(reserve(pool, org, '3.001', 'b'));
    expect(error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', detail: { available: '3.000', required: '3.001' } });
    expect(error.message).toContain(org);
    expect((await reserve(pool, org, '3', 'b')).status).toBe('open');
  });

  it('refuses bad arguments and a reused key with different arguments, changing nothing', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    await reserve(pool, org, '1', 'used');
    await expectRefusedUnchanged(pool, org, 'IDEMPOTENCY_CONFLICT', () => reserve(pool, org, '2', 'used'));
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => reserve(pool, org, '0', 'k'));
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => reserve(pool, org, '0.0005', 'k'));
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => reserve(pool, org, '1', ''));
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => reserve(pool, org, '1', 'k', { ttlSeconds: 0 }));
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => reserve(pool, org, '1', 'k', { quality: 'fast' }));
  });

  it('checks the plan: a capability or quality level the plan lacks is refused with the smallest plan that has it', async () => {
    const org = await createOrg(pool, 'free');
    await grant(pool, org, '10', 'purchase', 'cs');
    await expectRefusedUnchanged(pool, org, 'CAPABILITY_NOT_IN_PLAN', () =>
      reserve(pool, org, '1', 'k', { capability: 'image_captioning', quality: 'fast' }),
    );
    await expectRefusedUnchanged(pool, org, 'QUALITY_NOT_IN_PLAN', () =>
      reserve(pool, org, '1', 'k', { capability: 'summarization', quality: 'enhanced' }),
    );
    const error = await ledgerError(reserve(pool, org, '1', 'k', { capability: 'summarization', quality: 'premium' }));
    expect(error).toMatchObject({ code: 'QUALITY_NOT_IN_PLAN', detail: { required_plan_code: 'team' } });
    const ok = await reserve(pool, org, '1', 'k', { capability: 'summarization', quality: 'fast' });
    expect(ok.model_id).toBe('google/gemini-2.5-flash');
  });

  it('refuses an unknown or retired capability and an unknown quality level as bad input, not as something to upgrade for', async () => {
    const org = await createOrg(pool, 'free');
    await grant(pool, org, '10', 'purchase', 'cs');
    // Before: CAPABILITY_NOT_IN_PLAN / QUALITY_NOT_IN_PLAN (upgrade, to no plan), and a retired
    // capability was reserved.
    const unknown = await ledgerError(reserve(pool, org, '1', 'k', { capability: 'no_such_capability', quality: 'fast' }));
    expect(unknown).toMatchObject({ code: 'INVALID_INPUT', detail: { field: 'capability_code', value: 'no_such_capability' } });
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () =>
      reserve(pool, org, '1', 'k', { capability: 'no_such_capability', quality: 'fast' }),
    );
    const quality = await ledgerError(reserve(pool, org, '1', 'k', { capability: 'summarization', quality: 'ultra' }));
    expect(quality).toMatchObject({ code: 'INVALID_INPUT', detail: { field: 'quality_level_code', value: 'ultra' } });
    await pool.query(`update public.ai_capabilities set is_active = false where code = 'summarization'`);
    try {
      await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () =>
        reserve(pool, org, '1', 'k', { capability: 'summarization', quality: 'fast' }),
      );
    } finally {
      await pool.query(`update public.ai_capabilities set is_active = true where code = 'summarization'`);
    }
    expect((await reserve(pool, org, '1', 'k', { capability: 'summarization', quality: 'fast' })).status).toBe('open');
  });

  it('enforces the plan rate limit per UTC hour with retry_after_seconds, and lets calls through again next hour', async () => {
    const org = await createOrg(pool, 'free'); // summarization: 5 an hour, 20 a day
    await grant(pool, org, '100', 'purchase', 'cs');
    const opts = { capability: 'summarization', quality: 'fast' };
    for (let i = 0; i < 5; i++) await reserve(pool, org, '1', `h${i}`, { ...opts, now: at(i) });
    await expectRefusedUnchanged(pool, org, 'RATE_LIMITED', () => reserve(pool, org, '1', 'h5', { ...opts, now: at(10) }));
    const error = await ledgerError(reserve(pool, org, '1', 'h5', { ...opts, now: at(10) }));
    // T0 is 12:00:00, so the hour ends 3,590 s after 12:00:10.
    expect(error.detail).toMatchObject({ window: 'hour', limit: 5, retry_after_seconds: 3590 });
    expect((await reserve(pool, org, '1', 'h5', { ...opts, now: at(3600) })).status).toBe('open');
  });

  it('enforces spend limits per call, per UTC day (consumed + held) and per UTC month', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '1000', 'purchase', 'cs');
    await pool.query(
      'insert into public.spend_limits (organization_id, daily_limit_credits, monthly_limit_credits, per_call_limit_credits) values ($1, 10, 18, 6)',
      [org],
    );
    await expectRefusedUnchanged(pool, org, 'SPEND_LIMIT_EXCEEDED', () => reserve(pool, org, '6.001', 'big'));
    const a = await reserve(pool, org, '6', 'a');
    await settle(pool, a.id, '5');
    const b = await reserve(pool, org, '4', 'b'); // 5 consumed + 4 held today
    await expectRefusedUnchanged(pool, org, 'SPEND_LIMIT_EXCEEDED', () => reserve(pool, org, '1.001', 'c'));
    const c = await reserve(pool, org, '1', 'c');
    await settle(pool, b.id, '4');
    await settle(pool, c.id, '1');
    // The next day the daily count starts again, but the month's (10 consumed) carries on.
    const d = await reserve(pool, org, '6', 'd', { now: at(DAY) });
    await settle(pool, d.id, '6', { now: at(DAY) });
    const error = await ledgerError(reserve(pool, org, '2.001', 'f', { now: at(DAY) }));
    expect(error).toMatchObject({ code: 'SPEND_LIMIT_EXCEEDED', detail: { limit: 'monthly', used: '16.000', limit_credits: '18.000' } });
    expect((await reserve(pool, org, '2', 'f', { now: at(DAY) })).status).toBe('open');
  });
  it("answers the monthly limit when both the monthly and the daily limit refuse: only the month's end lets a retry pass", async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '1000', 'purchase', 'cs');
    await pool.query('insert into public.spend_limits (organization_id, daily_limit_credits, monthly_limit_credits) values ($1, 10, 12)', [
      org,
    ]);
    const a = await reserve(pool, org, '9', 'a');
    await settle(pool, a.id, '9');
    // 9 + 4 passes both; before migration 1795322403400 the answer was the daily limit, retry at
    // midnight (43,200 s after T0), where the monthly limit refused again.
    await expectRefusedUnchanged(pool, org, 'SPEND_LIMIT_EXCEEDED', () => reserve(pool, org, '4', 'both'));
    const both = await ledgerError(reserve(pool, org, '4', 'both'));
    // T0 is 15 January 12:00 UTC: 16 days and 12 hours to 1 February.
    expect(both.detail).toMatchObject({ limit: 'monthly', limit_credits: '12.000', used: '9.000', retry_after_seconds: 1_425_600 });
    // 9 + 2 passes only the daily limit: that one is answered.
    const daily = await ledgerError(reserve(pool, org, '2', 'day'));
    expect(daily.detail).toMatchObject({ limit: 'daily', limit_credits: '10.000', retry_after_seconds: 43_200 });
    expect((await reserve(pool, org, '2', 'next-day', { now: at(DAY) })).status).toBe('open');
  });
  it('never moves a spend counter back, and counts a settle dated before midnight that runs after one dated after it in the new day', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '1000', 'purchase', 'cs');
    await pool.query('insert into public.spend_limits (organization_id, daily_limit_credits) values ($1, 15)', [org]);
    // T0 is 12:00 UTC: the day ends 12 hours later.
    const beforeMidnight = at(12 * 3600 - 1);
    const afterMidnight = at(12 * 3600 + 1);
    const a = await reserve(pool, org, '7', 'a', { now: beforeMidnight });
    const b = await reserve(pool, org, '7', 'b', { now: beforeMidnight });
    await settle(pool, b.id, '7', { now: afterMidnight });
    await settle(pool, a.id, '7', { now: beforeMidnight });
    const { rows } = await pool.query('select spend_day::text, spend_day_credits from public.credit_balances where organization_id = $1', [
      org,
    ]);
    // Before migration 1795322403000 the late settle counted in no day (7.000): with replicas' clocks
    // apart, calls dated the old day went past the limit once one dated the new day had run.
    expect(rows[0]).toEqual({ spend_day: '2030-01-16', spend_day_credits: '14.000' });
    await expectRefusedUnchanged(pool, org, 'SPEND_LIMIT_EXCEEDED', () => reserve(pool, org, '1.001', 'c', { now: at(12 * 3600 + 60) }));
    await expectRefusedUnchanged(pool, org, 'SPEND_LIMIT_EXCEEDED', () => reserve(pool, org, '1.001', 'c', { now: beforeMidnight }));
    expect((await reserve(pool, org, '1', 'c', { now: at(12 * 3600 + 60) })).status).toBe('open');
  });
});

describe('settling and releasing', () => {
  it('settling for less returns the rest; for more charges the extra only as far as credits are available (capped)', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    const small = await settle(pool, (await reserve(pool, org, '4', 'small')).id, '1.25');
    expect(small).toMatchObject({ status: 'settled', settled_amount_credits: '1.250', capped: false });
    expect((await balance(pool, org)).available_credits).toBe('8.750');
    const big = await settle(pool, (await reserve(pool, org, '2', 'big')).id, '50');
    expect(big).toMatchObject({ settled_amount_credits: '8.750', capped: true });
    expect(await balance(pool, org)).toMatchObject({ available_credits: '0.000', reserved_credits: '0.000' });
  });

  it('extra beyond the hold never takes credits another open reservation holds', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    const other = await reserve(pool, org, '6', 'other');
    const r = await reserve(pool, org, '2', 'r');
    expect((await settle(pool, r.id, '5')).settled_amount_credits).toBe('4.000');
    expect((await settle(pool, other.id, '6')).settled_amount_credits).toBe('6.000');
  });

  describe('extra beyond the hold stays within the spend limits (capped), never cutting the hold', () => {
    const limits = (org: string, l: { perCall?: string; daily?: string; monthly?: string }) =>
      pool.query(
        `insert into public.spend_limits (organization_id, per_call_limit_credits, daily_limit_credits, monthly_limit_credits)
         values ($1, $2, $3, $4)
         on conflict (organization_id) do update set per_call_limit_credits = excluded.per_call_limit_credits,
           daily_limit_credits = excluded.daily_limit_credits, monthly_limit_credits = excluded.monthly_limit_credits`,
        [org, l.perCall ?? null, l.daily ?? null, l.monthly ?? null],
      );
    const counters = async (org: string) =>
      (
        await pool.query<{ day: string; month: string }>(
          'select spend_day_credits::text as day, spend_month_credits::text as month from public.credit_balances where organization_id = $1',
          [org],
        )
      ).rows[0];

    it('per call and per day: a hold of 0.725 settled for 3,000.200 with limits of 1 is charged 1', async () => {
      const org = await createOrg(pool);
      await grant(pool, org, '5000', 'purchase', 'cs');
      await limits(org, { perCall: '1', daily: '1' });
      const r = await reserve(pool, org, '0.725', 'r');
      expect(await settle(pool, r.id, '3000.2')).toMatchObject({ settled_amount_credits: '1.000', capped: true });
      expect(await counters(org)).toEqual({ day: '1.000', month: '1.000' });
      expect(await balance(pool, org)).toMatchObject({ available_credits: '4999.000', reserved_credits: '0.000' });
      expect(await ledgerSumAndBalance(pool, org)).toEqual({ sum: '4999.000', balance: '4999.000' });
    });

    it('per call: the whole charge, hold included, within the limit', async () => {
      const org = await createOrg(pool);
      await grant(pool, org, '100', 'purchase', 'cs');
      await limits(org, { perCall: '5' });
      const r = await reserve(pool, org, '2', 'r');
      expect(await settle(pool, r.id, '50')).toMatchObject({ settled_amount_credits: '5.000', capped: true });
      // Within the limit the actual amount is charged, uncapped.
      const s = await reserve(pool, org, '2', 's');
      expect(await settle(pool, s.id, '4.5')).toMatchObject({ settled_amount_credits: '4.500', capped: false });
    });

    it("per day: the day's consumed plus every open hold, this one included, within the limit", async () => {
      const org = await createOrg(pool);
      await grant(pool, org, '100', 'purchase', 'cs');
      await limits(org, { daily: '10' });
      await settle(pool, (await reserve(pool, org, '3', 'a')).id, '3');
      const other = await reserve(pool, org, '4', 'other');
      const r = await reserve(pool, org, '2', 'r');
      // 10 − 3 consumed − 6 held = 1 above the hold of 2.
      expect(await settle(pool, r.id, '50')).toMatchObject({ settled_amount_credits: '3.000', capped: true });
      expect(await counters(org)).toEqual({ day: '6.000', month: '6.000' });
      // The other hold can still be charged in full: 6 consumed + 4 = 10.
      expect(await settle(pool, other.id, '4')).toMatchObject({ settled_amount_credits: '4.000', capped: false });
    });

    it("per month: yesterday's consumption counts against the month, not the day", async () => {
      const org = await createOrg(pool);
      await limits(org, { daily: '15', monthly: '20' });
      await grant(pool, org, '100', 'purchase', 'cs-yesterday', { now: at(-DAY) });
      await settle(pool, (await reserve(pool, org, '15', 'a', { now: at(-DAY) })).id, '15', { now: at(-DAY) });
      const r = await reserve(pool, org, '2', 'r');
      // The day has 15 − 0 − 2 = 13 of room, the month 20 − 15 − 2 = 3.
      expect(await settle(pool, r.id, '10')).toMatchObject({ settled_amount_credits: '5.000', capped: true });
      expect(await counters(org)).toEqual({ day: '5.000', month: '20.000' });
    });

    it("a settle dated before the counter's day counts that later day's consumption, as a reserve does", async () => {
      const org = await createOrg(pool);
      await grant(pool, org, '100', 'purchase', 'cs');
      await limits(org, { daily: '10' });
      // T0 is 12:00 UTC: the day ends 12 hours later.
      const beforeMidnight = at(12 * 3600 - 1);
      const afterMidnight = at(12 * 3600 + 1);
      const a = await reserve(pool, org, '2', 'a', { now: beforeMidnight });
      const b = await reserve(pool, org, '2', 'b', { now: beforeMidnight });
      // The new day: 10 − 0 − 4 held = 6 above the hold; 7 fits.
      expect(await settle(pool, a.id, '7', { now: afterMidnight })).toMatchObject({ settled_amount_credits: '7.000', capped: false });
      // Dated the day before, run after: the new day's 7 count, 10 − 7 − 2 = 1 above the hold.
      expect(await settle(pool, b.id, '9', { now: beforeMidnight })).toMatchObject({ settled_amount_credits: '3.000', capped: true });
    });

    it('limits lowered after the reserve never cut the hold the reserve admitted', async () => {
      const org = await createOrg(pool);
      await grant(pool, org, '100', 'purchase', 'cs');
      await limits(org, { perCall: '6', daily: '10' });
      const r = await reserve(pool, org, '5', 'r');
      const s = await reserve(pool, org, '3', 's');
      await limits(org, { perCall: '1', daily: '1' });
      expect(await settle(pool, r.id, '8')).toMatchObject({ settled_amount_credits: '5.000', capped: true });
      expect(await settle(pool, s.id, '3')).toMatchObject({ settled_amount_credits: '3.000', capped: false });
    });

    it('the smaller of what is available and what the limits leave bounds the extra', async () => {
      const org = await createOrg(pool);
      await grant(pool, org, '10', 'purchase', 'cs');
      await limits(org, { perCall: '100' });
      const r = await reserve(pool, org, '2', 'r');
      expect(await settle(pool, r.id, '50')).toMatchObject({ settled_amount_credits: '10.000', capped: true });
    });
  });

  it('a reservation resolves once: a second settle or release fails with RESERVATION_ALREADY_RESOLVED and changes nothing', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    const settled = await reserve(pool, org, '2', 's');
    await settle(pool, settled.id, '1');
    const released = await reserve(pool, org, '2', 'r');
    expect((await release(pool, released.id, { reason: 'call failed' })).status).toBe('released');
    expect((await balance(pool, org)).available_credits).toBe('9.000');
    for (const id of [settled.id, released.id]) {
      await expectRefusedUnchanged(pool, org, 'RESERVATION_ALREADY_RESOLVED', () => settle(pool, id, '1'));
      await expectRefusedUnchanged(pool, org, 'RESERVATION_ALREADY_RESOLVED', () => release(pool, id));
    }
  });

  it('another organization cannot settle or release a reservation, nor learn that it exists', async () => {
    const org = await createOrg(pool);
    const intruder = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    const r = await reserve(pool, org, '2', 'mine');
    await expectRefusedUnchanged(pool, org, 'RESERVATION_NOT_FOUND', () => settle(pool, r.id, '1', { org: intruder }));
    await expectRefusedUnchanged(pool, org, 'RESERVATION_NOT_FOUND', () => release(pool, r.id, { org: intruder }));
    expect(await ledgerCode(settle(pool, NO_ORG, '1', { org: intruder }))).toBe('RESERVATION_NOT_FOUND');
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => settle(pool, r.id, '1.0001', { org }));
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => settle(pool, r.id, '-1', { org }));
  });

  it('finds the reservation it resolves by its id, never by reading the open holds, whatever the planner knows of them', async () => {
    // Many resolved reservations make the primary key deeper than the index of open holds, which
    // is what once led the planner to find the one row by reading every open hold instead.
    const org = await createOrg(pool);
    await grant(pool, org, '100000', 'purchase', 'many');
    await pool.query(
      `select public.release_reservation((public.reserve_credits($1, 1, 'done-' || i, p_now => $2)).id, p_now => $2)
       from generate_series(1, 2000) as i`,
      [org, T0],
    );
    // The statistics are taken while nothing is open, and the holds open after: a plan made then
    // thinks the index of open holds nearly empty.
    await pool.query('vacuum analyze public.credit_reservations');
    await pool.query(`select public.reserve_credits($1, 1, 'open-' || i, p_now => $2) from generate_series(1, 50) as i`, [org, T0]);
    const toSettle = await reserve(pool, org, '2', 'to-settle');
    const toRelease = await reserve(pool, org, '2', 'to-release');
    const reads = await inGenericPlanTransaction(pool, (client) =>
      indexReads(client, ['public.credit_reservations_open_idx', 'public.credit_reservations_pkey'], async () => {
        await settle(client, toSettle.id, '1', { org });
        await release(client, toRelease.id, { org });
      }),
    );
    expect(reads['public.credit_reservations_open_idx']!.scans).toBe(0);
    expect(reads['public.credit_reservations_pkey']!.scans).toBeGreaterThanOrEqual(2);
    expect((await balance(pool, org)).reserved_credits).toBe('50.000');
  });

  it('finds the grant to draw from without stepping over the grants that expired before it', async () => {
    // A year of monthly allowances, each past its period and marked expired, sort first in burn
    // order (allowance first, earliest expiry first); the settle's charge must come from the one
    // grant still alive without reading them.
    const org = await createOrg(pool);
    for (let month = 12; month >= 1; month--) {
      await grant(pool, org, '10', 'plan_allowance', `period-${month}`, {
        now: at(-(month + 1) * 30 * DAY),
        expiresAt: at(-month * 30 * DAY),
      });
    }
    await pool.query('select public.expire_grants($1)', [at(-DAY)]);
    const bought = await grant(pool, org, '100', 'purchase', 'cs_alive');
    const r = await reserve(pool, org, '2', 'after-a-year');
    // As autovacuum would have by then: no index entries left of the grants' versions before expiry.
    await pool.query('vacuum public.credit_grants');
    const reads = await inGenericPlanTransaction(pool, async (client) => {
      // This test database holds a few hundred grants, few enough for the planner to sort an
      // organization's grants rather than walk the burn-order index; in a real one that index is
      // the way to the first grant in burn order, so take that way here too.
      await client.query('set local enable_sort = off');
      return indexReads(client, ['public.credit_grants_burn_order_idx'], () => settle(client, r.id, '1.5', { org }));
    });
    expect(reads['public.credit_grants_burn_order_idx']).toEqual({ scans: 1, read: 1 });
    const { rows } = await pool.query<{ grant_id: string; amount_credits: string }>(
      `select grant_id, amount_credits from public.credit_ledger_entries where reservation_id = $1 and entry_type = 'consume'`,
      [r.id],
    );
    expect(rows).toEqual([{ grant_id: bought.id, amount_credits: '-1.500' }]);
    expect(await balance(pool, org)).toMatchObject({ allowance_remaining_credits: '0.000', available_credits: '98.500' });
  });

  it('settling records usage per day, capability and quality level', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    for (const [key, actual] of [
      ['u1', '1.5'],
      ['u2', '0.25'],
    ] as const) {
      const r = await reserve(pool, org, '2', key, { capability: 'summarization', quality: 'premium' });
      await settle(pool, r.id, actual);
    }
    const { rows } = await pool.query('select * from public.get_usage_breakdown($1, $2, $3)', [org, '2030-01-01', '2030-01-31']);
    expect(rows).toEqual([
      expect.objectContaining({ capability_code: 'summarization', quality_level_code: 'premium', calls: 2, credits_consumed: '1.750' }),
    ]);
  });
});

describe('expiry', () => {
  it('the job expires open reservations past their expiry, returning the hold, and leaves the others', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    const short = await reserve(pool, org, '3', 'short', { ttlSeconds: 60 });
    const long = await reserve(pool, org, '3', 'long', { ttlSeconds: 3600 });
    const { rows } = await pool.query<{ n: number }>('select public.expire_reservations($1) as n', [at(60)]);
    expect(rows[0]!.n).toBeGreaterThanOrEqual(1);
    const states = await pool.query<{ id: string; status: string }>(
      'select id, status from public.credit_reservations where organization_id = $1',
      [org],
    );
    expect(Object.fromEntries(states.rows.map((r) => [r.id, r.status]))).toEqual({ [short.id]: 'expired', [long.id]: 'open' });
    expect(await balance(pool, org)).toMatchObject({ reserved_credits: '3.000', available_credits: '7.000' });
    await expectRefusedUnchanged(pool, org, 'RESERVATION_ALREADY_RESOLVED', () => settle(pool, short.id, '1', { now: at(61) }));
  });

  it('grants past their expiry stop counting at once, and the job writes expire entries', async () => {
    const org = await createOrg(pool);
    const promo = await grant(pool, org, '10', 'promotion', 'promo', { expiresAt: at(DAY) });
    await grant(pool, org, '5', 'purchase', 'cs');
    expect(await balance(pool, org, at(DAY - 1))).toMatchObject({
      available_credits: '15.000',
      next_expiry_at: at(DAY),
      next_expiry_credits: '10.000',
    });
    // Before any job runs, the balance read and a reserve already ignore the expired promotion.
    expect(await balance(pool, org, at(DAY))).toMatchObject({ available_credits: '5.000', bonus_remaining_credits: '0.000' });
    expect(await ledgerCode(reserve(pool, org, '5.001', 'k', { now: at(DAY) }))).toBe('INSUFFICIENT_CREDITS');
    const { rows } = await pool.query<{ n: number }>('select public.expire_grants($1) as n', [at(DAY)]);
    expect(rows[0]!.n).toBeGreaterThanOrEqual(1);
    const entries = await pool.query<{ amount_credits: string; balance_after_credits: string }>(
      `select amount_credits, balance_after_credits from public.credit_ledger_entries where grant_id = $1 and entry_type = 'expire'`,
      [promo.id],
    );
    expect(entries.rows).toEqual([{ amount_credits: '-10.000', balance_after_credits: '5.000' }]);
    const after = await pool.query('select remaining_credits, expired_at from public.credit_grants where id = $1', [promo.id]);
    expect(after.rows[0]).toEqual({ remaining_credits: '0.000', expired_at: at(DAY) });
    const { sum, balance: b } = await ledgerSumAndBalance(pool, org);
    expect(sum).toBe(b);
  });

  it('a reserve after a grant expired expires it first (no job needed) and holds from what is left', async () => {
    const org = await createOrg(pool);
    const promo = await grant(pool, org, '10', 'promotion', 'promo', { expiresAt: at(DAY) });
    await grant(pool, org, '5', 'purchase', 'cs');
    const r = await reserve(pool, org, '5', 'after-expiry', { now: at(DAY) });
    expect(r.status).toBe('open');
    const { rows } = await pool.query<{ remaining_credits: string; expired_at: Date }>(
      'select remaining_credits, expired_at from public.credit_grants where id = $1',
      [promo.id],
    );
    expect(rows[0]).toEqual({ remaining_credits: '0.000', expired_at: at(DAY) });
    expect(await balance(pool, org, at(DAY))).toMatchObject({ reserved_credits: '5.000', available_credits: '0.000' });
    const { sum, balance: b } = await ledgerSumAndBalance(pool, org);
    expect([sum, b]).toEqual(['5.000', '5.000']);
  });

  it('credits held by an open reservation outlive their grant until it resolves, so available never goes negative', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'promotion', 'promo', { expiresAt: at(100) });
    const r = await reserve(pool, org, '8', 'held', { ttlSeconds: 600 });
    await pool.query('select public.expire_grants($1)', [at(200)]);
    expect(await balance(pool, org, at(200))).toMatchObject({
      available_credits: '0.000',
      reserved_credits: '8.000',
      balance_credits: '8.000',
    });
    await settle(pool, r.id, '3', { now: at(300) });
    // The 5 returned by the settle belong to the expired grant: they expire with it.
    expect(await balance(pool, org, at(300))).toMatchObject({ available_credits: '0.000', balance_credits: '0.000' });
    const { sum, balance: b } = await ledgerSumAndBalance(pool, org);
    expect([sum, b]).toEqual(['0.000', '0.000']);
  });
});

describe('clawback and debt', () => {
  it('claws back past zero into debt, blocks reserves while in debt, and a later grant repays the debt first', async () => {
    const org = await createOrg(pool);
    const bought = await grant(pool, org, '10', 'purchase', 'cs_1');
    const used = await reserve(pool, org, '8', 'use');
    await settle(pool, used.id, '8');
    const entry = await clawback(pool, org, '10', 're_1', { grantId: bought.id });
    expect(entry).toMatchObject({ amount_credits: '-10.000', balance_after_credits: '-8.000' });
    expect(await balance(pool, org)).toMatchObject({ debt_credits: '8.000', available_credits: '-8.000' });
    await expectRefusedUnchanged(pool, org, 'INSUFFICIENT_CREDITS', () => reserve(pool, org, '0.001', 'blocked'));
    // The same refund again claws back nothing more.
    const before = await snapshot(pool, org);
    expect((await clawback(pool, org, '10', 're_1')).id).toBe(entry.id);
    expect(await snapshot(pool, org)).toBe(before);
    await expectRefusedUnchanged(pool, org, 'IDEMPOTENCY_CONFLICT', () => clawback(pool, org, '9', 're_1'));
    const repaid = await grant(pool, org, '5', 'promotion', 'promo');
    expect(repaid.remaining_credits).toBe('0.000');
    expect(await balance(pool, org)).toMatchObject({ debt_credits: '3.000', available_credits: '-3.000' });
    await grant(pool, org, '4', 'promotion', 'promo-2');
    expect(await balance(pool, org)).toMatchObject({ debt_credits: '0.000', available_credits: '1.000', bonus_remaining_credits: '1.000' });
    const { sum, balance: b } = await ledgerSumAndBalance(pool, org);
    expect([sum, b]).toEqual(['1.000', '1.000']);
  });

  it('refuses a grant of another organization as the one to claw back from', async () => {
    const org = await createOrg(pool);
    const other = await createOrg(pool);
    const theirs = await grant(pool, other, '10', 'purchase', 'cs');
    await grant(pool, org, '10', 'purchase', 'cs');
    await expectRefusedUnchanged(pool, org, 'INVALID_INPUT', () => clawback(pool, org, '1', 're', { grantId: theirs.id }));
  });
});

describe('the ledger', () => {
  it('refuses updates, deletes and truncation of its entries', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    const before = await snapshot(pool, org);
    await expect(
      pool.query('update public.credit_ledger_entries set amount_credits = 1 where organization_id = $1', [org]),
    ).rejects.toThrow(/append-only/);
    await expect(pool.query('delete from public.credit_ledger_entries where organization_id = $1', [org])).rejects.toThrow(/append-only/);
    await expect(pool.query('truncate public.credit_ledger_entries cascade')).rejects.toThrow(/append-only/);
    expect(await snapshot(pool, org)).toBe(before);
  });

  it('the hot tables refuse rows that break their rules, even written directly, with 23514 and the constraint name', async () => {
    const org = await createOrg(pool);
    const g = await grant(pool, org, '10', 'purchase', 'cs-rules');
    const r = await reserve(pool, org, '2', 'rules');
    await settle(pool, r.id, '1');
    const open = await reserve(pool, org, '1', 'rules-open');
    const before = await snapshot(pool, org);
    const refused = async (sql: string, params: unknown[], constraint: string) => {
      const error = await pool.query(sql, params).then(
        () => null,
        (e: { code?: string; constraint?: string }) => e,
      );
      expect({ sql, code: error?.code, constraint: error?.constraint }).toEqual({ sql, code: '23514', constraint });
    };
    const reservations = 'credit_reservations_state_check';
    for (const [set, id] of [
      ["status = 'settled'", open.id],
      ["status = 'released', resolved_at = now(), settled_amount_credits = 1", open.id],
      ["status = 'cancelled', resolved_at = now()", open.id],
      ['resolved_at = now()', open.id],
      ['capped = true', open.id],
      ['amount_credits = 0', open.id],
      ["idempotency_key = ''", open.id],
      ['expires_at = created_at', open.id],
      ['settled_amount_credits = -1', r.id],
    ]) {
      await refused(`update public.credit_reservations set ${set} where id = $1`, [id], reservations);
    }
    const grants = 'credit_grants_state_check';
    for (const set of [
      'remaining_credits = amount_credits + 1',
      'remaining_credits = -0.001',
      "source = 'gift'",
      "external_ref = ''",
      'expires_at = effective_at',
      'expired_at = now()',
    ]) {
      await refused(`update public.credit_grants set ${set} where id = $1`, [g.id], grants);
    }
    const entries = 'credit_ledger_entries_sign_check';
    const entry = `insert into public.credit_ledger_entries (organization_id, entry_type, amount_credits, balance_after_credits)
                   values ($1, $2, $3, 0)`;
    await refused(entry, [org, 'consume', '1'], entries);
    await refused(entry, [org, 'grant', '-1'], entries);
    await refused(entry, [org, 'refund', '1'], entries);
    const balances = 'credit_balances_amounts_check';
    for (const column of ['purchased_remaining_credits', 'debt_credits', 'released_credits', 'spend_day_credits']) {
      await refused(`update public.credit_balances set ${column} = -0.001 where organization_id = $1`, [org], balances);
    }
    expect(await snapshot(pool, org)).toBe(before);
  });

  it('the organization_credit_balances view agrees with get_credit_balance', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs', { now: new Date() });
    const { rows } = await pool.query(
      'select available_credits, purchased_remaining_credits from public.organization_credit_balances where organization_id = $1',
      [org],
    );
    expect(rows).toEqual([{ available_credits: '10.000', purchased_remaining_credits: '10.000' }]);
  });
});
