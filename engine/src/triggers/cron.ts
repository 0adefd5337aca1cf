// Cron triggers, as Hasura runs them. Events are generated ahead into `hdb_catalog.hdb_cron_events`
// (the next 100 of each trigger), so a restart finds the ones it missed: each is delivered once if
// it is still within the trigger's `tolerance_seconds` of its scheduled time and marked `dead`
// otherwise. A worker claims due events with `for update skip locked` and marks them `locked`, so
// engines sharing a database never deliver one event twice at the same time; delivery is at least
// once (a crash between the webhook's answer and the update sends it again).

import { inTransaction } from '@org-credits/db';
import type pg from 'pg';
import { STALE_LOCK_SECONDS } from './catalog.ts';
import { parseSchedule } from './config.ts';
import { nextAttempt } from './retry.ts';
import type { ResolvedCronTrigger } from './types.ts';
import { callWebhook } from './webhook.ts';

/** Hasura keeps this many upcoming events per cron trigger. */
export const CRON_EVENTS_AHEAD = 100;

export interface CronEventRow {
  id: string;
  trigger_name: string;
  scheduled_time: Date;
  tries: number;
  /** When this worker claimed it; the final update checks the claim is still ours. */
  locked_at: Date;
}

export interface GenerateResult {
  inserted: number;
  removed: number;
}

/**
 * Brings the stored events in line with metadata at `now`: removes pending events of triggers no
 * longer in metadata and upcoming ones that the (changed) schedule no longer produces, then tops
 * each trigger up to CRON_EVENTS_AHEAD upcoming events. History (delivered, error, dead) is kept.
 */
export async function generateCronEvents(pool: pg.Pool, triggers: Map<string, ResolvedCronTrigger>, now: Date): Promise<GenerateResult> {
  const result: GenerateResult = { inserted: 0, removed: 0 };
  const names = [...triggers.keys()];
  const dropped = await pool.query(
    `delete from hdb_catalog.hdb_cron_events where status = 'scheduled' and not (trigger_name = any($1::text[]))`,
    [names],
  );
  result.removed += dropped.rowCount ?? 0;

  for (const trigger of triggers.values()) {
    const cron = parseSchedule(trigger.schedule);
    await inTransaction(pool, async (client) => {
      // One generator per trigger at a time, across engines.
      await client.query(`select pg_advisory_xact_lock(hashtext('org-credits cron ' || $1))`, [trigger.name]);
      const upcoming = (
        await client.query<{ id: string; scheduled_time: Date }>(
          `select id, scheduled_time from hdb_catalog.hdb_cron_events
            where trigger_name = $1 and status = 'scheduled' and tries = 0 and scheduled_time > $2`,
          [trigger.name, now],
        )
      ).rows;
      const stale = upcoming.filter((e) => !cron.match(e.scheduled_time)).map((e) => e.id);
      if (stale.length > 0) {
        await client.query('delete from hdb_catalog.hdb_cron_events where id = any($1::text[])', [stale]);
        result.removed += stale.length;
      }
      const missing = CRON_EVENTS_AHEAD - (upcoming.length - stale.length);
      if (missing > 0) {
        const last = (
          await client.query<{ last: Date | null }>(
            `select max(scheduled_time) as last from hdb_catalog.hdb_cron_events where trigger_name = $1 and status = 'scheduled' and scheduled_time > $2`,
            [trigger.name, now],
          )
        ).rows[0]?.last;
        const from = last && last > now ? last : now;
        const times = cron.nextRuns(missing, from);
        if (times.length > 0) {
          const inserted = await client.query(
            `insert into hdb_catalog.hdb_cron_events (trigger_name, scheduled_time, created_at)
             select $1, t, $3 from unnest($2::timestamptz[]) as t
             on conflict (trigger_name, scheduled_time) where status = 'scheduled' do nothing`,
            [trigger.name, times, now],
          );
          result.inserted += inserted.rowCount ?? 0;
        }
      }
    });
  }
  return result;
}

/** Claims up to `limit` due events of known triggers (oldest first), marking them `locked`. */
export async function claimCronEvents(pool: pg.Pool, names: string[], now: Date, limit: number): Promise<CronEventRow[]> {
  const { rows } = await pool.query<CronEventRow>(
    `with due as (
       select id from hdb_catalog.hdb_cron_events
        where trigger_name = any($1::text[])
          and ((status = 'scheduled' and coalesce(next_retry_at, scheduled_time) <= $2)
               or (status = 'locked' and locked_at < $2::timestamptz - make_interval(secs => $4)))
        order by scheduled_time
        limit $3
        for update skip locked
     )
     update hdb_catalog.hdb_cron_events e
        set status = 'locked', locked_at = $2
       from due
      where e.id = due.id
     returning e.id, e.trigger_name, e.scheduled_time, e.tries, e.locked_at`,
    [names, now, limit, STALE_LOCK_SECONDS],
  );
  return rows.sort((a, b) => a.scheduled_time.getTime() - b.scheduled_time.getTime());
}

/** Hasura's cron webhook body: `id`, `name`, `scheduled_time`, `payload`, and `comment` when there is one. */
export function cronBody(event: CronEventRow, trigger: ResolvedCronTrigger): string {
  const comment = trigger.comment == null ? '' : `,"comment":${JSON.stringify(trigger.comment)}`;
  return `{"id":${JSON.stringify(event.id)},"name":${JSON.stringify(trigger.name)},"scheduled_time":${JSON.stringify(
    utcTime(event.scheduled_time),
  )},"payload":${trigger.payloadJson}${comment}}`;
}

/** A UTC time as Hasura writes one: `2026-03-01T10:05:00Z`, fractions only when there are some. */
export function utcTime(date: Date): string {
  return date.toISOString().replace('.000Z', 'Z');
}

export type CronOutcome = 'delivered' | 'retry' | 'error' | 'dead' | 'lost-claim' | 'released';

/** Delivers one claimed event (or marks it dead when past tolerance) and records the result. */
export async function deliverCronEvent(
  pool: pg.Pool,
  event: CronEventRow,
  trigger: ResolvedCronTrigger,
  clock: () => Date,
  log: (entry: Record<string, unknown>) => void,
  shutdown?: AbortSignal,
): Promise<CronOutcome> {
  const claimedAt = clock();
  const base = { kind: 'cron_trigger', trigger: trigger.name, event_id: event.id, scheduled_time: utcTime(event.scheduled_time) };
  if (claimedAt.getTime() - event.scheduled_time.getTime() > trigger.toleranceSeconds * 1000) {
    const dead = await pool.query(
      `update hdb_catalog.hdb_cron_events set status = 'dead', locked_at = null where id = $1 and status = 'locked' and locked_at = $2`,
      [event.id, event.locked_at],
    );
    log({ level: 'warn', ...base, msg: 'cron event missed beyond tolerance, marked dead', tolerance_seconds: trigger.toleranceSeconds });
    return dead.rowCount ? 'dead' : 'lost-claim';
  }

  const outcome = await callWebhook(trigger.url, cronBody(event, trigger), trigger.headers, trigger.timeoutSeconds, shutdown);
  if (outcome.interrupted) {
    // Shutting down: give the event back untouched, as Hasura unlocks its events on shutdown.
    await pool.query(
      `update hdb_catalog.hdb_cron_events set status = 'scheduled', locked_at = null where id = $1 and status = 'locked' and locked_at = $2`,
      [event.id, event.locked_at],
    );
    log({ level: 'info', ...base, msg: 'delivery interrupted by shutdown, event released' });
    return 'released';
  }
  const decision = outcome.ok
    ? null
    : nextAttempt(event.tries, trigger.numRetries, trigger.retryIntervalSeconds, outcome.retryAfterSeconds, clock());
  const status = outcome.ok ? 'delivered' : decision ? 'scheduled' : 'error';
  // One statement, so one round trip: the outcome and its invocation log commit together.
  const { rows } = await pool.query<{ updated: number }>(
    `with updated as (
       update hdb_catalog.hdb_cron_events
          set status = $2, tries = tries + 1, next_retry_at = coalesce($3, next_retry_at), locked_at = null
        where id = $1 and status = 'locked' and locked_at = $4
       returning id
     )
     insert into hdb_catalog.hdb_cron_event_invocation_logs (event_id, status, request, response, created_at)
     values ($1, $5, $6::json, $7::json, $8)
     returning (select count(*)::int from updated) as updated`,
    [event.id, status, decision, event.locked_at, outcome.status, outcome.requestLog, outcome.responseLog, clock()],
  );
  const result: CronOutcome = rows[0]?.updated ? (outcome.ok ? 'delivered' : decision ? 'retry' : 'error') : 'lost-claim';
  log({
    level: outcome.ok ? 'info' : 'warn',
    ...base,
    msg: outcome.ok ? 'cron event delivered' : decision ? 'cron event failed, retry scheduled' : 'cron event failed, no retries left',
    http_status: outcome.status,
    error: outcome.error,
    tries: event.tries + 1,
    duration_ms: outcome.durationMs,
    ...(decision ? { next_retry_at: decision.toISOString() } : {}),
  });
  return result;
}
