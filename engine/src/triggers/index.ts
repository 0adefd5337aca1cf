// Cron triggers and event triggers for the engine. The core creates one service per engine
// process and calls `start()` once, `reload()` after every metadata change, `health()` for
// `/healthz` and `stop()` on shutdown. Several engines may share one database: every claim of an
// event is a row lock (`for update skip locked`), so no event is delivered twice at the same time.
//
// Session variables of event payloads: the engine's mutation transactions must run
// `select set_config('hasura.user', $1, true)` with the session variables as a JSON object
// (`{"x-hasura-role":"user","x-hasura-user-id":"…"}`) before they write; the Postgres triggers
// copy it into each event, as in Hasura.
import { ensureCatalog } from './catalog.ts';
import { resolveTriggers, TriggerConfigError } from './config.ts';
import { claimCronEvents, deliverCronEvent, generateCronEvents } from './cron.ts';
import { claimEvents, deliverEvent, invokeManually } from './events.ts';
import { planTriggers, syncPgTriggers } from './pg-triggers.ts';
import type { ResolvedTriggers, TriggerService, TriggerServiceOptions } from './types.ts';

export { TriggerConfigError } from './config.ts';
export type { ResolvedTriggers, TriggerService, TriggerServiceOptions } from './types.ts';

export interface TriggerServiceWithManual extends TriggerService {
  /** Hasura's `pg_invoke_event_trigger`: queues a MANUAL event for `row`; returns the event id. */
  invokeEventTrigger(name: string, row: Record<string, unknown>, sessionVariables?: Record<string, string> | null): Promise<string>;
}

interface Counters {
  delivered: number;
  retried: number;
  failed: number;
  dead: number;
  released: number;
}

export function createTriggerService(options: TriggerServiceOptions): TriggerServiceWithManual {
  const { pool, env, log } = options;
  const clock = options.now ?? (() => new Date());
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const batchSize = options.batchSize ?? 100;
  // Hasura's defaults: HASURA_GRAPHQL_EVENTS_HTTP_POOL_SIZE 100 concurrent deliveries.
  const concurrency = Math.max(1, options.concurrency ?? 100);
  const shutdownGraceMs = options.shutdownGraceMs ?? 60_000;
  let shutdown = new AbortController();

  let catalogReady = false;
  let triggers: ResolvedTriggers | null = null;
  let running = false;
  let timer: NodeJS.Timeout | null = null;
  // Passes and reloads of one service run one after another.
  let queue: Promise<unknown> = Promise.resolve();
  let inFlight = 0;
  let passes = 0;
  let lastPassAt: Date | null = null;
  let lastPassMs: number | null = null;
  let lastError: { at: string; message: string } | null = null;
  // Events the last pass claimed: as in Hasura, the fetch interval is slept only after a fetch that
  // returned no events; while events keep coming, the next pass starts as soon as this one ends.
  let lastClaimed = 0;
  const cron: Counters = { delivered: 0, retried: 0, failed: 0, dead: 0, released: 0 };
  const events: Counters = { delivered: 0, retried: 0, failed: 0, dead: 0, released: 0 };

  function serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  }

  async function doReload(): Promise<void> {
    const resolved = resolveTriggers(options.metadata(), env);
    if (!catalogReady) {
      await ensureCatalog(pool);
      catalogReady = true;
    }
    const sync = await syncPgTriggers(pool, planTriggers(resolved.events.values()), [...resolved.events.keys()]);
    const generated = await generateCronEvents(pool, resolved.cron, clock());
    triggers = resolved;
    log({
      level: 'info',
      kind: 'triggers',
      msg: 'triggers reloaded',
      event_triggers: resolved.events.size,
      cron_triggers: resolved.cron.size,
      pg_triggers_created: sync.created,
      pg_triggers_replaced: sync.replaced,
      pg_triggers_dropped: sync.dropped,
      events_archived: sync.archived,
      cron_events_inserted: generated.inserted,
      cron_events_removed: generated.removed,
    });
  }

  async function mapConcurrently<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
    let index = 0;
    const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (index < items.length) {
        const item = items[index++] as T;
        inFlight++;
        try {
          await work(item);
        } finally {
          inFlight--;
        }
      }
    });
    await Promise.all(workers);
  }

  function count(counters: Counters, outcome: string) {
    if (outcome === 'delivered') counters.delivered++;
    else if (outcome === 'retry') counters.retried++;
    else if (outcome === 'error') counters.failed++;
    else if (outcome === 'dead') counters.dead++;
    else if (outcome === 'released') counters.released++;
  }

  async function doPass(): Promise<void> {
    if (!triggers) await doReload();
    const current = triggers!;
    const started = performance.now();
    lastClaimed = 0;
    try {
      if (current.cron.size > 0) {
        await generateCronEvents(pool, current.cron, clock());
        const due = await claimCronEvents(pool, [...current.cron.keys()], clock(), batchSize);
        lastClaimed += due.length;
        await mapConcurrently(due, async (event) => {
          const trigger = current.cron.get(event.trigger_name)!;
          count(cron, await deliverCronEvent(pool, event, trigger, clock, log, shutdown.signal));
        });
      }
      if (current.events.size > 0) {
        const due = await claimEvents(pool, [...current.events.keys()], clock(), batchSize);
        lastClaimed += due.length;
        await mapConcurrently(due, async (event) => {
          const trigger = current.events.get(event.trigger_name)!;
          count(events, await deliverEvent(pool, event, trigger, clock, log, shutdown.signal));
        });
      }
      lastError = null;
    } catch (error) {
      lastClaimed = 0;
      lastError = { at: clock().toISOString(), message: (error as Error).message };
      log({ level: 'error', kind: 'triggers', msg: 'delivery pass failed', error: (error as Error).message });
      throw error;
    } finally {
      passes++;
      lastPassAt = clock();
      lastPassMs = Math.round(performance.now() - started);
    }
  }

  function schedule() {
    if (!running) return;
    timer = setTimeout(
      () => {
        timer = null;
        serialized(doPass)
          .catch(() => undefined)
          .finally(schedule);
      },
      lastClaimed > 0 ? 0 : pollIntervalMs,
    );
    timer.unref();
  }

  return {
    async start() {
      if (running) return;
      await serialized(doReload);
      running = true;
      log({ level: 'info', kind: 'triggers', msg: 'trigger workers started', poll_interval_ms: pollIntervalMs });
      // The first pass runs at once: it delivers cron events missed while the engine was down.
      serialized(doPass)
        .catch(() => undefined)
        .finally(schedule);
    },
    reload() {
      return serialized(doReload);
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = null;
      let grace: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => {
        grace = setTimeout(() => resolve('grace-over'), shutdownGraceMs);
      });
      if ((await Promise.race([queue, graceOver])) === 'grace-over') {
        log({ level: 'warn', kind: 'triggers', msg: 'shutdown grace period over, interrupting webhook calls', in_flight: inFlight });
        shutdown.abort(new Error('engine shutting down'));
        await queue;
        shutdown = new AbortController();
      }
      clearTimeout(grace);
      log({ level: 'info', kind: 'triggers', msg: 'trigger workers stopped' });
    },
    runOnce() {
      return serialized(doPass);
    },
    health() {
      return {
        status: lastError ? 'failing' : running ? 'running' : 'stopped',
        running,
        poll_interval_ms: pollIntervalMs,
        event_triggers: triggers?.events.size ?? 0,
        cron_triggers: triggers?.cron.size ?? 0,
        in_flight: inFlight,
        passes,
        last_pass_at: lastPassAt?.toISOString() ?? null,
        last_pass_ms: lastPassMs,
        last_error: lastError,
        cron_events: { ...cron },
        table_events: { ...events },
      };
    },
    async invokeEventTrigger(name, row, sessionVariables = null) {
      if (!triggers) await serialized(doReload);
      const trigger = triggers!.events.get(name);
      if (!trigger) throw new TriggerConfigError('not-found', `event trigger "${name}" does not exist`);
      if (!trigger.enableManual) {
        throw new TriggerConfigError(
          'validation-failed',
          `event trigger "${name}" does not allow manual invocation (enable_manual is false)`,
        );
      }
      return invokeManually(pool, trigger, row, sessionVariables);
    },
  };
}
