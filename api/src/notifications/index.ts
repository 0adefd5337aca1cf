// Notifications: stored in `notifications` for the app (deduplicated per org by dedupe_key), then
// handed to an outgoing adapter: a webhook when NOTIFICATIONS_WEBHOOK_URL is set, the log otherwise.
// Rows are written inside the transaction of what caused them; they are sent after it commits.
import type pg from 'pg';

export type NotificationKind =
  | 'usage_threshold'
  | 'low_balance'
  | 'auto_topup_succeeded'
  | 'auto_topup_failed'
  | 'auto_topup_action_required'
  | 'auto_topup_disabled'
  | 'payment_failed'
  | 'plan_changed'
  | 'refund';

export interface NotificationInput {
  orgId: string;
  /** Null: everyone in the org. */
  userId?: string | null;
  kind: NotificationKind;
  title: string;
  body: string;
  actionUrl?: string | null;
  dedupeKey: string;
}

export interface StoredNotification {
  id: string;
  organization_id: string;
  user_id: string | null;
  kind: NotificationKind;
  title: string;
  body: string;
  action_url: string | null;
  dedupe_key: string | null;
  read_at: Date | null;
  created_at: Date;
}

/** A pg client or pool: anything with `query`. */
export interface Queryable {
  query<R extends object>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** Inserts the notification unless its dedupe key exists for the org; returns it when inserted. */
export async function storeNotification(db: Queryable, n: NotificationInput, now: Date): Promise<StoredNotification | null> {
  const { rows } = await db.query<StoredNotification>(
    `insert into public.notifications (organization_id, user_id, kind, title, body, action_url, dedupe_key, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8)
     on conflict (organization_id, dedupe_key) do nothing
     returning *`,
    [n.orgId, n.userId ?? null, n.kind, n.title, n.body, n.actionUrl ?? null, n.dedupeKey, now],
  );
  return rows[0] ?? null;
}

/**
 * One notification per billing contact of the org (for what only billing managers can act on): its
 * owners, or its admins when it has no owner (ledger.billing_contacts, which the database's own
 * notices use too).
 */
export async function notifyBillingContacts(db: Queryable, n: Omit<NotificationInput, 'userId'>, now: Date): Promise<StoredNotification[]> {
  const { rows } = await db.query<{ user_id: string }>('select c.user_id from ledger.billing_contacts($1) as c (user_id)', [n.orgId]);
  const stored: StoredNotification[] = [];
  for (const { user_id } of rows) {
    const row = await storeNotification(db, { ...n, userId: user_id, dedupeKey: `${n.dedupeKey}:${user_id}` }, now);
    if (row) stored.push(row);
  }
  return stored;
}

/** Where notifications go beyond the app. */
export interface NotificationSender {
  send(notification: StoredNotification): Promise<void>;
}

export function logSender(logger: Pick<Console, 'info'> = console): NotificationSender {
  return {
    async send(n) {
      logger.info(`[notify] ${n.organization_id}${n.user_id ? `/${n.user_id}` : ''} ${n.kind}: ${n.title} — ${n.body}`);
    },
  };
}

/** POSTs each notification as JSON to a URL (an email or chat provider's inbound hook). */
export function webhookSender(url: string, fetchImpl: typeof fetch = fetch): NotificationSender {
  return {
    async send(n) {
      const response = await fetchImpl(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: n.id,
          organizationId: n.organization_id,
          userId: n.user_id,
          kind: n.kind,
          title: n.title,
          body: n.body,
          actionUrl: n.action_url,
          createdAt: n.created_at,
        }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) throw new Error(`the notifications webhook answered ${response.status}`);
    },
  };
}

/**
 * Sends what was stored and records each send (`sent_at`); a failed send is logged, never undoes what
 * caused it (the row stays for the app), and is tried again by `sendUnsent`. A notification read in
 * the app before it was sent is not sent.
 */
export async function sendAll(
  db: Queryable,
  sender: NotificationSender,
  notifications: StoredNotification[],
  logger: Pick<Console, 'error'> = console,
) {
  for (const n of notifications) {
    if (n.read_at) continue;
    try {
      await sender.send(n);
      await db.query('update public.notifications set sent_at = now() where id = $1 and sent_at is null', [n.id]);
    } catch (error) {
      logger.error(`[notify] could not send notification ${n.id}`, error);
    }
  }
}

/** One resend at a time across every api process: a second run meanwhile leaves the rows to the first. */
const RESEND_LOCK = "hashtextextended('org_credits_notifications_resend', 0)";

/**
 * Sends again the notifications still unsent a minute after they were written (a failed send, an api
 * stopped before sending, a row written by SQL alone), oldest first, up to `limit`, for at most
 * `budgetMs` (the rest wait for the next run). One run at a time: an overlapping run (Hasura's retry
 * of a slow one, or the next one) returns 0 at once instead of sending the same rows again (it sent
 * 31 of 40 twice). Returns how many it tried.
 */
export async function sendUnsent(
  db: pg.Pool,
  sender: NotificationSender,
  now: Date,
  logger: Pick<Console, 'error'> = console,
  { limit = 200, budgetMs = 45_000 }: { limit?: number; budgetMs?: number } = {},
): Promise<number> {
  const lock = await db.connect();
  try {
    const { rows: got } = await lock.query<{ locked: boolean }>(`select pg_try_advisory_lock(${RESEND_LOCK}) as locked`);
    if (!got[0]?.locked) return 0;
    try {
      const { rows } = await db.query<StoredNotification>(
        `select * from public.notifications
         where sent_at is null and read_at is null and created_at <= $1::timestamptz - interval '1 minute'
         order by created_at limit $2`,
        [now, limit],
      );
      const deadline = performance.now() + budgetMs;
      let tried = 0;
      for (const n of rows) {
        if (performance.now() > deadline) break;
        // Sent meanwhile by whoever wrote it (its first send took over a minute): not again.
        const still = await db.query('select 1 from public.notifications where id = $1 and sent_at is null', [n.id]);
        if (still.rows.length) await sendAll(db, sender, [n], logger);
        tried++;
      }
      return tried;
    } finally {
      await lock.query(`select pg_advisory_unlock(${RESEND_LOCK})`);
    }
  } finally {
    lock.release();
  }
}
