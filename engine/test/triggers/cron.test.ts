// Cron triggers against a real Postgres and real HTTP webhooks on 127.0.0.1. Time is the
// service's `now`; passes run with `runOnce()`.
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import type { CronTrigger, Metadata } from '../../src/metadata/types.ts';
import { createTriggerService } from '../../src/triggers/index.ts';
import { Clock, logSink, metadataWith, type Receiver, startReceiver, tolerateTeardown } from './helpers.ts';

const db = tolerateTeardown(await useTestDatabase());
const receivers: Receiver[] = [];
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

async function receiver() {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

function cronTrigger(name: string, extra: Partial<CronTrigger> = {}): CronTrigger {
  return {
    name,
    webhook: `{{ACTIONS_BASE_URL}}/cron/${name}`,
    schedule: '*/5 * * * *',
    include_in_metadata: true,
    retry_conf: { num_retries: 0, retry_interval_seconds: 10, timeout_seconds: 5, tolerance_seconds: 21600 },
    ...extra,
  };
}

function service(metadata: () => Metadata, env: NodeJS.ProcessEnv, clock: Clock, pool = db.pool) {
  const sink = logSink();
  const svc = createTriggerService({ pool, metadata, env, log: sink.log, now: clock.now, pollIntervalMs: 3_600_000 });
  return { svc, logs: sink.entries };
}

interface CronEvent {
  id: string;
  scheduled_time: string;
  status: string;
  tries: number;
  next_retry_at: string | null;
}

async function cronEvents(trigger: string, where = 'true') {
  return (
    await db.pool.query<CronEvent>(
      `select id, to_char(scheduled_time at time zone 'utc', 'HH24:MI:SS') as scheduled_time, status, tries,
              to_char(next_retry_at at time zone 'utc', 'HH24:MI:SS') as next_retry_at
         from hdb_catalog.hdb_cron_events where trigger_name = $1 and ${where} order by hdb_cron_events.scheduled_time`,
      [trigger],
    )
  ).rows;
}

async function invocationStatuses(eventId: string) {
  return (
    await db.pool.query<{ status: number | null }>(
      `select status from hdb_catalog.hdb_cron_event_invocation_logs where event_id = $1 order by created_at, id`,
      [eventId],
    )
  ).rows.map((r) => r.status);
}

describe('cron triggers', () => {
  it('events are generated ahead and each is delivered on schedule with Hasura’s payload and headers', async () => {
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:02:00Z'));
    const env = { ACTIONS_BASE_URL: hook.url, ACTION_SECRET: 'cron-secret-value' };
    const meta = metadataWith({
      cron: [
        cronTrigger('expire_reservations', {
          payload: { batch: 500 },
          comment: 'expires open reservations',
          headers: [{ name: 'X-Org-Credits-Secret', value_from_env: 'ACTION_SECRET' }],
        }),
      ],
    });
    const { svc, logs } = service(() => meta, env, clock);
    await svc.reload();

    const pending = await cronEvents('expire_reservations');
    expect(pending).toHaveLength(100);
    expect(pending.slice(0, 2).map((e) => e.scheduled_time)).toEqual(['10:05:00', '10:10:00']);
    expect(pending.every((e) => e.status === 'scheduled' && e.tries === 0)).toBe(true);

    clock.set('2026-03-01T10:04:59Z');
    await svc.runOnce();
    expect(hook.requests).toHaveLength(0);

    clock.set('2026-03-01T10:05:00Z');
    await svc.runOnce();
    await svc.runOnce();
    expect(hook.requests).toHaveLength(1);
    const [request] = hook.requests;
    expect(request!.path).toBe('/cron/expire_reservations');
    expect(request!.headers['x-org-credits-secret']).toBe('cron-secret-value');
    expect(JSON.parse(request!.body)).toEqual({
      id: pending[0]!.id,
      name: 'expire_reservations',
      scheduled_time: '2026-03-01T10:05:00Z',
      payload: { batch: 500 },
      comment: 'expires open reservations',
    });
    expect(await cronEvents('expire_reservations', `id = '${pending[0]!.id}'`)).toEqual([
      expect.objectContaining({ status: 'delivered', tries: 1 }),
    ]);
    expect(await invocationStatuses(pending[0]!.id)).toEqual([200]);
    // Still 100 upcoming events: the generator topped them up.
    expect(await cronEvents('expire_reservations', `status = 'scheduled'`)).toHaveLength(100);

    clock.set('2026-03-01T10:10:00Z');
    await svc.runOnce();
    expect(hook.requests.map((r) => (JSON.parse(r.body) as { scheduled_time: string }).scheduled_time)).toEqual([
      '2026-03-01T10:05:00Z',
      '2026-03-01T10:10:00Z',
    ]);
    expect(JSON.stringify(logs)).not.toContain('cron-secret-value');
  });

  it('a cron event answered with 500 is retried retry_interval_seconds later, then marked error when retries run out', async () => {
    const hook = await receiver();
    const statuses = [500, 200];
    hook.reply = () => ({ status: statuses.shift() ?? 500 });
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({
      cron: [
        cronTrigger('retry_job', {
          schedule: '0 * * * *',
          retry_conf: { num_retries: 1, retry_interval_seconds: 30, timeout_seconds: 5, tolerance_seconds: 3600 },
        }),
      ],
    });
    const { svc } = service(() => meta, { ACTIONS_BASE_URL: hook.url }, clock);
    await svc.reload();

    clock.set('2026-03-01T11:00:00Z');
    await svc.runOnce();
    const [first] = await cronEvents('retry_job', `scheduled_time = '2026-03-01T11:00:00Z'`);
    expect(first).toMatchObject({ status: 'scheduled', tries: 1, next_retry_at: '11:00:30' });
    clock.set('2026-03-01T11:00:29Z');
    await svc.runOnce();
    expect(hook.requests).toHaveLength(1);
    clock.set('2026-03-01T11:00:30Z');
    await svc.runOnce();
    expect(hook.requests).toHaveLength(2);
    expect(await cronEvents('retry_job', `id = '${first!.id}'`)).toEqual([expect.objectContaining({ status: 'delivered', tries: 2 })]);
    expect(await invocationStatuses(first!.id)).toEqual([500, 200]);

    // The next hour's event fails twice: one retry, then error, and no further calls.
    clock.set('2026-03-01T12:00:00Z');
    await svc.runOnce();
    clock.set('2026-03-01T12:00:30Z');
    await svc.runOnce();
    clock.set('2026-03-01T12:30:00Z');
    await svc.runOnce();
    const [second] = await cronEvents('retry_job', `scheduled_time = '2026-03-01T12:00:00Z'`);
    expect(second).toMatchObject({ status: 'error', tries: 2 });
    expect(await invocationStatuses(second!.id)).toEqual([500, 500]);
    expect(hook.requests).toHaveLength(4);
  });

  it('after a restart, missed events within tolerance run once and older ones are marked dead', async () => {
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({
      cron: [
        cronTrigger('missed_job', {
          retry_conf: { num_retries: 0, retry_interval_seconds: 10, timeout_seconds: 5, tolerance_seconds: 600 },
        }),
      ],
    });
    const env = { ACTIONS_BASE_URL: hook.url };
    // An engine generates the events, then is down from 10:00 to 10:16.
    await service(() => meta, env, clock).svc.reload();

    clock.set('2026-03-01T10:16:00Z');
    const restarted = service(() => meta, env, clock);
    await restarted.svc.start();
    await restarted.svc.runOnce();
    await restarted.svc.stop();

    const sent = hook.requests.map((r) => (JSON.parse(r.body) as { scheduled_time: string }).scheduled_time);
    expect(sent).toEqual(['2026-03-01T10:10:00Z', '2026-03-01T10:15:00Z']);
    const past = await cronEvents('missed_job', `scheduled_time <= '2026-03-01T10:16:00Z'`);
    expect(past.map((e) => [e.scheduled_time, e.status])).toEqual([
      ['10:05:00', 'dead'],
      ['10:10:00', 'delivered'],
      ['10:15:00', 'delivered'],
    ]);
    expect(await invocationStatuses(past[0]!.id)).toEqual([]);
    expect(restarted.logs).toContainEqual(
      expect.objectContaining({
        kind: 'cron_trigger',
        msg: 'cron event missed beyond tolerance, marked dead',
        scheduled_time: '2026-03-01T10:05:00Z',
      }),
    );
  });

  it('two engines on one database never deliver one cron event twice at the same time', async () => {
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({ cron: [cronTrigger('shared_job', { schedule: '* * * * *' })] });
    const env = { ACTIONS_BASE_URL: hook.url };
    const a = service(() => meta, env, clock, db.newPool(4));
    const b = service(() => meta, env, clock, db.newPool(4));
    await Promise.all([a.svc.reload(), b.svc.reload()]);
    // Both generators ran; each time is stored once.
    expect(await cronEvents('shared_job')).toHaveLength(100);

    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    hook.reply = async () => {
      await gate;
      return { status: 200 };
    };
    clock.set('2026-03-01T10:01:00Z');
    const first = hook.nextRequest();
    const aPass = a.svc.runOnce();
    await first;
    await b.svc.runOnce();
    expect(hook.requests).toHaveLength(1);
    release();
    await aPass;
    await b.svc.runOnce();
    expect(hook.requests).toHaveLength(1);

    // Racing passes over several due minutes: each event is sent once.
    hook.reply = () => ({ status: 200 });
    clock.set('2026-03-01T10:30:00Z');
    await Promise.all([a.svc.runOnce(), b.svc.runOnce(), a.svc.runOnce(), b.svc.runOnce()]);
    const times = hook.requests.map((r) => (JSON.parse(r.body) as { scheduled_time: string }).scheduled_time);
    expect(times).toHaveLength(30);
    expect(new Set(times).size).toBe(30);
    expect(await cronEvents('shared_job', `status = 'delivered'`)).toHaveLength(30);
  });

  it('a changed schedule regenerates upcoming events; a dropped trigger’s pending events go, its history stays', async () => {
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    let meta = metadataWith({ cron: [cronTrigger('changing_job', { schedule: '*/5 * * * *' })] });
    const { svc } = service(() => meta, { ACTIONS_BASE_URL: hook.url }, clock);
    await svc.reload();
    clock.set('2026-03-01T10:05:00Z');
    await svc.runOnce();

    meta = metadataWith({ cron: [cronTrigger('changing_job', { schedule: '0 */2 * * *' })] });
    await svc.reload();
    const upcoming = await cronEvents('changing_job', `status = 'scheduled'`);
    expect(upcoming).toHaveLength(100);
    expect(upcoming.slice(0, 3).map((e) => e.scheduled_time)).toEqual(['12:00:00', '14:00:00', '16:00:00']);

    meta = metadataWith({});
    await svc.reload();
    expect(await cronEvents('changing_job', `status = 'scheduled'`)).toEqual([]);
    expect(await cronEvents('changing_job')).toEqual([expect.objectContaining({ scheduled_time: '10:05:00', status: 'delivered' })]);
    clock.set('2026-03-01T14:00:00Z');
    await svc.runOnce();
    expect(hook.requests).toHaveLength(1);
  });

  it('a cron event claimed by an engine that died is delivered once the claim is 30 minutes old', async () => {
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({ cron: [cronTrigger('orphan_job', { schedule: '0 * * * *' })] });
    const { svc } = service(() => meta, { ACTIONS_BASE_URL: hook.url }, clock);
    await svc.reload();
    await db.pool.query(
      `update hdb_catalog.hdb_cron_events set status = 'locked', locked_at = '2026-03-01T11:00:00Z'
        where trigger_name = 'orphan_job' and scheduled_time = '2026-03-01T11:00:00Z'`,
    );

    clock.set('2026-03-01T11:30:00Z');
    await svc.runOnce();
    expect(hook.requests).toHaveLength(0);
    clock.set('2026-03-01T11:30:01Z');
    await svc.runOnce();
    expect(hook.requests).toHaveLength(1);
    expect(await cronEvents('orphan_job', `scheduled_time = '2026-03-01T11:00:00Z'`)).toEqual([
      expect.objectContaining({ status: 'delivered', tries: 1 }),
    ]);
  });

  it('an invalid cron trigger fails the reload loudly and changes nothing', async () => {
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const good = metadataWith({ cron: [cronTrigger('steady_job')] });
    let meta = good;
    const { svc } = service(() => meta, { ACTIONS_BASE_URL: 'http://127.0.0.1:9' }, clock);
    await svc.reload();
    const before = await cronEvents('steady_job');

    meta = metadataWith({ cron: [cronTrigger('steady_job', { schedule: '*/5 * * *' })] });
    await expect(svc.reload()).rejects.toThrow('cron trigger "steady_job" has an invalid schedule "*/5 * * *"');
    meta = metadataWith({ cron: [cronTrigger('steady_job', { webhook: '{{MISSING_BASE}}/cron/x' })] });
    await expect(svc.reload()).rejects.toThrow('cron trigger "steady_job": environment variable "MISSING_BASE" is not set');
    meta = metadataWith({ cron: [cronTrigger('bad name!')] });
    await expect(svc.reload()).rejects.toMatchObject({ code: 'validation-failed', path: '$.cron_triggers[0].name' });
    expect(await cronEvents('steady_job')).toEqual(before);
  });
});
