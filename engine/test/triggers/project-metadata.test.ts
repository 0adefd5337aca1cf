// The project's own metadata (hasura/metadata) on the migrated and seeded database: its cron
// triggers are scheduled and called, and a real ledger write reaches the ledger_changed webhook.
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

describe('the project’s metadata', () => {
  it('schedules every cron trigger and delivers a ledger write to ledger_changed with the action secret', async () => {
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
      `select tgname from pg_trigger where tgrelid = 'public.credit_ledger_entries'::regclass and tgname like 'notify_hasura%'`,
    );
    expect(pgTriggers.rows).toEqual([{ tgname: 'notify_hasura_ledger_changed_INSERT' }]);

    const client = await db.pool.connect();
    await client.query('begin');
    await client.query(`select set_config('hasura.user', $1, true)`, [
      JSON.stringify({ 'x-hasura-role': 'service', 'x-hasura-org-id': ACME }),
    ]);
    await client.query(`select public.grant_credits($1, '12.345', 'promotion', 'triggers-test-grant')`, [ACME]);
    await client.query('commit');
    client.release();

    await svc.runOnce();
    const ledger = hook.requests.filter((r) => r.path === '/events/ledger_changed');
    expect(ledger.length).toBeGreaterThan(0);
    const grant = ledger
      .map((r) => ({ raw: r.body, body: JSON.parse(r.body) as { event: { op: string; data: { new: Record<string, unknown> } } } }))
      .find((r) => r.body.event.data.new.entry_type === 'grant');
    expect(grant?.body.event).toMatchObject({
      op: 'INSERT',
      data: { new: { organization_id: ACME } },
      session_variables: { 'x-hasura-role': 'service', 'x-hasura-org-id': ACME },
    });
    expect(grant?.raw).toContain('12.345');
    expect(ledger.every((r) => r.headers['x-org-credits-secret'] === 'test-action-secret')).toBe(true);

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
