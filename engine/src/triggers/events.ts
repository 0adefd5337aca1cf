// Delivery of table events from `hdb_catalog.event_log`, as Hasura does it: a worker claims due
// events with `for update skip locked` and stamps `locked` with the claim time (a claim older than
// 30 minutes is taken over: its worker died), posts Hasura's payload, writes an invocation log and
// marks the event delivered, schedules a retry (honouring `Retry-After`), or sets `error` — all in
// one transaction, and only while the claim is still its own.

import { inTransaction } from '@org-credits/db';
import type pg from 'pg';
import { STALE_LOCK_SECONDS } from './catalog.ts';
import { nextAttempt } from './retry.ts';
import type { ResolvedEventTrigger } from './types.ts';
import { callWebhook } from './webhook.ts';

export interface EventLogRow {
  id: string;
  schema_name: string;
  table_name: string;
  trigger_name: string;
  /** The stored `{op, data, session_variables}` as JSON text (numbers keep every digit). */
  payload_text: string;
  /** `created_at` as Hasura sends it: `2026-03-01T10:00:00.123456Z`. */
  created_at_text: string;
  tries: number;
  locked: Date;
}

export async function claimEvents(pool: pg.Pool, names: string[], now: Date, limit: number): Promise<EventLogRow[]> {
  const { rows } = await pool.query<EventLogRow>(
    `with due as (
       select id from hdb_catalog.event_log
        where delivered = 'f' and error = 'f' and archived = 'f'
          and trigger_name = any($1::text[])
          and (locked is null or locked < $2::timestamptz - make_interval(secs => $4))
          and (next_retry_at is null or next_retry_at <= ($2::timestamptz at time zone 'utc'))
        order by locked nulls first, next_retry_at nulls first, created_at
        limit $3
        for update skip locked
     )
     update hdb_catalog.event_log l
        set locked = $2
       from due
      where l.id = due.id
     returning l.id, l.schema_name, l.table_name, l.trigger_name, l.payload::text as payload_text,
               to_char(l.created_at, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at_text, l.tries, l.locked`,
    [names, now, limit, STALE_LOCK_SECONDS],
  );
  return rows.sort((a, b) => a.created_at_text.localeCompare(b.created_at_text));
}

/**
 * Hasura's event trigger payload: `id`, `created_at`, `trigger.name`, `table`, `event` (`op`,
 * `data.old` / `data.new`, `session_variables`) and `delivery_info`.
 */
export function eventBody(event: EventLogRow, trigger: ResolvedEventTrigger): string {
  return `{"id":${JSON.stringify(event.id)},"created_at":${JSON.stringify(event.created_at_text)},"trigger":{"name":${JSON.stringify(
    event.trigger_name,
  )}},"table":{"schema":${JSON.stringify(event.schema_name)},"name":${JSON.stringify(event.table_name)}},"event":${
    event.payload_text
  },"delivery_info":{"current_retry":${event.tries},"max_retries":${trigger.numRetries}}}`;
}

export type EventOutcome = 'delivered' | 'retry' | 'error' | 'lost-claim' | 'released';

export async function deliverEvent(
  pool: pg.Pool,
  event: EventLogRow,
  trigger: ResolvedEventTrigger,
  clock: () => Date,
  log: (entry: Record<string, unknown>) => void,
  shutdown?: AbortSignal,
): Promise<EventOutcome> {
  const outcome = await callWebhook(trigger.url, eventBody(event, trigger), trigger.headers, trigger.timeoutSeconds, shutdown);
  if (outcome.interrupted) {
    // Shutting down: give the event back untouched, as Hasura unlocks its events on shutdown.
    await pool.query('update hdb_catalog.event_log set locked = null where id = $1 and locked = $2', [event.id, event.locked]);
    log({
      level: 'info',
      kind: 'event_trigger',
      trigger: event.trigger_name,
      event_id: event.id,
      msg: 'delivery interrupted by shutdown, event released',
    });
    return 'released';
  }
  const decision = outcome.ok
    ? null
    : nextAttempt(event.tries, trigger.numRetries, trigger.intervalSeconds, outcome.retryAfterSeconds, clock());
  // One statement, so one round trip: the outcome and its invocation log commit together.
  const { rows } = await pool.query<{ updated: number }>(
    `with updated as (
       update hdb_catalog.event_log
          set tries = tries + 1,
              delivered = $2,
              error = $3,
              next_retry_at = coalesce($4::timestamptz at time zone 'utc', next_retry_at),
              locked = null
        where id = $1 and locked = $5
       returning id
     )
     insert into hdb_catalog.event_invocation_logs (trigger_name, event_id, status, request, response, created_at)
     values ($6, $1, $7, $8::json, $9::json, $10::timestamptz at time zone 'utc')
     returning (select count(*)::int from updated) as updated`,
    [
      event.id,
      outcome.ok,
      !outcome.ok && !decision,
      decision,
      event.locked,
      event.trigger_name,
      outcome.status,
      outcome.requestLog,
      outcome.responseLog,
      clock(),
    ],
  );
  const result: EventOutcome = rows[0]?.updated ? (outcome.ok ? 'delivered' : decision ? 'retry' : 'error') : 'lost-claim';
  log({
    level: outcome.ok ? 'info' : 'warn',
    kind: 'event_trigger',
    trigger: event.trigger_name,
    table: `${event.schema_name}.${event.table_name}`,
    event_id: event.id,
    msg: outcome.ok ? 'event delivered' : decision ? 'event delivery failed, retry scheduled' : 'event delivery failed, no retries left',
    http_status: outcome.status,
    error: outcome.error,
    tries: event.tries + 1,
    duration_ms: outcome.durationMs,
    ...(decision ? { next_retry_at: decision.toISOString() } : {}),
    ...(outcome.retryAfterSeconds != null ? { retry_after_seconds: outcome.retryAfterSeconds } : {}),
  });
  return result;
}

/** Hasura's `pg_invoke_event_trigger`: logs a MANUAL event for a row, for a trigger with `enable_manual`. */
export async function invokeManually(
  pool: pg.Pool,
  trigger: ResolvedEventTrigger,
  row: Record<string, unknown>,
  sessionVariables: Record<string, string> | null,
): Promise<string> {
  return inTransaction(pool, async (client) => {
    if (sessionVariables) await client.query(`select set_config('hasura.user', $1, true)`, [JSON.stringify(sessionVariables)]);
    const { rows } = await client.query<{ id: string }>(
      `select hdb_catalog.insert_event_log($1, $2, $3, 'MANUAL', json_build_object('old', null, 'new', $4::json)) as id`,
      [trigger.schema, trigger.table, trigger.name, JSON.stringify(row)],
    );
    return rows[0]!.id;
  });
}
