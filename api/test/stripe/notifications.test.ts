// The outgoing notification adapters: a webhook receives each stored notification as JSON; a
// failing adapter is logged and never undoes what caused the notification; what was sent is
// recorded (sent_at), and what is still unsent is sent again later.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { type StoredNotification, sendAll, sendUnsent, storeNotification, webhookSender } from '../../src/notifications/index.ts';
import { createOrg, NOW } from '../helpers.ts';

const db = await useTestDatabase();
const org = await createOrg(db.pool, { plan: 'pro' });

const received: { path: string; body: unknown }[] = [];
let answer = 204;
const hook = createServer((req, res) => {
  let text = '';
  req.on('data', (chunk) => {
    text += chunk;
  });
  req.on('end', () => {
    received.push({ path: req.url ?? '', body: JSON.parse(text) });
    res.writeHead(answer).end();
  });
});
await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/notify`;
afterAll(() => new Promise<void>((resolve) => hook.close(() => resolve())));

/** A stored notification of the test org (read in the app already when `read`). */
async function notification(key: string, read = false): Promise<StoredNotification> {
  const stored = await storeNotification(
    db.pool,
    {
      orgId: org.orgId,
      kind: 'usage_threshold',
      title: '80% of this period’s allowance used',
      body: '400.000 of 500.000 allowance credits used since 2026-11-01.',
      actionUrl: '/credits',
      dedupeKey: `usage:2026-11-01:80:${key}`,
    },
    NOW,
  );
  if (!stored) throw new Error('not stored');
  if (!read) return stored;
  const { rows } = await db.pool.query<StoredNotification>('update public.notifications set read_at = $2 where id = $1 returning *', [
    stored.id,
    NOW,
  ]);
  return rows[0]!;
}

const sentAt = async (id: string) =>
  (await db.pool.query<{ sent_at: Date | null }>('select sent_at from public.notifications where id = $1', [id])).rows[0]!.sent_at;

describe('notification adapters', () => {
  it('POSTs each unread notification to the webhook as JSON and records it sent; skips the ones already read', async () => {
    received.length = 0;
    const [n1, n2] = [await notification('n1'), await notification('n2', true)];
    await sendAll(db.pool, webhookSender(hookUrl), [n1, n2]);
    expect(received).toEqual([
      {
        path: '/notify',
        body: expect.objectContaining({ id: n1.id, organizationId: org.orgId, kind: 'usage_threshold', actionUrl: '/credits' }),
      },
    ]);
    expect(await sentAt(n1.id)).not.toBeNull();
    expect(await sentAt(n2.id)).toBeNull();
  });

  it('logs a failing send, carries on with the next one, and sends the failed ones again later', async () => {
    received.length = 0;
    answer = 500;
    const errors: string[] = [];
    const [n3, n4] = [await notification('n3'), await notification('n4')];
    const logger = { error: (message: string) => errors.push(message) };
    await sendAll(db.pool, webhookSender(hookUrl), [n3, n4], logger);
    expect(received.map((r) => (r.body as { id: string }).id)).toEqual([n3.id, n4.id]);
    expect(errors).toEqual([`[notify] could not send notification ${n3.id}`, `[notify] could not send notification ${n4.id}`]);
    expect(await sentAt(n3.id)).toBeNull();
    // The webhook answers again; a later run sends what is unsent (a minute old at least), once.
    answer = 204;
    received.length = 0;
    expect(await sendUnsent(db.pool, webhookSender(hookUrl), new Date(NOW.getTime() + 30_000), logger)).toBe(0);
    await sendUnsent(db.pool, webhookSender(hookUrl), new Date(NOW.getTime() + 120_000), logger);
    expect(received.map((r) => (r.body as { id: string }).id)).toEqual(expect.arrayContaining([n3.id, n4.id]));
    expect(await sentAt(n3.id)).not.toBeNull();
    received.length = 0;
    await sendUnsent(db.pool, webhookSender(hookUrl), new Date(NOW.getTime() + 180_000), logger);
    expect(received.map((r) => (r.body as { id: string }).id)).not.toContain(n3.id);
  });
});

describe('resending', () => {
  const quiet = { error: () => undefined };
  it('runs one resend at a time: a run that overlaps a slow one sends nothing twice', async () => {
    const org4 = await createOrg(db.pool);
    await db.pool.query(
      `insert into public.notifications (organization_id, kind, title, body, dedupe_key, created_at)
       select $1, 'refund', 'Refund', 'b', 'overlap-' || i, $2::timestamptz - interval '5 minutes' from generate_series(1, 20) i`,
      [org4.orgId, NOW],
    );
    const handed: string[] = [];
    const slow = {
      async send(n: StoredNotification) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        handed.push(n.id);
      },
    };
    const first = sendUnsent(db.pool, slow, NOW, quiet);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await sendUnsent(db.pool, slow, NOW, quiet);
    expect(second).toBe(0);
    expect(await first).toBeGreaterThanOrEqual(20);
    const mine = (await db.pool.query('select id from public.notifications where organization_id = $1', [org4.orgId])).rows.map(
      (r) => r.id,
    );
    const handedMine = handed.filter((id) => mine.includes(id));
    expect(handedMine).toHaveLength(20);
    expect(new Set(handedMine).size).toBe(20);
    const { rows } = await db.pool.query(
      'select count(*)::int as unsent from public.notifications where organization_id = $1 and sent_at is null',
      [org4.orgId],
    );
    expect(rows).toEqual([{ unsent: 0 }]);
  });

  it('stops after its time budget and leaves the rest for the next run', async () => {
    const org5 = await createOrg(db.pool);
    await db.pool.query(
      `insert into public.notifications (organization_id, kind, title, body, dedupe_key, created_at)
       select $1, 'refund', 'Refund', 'b', 'budget-' || i, $2::timestamptz - interval '5 minutes' from generate_series(1, 5) i`,
      [org5.orgId, NOW],
    );
    const slow = { send: () => new Promise<void>((resolve) => setTimeout(resolve, 30)) };
    const left = async () =>
      (await db.pool.query('select 1 from public.notifications where organization_id = $1 and sent_at is null', [org5.orgId])).rows.length;
    const tried = await sendUnsent(db.pool, slow, NOW, quiet, { budgetMs: 40 });
    expect(tried).toBeGreaterThanOrEqual(1);
    expect(await left()).toBeGreaterThan(0);
    expect(await left()).toBeLessThan(5);
    await sendUnsent(db.pool, slow, NOW, quiet);
    expect(await left()).toBe(0);
  });
});

describe('usage notifications', () => {
  it("count what the period's allowance gave to calls, not credits a clawback took from it", async () => {
    const org2 = await createOrg(db.pool, { plan: 'pro' });
    await db.pool.query('select public.grant_period_allowance($1, $2)', [org2.orgId, NOW]);
    // A refund of an older purchase, whose credits were spent, is taken from the allowance first.
    await db.pool.query("select public.clawback_credits($1, 200, 'refund:old-purchase', p_now => $2)", [org2.orgId, NOW]);
    const { rows } = await db.pool.query<{ id: string }>("select id from public.reserve_credits($1, 60, 'use-50', p_now => $2)", [
      org2.orgId,
      NOW,
    ]);
    await db.pool.query('select public.settle_reservation($1, 50, p_now => $2)', [rows[0]!.id, NOW]);
    await db.pool.query('select * from public.notify_usage_thresholds($1)', [NOW]);
    const usage = await db.pool.query("select title from public.notifications where organization_id = $1 and kind = 'usage_threshold'", [
      org2.orgId,
    ]);
    // 50 of 500 used: under the first step (50 %).
    expect(usage.rows).toEqual([]);
    // 250 used in all: the 50 % step, with the credits really used.
    const more = await db.pool.query<{ id: string }>("select id from public.reserve_credits($1, 200, 'use-200', p_now => $2)", [
      org2.orgId,
      NOW,
    ]);
    await db.pool.query('select public.settle_reservation($1, 200, p_now => $2)', [more.rows[0]!.id, NOW]);
    await db.pool.query('select * from public.notify_usage_thresholds($1)', [NOW]);
    const after = await db.pool.query(
      "select title, body from public.notifications where organization_id = $1 and kind = 'usage_threshold'",
      [org2.orgId],
    );
    expect(after.rows).toEqual([
      { title: "50% of this period's allowance used", body: expect.stringMatching(/^250 of 500 allowance credits used since /) },
    ]);
  });

  it('write credit amounts as the app does: grouped thousands, no trailing zeros', async () => {
    const org3 = await createOrg(db.pool, { plan: 'team' });
    await db.pool.query('select public.grant_period_allowance($1, $2)', [org3.orgId, NOW]);
    await db.pool.query("select public.grant_credits($1, 2000, 'promotion', 'format-test', p_now => $2)", [org3.orgId, NOW]);
    await db.pool.query(
      "insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id) values ($1, false, 3000, '0c000000-0000-4000-8000-000000000001')",
      [org3.orgId],
    );
    const { rows } = await db.pool.query<{ id: string }>("select id from public.reserve_credits($1, 1100, 'use-1050', p_now => $2)", [
      org3.orgId,
      NOW,
    ]);
    await db.pool.query('select public.settle_reservation($1, 1050.627, p_now => $2)', [rows[0]!.id, NOW]);
    await db.pool.query('select * from public.notify_usage_thresholds($1)', [NOW]);
    const bodies = await db.pool.query('select kind, body from public.notifications where organization_id = $1 order by kind', [
      org3.orgId,
    ]);
    expect(bodies.rows).toEqual([
      { kind: 'low_balance', body: '2,949.373 credits available, below the threshold of 3,000.' },
      { kind: 'usage_threshold', body: expect.stringMatching(/^1,050\.627 of 2,000 allowance credits used since \d{4}-\d{2}-\d{2}\.$/) },
    ]);
    const formatted = await db.pool.query(
      'select ledger.format_credits(v) as text from unnest($1::numeric[]) with ordinality as t (v, i) order by i',
      [['0', '0.001', '-12.050', '999.990', '1000', '1234567.5', '-1234567890123.125', '100000']],
    );
    expect(formatted.rows.map((r) => r.text)).toEqual([
      '0',
      '0.001',
      '-12.05',
      '999.99',
      '1,000',
      '1,234,567.5',
      '-1,234,567,890,123.125',
      '100,000',
    ]);
  });
});
