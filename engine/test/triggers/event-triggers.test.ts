// Event triggers against a real Postgres and real HTTP webhooks on 127.0.0.1. Time is the
// service's `now`; passes run with `runOnce()`.
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import type { EventTrigger, Metadata } from '../../src/metadata/types.ts';
import { createTriggerService } from '../../src/triggers/index.ts';
import { Clock, closedPort, logSink, metadataWith, type Receiver, startReceiver, tolerateTeardown } from './helpers.ts';

const db = tolerateTeardown(await useTestDatabase());
const receivers: Receiver[] = [];
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

async function receiver(port = 0) {
  const r = await startReceiver(port);
  receivers.push(r);
  return r;
}

async function makeTable(name: string) {
  await db.pool.query(
    `create table public.${name} (id int primary key, status text not null default 'new', amount numeric(20,3), note text, meta json)`,
  );
}

function trigger(name: string, extra: Partial<EventTrigger> = {}): EventTrigger {
  return {
    name,
    definition: { insert: { columns: '*' } },
    retry_conf: { num_retries: 0, interval_sec: 10, timeout_sec: 5 },
    webhook: `{{HOOK_BASE}}/events/${name}`,
    ...extra,
  };
}

function service(metadata: () => Metadata, env: NodeJS.ProcessEnv, clock: Clock, pool = db.pool, extra = {}) {
  const sink = logSink();
  const svc = createTriggerService({ pool, metadata, env, log: sink.log, now: clock.now, ...extra });
  return { svc, logs: sink.entries };
}

async function eventRows(trigger: string) {
  return (
    await db.pool.query<{
      id: string;
      delivered: boolean;
      error: boolean;
      tries: number;
      next_retry_at: string | null;
      locked: Date | null;
    }>(
      `select id, delivered, error, tries, to_char(next_retry_at, 'YYYY-MM-DD"T"HH24:MI:SS') as next_retry_at, locked
         from hdb_catalog.event_log where trigger_name = $1 order by created_at, id`,
      [trigger],
    )
  ).rows;
}

async function invocations(eventId: string) {
  return (
    await db.pool.query<{ status: number | null; request: { headers: unknown[] }; response: { type: string } }>(
      `select status, request, response from hdb_catalog.event_invocation_logs where event_id = $1 order by created_at, id`,
      [eventId],
    )
  ).rows;
}

async function pgTriggersOn(table: string) {
  return (
    await db.pool.query<{ tgname: string }>(
      `select tgname from pg_trigger where tgrelid = $1::regclass and not tgisinternal order by tgname`,
      [`public.${table}`],
    )
  ).rows.map((r) => r.tgname);
}

interface EventPayload {
  id: string;
  created_at: string;
  trigger: { name: string };
  table: { schema: string; name: string };
  event: {
    op: string;
    data: { old: Record<string, unknown> | null; new: Record<string, unknown> | null };
    session_variables: Record<string, string> | null;
  };
  delivery_info: { current_retry: number; max_retries: number };
}

describe('event triggers', () => {
  it('a change committed while no webhook is up is delivered later, exactly once, with Hasura’s payload', async () => {
    await makeTable('ledger_a');
    const port = await closedPort();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const env = { HOOK_BASE: `http://127.0.0.1:${port}`, HOOK_SECRET: 's3cret-value' };
    const meta = metadataWith({
      tables: [
        {
          name: 'ledger_a',
          event_triggers: [
            trigger('ledger_a_insert', {
              retry_conf: { num_retries: 3, interval_sec: 30, timeout_sec: 5 },
              headers: [
                { name: 'X-Org-Credits-Secret', value_from_env: 'HOOK_SECRET' },
                { name: 'X-Plain', value: 'plain' },
              ],
            }),
          ],
        },
      ],
    });
    const { svc, logs } = service(() => meta, env, clock);
    await svc.reload();

    // The engine is not delivering; the change commits with the mutation's session variables.
    const client = await db.pool.connect();
    await client.query('begin');
    await client.query(`select set_config('hasura.user', $1, true)`, [
      JSON.stringify({ 'x-hasura-role': 'user', 'x-hasura-user-id': 'u-1' }),
    ]);
    await client.query(`insert into public.ledger_a (id, amount, meta) values (1, '12345678901234567.125', '{"k": [1, 2]}')`);
    await client.query('commit');
    client.release();
    const [stored] = await eventRows('ledger_a_insert');
    expect(stored).toMatchObject({ delivered: false, error: false, tries: 0 });

    // First pass: the webhook is down, so a retry is scheduled interval_sec later.
    await svc.runOnce();
    expect(await eventRows('ledger_a_insert')).toEqual([
      expect.objectContaining({ delivered: false, error: false, tries: 1, next_retry_at: '2026-03-01T10:00:30', locked: null }),
    ]);
    const [refused] = await invocations(stored!.id);
    expect(refused).toMatchObject({ status: null, response: { type: 'client_error' } });

    // The webhook comes up; nothing is sent before the retry is due.
    const hook = await receiver(port);
    await svc.runOnce();
    expect(hook.requests).toHaveLength(0);
    clock.advanceSeconds(30);
    await svc.runOnce();
    clock.advanceSeconds(3600);
    await svc.runOnce();

    expect(hook.requests).toHaveLength(1);
    const request = hook.requests[0]!;
    expect(request.path).toBe('/events/ledger_a_insert');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['x-org-credits-secret']).toBe('s3cret-value');
    expect(request.headers['x-plain']).toBe('plain');
    // Numbers reach the webhook with every digit.
    expect(request.body).toContain('12345678901234567.125');
    const body = JSON.parse(request.body) as EventPayload;
    expect(body).toMatchObject({
      id: stored!.id,
      trigger: { name: 'ledger_a_insert' },
      table: { schema: 'public', name: 'ledger_a' },
      event: {
        op: 'INSERT',
        data: { old: null, new: { id: 1, status: 'new', note: null, meta: { k: [1, 2] } } },
        session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': 'u-1' },
      },
      delivery_info: { current_retry: 1, max_retries: 3 },
    });
    expect(body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    expect(await eventRows('ledger_a_insert')).toEqual([
      expect.objectContaining({ delivered: true, error: false, tries: 2, locked: null }),
    ]);
    const logged = await invocations(stored!.id);
    expect(logged.map((l) => l.status)).toEqual([null, 200]);
    // Invocation logs and structured logs name the env header, never its value.
    expect(logged[1]!.request.headers).toEqual([
      { name: 'X-Org-Credits-Secret', value_from_env: 'HOOK_SECRET' },
      { name: 'X-Plain', value: 'plain' },
    ]);
    expect(JSON.stringify(logged)).not.toContain('s3cret-value');
    expect(JSON.stringify(logs)).not.toContain('s3cret-value');
    expect(logs).toContainEqual(
      expect.objectContaining({ kind: 'event_trigger', msg: 'event delivered', event_id: stored!.id, http_status: 200 }),
    );
  });

  it('an update fires only when one of the trigger’s columns changed; a delete sends the old row', async () => {
    await makeTable('orders_b');
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({
      tables: [
        {
          name: 'orders_b',
          event_triggers: [trigger('orders_b_status', { definition: { update: { columns: ['status'] }, delete: { columns: '*' } } })],
        },
      ],
    });
    const { svc } = service(() => meta, { HOOK_BASE: hook.url }, clock);
    await svc.reload();

    await db.pool.query(`insert into public.orders_b (id, note) values (7, 'a')`);
    await db.pool.query(`update public.orders_b set note = 'b' where id = 7`);
    await db.pool.query(`update public.orders_b set status = status where id = 7`);
    expect(await eventRows('orders_b_status')).toHaveLength(0);

    await db.pool.query(`update public.orders_b set status = 'paid' where id = 7`);
    await db.pool.query(`delete from public.orders_b where id = 7`);
    await svc.runOnce();

    const bodies = hook.requests.map((r) => JSON.parse(r.body) as EventPayload).sort((a, b) => a.event.op.localeCompare(b.event.op));
    expect(bodies.map((b) => b.event.op)).toEqual(['DELETE', 'UPDATE']);
    expect(bodies[1]!.event.data.old).toMatchObject({ id: 7, status: 'new', note: 'b' });
    expect(bodies[1]!.event.data.new).toMatchObject({ id: 7, status: 'paid', note: 'b' });
    expect(bodies[1]!.event.session_variables).toBeNull();
    expect(bodies[0]!.event.data).toEqual({ old: expect.objectContaining({ id: 7, status: 'paid' }), new: null });
  });

  it('Retry-After is honoured, even when retry_conf has no retries left', async () => {
    await makeTable('jobs_c');
    const hook = await receiver();
    let answers = 0;
    hook.reply = () => (answers++ === 0 ? { status: 503, headers: { 'Retry-After': '120' } } : { status: 200 });
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({ tables: [{ name: 'jobs_c', event_triggers: [trigger('jobs_c_insert')] }] });
    const { svc, logs } = service(() => meta, { HOOK_BASE: hook.url }, clock);
    await svc.reload();
    await db.pool.query(`insert into public.jobs_c (id) values (1)`);

    await svc.runOnce();
    expect(await eventRows('jobs_c_insert')).toEqual([
      expect.objectContaining({ delivered: false, error: false, tries: 1, next_retry_at: '2026-03-01T10:02:00' }),
    ]);
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'event delivery failed, retry scheduled', retry_after_seconds: 120 }));
    clock.advanceSeconds(119);
    await svc.runOnce();
    expect(hook.requests).toHaveLength(1);
    clock.advanceSeconds(1);
    await svc.runOnce();
    expect(hook.requests).toHaveLength(2);
    expect(await eventRows('jobs_c_insert')).toEqual([expect.objectContaining({ delivered: true, tries: 2 })]);
  });

  it('a failure with no retries left marks the event as error and it is not sent again', async () => {
    await makeTable('jobs_f');
    const hook = await receiver();
    hook.reply = () => ({ status: 500, body: '{"message":"boom"}' });
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({
      tables: [{ name: 'jobs_f', event_triggers: [trigger('jobs_f_insert', { retry_conf: { num_retries: 1, interval_sec: 10 } })] }],
    });
    const { svc } = service(() => meta, { HOOK_BASE: hook.url }, clock);
    await svc.reload();
    await db.pool.query(`insert into public.jobs_f (id) values (1)`);

    await svc.runOnce();
    clock.advanceSeconds(10);
    await svc.runOnce();
    clock.advanceSeconds(3600);
    await svc.runOnce();

    expect(hook.requests).toHaveLength(2);
    expect(JSON.parse(hook.requests[1]!.body)).toMatchObject({ delivery_info: { current_retry: 1, max_retries: 1 } });
    const [row] = await eventRows('jobs_f_insert');
    expect(row).toMatchObject({ delivered: false, error: true, tries: 2 });
    const logged = await invocations(row!.id);
    expect(logged.map((l) => l.status)).toEqual([500, 500]);
    expect(logged[0]!.response).toMatchObject({ type: 'webhook_response', data: { status: 500, body: '{"message":"boom"}' } });
  });

  it('two engines on one database never deliver one event twice at the same time', async () => {
    await makeTable('race_d');
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({ tables: [{ name: 'race_d', event_triggers: [trigger('race_d_insert')] }] });
    const a = service(() => meta, { HOOK_BASE: hook.url }, clock, db.newPool(4), { batchSize: 5, concurrency: 2 });
    const b = service(() => meta, { HOOK_BASE: hook.url }, clock, db.newPool(4), { batchSize: 5, concurrency: 2 });
    await a.svc.reload();
    await b.svc.reload();

    // While A's webhook call is in flight, B's pass finds that event taken.
    await db.pool.query(`insert into public.race_d (id) values (0)`);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    hook.reply = async () => {
      await gate;
      return { status: 200 };
    };
    const first = hook.nextRequest();
    const aPass = a.svc.runOnce();
    await first;
    hook.reply = () => ({ status: 200 });
    await b.svc.runOnce();
    expect(hook.requests).toHaveLength(1);
    release();
    await aPass;

    // Both engines racing over many events: every event is sent exactly once.
    await db.pool.query(`insert into public.race_d (id) select g from generate_series(1, 40) g`);
    for (let pass = 0; pass < 20 && (await eventRows('race_d_insert')).some((r) => !r.delivered); pass++) {
      await Promise.all([a.svc.runOnce(), b.svc.runOnce()]);
    }
    const ids = hook.requests.map((r) => (JSON.parse(r.body) as EventPayload).id);
    expect(ids).toHaveLength(41);
    expect(new Set(ids).size).toBe(41);
    expect((await eventRows('race_d_insert')).every((r) => r.delivered && r.tries === 1)).toBe(true);
  });

  it('Postgres triggers are created, updated and dropped as metadata changes', async () => {
    await makeTable('items_e');
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    let meta = metadataWith({ tables: [{ name: 'items_e', event_triggers: [trigger('items_e_changes')] }] });
    const { svc, logs } = service(() => meta, { HOOK_BASE: hook.url }, clock);

    await svc.reload();
    expect(await pgTriggersOn('items_e')).toEqual(['notify_hasura_items_e_changes_INSERT']);
    await db.pool.query(`insert into public.items_e (id) values (1)`);
    expect(await eventRows('items_e_changes')).toHaveLength(1);

    // Reloading unchanged metadata leaves the triggers alone.
    await svc.reload();
    expect(logs.at(-1)).toMatchObject({
      msg: 'triggers reloaded',
      pg_triggers_created: [],
      pg_triggers_replaced: [],
      pg_triggers_dropped: [],
    });

    meta = metadataWith({
      tables: [{ name: 'items_e', event_triggers: [trigger('items_e_changes', { definition: { update: { columns: ['status'] } } })] }],
    });
    await svc.reload();
    expect(await pgTriggersOn('items_e')).toEqual(['notify_hasura_items_e_changes_UPDATE']);
    await db.pool.query(`insert into public.items_e (id) values (2)`);
    expect(await eventRows('items_e_changes')).toHaveLength(1);
    await db.pool.query(`update public.items_e set status = 'done' where id = 2`);
    expect(await eventRows('items_e_changes')).toHaveLength(2);

    meta = metadataWith({ tables: [{ name: 'items_e' }] });
    await svc.reload();
    expect(await pgTriggersOn('items_e')).toEqual([]);
    const functions = await db.pool.query(
      `select proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'hdb_catalog' and proname like 'notify_hasura_items_e%'`,
    );
    expect(functions.rows).toEqual([]);
    await db.pool.query(`update public.items_e set status = 'again' where id = 2`);
    expect(await eventRows('items_e_changes')).toHaveLength(2);
    // The dropped trigger's undelivered events are archived, as Hasura does, and never sent.
    const archived = await db.pool.query(
      `select count(*)::int as n from hdb_catalog.event_log where trigger_name = 'items_e_changes' and archived`,
    );
    expect(archived.rows).toEqual([{ n: 2 }]);
    expect(logs.at(-1)).toMatchObject({ pg_triggers_dropped: ['notify_hasura_items_e_changes_UPDATE'], events_archived: 2 });
  });

  it('an event claimed by an engine that died is taken over once the claim is 30 minutes old, not before', async () => {
    await makeTable('stale_i');
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({ tables: [{ name: 'stale_i', event_triggers: [trigger('stale_i_insert')] }] });
    const { svc } = service(() => meta, { HOOK_BASE: hook.url }, clock);
    await svc.reload();
    await db.pool.query(`insert into public.stale_i (id) values (1)`);
    await db.pool.query(`update hdb_catalog.event_log set locked = '2026-03-01T09:31:00Z' where trigger_name = 'stale_i_insert'`);

    await svc.runOnce();
    expect(hook.requests).toHaveLength(0);
    clock.set('2026-03-01T10:01:01Z');
    await svc.runOnce();
    expect(hook.requests).toHaveLength(1);
    expect(await eventRows('stale_i_insert')).toEqual([expect.objectContaining({ delivered: true, tries: 1, locked: null })]);
  });

  it('a metadata change that cannot be applied fails loudly and leaves the database as it was', async () => {
    await makeTable('keep_g');
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const env = { HOOK_BASE: 'http://127.0.0.1:9' };
    let meta = metadataWith({ tables: [{ name: 'keep_g', event_triggers: [trigger('keep_g_insert')] }] });
    const { svc } = service(() => meta, env, clock);
    await svc.reload();

    meta = metadataWith({
      tables: [
        { name: 'keep_g', event_triggers: [trigger('keep_g_insert', { definition: { delete: { columns: '*' } } })] },
        { name: 'no_such_table', event_triggers: [trigger('ghost_insert')] },
      ],
    });
    await expect(svc.reload()).rejects.toThrow(/cannot create Postgres trigger notify_hasura_ghost_insert_INSERT on public\.no_such_table/);
    expect(await pgTriggersOn('keep_g')).toEqual(['notify_hasura_keep_g_insert_INSERT']);

    meta = metadataWith({ tables: [{ name: 'keep_g', event_triggers: [trigger('keep_g_insert', { webhook: '{{NOT_SET}}/x' })] }] });
    await expect(svc.reload()).rejects.toThrow('event trigger "keep_g_insert": environment variable "NOT_SET" is not set');
    meta = metadataWith({ tables: [{ name: 'keep_g', event_triggers: [trigger('keep_g_insert', { request_transform: { body: {} } })] }] });
    await expect(svc.reload()).rejects.toMatchObject({ code: 'not-supported' });
    expect(await pgTriggersOn('keep_g')).toEqual(['notify_hasura_keep_g_insert_INSERT']);
  });

  it('a trigger with enable_manual can be invoked for a row, as pg_invoke_event_trigger does', async () => {
    await makeTable('manual_h');
    const hook = await receiver();
    const clock = new Clock(new Date('2026-03-01T10:00:00Z'));
    const meta = metadataWith({
      tables: [
        {
          name: 'manual_h',
          event_triggers: [trigger('manual_h_hook', { definition: { enable_manual: true } }), trigger('manual_h_auto')],
        },
      ],
    });
    const { svc } = service(() => meta, { HOOK_BASE: hook.url }, clock);
    await svc.reload();
    expect(await pgTriggersOn('manual_h')).toEqual(['notify_hasura_manual_h_auto_INSERT']);

    const id = await svc.invokeEventTrigger('manual_h_hook', { id: 3, status: 'new' }, { 'x-hasura-role': 'admin' });
    await expect(svc.invokeEventTrigger('manual_h_auto', { id: 3 })).rejects.toThrow(/does not allow manual invocation/);
    await svc.runOnce();
    expect(hook.requests).toHaveLength(1);
    expect(JSON.parse(hook.requests[0]!.body)).toMatchObject({
      id,
      event: { op: 'MANUAL', data: { old: null, new: { id: 3, status: 'new' } }, session_variables: { 'x-hasura-role': 'admin' } },
    });
  });
});
