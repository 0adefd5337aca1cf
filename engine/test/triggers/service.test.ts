// The service's own life: the background loop after start(), stop(), and what health() reports.
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createTriggerService } from '../../src/triggers/index.ts';
import { Clock, logSink, metadataWith, type Receiver, startReceiver, tolerateTeardown } from './helpers.ts';

const db = tolerateTeardown(await useTestDatabase());
const receivers: Receiver[] = [];
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

/** Metadata with one insert trigger on `table`, no retries. */
const insertTrigger = (table: string, name: string, webhook: string) =>
  metadataWith({
    tables: [
      {
        name: table,
        event_triggers: [{ name, definition: { insert: { columns: '*' } }, retry_conf: { num_retries: 0, interval_sec: 10 }, webhook }],
      },
    ],
  });

describe('trigger service', () => {
  it('after start() the loop delivers without runOnce, and stop() waits for the delivery to be recorded', async () => {
    await db.pool.query(`create table public.notes (id int primary key, body text)`);
    const hook = await startReceiver();
    receivers.push(hook);
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = insertTrigger('notes', 'notes_insert', `${hook.url}/n`);
    const sink = logSink();
    const svc = createTriggerService({ pool: db.pool, metadata: () => meta, env: {}, log: sink.log, now: clock.now, pollIntervalMs: 5 });
    expect(svc.health()).toMatchObject({ status: 'stopped', running: false, passes: 0 });

    await svc.start();
    expect(svc.health()).toMatchObject({ status: 'running', running: true, event_triggers: 1, cron_triggers: 0 });
    const arrived = hook.nextRequest();
    await db.pool.query(`insert into public.notes (id, body) values (1, 'hello')`);
    const request = await arrived;
    expect(JSON.parse(request.body)).toMatchObject({ event: { op: 'INSERT', data: { new: { id: 1, body: 'hello' } } } });

    await svc.stop();
    const { rows } = await db.pool.query(`select delivered, tries from hdb_catalog.event_log where trigger_name = 'notes_insert'`);
    expect(rows).toEqual([{ delivered: true, tries: 1 }]);
    const health = svc.health();
    expect(health).toMatchObject({ status: 'stopped', running: false, in_flight: 0, last_error: null, table_events: { delivered: 1 } });
    expect(health.passes).toBeGreaterThanOrEqual(1);
    expect(sink.entries.map((e) => e.msg)).toEqual(
      expect.arrayContaining(['trigger workers started', 'event delivered', 'trigger workers stopped']),
    );
  });

  it('sleeps the fetch interval only after a pass that claimed nothing: a backlog is delivered pass after pass, as Hasura does', async () => {
    await db.pool.query(`create table public.backlog (id int primary key)`);
    const hook = await startReceiver();
    receivers.push(hook);
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = insertTrigger('backlog', 'backlog_insert', `${hook.url}/b`);
    const sink = logSink();
    // An hour between empty fetches and 2 events a pass: 7 events take 4 passes, which can only
    // happen within the test's time if a pass that claimed events is followed at once by the next.
    const svc = createTriggerService({
      pool: db.pool,
      metadata: () => meta,
      env: {},
      log: sink.log,
      now: clock.now,
      pollIntervalMs: 3_600_000,
      batchSize: 2,
    });
    await svc.reload();
    await db.pool.query('insert into public.backlog (id) select generate_series(1, 7)');
    const allArrived = new Promise<void>((resolve) => {
      const check = (): void => {
        if (hook.requests.length >= 7) resolve();
        else void hook.nextRequest().then(check);
      };
      check();
    });
    await svc.start();
    await allArrived;
    await svc.stop();
    const { rows } = await db.pool.query<{ n: number }>(
      `select count(*)::int as n from hdb_catalog.event_log where trigger_name = 'backlog_insert' and delivered`,
    );
    expect(rows[0]!.n).toBe(7);
    expect(svc.health().passes).toBeGreaterThanOrEqual(4);
  }, 15_000);

  it('health() reports a failing pass with its error, and recovers on the next good pass', async () => {
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = insertTrigger('notes', 'notes_insert', 'http://127.0.0.1:9/n');
    const sink = logSink();
    const svc = createTriggerService({ pool: db.pool, metadata: () => meta, env: {}, log: sink.log, now: clock.now });
    await svc.reload();

    await db.pool.query('alter table hdb_catalog.event_log rename to event_log_away');
    await expect(svc.runOnce()).rejects.toThrow(/event_log/);
    expect(svc.health()).toMatchObject({
      status: 'failing',
      last_error: { at: '2026-03-01T10:00:00.000Z', message: expect.stringContaining('event_log') },
    });
    expect(sink.entries).toContainEqual(expect.objectContaining({ level: 'error', msg: 'delivery pass failed' }));

    await db.pool.query('alter table hdb_catalog.event_log_away rename to event_log');
    await svc.runOnce();
    expect(svc.health()).toMatchObject({ status: 'stopped', last_error: null });
  });

  it('stop() cuts webhook calls short once the grace period is over and releases their events to another engine', async () => {
    await db.pool.query(`create table public.slow (id int primary key)`);
    const hook = await startReceiver();
    receivers.push(hook);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    hook.reply = async () => {
      await gate;
      return { status: 200 };
    };
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = insertTrigger('slow', 'slow_insert', `${hook.url}/s`);
    const sink = logSink();
    const leaving = createTriggerService({
      pool: db.pool,
      metadata: () => meta,
      env: {},
      log: sink.log,
      now: clock.now,
      shutdownGraceMs: 0,
    });
    await leaving.reload();
    await db.pool.query(`insert into public.slow (id) values (1)`);

    const arrived = hook.nextRequest();
    const pass = leaving.runOnce();
    await arrived;
    await leaving.stop();
    await pass;
    release();
    const { rows } = await db.pool.query(
      `select id, delivered, error, tries, locked from hdb_catalog.event_log where trigger_name = 'slow_insert'`,
    );
    expect(rows).toEqual([expect.objectContaining({ delivered: false, error: false, tries: 0, locked: null })]);
    const logged = await db.pool.query(`select 1 from hdb_catalog.event_invocation_logs where event_id = $1`, [rows[0].id]);
    expect(logged.rowCount).toBe(0);
    expect(leaving.health()).toMatchObject({ table_events: { released: 1, delivered: 0 } });
    expect(sink.entries.map((e) => e.msg)).toEqual(
      expect.arrayContaining([
        'shutdown grace period over, interrupting webhook calls',
        'delivery interrupted by shutdown, event released',
      ]),
    );

    hook.reply = () => ({ status: 200 });
    const staying = createTriggerService({ pool: db.pool, metadata: () => meta, env: {}, log: () => undefined, now: clock.now });
    await staying.runOnce();
    expect(hook.requests).toHaveLength(2);
    const after = await db.pool.query(`select delivered, tries from hdb_catalog.event_log where trigger_name = 'slow_insert'`);
    expect(after.rows).toEqual([{ delivered: true, tries: 1 }]);
  });
});
