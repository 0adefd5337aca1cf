// The project's own metadata (hasura/metadata) on the migrated and seeded database: its cron
// triggers are scheduled and called, and a real spend that takes an org below its auto top-up
// threshold reaches the auto_topup_check webhook.
import { join } from 'node:path';
import { repoRoot } from '@org-credits/db';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { loadMetadataDir } from '../../src/metadata/load.ts';
import { createTriggerService } from '../../src/triggers/index.ts';
import { CronSchedule } from '../../src/triggers/schedule.ts';
import { Clock, logSink, startReceiver, tolerateTeardown } from './helpers.ts';

const db = tolerateTeardown(await useTestDatabase());
const hook = await startReceiver();
afterAll(() => hook.close());

const ACME = '0a000000-0000-4000-8000-000000000001';
const PACK_500 = '0c000000-0000-4000-8000-000000000001';

describe('the project’s metadata', () => {
  it('schedules every cron trigger and delivers a spend below the auto top-up threshold to auto_topup_check with the action secret', async () => {
    const metadata = loadMetadataDir(join(repoRoot, 'hasura', 'metadata'));
    const cronNames = (metadata.cron_triggers ?? []).map((c) => c.name).sort();
    expect(cronNames.length).toBeGreaterThan(0);
    const clock = new Clock(new Date('2026-03-01T10:02:30Z'));
    const env = { ACTIONS_BASE_URL: hook.url, ACTION_SECRET: 'test-action-secret' };
    const sink = logSink();
    const svc = createTriggerService({ pool: db.pool, metadata: () => metadata, env, log: sink.log, now: clock.now });
    await svc.reload();

    const scheduled = await db.pool.query<{ trigger_name: string; n: number }>(
      `select trigger_name, count(*)::int as n from hdb_catalog.hdb_cron_events where status = 'scheduled' group by 1`,
    );
    expect(scheduled.rows.sort((a, b) => (a.trigger_name < b.trigger_name ? -1 : 1))).toEqual(
      cronNames.map((name) => ({ trigger_name: name, n: 100 })),
    );
    const pgTriggers = await db.pool.query(
      `select tgrelid::regclass::text as "table", tgname from pg_trigger where tgname like 'notify_hasura%' order by 1, 2`,
    );
    expect(pgTriggers.rows).toEqual([{ table: 'auto_topup_checks', tgname: 'notify_hasura_auto_topup_check_INSERT' }]);

    await db.pool.query(
      `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
       values ($1, true, 1000000, $2, 'pm_card_visa')
       on conflict (organization_id) do update
       set enabled = true, threshold_credits = 1000000, package_id = $2, stripe_payment_method_id = 'pm_card_visa'`,
      [ACME, PACK_500],
    );
    const client = await db.pool.connect();
    await client.query('begin');
    await client.query(`select set_config('hasura.user', $1, true)`, [
      JSON.stringify({ 'x-hasura-role': 'service', 'x-hasura-org-id': ACME }),
    ]);
    await client.query(`select public.grant_credits($1, '12.345', 'promotion', 'triggers-test-grant')`, [ACME]);
    const held = await client.query<{ id: string }>(`select id from public.reserve_credits($1, 1.5, 'triggers-test-spend')`, [ACME]);
    await client.query('select public.settle_reservation($1, 1.5)', [held.rows[0]!.id]);
    await client.query('commit');
    client.release();
    const consumes = await db.pool.query<{ id: string }>(
      `select id::text from public.credit_ledger_entries where reservation_id = $1 and entry_type = 'consume' order by id`,
      [held.rows[0]!.id],
    );
    expect(consumes.rows.length).toBeGreaterThan(0);

    await svc.runOnce();
    // Two checks: turning auto top-up on below its threshold wrote one (no ledger entry, no
    // session), and the spend's transaction one (its first consume entry, its session).
    const checks = hook.requests.filter((r) => r.path === '/events/auto_topup_check');
    const events = checks.map((r) => (JSON.parse(r.body) as { event: { op: string; data: { new: { ledger_entry_id: unknown } } } }).event);
    const byEntry = new Map(events.map((e) => [e.data.new.ledger_entry_id === null ? 'settings' : String(e.data.new.ledger_entry_id), e]));
    expect([...byEntry.keys()].sort()).toEqual([consumes.rows[0]!.id, 'settings'].sort());
    expect(byEntry.get(consumes.rows[0]!.id)).toMatchObject({
      op: 'INSERT',
      data: { new: { organization_id: ACME } },
      session_variables: { 'x-hasura-role': 'service', 'x-hasura-org-id': ACME },
    });
    expect(byEntry.get('settings')).toMatchObject({ op: 'INSERT', data: { new: { organization_id: ACME, ledger_entry_id: null } } });
    expect(checks.every((r) => r.headers['x-org-credits-secret'] === 'test-action-secret')).toBe(true);

    // Every cron trigger due by 10:05 is called at its path with the secret.
    clock.set('2026-03-01T10:05:00Z');
    await svc.runOnce();
    const cronPaths = new Set(hook.requests.filter((r) => r.path.startsWith('/cron/')).map((r) => r.path));
    const due = (metadata.cron_triggers ?? [])
      .filter((c) => new CronSchedule(c.schedule).next(new Date('2026-03-01T10:02:30Z'))! <= clock.now())
      .map((c) => `/cron/${c.name}`);
    expect(due.length).toBeGreaterThan(0);
    expect([...cronPaths].sort()).toEqual(due.sort());
    expect(hook.requests.every((r) => r.headers['x-org-credits-secret'] === 'test-action-secret')).toBe(true);
    expect(JSON.stringify(sink.entries)).not.toContain('test-action-secret');
  });
});
