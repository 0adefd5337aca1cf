// Time at the ledger's edges (migration 1795322401900_time_boundaries): calls commit in another
// order than the times their requests read (p_now), so a call dated just before an hour, a day or
// a month turned can run after calls dated in the new one; and the session's TimeZone must not
// move a date the ledger works out.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../src/testing.ts';
import {
  balance,
  createOrg,
  expectRefusedUnchanged,
  grant,
  ledgerError,
  ledgerSumAndBalance,
  release,
  reserve,
  settle,
  snapshot,
} from './ledger-helpers.ts';

const db = await useTestDatabase();
const pool = db.pool;
const t = (iso: string) => new Date(iso);

async function rateRow(org: string, capability: string) {
  const { rows } = await pool.query(
    `select hour_start, hour_calls, day::text, day_calls from public.organization_rate_usage
     where organization_id = $1 and capability_code = $2`,
    [org, capability],
  );
  return rows[0];
}

describe('rate limit counters only move forward', () => {
  const summarization = { capability: 'summarization', quality: 'fast' }; // free: 5 an hour, 20 a day

  it('a reserve dated before the hour turned counts in the new hour, so the new hour never passes its limit', async () => {
    const org = await createOrg(pool, 'free');
    await grant(pool, org, '1000', 'promotion', 'p', { now: t('2030-01-15T09:00:00Z') });
    for (let i = 0; i < 3; i++) await reserve(pool, org, '1', `new-${i}`, { ...summarization, now: t('2030-01-15T10:00:00.100Z') });
    // Its request read the clock at 09:59:59.9; it commits after the three dated 10:00.
    expect((await reserve(pool, org, '1', 'late', { ...summarization, now: t('2030-01-15T09:59:59.900Z') })).status).toBe('open');
    expect(await rateRow(org, 'summarization')).toEqual({
      hour_start: t('2030-01-15T10:00:00Z'),
      hour_calls: 4,
      day: '2030-01-15',
      day_calls: 4,
    });
    await reserve(pool, org, '1', 'fifth', { ...summarization, now: t('2030-01-15T10:00:01Z') });
    await expectRefusedUnchanged(pool, org, 'RATE_LIMITED', () =>
      reserve(pool, org, '1', 'sixth', { ...summarization, now: t('2030-01-15T10:00:02Z') }),
    );
    // A late one once the new hour is full is refused too, waiting until the end of that hour.
    await expectRefusedUnchanged(pool, org, 'RATE_LIMITED', () =>
      reserve(pool, org, '1', 'late-2', { ...summarization, now: t('2030-01-15T09:59:59.900Z') }),
    );
    const error = await ledgerError(reserve(pool, org, '1', 'late-2', { ...summarization, now: t('2030-01-15T09:59:59.900Z') }));
    expect(error.detail).toMatchObject({ window: 'hour', limit: 5, retry_after_seconds: 3601 });
    const { rows } = await pool.query(
      `select count(*)::int as n from public.credit_reservations where organization_id = $1 and capability_code = 'summarization'`,
      [org],
    );
    expect(rows[0].n).toBe(5);
  });

  it('a reserve dated the day before, after the new day’s limit is used up, is refused until that day ends', async () => {
    const org = await createOrg(pool, 'free');
    await grant(pool, org, '1000', 'promotion', 'p', { now: t('2030-01-15T09:00:00Z') });
    // 20 reserves on 16 January (5 in each hour from 00:00 to 03:00): the daily limit.
    for (let i = 0; i < 20; i++) {
      await reserve(pool, org, '1', `d16-${i}`, {
        ...summarization,
        now: new Date(t('2030-01-16T00:00:00.100Z').getTime() + Math.floor(i / 5) * 3_600_000),
      });
    }
    await expectRefusedUnchanged(pool, org, 'RATE_LIMITED', () =>
      reserve(pool, org, '1', 'late', { ...summarization, now: t('2030-01-15T23:59:59.900Z') }),
    );
    const error = await ledgerError(reserve(pool, org, '1', 'late', { ...summarization, now: t('2030-01-15T23:59:59.900Z') }));
    // The end of 16 January, a day and 0.1 s after the late reserve's time.
    expect(error.detail).toMatchObject({ window: 'day', limit: 20, retry_after_seconds: 86401 });
    expect(await rateRow(org, 'summarization')).toMatchObject({ day: '2030-01-16', day_calls: 20 });
    await expectRefusedUnchanged(pool, org, 'RATE_LIMITED', () =>
      reserve(pool, org, '1', 'd16-more', { ...summarization, now: t('2030-01-16T05:00:00Z') }),
    );
  });

  it('a refusal for credits reads the counter of a later window too (the checks after a refused hold)', async () => {
    const org = await createOrg(pool, 'free');
    await grant(pool, org, '5', 'promotion', 'p', { now: t('2030-01-15T09:00:00Z') });
    for (let i = 0; i < 5; i++) await reserve(pool, org, '1', `new-${i}`, { ...summarization, now: t('2030-01-15T10:00:00.100Z') });
    // No credits are left either: the hourly limit is what the late reserve is told, as at 10:00.
    const error = await ledgerError(reserve(pool, org, '1', 'late', { ...summarization, now: t('2030-01-15T09:59:59.900Z') }));
    expect(error).toMatchObject({ code: 'RATE_LIMITED', detail: { window: 'hour', retry_after_seconds: 3601 } });
  });
});

describe('spend limits count a counter of a later day or month', () => {
  it('a reserve dated the day before does not pass the new day’s daily limit', async () => {
    const org = await createOrg(pool);
    await pool.query('insert into public.spend_limits (organization_id, daily_limit_credits) values ($1, 15)', [org]);
    await grant(pool, org, '1000', 'promotion', 'p', { now: t('2030-01-15T09:00:00Z') });
    const a = await reserve(pool, org, '10', 'a', { now: t('2030-01-16T00:00:00.500Z') });
    await settle(pool, a.id, '10', { now: t('2030-01-16T00:00:01Z') });
    await expectRefusedUnchanged(pool, org, 'SPEND_LIMIT_EXCEEDED', () =>
      reserve(pool, org, '10', 'late', { now: t('2030-01-15T23:59:59.900Z') }),
    );
    const error = await ledgerError(reserve(pool, org, '10', 'late', { now: t('2030-01-15T23:59:59.900Z') }));
    // 10 used on the 16th; waiting means until the 16th ends.
    expect(error.detail).toMatchObject({ limit: 'daily', used: '10.000', retry_after_seconds: 86401 });
    expect((await reserve(pool, org, '5', 'fits', { now: t('2030-01-15T23:59:59.900Z') })).status).toBe('open');
  });

  it('a reserve dated the month before does not pass the new month’s monthly limit', async () => {
    const org = await createOrg(pool);
    await pool.query('insert into public.spend_limits (organization_id, monthly_limit_credits) values ($1, 15)', [org]);
    await grant(pool, org, '1000', 'promotion', 'p', { now: t('2030-01-15T09:00:00Z') });
    const a = await reserve(pool, org, '10', 'a', { now: t('2030-02-01T00:00:00.500Z') });
    await settle(pool, a.id, '10', { now: t('2030-02-01T00:00:01Z') });
    await expectRefusedUnchanged(pool, org, 'SPEND_LIMIT_EXCEEDED', () =>
      reserve(pool, org, '10', 'late', { now: t('2030-01-31T23:59:59.900Z') }),
    );
    const error = await ledgerError(reserve(pool, org, '10', 'late', { now: t('2030-01-31T23:59:59.900Z') }));
    // Until 1 March: 28 days and 0.1 s.
    expect(error.detail).toMatchObject({ limit: 'monthly', used: '10.000', retry_after_seconds: 28 * 86_400 + 1 });
  });
});

describe('replaying a reservation key', () => {
  it('expires an open hold past its expiry, as the job would, and returns it expired', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs', { now: t('2030-01-15T11:00:00Z') });
    const first = await reserve(pool, org, '4', 'call', { now: t('2030-01-15T12:00:00Z') });
    expect(first.expires_at).toEqual(t('2030-01-15T12:10:00Z'));
    // Before its expiry the replay is the open hold, unchanged.
    const before = await snapshot(pool, org);
    expect(await reserve(pool, org, '4', 'call', { now: t('2030-01-15T12:09:59Z') })).toMatchObject({ id: first.id, status: 'open' });
    expect(await snapshot(pool, org)).toBe(before);
    // At its expiry, before the job: expired by the replay, its hold returned.
    const replay = await reserve(pool, org, '4', 'call', { now: t('2030-01-15T12:10:00Z') });
    expect(replay).toMatchObject({ id: first.id, status: 'expired' });
    const { rows } = await pool.query('select resolved_at from public.credit_reservations where id = $1', [first.id]);
    expect(rows[0].resolved_at).toEqual(t('2030-01-15T12:10:00Z'));
    expect(await balance(pool, org, t('2030-01-15T12:10:00Z'))).toMatchObject({ reserved_credits: '0.000', available_credits: '10.000' });
    // The job finds nothing more to do; a settle is refused, as after the job.
    const job = await pool.query<{ n: number }>('select public.expire_organization_reservations($1, $2) as n', [
      org,
      t('2030-01-15T12:11:00Z'),
    ]);
    expect(job.rows[0]!.n).toBe(0);
    await expectRefusedUnchanged(pool, org, 'RESERVATION_ALREADY_RESOLVED', () =>
      settle(pool, first.id, '1', { now: t('2030-01-15T12:11:00Z') }),
    );
    // Another replay returns it as it is; so does a replay of a released one past its expiry.
    const released = await reserve(pool, org, '4', 'released', { now: t('2030-01-15T12:00:00Z') });
    await release(pool, released.id, { now: t('2030-01-15T12:01:00Z') });
    const after = await snapshot(pool, org);
    expect(await reserve(pool, org, '4', 'call', { now: t('2030-01-15T12:12:00Z') })).toMatchObject({ id: first.id, status: 'expired' });
    expect(await reserve(pool, org, '4', 'released', { now: t('2030-01-15T12:12:00Z') })).toMatchObject({ status: 'released' });
    expect(await snapshot(pool, org)).toBe(after);
  });

  it('lets credits the hold kept past their grant’s expiry expire with it, as the job does', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'promotion', 'promo', { expiresAt: t('2030-01-15T12:05:00Z'), now: t('2030-01-15T11:00:00Z') });
    await reserve(pool, org, '8', 'held', { now: t('2030-01-15T12:00:00Z') });
    await pool.query('select public.expire_organization_grants($1, $2)', [org, t('2030-01-15T12:06:00Z')]);
    expect(await balance(pool, org, t('2030-01-15T12:06:00Z'))).toMatchObject({ balance_credits: '8.000', reserved_credits: '8.000' });
    expect((await reserve(pool, org, '8', 'held', { now: t('2030-01-15T12:10:00Z') })).status).toBe('expired');
    expect(await balance(pool, org, t('2030-01-15T12:10:00Z'))).toMatchObject({
      balance_credits: '0.000',
      reserved_credits: '0.000',
      available_credits: '0.000',
    });
    const { sum, balance: b } = await ledgerSumAndBalance(pool, org);
    expect([sum, b]).toEqual(['0.000', '0.000']);
  });

  it('a replay waiting on a settle of the same late hold answers the settled reservation, and resolves it once', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs', { now: t('2030-01-15T11:00:00Z') });
    const r = await reserve(pool, org, '4', 'call', { now: t('2030-01-15T12:00:00Z') });
    const settler = await pool.connect();
    const replayer = await pool.connect();
    try {
      // A settle past the hold's expiry (the job has not run) holds the reservation's row.
      await settler.query('begin');
      await settle(settler, r.id, '3', { now: t('2030-01-15T12:10:30Z') });
      const pid = (await replayer.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const replaying = reserve(replayer, org, '4', 'call', { now: t('2030-01-15T12:11:00Z') });
      let ended = false;
      replaying.then(
        () => (ended = true),
        () => (ended = true),
      );
      // The replay read the row as open before the settle committed, and waits for its lock.
      while (!ended) {
        const { rows } = await pool.query<{ waiting: boolean }>(
          'select exists (select 1 from pg_locks where pid = $1 and not granted) as waiting',
          [pid],
        );
        if (rows[0]!.waiting) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await settler.query('commit');
      expect(await replaying).toMatchObject({ id: r.id, status: 'settled', settled_amount_credits: '3.000' });
    } finally {
      await settler.query('rollback').catch(() => undefined);
      settler.release();
      replayer.release();
    }
    expect(await balance(pool, org, t('2030-01-15T12:11:00Z'))).toMatchObject({
      reserved_credits: '0.000',
      available_credits: '7.000',
    });
    const { sum, balance: b } = await ledgerSumAndBalance(pool, org);
    expect([sum, b]).toEqual(['7.000', '7.000']);
  });
});

describe('the session TimeZone', () => {
  it('does not move a purchase’s default expiry, 365 days after it takes effect in UTC', async () => {
    const org = await createOrg(pool);
    const client = await pool.connect();
    try {
      // Daylight saving began in New York on 8 March 2026, and begins on 14 March in 2027: in New
      // York's calendar 365 days from 10 March 2026 12:00 EDT were 10 March 2027 12:00 EST, 17:00Z.
      await client.query("set timezone = 'America/New_York'");
      const ny = await grant(client, org, '10', 'purchase', 'cs_ny', { now: t('2026-03-10T16:00:00Z') });
      expect(ny.expires_at).toEqual(t('2027-03-10T16:00:00Z'));
      // In London it begins on 29 March 2026 and 28 March 2027 (London's calendar made it 11:00Z).
      await client.query("set timezone = 'Europe/London'");
      const london = await grant(client, org, '10', 'auto_top_up', 'at_ldn', { now: t('2026-03-28T12:00:00Z') });
      expect(london.expires_at).toEqual(t('2027-03-28T12:00:00Z'));
    } finally {
      await client.query('reset timezone');
      client.release();
    }
  });
});
