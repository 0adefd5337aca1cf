// The shapes the trigger service works with: what it is given (the metadata model, a pool, the
// environment, a clock) and the triggers resolved from metadata, with Hasura's defaults applied
// and every `{{ENV}}` template and `value_from_env` header looked up.
import type pg from 'pg';
import type { CronTrigger, EventTrigger, HeaderConf, Metadata } from '../metadata/types.ts';

export type { CronTrigger, EventTrigger, HeaderConf, Metadata };

export interface TriggerServiceOptions {
  pool: pg.Pool;
  /** The metadata in force; read again by every `reload()`. */
  metadata: () => Metadata;
  env: NodeJS.ProcessEnv;
  /** One structured log entry (the caller writes it as one JSON line). Never given secrets. */
  log: (entry: Record<string, unknown>) => void;
  /** The clock. Tests pass a fixed one and call `runOnce()` instead of waiting on timers. */
  now?: () => Date;
  /**
   * Pause before the next delivery pass after a pass that claimed no events, in ms (Hasura's
   * HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL); after a pass that claimed events the next starts at
   * once. @default 1000
   */
  pollIntervalMs?: number;
  /** Events claimed per pass and per kind (cron, table events). @default 100 */
  batchSize?: number;
  /** Webhook calls in flight at once in one pass (Hasura's HASURA_GRAPHQL_EVENTS_HTTP_POOL_SIZE). @default 100 */
  concurrency?: number;
  /**
   * How long `stop()` lets webhook calls in flight finish before cutting them short and releasing
   * their events for another engine (Hasura's graceful shutdown timeout). @default 60000
   */
  shutdownGraceMs?: number;
}

export interface TriggerService {
  /** Creates the catalog, syncs the Postgres triggers and cron events, then polls in the background. */
  start(): Promise<void>;
  /** Call after every metadata change: creates, updates and drops Postgres triggers; regenerates cron events. */
  reload(): Promise<void>;
  /** Stops polling and waits for the pass in flight to record its results. */
  stop(): Promise<void>;
  /** The delivery workers' state, for `/healthz`. */
  health(): Record<string, unknown>;
  /** One scheduling and delivery pass (cron events, then table events). */
  runOnce(): Promise<void>;
}

/** A header as sent; `fromEnv` names the variable its value came from (never logged or stored). */
export interface ResolvedHeader {
  name: string;
  value: string;
  fromEnv: string | null;
}

export interface ResolvedCronTrigger {
  name: string;
  url: string;
  schedule: string;
  /** The JSON text of the configured payload (`null` when none). */
  payloadJson: string;
  comment: string | null;
  headers: ResolvedHeader[];
  numRetries: number;
  retryIntervalSeconds: number;
  timeoutSeconds: number;
  toleranceSeconds: number;
}

export type TriggerOp = 'INSERT' | 'UPDATE' | 'DELETE';

export interface ResolvedOpSpec {
  /** Columns whose change fires an UPDATE (`*` = any); for INSERT and DELETE always `*`. */
  columns: '*' | string[];
  /** Columns sent in `event.data` (`*` = the whole row). */
  payload: '*' | string[];
}

export interface ResolvedEventTrigger {
  name: string;
  schema: string;
  table: string;
  ops: Partial<Record<TriggerOp, ResolvedOpSpec>>;
  enableManual: boolean;
  url: string;
  headers: ResolvedHeader[];
  numRetries: number;
  intervalSeconds: number;
  timeoutSeconds: number;
}

export interface ResolvedTriggers {
  cron: Map<string, ResolvedCronTrigger>;
  events: Map<string, ResolvedEventTrigger>;
}
