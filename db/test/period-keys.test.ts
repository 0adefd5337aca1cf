// A billing period is identified by its start instant (allowance refs, usage notification keys),
// and get_credit_balance's buckets are what the expiry would leave (migration 1795322402000).
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../src/testing.ts';
import { balance, createOrg, grant, PLAN, reserve, settle } from './ledger-helpers.ts';

const db = await useTestDatabase();
const pool = db.pool;
const t = (iso: string) => new Date(iso);

const allowanceGrants = async (org: string) =>
  (
    await pool.query<{ external_ref: string; amount_credits: string }>(
      `select external_ref, amount_credits from public.credit_grants
       where organization_id = $1 and source = 'plan_allowance' order by created_at, external_ref`,
      [org],
    )
  ).rows;

const unreadUsage = async (org: string) =>
  (
    await pool.query<{ dedupe_key: string }>(
      `select dedupe_key from public.notifications where organization_id = $1 and read_at is null order by created_at, dedupe_key`,
      [org],
    )
  ).rows.map((r) => r.dedupe_key);

const notify = (now: Date) => pool.query('select public.notify_usage_thresholds($1)', [now]);

/** Uses `amount` of the org's credits through one reserve and settle. */
async function use(org: string, amount: string, key: string, now: Date) {
  const r = await reserve(pool, org, amount, key, { now });
  await settle(pool, r.id, amount, { now: new Date(now.getTime() + 1000) });
}

const dueForRoll = async (org: string, now: Date) =>
  (await pool.query<{ d: string }>('select d from public.roll_billing_periods_due($1) d where d = $2', [now, org])).rowCount === 1;

describe('a billing period that starts on the same UTC day as the one before', () => {
  it('a checkout on the day the free period began grants the whole paid allowance, as on the next day', async () => {
    const sameDay = await createOrg(pool, 'free'); // period 2030-01-01 00:00 .. 2030-02-01
    const nextDay = await createOrg(pool, 'free');
    await pool.query('select public.roll_billing_periods($1)', [t('2030-01-01T00:05:00Z')]);
    const checkout = (org: string, start: string, end: string) =>
      pool.query('select public.apply_plan_change($1, $2, $3, $4, $5, $6)', [
        org,
        PLAN.pro,
        `sub_${org.slice(0, 8)}`,
        t(start),
        t(end),
        new Date(t(start).getTime() + 5000),
      ]);
    await checkout(sameDay, '2030-01-01T15:00:00Z', '2030-02-01T15:00:00Z');
    await checkout(nextDay, '2030-01-02T15:00:00Z', '2030-02-02T15:00:00Z');
    // A period starting at midnight UTC keeps the date-only ref; another, its start instant.
    expect(await allowanceGrants(sameDay)).toEqual([
      { external_ref: 'plan_allowance:2030-01-01', amount_credits: '10.000' },
      { external_ref: 'plan_allowance:2030-01-01T15:00:00Z', amount_credits: '500.000' },
    ]);
    expect(await allowanceGrants(nextDay)).toEqual([
      { external_ref: 'plan_allowance:2030-01-01', amount_credits: '10.000' },
      { external_ref: 'plan_allowance:2030-01-02T15:00:00Z', amount_credits: '500.000' },
    ]);
    const now = t('2030-01-02T16:00:00Z');
    expect((await balance(pool, sameDay, now)).available_credits).toBe('510.000');
    expect((await balance(pool, nextDay, now)).available_credits).toBe('510.000');
    // The roll finds both periods granted, and an upgrade in the period grants the difference.
    expect(await dueForRoll(sameDay, now)).toBe(false);
    await pool.query('select public.apply_plan_change($1, $2, p_now => $3)', [sameDay, PLAN.team, now]);
    expect((await allowanceGrants(sameDay)).at(-1)).toEqual({
      external_ref: `plan_upgrade:2030-01-01T15:00:00Z:${PLAN.team}`,
      amount_credits: '1500.000',
    });
  });

  it("notifies 80 % of the paid period's allowance though the free period begun that day was notified 80 %", async () => {
    const org = await createOrg(pool, 'free');
    await pool.query('select public.roll_billing_period($1, $2)', [org, t('2030-01-01T00:05:00Z')]);
    await use(org, '10', 'free-use', t('2030-01-01T10:00:00Z'));
    await notify(t('2030-01-01T10:15:00Z'));
    expect(await unreadUsage(org)).toEqual(['usage:2030-01-01:100']);
    await pool.query('select public.apply_plan_change($1, $2, $3, $4, $5, $6)', [
      org,
      PLAN.pro,
      'sub_same_day',
      t('2030-01-01T15:00:00Z'),
      t('2030-02-01T15:00:00Z'),
      t('2030-01-01T15:00:05Z'),
    ]);
    await use(org, '460', 'pro-use', t('2030-01-20T10:00:00Z')); // 92 % of 500
    await notify(t('2030-01-20T10:15:00Z'));
    expect(await unreadUsage(org)).toEqual(['usage:2030-01-01:100', 'usage:2030-01-01T15:00:00Z:80']);
  });

  it('writes the key of a period starting at any instant in UTC, whatever the session TimeZone', async () => {
    const client = await pool.connect();
    try {
      await client.query("set timezone = 'Pacific/Auckland'");
      const { rows } = await client.query<{ ref: string }>(
        'select public.allowance_ref(s) as ref from unnest($1::timestamptz[]) with ordinality as u(s, n) order by n',
        [['2030-01-01T00:00:00Z', '2030-01-01T15:00:00Z', '2030-01-01T15:00:00.25Z']],
      );
      expect(rows.map((r) => r.ref)).toEqual([
        'plan_allowance:2030-01-01',
        'plan_allowance:2030-01-01T15:00:00Z',
        'plan_allowance:2030-01-01T15:00:00.250000Z',
      ]);
    } finally {
      await client.query('reset timezone');
      client.release();
    }
  });
});

describe('ledger.period_allowance_missing: what grant_period_allowance grants and the plan-change preview shows', () => {
  const missing = async (org: string, periodStart: Date, allowance: string) =>
    (await pool.query<{ m: string }>('select ledger.period_allowance_missing($1, $2, $3)::text as m', [org, periodStart, allowance]))
      .rows[0]!.m;

  it("counts the period's allowance grants only, never below 0, and is what an upgrade grants", async () => {
    const org = await createOrg(pool, 'free');
    await pool.query('select public.roll_billing_periods($1)', [t('2030-01-01T00:05:00Z')]);
    const start = t('2030-01-10T15:00:00Z');
    await pool.query('select public.apply_plan_change($1, $2, $3, $4, $5, $6)', [
      org,
      PLAN.pro,
      `sub_${org.slice(0, 8)}`,
      start,
      t('2030-02-10T15:00:00Z'),
      new Date(start.getTime() + 5000),
    ]);
    // Neither another source in the period nor the free period's allowance counts.
    await grant(pool, org, '70', 'promotion', `promo-${org}`, { now: t('2030-01-11T00:00:00Z') });
    expect(await missing(org, start, '2000')).toBe('1500.000');
    expect(await missing(org, start, '500')).toBe('0.000');
    expect(await missing(org, start, '300')).toBe('0.000');
    expect(await missing(org, t('2030-01-01T00:00:00Z'), '500')).toBe('490.000');
    // The upgrade grants exactly that; then nothing is missing, the difference counted with the allowance.
    await pool.query('select public.apply_plan_change($1, $2, p_now => $3)', [org, PLAN.team, t('2030-01-12T00:00:00Z')]);
    expect((await allowanceGrants(org)).at(-1)).toEqual({
      external_ref: `plan_upgrade:2030-01-10T15:00:00Z:${PLAN.team}`,
      amount_credits: '1500.000',
    });
    expect(await missing(org, start, '2000')).toBe('0.000');
    expect(await missing(org, start, '2000.001')).toBe('0.001');
  });
});

describe('refs and keys written date-only before the change', () => {
  // As the previous code left an org that checked out Pro at 10:15 on the day its free period began:
  // free's 10 (plan_allowance:2030-01-12, 00:05), 8 of them used and notified (80 %, 08:00), then
  // only Pro's difference, 490 (plan_upgrade:2030-01-12:<pro>, 10:15:05), and Pro's 50 % notice
  // (20 January).
  async function legacySameDayOrg() {
    const org = await createOrg(pool, 'free');
    const start = t('2030-01-12T10:15:00Z');
    const end = t('2030-02-12T10:15:00Z');
    await grant(pool, org, '10', 'plan_allowance', 'plan_allowance:2030-01-12', {
      expiresAt: t('2030-02-12T00:00:00Z'),
      priority: 0,
      effectiveAt: t('2030-01-12T00:00:00Z'),
      now: t('2030-01-12T00:05:00Z'),
    });
    await use(org, '8', 'free-use', t('2030-01-12T07:00:00Z'));
    await pool.query(
      `update public.organization_subscriptions
       set plan_id = $2, current_period_start = $3, current_period_end = $4, billing_anchor_at = $3 where organization_id = $1`,
      [org, PLAN.pro, start, end],
    );
    await grant(pool, org, '490', 'plan_allowance', `plan_upgrade:2030-01-12:${PLAN.pro}`, {
      expiresAt: end,
      priority: 0,
      effectiveAt: start,
      now: t('2030-01-12T10:15:05Z'),
    });
    const notice = (key: string, at: Date) =>
      pool.query(
        `insert into public.notifications (organization_id, kind, title, body, dedupe_key, created_at)
         values ($1, 'usage_threshold', 'usage', 'usage', $2, $3)`,
        [org, key, at],
      );
    await notice('usage:2030-01-12:80', t('2030-01-12T08:00:00Z'));
    await notice('usage:2030-01-12:50', t('2030-01-20T00:00:00Z'));
    return org;
  }

  it("count for the period they were written in, not for the same day's period before it: the roll and the notices", async () => {
    const org = await legacySameDayOrg();
    const now = t('2030-01-21T10:05:00Z');
    // Pro's period has only its 490: due for the roll, which grants the 10 missing, once.
    expect(await dueForRoll(org, now)).toBe(true);
    await pool.query('select public.roll_billing_periods($1)', [now]);
    await pool.query('select public.roll_billing_periods($1)', [now]);
    expect(await dueForRoll(org, now)).toBe(false);
    expect(await allowanceGrants(org)).toEqual([
      { external_ref: 'plan_allowance:2030-01-12', amount_credits: '10.000' },
      { external_ref: `plan_upgrade:2030-01-12:${PLAN.pro}`, amount_credits: '490.000' },
      { external_ref: 'plan_allowance:2030-01-12T10:15:00Z', amount_credits: '10.000' },
    ]);
    // 410 used: free's 2 left first (burn order), then 408 of Pro's 500, over 80 %. Pro's own 50 %
    // notice (date-only) stands; free's 80 % one is not Pro's.
    await use(org, '410', 'use', t('2030-01-21T11:00:00Z'));
    await notify(t('2030-01-21T11:15:00Z'));
    const { rows } = await pool.query<{ dedupe_key: string; read: boolean }>(
      `select dedupe_key, read_at is not null as read from public.notifications where organization_id = $1 order by created_at, dedupe_key`,
      [org],
    );
    expect(rows).toEqual([
      { dedupe_key: 'usage:2030-01-12:80', read: false },
      { dedupe_key: 'usage:2030-01-12:50', read: false },
      { dedupe_key: 'usage:2030-01-12T10:15:00Z:80', read: false },
    ]);
  });

  it("count for the period they were written in, not for the same day's period before it: an unpaid period's allowance taken back", async () => {
    const org = await legacySameDayOrg();
    const taken = await pool.query<{ n: string }>("select public.revoke_period_allowance($1, 'unpaid', $2)::text as n", [
      org,
      t('2030-01-21T00:00:00Z'),
    ]);
    expect(taken.rows[0]!.n).toBe('490.000');
    expect(
      (
        await pool.query(
          `select external_ref, remaining_credits from public.credit_grants where organization_id = $1 order by created_at`,
          [org],
        )
      ).rows,
    ).toEqual([
      { external_ref: 'plan_allowance:2030-01-12', remaining_credits: '2.000' },
      { external_ref: `plan_upgrade:2030-01-12:${PLAN.pro}`, remaining_credits: '0.000' },
    ]);
  });
});

describe('get_credit_balance while a hold keeps part of the grants past expiry', () => {
  const columns = (b: Awaited<ReturnType<typeof balance>>) => ({
    allowance: b.allowance_remaining_credits,
    purchased: b.purchased_remaining_credits,
    bonus: b.bonus_remaining_credits,
    reserved: b.reserved_credits,
    balance: b.balance_credits,
    available: b.available_credits,
  });

  it('its buckets add up to its balance, as the expiry at the same instant leaves them (the docs example)', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'promotion', 'promo', { expiresAt: t('2030-01-15T12:01:40Z'), now: t('2030-01-15T11:00:00Z') });
    await reserve(pool, org, '8', 'r1', { now: t('2030-01-15T12:00:00Z') });
    const when = t('2030-01-15T12:03:20Z');
    const read = columns(await balance(pool, org, when));
    expect(read).toEqual({
      allowance: '0.000',
      purchased: '0.000',
      bonus: '8.000',
      reserved: '8.000',
      balance: '8.000',
      available: '0.000',
    });
    await pool.query('select public.expire_organization_grants($1, $2)', [org, when]);
    expect(columns(await balance(pool, org, when))).toEqual(read);
  });

  it('takes the expiring credits from the buckets in expiry order: the allowance first', async () => {
    const org = await createOrg(pool);
    const expiresAt = t('2030-01-15T12:01:40Z');
    const now = t('2030-01-15T11:00:00Z');
    await grant(pool, org, '6', 'plan_allowance', 'allowance', { expiresAt, priority: 0, now });
    await grant(pool, org, '6', 'promotion', 'promo', { expiresAt, now });
    await grant(pool, org, '3', 'purchase', 'cs', { now });
    await reserve(pool, org, '10', 'r1', { now: t('2030-01-15T12:00:00Z') });
    // 12 due, balance 15, 10 held: 5 expire now, all from the allowance, which expires first.
    const when = t('2030-01-15T12:03:20Z');
    const read = columns(await balance(pool, org, when));
    expect(read).toEqual({
      allowance: '1.000',
      purchased: '3.000',
      bonus: '6.000',
      reserved: '10.000',
      balance: '10.000',
      available: '0.000',
    });
    await pool.query('select public.expire_organization_grants($1, $2)', [org, when]);
    expect(columns(await balance(pool, org, when))).toEqual(read);
  });

  it('the view organization_credit_balances (now) shows the same', async () => {
    const org = await createOrg(pool);
    await pool.query(
      `select public.grant_credits($1, 10, 'promotion', 'promo', p_expires_at => now() - interval '1 hour',
         p_now => now() - interval '2 hours')`,
      [org],
    );
    await pool.query(`select public.reserve_credits($1, 8, 'r1', p_ttl_seconds => 86400, p_now => now() - interval '90 minutes')`, [org]);
    const { rows } = await pool.query(
      `select bonus_remaining_credits, balance_credits, available_credits from public.organization_credit_balances where organization_id = $1`,
      [org],
    );
    expect(rows).toEqual([{ bonus_remaining_credits: '8.000', balance_credits: '8.000', available_credits: '0.000' }]);
  });
});
