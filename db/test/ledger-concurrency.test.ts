import { describe, expect, it } from 'vitest';
import { ledgerErrorFromPg } from '../src/errors.ts';
import { useTestDatabase } from '../src/testing.ts';
import { at, balance, createOrg, grant, ledgerSumAndBalance, release, reserve, settle, T0 } from './ledger-helpers.ts';

const db = await useTestDatabase();
const pool = db.pool;

/** Settles every promise; counts successes and the ledger codes of failures (anything else fails the test). */
async function outcomes<T>(promises: Promise<T>[]) {
  const results = await Promise.allSettled(promises);
  const codes: Record<string, number> = {};
  const values: T[] = [];
  for (const result of results) {
    if (result.status === 'fulfilled') {
      values.push(result.value);
      continue;
    }
    const ledger = ledgerErrorFromPg(result.reason);
    if (!ledger) throw result.reason;
    codes[ledger.code] = (codes[ledger.code] ?? 0) + 1;
  }
  return { values, codes };
}

describe('concurrent calls on one organization', () => {
  it('when 50 reserves race for a balance that fits exactly 10, exactly 10 succeed and nothing is overdrawn', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '25', 'purchase', 'cs');
    const racers = db.newPool(60);
    const { values, codes } = await outcomes(Array.from({ length: 50 }, (_, i) => reserve(racers, org, '2.5', `race-${i}`)));
    expect(values).toHaveLength(10);
    expect(codes).toEqual({ INSUFFICIENT_CREDITS: 40 });
    expect(await balance(pool, org)).toMatchObject({ reserved_credits: '25.000', available_credits: '0.000' });
    const { rows } = await pool.query<{ n: string; held: string }>(
      `select count(*)::text as n, sum(amount_credits)::text as held from public.credit_reservations where organization_id = $1 and status = 'open'`,
      [org],
    );
    expect(rows[0]).toEqual({ n: '10', held: '25.000' });
  });

  it('when 20 calls reserve with one idempotency key at once, one reservation is made and all get it', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    const racers = db.newPool(25);
    const { values, codes } = await outcomes(Array.from({ length: 20 }, () => reserve(racers, org, '3', 'same-key')));
    expect(codes).toEqual({});
    expect(new Set(values.map((r) => r.id)).size).toBe(1);
    expect((await balance(pool, org)).reserved_credits).toBe('3.000');
  });

  it('when 20 calls grant with one external reference at once, the credits are granted once', async () => {
    const org = await createOrg(pool);
    const racers = db.newPool(25);
    const { values } = await outcomes(Array.from({ length: 20 }, () => grant(racers, org, '7', 'purchase', 'cs_same')));
    expect(new Set(values.map((g) => g.id)).size).toBe(1);
    expect((await balance(pool, org)).purchased_remaining_credits).toBe('7.000');
    const { sum } = await ledgerSumAndBalance(pool, org);
    expect(sum).toBe('7.000');
  });

  it('when settles, releases and the expiry job race for the same reservations, each resolves exactly once', async () => {
    const org = await createOrg(pool);
    await grant(pool, org, '100', 'purchase', 'cs');
    const reservations = [];
    for (let i = 0; i < 20; i++) reservations.push(await reserve(pool, org, '3', `r-${i}`, { ttlSeconds: 60 }));
    const racers = db.newPool(50);
    const later = at(120); // every reservation is past its expiry, so the job may take any of them
    const calls: Promise<unknown>[] = [];
    for (const r of reservations) {
      calls.push(settle(racers, r.id, '2', { now: later }).then(() => ({ id: r.id, by: 'settle' })));
      calls.push(release(racers, r.id, { now: later }).then(() => ({ id: r.id, by: 'release' })));
    }
    for (let i = 0; i < 4; i++)
      calls.push(racers.query<{ n: number }>('select public.expire_reservations($1) as n', [later]).then((q) => q.rows[0]!.n));
    const { values, codes } = await outcomes(calls);
    const expiredByJob = values.filter((v): v is number => typeof v === 'number').reduce((a, b) => a + b, 0);
    const resolvedByCall = values.filter((v) => typeof v === 'object') as { id: string; by: string }[];
    // Every reservation resolved once: by a settle, a release or the job; every other attempt was refused.
    expect(new Set(resolvedByCall.map((v) => v.id)).size).toBe(resolvedByCall.length);
    expect(resolvedByCall.length + expiredByJob).toBe(20);
    expect(codes).toEqual(resolvedByCall.length === 40 ? {} : { RESERVATION_ALREADY_RESOLVED: 40 - resolvedByCall.length });

    const { rows } = await pool.query<{ status: string; n: number; settled: string | null }>(
      `select status, count(*)::int as n, sum(settled_amount_credits)::text as settled
       from public.credit_reservations where organization_id = $1 group by status order by status`,
      [org],
    );
    const settledCount = resolvedByCall.filter((v) => v.by === 'settle').length;
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    expect(byStatus.open).toBeUndefined();
    expect(byStatus.settled ?? 0).toBe(settledCount);
    expect(byStatus.expired ?? 0).toBe(expiredByJob);
    const b = await balance(pool, org, later);
    expect(b.reserved_credits).toBe('0.000');
    expect(b.available_credits).toBe(`${100 - 2 * settledCount}.000`);
    const { sum, balance: maintained } = await ledgerSumAndBalance(pool, org);
    expect(sum).toBe(maintained);
  });

  it('when reserves race with settles charging beyond their holds and with releases, nothing is overdrawn and every sum agrees', async () => {
    // Reserves and settles queue apart (reserves on the holds, settles on the ledger lock), and a
    // settle charging beyond its hold takes the holds too: no interleaving may let a reserve count
    // credits that such a settle is taking, nor a settle charge credits that a reserve holds.
    // Five rounds, each on its own org: the interleavings differ from round to round.
    const racers = db.newPool(60);
    for (let round = 0; round < 5; round++) await raceReservesWithSettlesBeyondHolds(racers);
  }, 60_000);
});

async function raceReservesWithSettlesBeyondHolds(racers: typeof pool) {
  {
    const org = await createOrg(pool);
    await grant(pool, org, '100', 'purchase', 'cs');
    const held = [];
    for (let i = 0; i < 12; i++) held.push(await reserve(pool, org, '5', `held-${i}`));
    const calls: Promise<unknown>[] = [];
    for (const [i, r] of held.entries()) {
      // 8 settles want 9 (4 beyond the hold), 4 holds are released.
      calls.push(i < 8 ? settle(racers, r.id, '9') : release(racers, r.id));
    }
    for (let i = 0; i < 30; i++) calls.push(reserve(racers, org, '2.5', `new-${i}`));
    const { codes } = await outcomes(calls);
    expect(Object.keys(codes).filter((c) => c !== 'INSUFFICIENT_CREDITS')).toEqual([]);

    const { rows } = await pool.query<{ charged: string; open: string; capped_ok: boolean; in_range: boolean }>(
      `select coalesce(sum(settled_amount_credits) filter (where status = 'settled'), 0)::text as charged,
              coalesce(sum(amount_credits) filter (where status = 'open'), 0)::text as open,
              bool_and(capped = (settled_amount_credits < 9)) filter (where status = 'settled') as capped_ok,
              bool_and(settled_amount_credits between 5 and 9) filter (where status = 'settled') as in_range
       from public.credit_reservations where organization_id = $1`,
      [org],
    );
    const { charged, open, capped_ok, in_range } = rows[0]!;
    // A hold is always chargeable; beyond it, only what was available; capped exactly when short.
    expect(in_range).toBe(true);
    expect(capped_ok).toBe(true);
    const b = await balance(pool, org);
    expect(b.reserved_credits).toBe(open);
    // Exact arithmetic in SQL: nothing overdrawn, balance = 100 - charged, available = balance - open holds.
    const { rows: sums } = await pool.query<{ not_overdrawn: boolean; balance_ok: boolean; available_ok: boolean }>(
      `select $3::numeric >= 0 as not_overdrawn, $1::numeric = 100 - $2::numeric as balance_ok,
              $3::numeric = 100 - $2::numeric - $4::numeric as available_ok`,
      [b.balance_credits, charged, b.available_credits, open],
    );
    expect(sums[0]).toEqual({ not_overdrawn: true, balance_ok: true, available_ok: true });
    const { sum, balance: maintained } = await ledgerSumAndBalance(pool, org);
    expect(sum).toBe(maintained);
  }
}

describe('a resolve that starts before its reservation is committed', () => {
  // The window: a settle or release whose first UPDATE takes its snapshot while the reserve that
  // made the reservation has not committed, and whose fallback looks the reservation up after that
  // commit. A statement-level BEFORE UPDATE trigger, installed for this test only, holds the resolve
  // inside that first UPDATE (its snapshot already taken) until the test has committed the reserve.
  it.each(['release', 'settle'] as const)('%s still resolves it, once', async (call) => {
    const org = await createOrg(pool);
    await grant(pool, org, '10', 'purchase', 'cs');
    await pool.query(`create function public.test_pause_resolve() returns trigger language plpgsql as $$
      begin perform pg_advisory_lock(4242); perform pg_advisory_unlock(4242); return null; end $$`);
    await pool.query(`create trigger test_pause_resolve before update on public.credit_reservations
      for each statement execute function public.test_pause_resolve()`);
    const reserver = await pool.connect();
    const gate = await pool.connect();
    const resolver = await pool.connect();
    try {
      await gate.query('select pg_advisory_lock(4242)');
      await reserver.query('begin');
      const r = await reserve(reserver, org, '4', 'late-commit');
      const resolverPid = (await resolver.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const resolving = call === 'release' ? release(resolver, r.id, { org }) : settle(resolver, r.id, '3', { org });
      let ended = false; // a resolve that never reaches the gate ends the wait, and fails below
      resolving.then(
        () => (ended = true),
        () => (ended = true),
      );
      // Wait until the resolve is paused inside its first UPDATE, on the gate.
      while (!ended) {
        const { rows } = await pool.query<{ waiting: boolean }>(
          `select exists (select 1 from pg_locks where pid = $1 and locktype = 'advisory' and not granted) as waiting`,
          [resolverPid],
        );
        if (rows[0]!.waiting) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await reserver.query('commit');
      await gate.query('select pg_advisory_unlock(4242)');
      const resolved = await resolving;
      expect(resolved).toMatchObject({ id: r.id, status: call === 'release' ? 'released' : 'settled' });
    } finally {
      await reserver.query('rollback').catch(() => undefined);
      await gate.query('select pg_advisory_unlock_all()');
      reserver.release();
      gate.release();
      resolver.release();
      await pool.query('drop trigger test_pause_resolve on public.credit_reservations');
      await pool.query('drop function public.test_pause_resolve()');
    }
    const { rows } = await pool.query<{ status: string; settled: string | null }>(
      `select status, settled_amount_credits::text as settled from public.credit_reservations where organization_id = $1`,
      [org],
    );
    expect(rows).toEqual([{ status: call === 'release' ? 'released' : 'settled', settled: call === 'release' ? null : '3.000' }]);
    const b = await balance(pool, org);
    expect(b).toMatchObject({ reserved_credits: '0.000', available_credits: call === 'release' ? '10.000' : '7.000' });
    const { sum, balance: maintained } = await ledgerSumAndBalance(pool, org);
    expect(sum).toBe(maintained);
  });
});

describe('organizations are independent', () => {
  it('while one organization holds its lock, another organization reserves and settles without waiting', async () => {
    const busy = await createOrg(pool);
    const other = await createOrg(pool);
    await grant(pool, busy, '10', 'purchase', 'cs');
    await grant(pool, other, '10', 'purchase', 'cs');
    const holder = await pool.connect();
    const free = await pool.connect();
    try {
      await holder.query('begin');
      await reserve(holder, busy, '1', 'held-open'); // busy's balance row stays locked until rollback
      await free.query(`set statement_timeout = '2s'`);
      const r = await reserve(free, other, '1', 'not-blocked');
      expect((await settle(free, r.id, '1')).status).toBe('settled');
      // The same org does wait: a lock timeout proves the holder really holds the lock.
      await free.query(`set lock_timeout = '200ms'`);
      await expect(reserve(free, busy, '1', 'blocked')).rejects.toThrow(/lock timeout/);
    } finally {
      await holder.query('rollback');
      await free.query('reset statement_timeout; reset lock_timeout');
      holder.release();
      free.release();
    }
    expect((await balance(pool, busy, T0)).reserved_credits).toBe('0.000');
  });
});
