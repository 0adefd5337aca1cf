// POST /cron/:job — Hasura's cron triggers (hasura/metadata/cron_triggers.yaml), behind the shared
// secret. Each job takes "now" from the trigger's scheduled_time (tests pass a time; nothing
// sleeps); the auto top-up sweep and the notifications, which date what they write for people to
// act on, take the api's clock instead when the run is delivered late (see AT_DELIVERY). Each is
// idempotent, and is safe to run twice at once: the SQL takes row locks and checks state, and
// every grant and notification has its unique reference.
import express, { type Router } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import { AppError, invalidInputFromZod } from '../errors.ts';
import { type StoredNotification, sendAll, sendUnsent } from '../notifications/index.ts';
import { type AttemptRow, chargeAttempt, runAutoTopUp } from '../payments/auto-topup.ts';
import type { Payments } from '../payments/index.ts';

export interface JobDeps {
  db: pg.Pool;
  payments: Payments;
  clock: () => Date;
  logger?: Pick<Console, 'error' | 'info'>;
}

type Job = (deps: JobDeps, now: Date) => Promise<Record<string, unknown>>;

/** An in-flight attempt older than this had its answer lost: the sweep sends it again with the same key. */
const RETRY_IN_FLIGHT_AFTER_MINUTES = 10;
/**
 * Stripe keeps an idempotency key for 24 hours; after that the same key would make a new charge. So
 * the sweep sends an attempt again only while it is younger than this, and reports older ones still
 * in flight as stuck (logged as errors): someone looks the payment up in Stripe. They keep blocking
 * that org's next auto top-up (one in flight at a time), which is the safe side.
 */
const RETRY_IN_FLIGHT_UNTIL_HOURS = 23;
/**
 * How long one sweep goes on sending before it answers `more: true` and leaves the rest to the next
 * (every 5 minutes; Hasura waits 120 s for it, and one Stripe call may take a minute with retries).
 */
const SWEEP_BUDGET_MS = 45_000;

/** Organizations a job takes per query; each is then done in its own transaction. */
const JOB_BATCH = 500;
/** How long one call of a job goes on before it answers `more: true` (Hasura's cron timeout is longer). */
const JOB_BUDGET_MS = 30_000;

/**
 * The playground's claims on its keys (ledger.playground_runs) older than a week, in a bounded batch
 * ($1: the run's time). Served by playground_runs_started_idx.
 */
export const PRUNE_PLAYGROUND_RUNS_SQL = `delete from ledger.playground_runs where ctid = any (array(
  select ctid from ledger.playground_runs where started_at < $1::timestamptz - interval '7 days' limit 10000))`;

/**
 * Drops the bodies of Stripe events processed over 90 days ago, in a bounded batch ($1: the run's
 * time), keeping id and type. Served by stripe_events_unpruned_idx, which holds only events whose
 * body is still stored, so a run does not open every stored body to find the few to drop.
 */
export const PRUNE_STRIPE_EVENTS_SQL = `update public.stripe_events set payload = jsonb_build_object('id', id, 'type', type, 'pruned', true)
  where ctid = any (array(
    select ctid from public.stripe_events
    where processed_at < $1::timestamptz - interval '90 days' and payload ? 'data' limit 10000))`;

/**
 * Runs a job's step for each organization its `*_due` SQL function lists, one transaction each (a
 * statement on the pool), in batches of `JOB_BATCH` in id order, each batch after the last organization done (so none is done
 * twice in a call, even one that stays due, such as a grant whose credits a hold keeps back), until
 * none is left or the time budget is spent (`more: true`: the next run goes on). One organization's
 * failure is logged and skipped; it does not stop or undo the others.
 */
async function eachOrganization(
  { db, logger }: JobDeps,
  job: string,
  dueSql: string,
  stepSql: string,
  now: Date,
): Promise<{ count: number; organizations: number; failed: number; more: boolean }> {
  const started = Date.now();
  let failed = 0;
  let count = 0;
  let organizations = 0;
  let after: string | null = null;
  for (;;) {
    const due: pg.QueryResult<{ organization_id: string }> = await db.query(dueSql, [now, after, JOB_BATCH]);
    for (const { organization_id: orgId } of due.rows) {
      after = orgId;
      try {
        const { rows } = await db.query<{ n: number }>(stepSql, [orgId, now]);
        count += Number(rows[0]?.n ?? 0);
        organizations += 1;
      } catch (error) {
        failed += 1;
        (logger ?? console).error(`[jobs] ${job}: organization ${orgId} failed; the others go on`, error);
      }
      if (Date.now() - started > JOB_BUDGET_MS) return { count, organizations, failed, more: true };
    }
    if (due.rows.length < JOB_BATCH) return { count, organizations, failed, more: false };
  }
}

export const jobs: Record<string, Job> = {
  /** Every minute: open reservations past their expiry return their credits. */
  async expire_reservations(deps, now) {
    const run = await eachOrganization(
      deps,
      'expire_reservations',
      'select public.expire_reservations_due($1, $2, $3) as organization_id',
      'select public.expire_organization_reservations($1, $2) as n',
      now,
    );
    return { expired: run.count, organizations: run.organizations, failed: run.failed, more: run.more };
  },
  /** Hourly: grants past their expiry are zeroed with expire entries; the playground's key claims older than a week go. */
  async expire_grants(deps, now) {
    const run = await eachOrganization(
      deps,
      'expire_grants',
      'select public.expire_grants_due($1, $2, $3) as organization_id',
      'select public.expire_organization_grants($1, $2) as n',
      now,
    );
    // The playground's claims on its keys (ledger.playground_runs) are needed only while a run under
    // the key could still be going on or be replayed; after a week a replayed key finds its
    // reservation resolved anyway. A bounded batch per run keeps the table small.
    const pruned = await deps.db.query(PRUNE_PLAYGROUND_RUNS_SQL, [now]);
    // A Stripe event's body is kept while its effect could still be applied again (a refund or
    // dispute that came before its payment was fulfilled: days at most); after 90 days only its id
    // and type stay, which keep a redelivery from being applied twice. The bodies hold the
    // customer's name, email and address, which an erasure request must not find here for ever.
    const events = await deps.db.query(PRUNE_STRIPE_EVENTS_SQL, [now]);
    return {
      expired: run.count,
      organizations: run.organizations,
      failed: run.failed,
      more: run.more,
      playgroundRunsPruned: pruned.rowCount ?? 0,
      stripeEventsPruned: events.rowCount ?? 0,
    };
  },
  /** Hourly: ended periods roll (applying scheduled changes), and every active org gets its allowance once per period. */
  async roll_billing_periods(deps, now) {
    const run = await eachOrganization(
      deps,
      'roll_billing_periods',
      'select public.roll_billing_periods_due($1, $2, $3) as organization_id',
      'select 1 as n from public.roll_billing_period($1, $2)',
      now,
    );
    return { organizations: run.organizations, failed: run.failed, more: run.more };
  },
  /** Every 5 minutes: the auto_topup_check event's safety net, and a retry of attempts whose answer was lost. */
  async auto_topup_sweep(deps, now) {
    // Attempts in flight past the retry delay: sent again while Stripe still knows their key, stuck after.
    const lost = await deps.db.query<AttemptRow & { stripe_payment_intent_id: string | null; created_at: Date }>(
      `select * from public.auto_topup_attempts
       where status = 'in_flight' and created_at < $1::timestamptz - make_interval(mins => $2)
       order by created_at`,
      [now, RETRY_IN_FLIGHT_AFTER_MINUTES],
    );
    const started = Date.now();
    const overBudget = () => Date.now() - started > SWEEP_BUDGET_MS;
    // Stripe's 24 hours go on while this sweep does: an attempt's age counts the sweep's time so far.
    const tooOld = (a: { created_at: Date }) =>
      now.getTime() - a.created_at.getTime() + (Date.now() - started) >= RETRY_IN_FLIGHT_UNTIL_HOURS * 3_600_000;
    const stuck: typeof lost.rows = [];
    let retried = 0;
    let more = false;
    // Oldest first, so the attempts already too old are all met before anything is sent.
    for (const attempt of lost.rows) {
      // Too old (or grown so while the sweep went on): stuck, not sent.
      if (tooOld(attempt)) {
        stuck.push(attempt);
        continue;
      }
      if (overBudget()) {
        more = true;
        break;
      }
      await chargeAttempt(deps, attempt, now);
      retried += 1;
    }
    for (const a of stuck) {
      (deps.logger ?? console).error(
        `[auto-topup] attempt ${a.id} of org ${a.organization_id} has been in flight for over ${RETRY_IN_FLIGHT_UNTIL_HOURS} hours ` +
          `(payment intent ${a.stripe_payment_intent_id ?? 'unknown'}): not sent again, look it up in Stripe`,
      );
    }
    const due = await deps.db.query<{ organization_id: string }>(
      `select s.organization_id from public.auto_topup_settings s
       cross join lateral public.get_credit_balance(s.organization_id, $1) b
       where s.enabled and b.available_credits < s.threshold_credits
       order by s.organization_id`,
      [now],
    );
    const outcomes: Record<string, string> = {};
    for (const { organization_id } of due.rows) {
      if (overBudget()) {
        more = true;
        break;
      }
      const status = await runAutoTopUp(deps, organization_id, now);
      if (status) outcomes[organization_id] = status;
    }
    // Checks whose event never got through (the api was down past Hasura's retries) are covered
    // by this sweep; after a day they are only clutter.
    const dropped = await deps.db.query("delete from public.auto_topup_checks where created_at < $1::timestamptz - interval '1 day'", [
      now,
    ]);
    return {
      retried,
      more,
      stuck: stuck.map((a) => a.id),
      attempts: outcomes,
      staleChecksDeleted: dropped.rowCount ?? 0,
    };
  },
  /** Every 15 minutes: 50 / 80 / 100 % of the allowance used, and below the auto top-up threshold; once per period each; then the notifications still unsent. */
  async usage_notifications({ db, payments, logger }, now) {
    const { rows } = await db.query<StoredNotification>('select * from public.notify_usage_thresholds($1)', [now]);
    await sendAll(db, payments.notifier, rows, logger ?? console);
    // Then what is still unsent from before (a failed send, an api stopped before sending).
    const resent = await sendUnsent(db, payments.notifier, now, logger ?? console);
    return { notified: rows.filter((n) => !n.read_at).length, resent };
  },
};

/**
 * The jobs that act at the api's clock when Hasura delivers a run later than scheduled (after an
 * outage, up to the trigger's tolerance): they date what they write (an auto top-up attempt and its
 * outcome, notifications), and a late run dating them at its scheduled time put them in the past:
 * an auto top-up declined 10 minutes late was retried 10 minutes early. The others keep the
 * scheduled time: the expiry and roll jobs then do what was due then, never more, so one replica
 * whose clock runs ahead cannot expire a hold before its time (the next run does the rest).
 */
const AT_DELIVERY: ReadonlySet<string> = new Set(['auto_topup_sweep', 'usage_notifications']);

/** What Hasura POSTs to a cron webhook. */
const cronPayload = z.object({ scheduled_time: z.iso.datetime({ offset: true }).optional(), name: z.string().optional() }).loose();

export function cronRouter(deps: JobDeps): Router {
  const router = express.Router();
  router.post('/cron/:job', async (req, res) => {
    const job = jobs[req.params.job];
    if (!job || !Object.hasOwn(jobs, req.params.job)) throw new AppError('NOT_FOUND', `no job named ${req.params.job}`);
    const payload = cronPayload.safeParse(req.body ?? {});
    if (!payload.success) throw invalidInputFromZod(payload.error, 'cron payload');
    const clock = deps.clock();
    const scheduled = payload.data.scheduled_time ? new Date(payload.data.scheduled_time) : null;
    const now = !scheduled || (AT_DELIVERY.has(req.params.job) && clock.getTime() > scheduled.getTime()) ? clock : scheduled;
    const result = await job(deps, now);
    res.json({ job: req.params.job, now: now.toISOString(), ...result });
  });
  return router;
}
