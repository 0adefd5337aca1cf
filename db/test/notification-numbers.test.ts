// Notifications written before notify_usage_thresholds formatted its numbers (migration
// 1795322401800) are rewritten as the app writes credits (migration 1795322403300): the billing page
// showed "2949.373 credits available, below the threshold of 5000.000" beside "2,949.373 … 3,000".
import { describe, expect, it } from 'vitest';
import { listMigrations } from '../src/index.ts';
import { useTestDatabase } from '../src/testing.ts';
import { createOrg } from './ledger-helpers.ts';

const db = await useTestDatabase();
const pool = db.pool;
const rewrite = listMigrations().find((m) => m.name === 'notification_numbers_rewritten');

async function write(org: string, rows: Array<{ kind: string; body: string; key: string }>) {
  for (const r of rows) {
    await pool.query(
      `insert into public.notifications (organization_id, kind, title, body, dedupe_key, read_at)
       values ($1, $2, 'A title', $3, $4, case when $4 like '%read' then now() end)`,
      [org, r.kind, r.body, r.key],
    );
  }
}
const bodies = async (org: string) =>
  (
    await pool.query<{ dedupe_key: string; body: string; read: boolean }>(
      'select dedupe_key, body, read_at is not null as read from public.notifications where organization_id = $1 order by dedupe_key',
      [org],
    )
  ).rows;

describe('notifications written before the credit numbers were formatted', () => {
  it('say their credits as the app does after the rewrite; any other body, key or read time stays', async () => {
    expect(rewrite, 'the migration that rewrites them').toBeDefined();
    const org = await createOrg(pool, 'pro');
    await write(org, [
      {
        kind: 'low_balance',
        body: '2949.373 credits available, below the threshold of 5000.000.',
        key: 'a:low_balance:2026-11-01:5000.000',
      },
      { kind: 'low_balance', body: '-0.500 credits available, below the threshold of 1234567.250.', key: 'b:low_balance:read' },
      { kind: 'usage_threshold', body: '250.500 of 500.000 allowance credits used since 2026-11-01.', key: 'c:usage:2026-11-01:50' },
      {
        kind: 'usage_threshold',
        body: '1000.000 of 1000.000 allowance credits used since 2026-11-01T15:00:00Z.',
        key: 'd:usage:2026-11-01T15:00:00Z:100',
      },
      // Written since: already as the app writes it.
      { kind: 'low_balance', body: '2,949.373 credits available, below the threshold of 3,000.', key: 'e:new' },
      // Another kind, with numbers of its own: not the function's text.
      { kind: 'refund', body: '12.500 credits were taken back for the refunded amount.', key: 'f:refund' },
    ]);

    await pool.query(rewrite!.upSql);
    const after = await bodies(org);
    expect(after).toEqual([
      { dedupe_key: 'a:low_balance:2026-11-01:5000.000', body: '2,949.373 credits available, below the threshold of 5,000.', read: false },
      { dedupe_key: 'b:low_balance:read', body: '-0.5 credits available, below the threshold of 1,234,567.25.', read: true },
      { dedupe_key: 'c:usage:2026-11-01:50', body: '250.5 of 500 allowance credits used since 2026-11-01.', read: false },
      {
        dedupe_key: 'd:usage:2026-11-01T15:00:00Z:100',
        body: '1,000 of 1,000 allowance credits used since 2026-11-01T15:00:00Z.',
        read: false,
      },
      { dedupe_key: 'e:new', body: '2,949.373 credits available, below the threshold of 3,000.', read: false },
      { dedupe_key: 'f:refund', body: '12.500 credits were taken back for the refunded amount.', read: false },
    ]);

    // Again: nothing left to rewrite.
    await pool.query(rewrite!.upSql);
    expect(await bodies(org)).toEqual(after);
  });
});
