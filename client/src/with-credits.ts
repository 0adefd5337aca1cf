// `withCredits`: hold credits, run the AI call, charge what it used; give the hold back if the call
// throws. One idempotency key per logical call, so a retry after a lost answer never holds or
// charges twice. Once the call has run the hold is never given back: a settle refused for its usage
// charges the hold instead, and one that cannot be done now leaves the hold open and tells the
// caller what to settle later (the error's reservationId, usage, result and expiresAt).
import { randomUUID } from 'node:crypto';
import { CreditsError, CreditsTransportError, isRetryable, type UnsettledCall, withUnsettledCall } from './errors.ts';
import type { CreditEstimateHint, CreditsTransport, CreditUsage, ReleaseResult, ReserveResult, SettleResult } from './types.ts';

export interface WithCreditsOptions {
  orgId: string;
  capability: string;
  qualityLevel: string;
  /** What the server needs to size the hold. @default the capability's typical input */
  estimate?: CreditEstimateHint;
  /** The logical call's key; give your own to make the whole `withCredits` retryable across processes. @default a new UUID */
  idempotencyKey?: string;
  /**
   * How long the hold lasts (1 to 86400 s): above the longest the call can take plus the settle's
   * retry window. A hold that expires before the settle is never charged. @default 600 (the server's)
   */
  ttlSeconds?: number;
  /**
   * The least life, in seconds, a hold must have left for the call to run on it: a key replayed
   * after the hold was made (a retried job) can get a hold about to expire, and the call is then
   * refused with `HOLD_EXPIRING` instead of running uncharged. @default 60, or half of ttlSeconds when that is less
   */
  minHoldSeconds?: number;
}

/** What the function running the AI call receives. */
export interface CreditHold extends ReserveResult {
  idempotencyKey: string;
}

/** What the function returns: the usage to charge, and anything it wants to hand back. */
export interface CreditsOutcome<T> {
  usage: CreditUsage;
  result?: T;
}

export interface WithCreditsResult<T> {
  hold: CreditHold;
  settlement: SettleResult;
  result: T | undefined;
}

export interface CreditsClientOptions {
  transport: CreditsTransport;
  /** Extra attempts after a transport failure (no answer or HTTP 5xx) of reserve, release and `settle`. @default 3 */
  retries?: number;
  /** Waits between attempts, in ms; attempt n waits `backoffMs[n]` (the last one repeats). @default [100, 400, 1600] */
  backoffMs?: number[];
  /**
   * How long `withCredits` keeps retrying the settle after the call ran, in ms (never more than half
   * the life the hold has left), waiting `settleBackoffMs` between attempts. @default 60000
   */
  settleRetryWindowMs?: number;
  /** @default [100, 400, 1600, 3000, 5000, 10000] (the last one repeats) */
  settleBackoffMs?: number[];
  /** How to wait; tests pass one that does not. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** The local clock in ms, for the settle's retry window. @default Date.now */
  now?: () => number;
}

export interface CreditsClient {
  withCredits<T>(options: WithCreditsOptions, run: (hold: CreditHold) => Promise<CreditsOutcome<T>>): Promise<WithCreditsResult<T>>;
  reserve(options: WithCreditsOptions & { idempotencyKey: string }): Promise<ReserveResult>;
  settle(orgId: string, reservationId: string, usage: CreditUsage): Promise<SettleResult>;
  release(orgId: string, reservationId: string, reason?: string): Promise<ReleaseResult>;
}

const RELEASE_REASON_MAX = 200;
const DEFAULT_TTL_SECONDS = 600;
const DEFAULT_MIN_HOLD_SECONDS = 60;
/**
 * The codes of a settle refused for its usage: the api's INVALID_INPUT, and Hasura's own input
 * checks (a count that is no integer, or beyond 32 bits, never reaches the api: parse-failed or
 * validation-failed). The reservation id the settle names comes from the reserve, so it is the
 * usage they refuse.
 */
const USAGE_REFUSED: ReadonlySet<string> = new Set(['INVALID_INPUT', 'parse-failed', 'validation-failed']);

export function createCreditsClient(options: CreditsClientOptions): CreditsClient {
  const { transport } = options;
  const retries = options.retries ?? 3;
  const backoff = options.backoffMs ?? [100, 400, 1600];
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const settleWindowMs = options.settleRetryWindowMs ?? 60_000;
  const settleBackoff = options.settleBackoffMs ?? [100, 400, 1600, 3000, 5000, 10_000];

  /**
   * Runs `op`, and again after each retryable failure (no answer, or HTTP 5xx) for as long as
   * `nextWait(attempt)` gives a wait in ms; `undefined` ends the retries with the last error.
   */
  async function retryingWith<R>(op: () => Promise<R>, nextWait: (attempt: number) => number | undefined): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await op();
      } catch (error) {
        const wait = isRetryable(error) ? nextWait(attempt) : undefined;
        if (wait === undefined) throw error;
        await sleep(wait);
      }
    }
  }

  /** An operation, retried `retries` times with `backoffMs`. */
  function retrying<R>(op: () => Promise<R>): Promise<R> {
    return retryingWith(op, (attempt) => (attempt < retries ? (backoff[Math.min(attempt, backoff.length - 1)] ?? 0) : undefined));
  }

  /** The settle, retried with `settleBackoffMs` until the next wait would end past `deadline`. */
  function settleUntil(orgId: string, reservationId: string, usage: CreditUsage, deadline: number): Promise<SettleResult> {
    const start = now();
    let waited = 0;
    return retryingWith(
      () => transport.settle(orgId, reservationId, usage),
      (attempt) => {
        const wait = settleBackoff[Math.min(attempt, settleBackoff.length - 1)] ?? 0;
        // A `sleep` that does not wait (tests) leaves the clock where it was: count the waits too.
        if (Math.max(now(), start + waited) + wait > deadline) return undefined;
        waited += wait;
        return wait;
      },
    );
  }

  const client: CreditsClient = {
    reserve(opts) {
      return retrying(() =>
        transport.reserve(opts.orgId, {
          capability: opts.capability,
          qualityLevel: opts.qualityLevel,
          idempotencyKey: opts.idempotencyKey,
          ...opts.estimate,
          ...(opts.ttlSeconds !== undefined ? { ttlSeconds: opts.ttlSeconds } : {}),
        }),
      );
    },
    settle(orgId, reservationId, usage) {
      return retrying(() => transport.settle(orgId, reservationId, usage));
    },
    release(orgId, reservationId, reason) {
      return retrying(() => transport.release(orgId, reservationId, reason));
    },
    async withCredits<T>(opts: WithCreditsOptions, run: (hold: CreditHold) => Promise<CreditsOutcome<T>>) {
      const idempotencyKey = opts.idempotencyKey ?? randomUUID();
      const reservedAt = now();
      const reserved = await client.reserve({ ...opts, idempotencyKey }).catch((error: unknown) => {
        // No answer: the hold may have been made all the same. The key finds it again (a retry
        // under it replays that hold); without the key, a made-up one would be lost with this call
        // and its hold would block credits until it expired.
        if (error instanceof CreditsTransportError) error.idempotencyKey = idempotencyKey;
        throw error;
      });
      const hold: CreditHold = { ...reserved, idempotencyKey };
      // A replayed key can answer a hold made long ago, about to expire: a call run on it would be
      // settled after the expiry job and never charged. It is left as it is (another process may be
      // running the call on it).
      const minHold = opts.minHoldSeconds ?? Math.min(DEFAULT_MIN_HOLD_SECONDS, Math.floor((opts.ttlSeconds ?? DEFAULT_TTL_SECONDS) / 2));
      const left = reserved.expiresInSeconds;
      if (Number.isFinite(left) && left < minHold) {
        const error = new CreditsError(
          'HOLD_EXPIRING',
          `the hold ${hold.reservationId} of idempotency key ${idempotencyKey} expires in ${left} s (at ${hold.expiresAt}), less than the ${minHold} s a call needs: the call was not run; after it expires, run it with a new key`,
          { reservationId: hold.reservationId },
        );
        error.expiresAt = hold.expiresAt;
        throw error;
      }
      let outcome: CreditsOutcome<T>;
      try {
        outcome = await run(hold);
      } catch (error) {
        const reason = `the call failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, RELEASE_REASON_MAX);
        // The hold goes back, if this call made it; if even that fails the reservation expires on
        // its own. A hold an earlier request made (another caller running the same key now, say) is
        // not ours to give back: released under it, that caller's call would go uncharged. The
        // caller sees the error of its own function either way.
        if (!hold.replayed) await client.release(opts.orgId, hold.reservationId, reason).catch(() => undefined);
        throw error;
      }
      // The call ran: from here on the hold is never given back. The settle is retried for a while,
      // ending well before the hold expires (half the life it has left).
      const leftMs = Number.isFinite(left) ? left * 1000 - (now() - reservedAt) : Number.POSITIVE_INFINITY;
      const deadline = now() + Math.max(0, Math.min(settleWindowMs, leftMs / 2));
      const call: UnsettledCall = {
        reservationId: hold.reservationId,
        expiresAt: hold.expiresAt,
        usage: outcome.usage,
        result: outcome.result,
      };
      let settlement: SettleResult;
      try {
        settlement = await settleUntil(opts.orgId, hold.reservationId, outcome.usage, deadline);
      } catch (error) {
        // Refused for its usage (a count the server does not take: the api's INVALID_INPUT, or
        // Hasura's own parser refusing a count that is no 32-bit integer before the api sees it):
        // the call still ran, so the hold, what the reserve admitted, is charged; the refusal
        // reaches the caller, with what was charged (error.settlement).
        const code = (error as { code?: unknown } | null)?.code;
        if (typeof code === 'string' && USAGE_REFUSED.has(code) && !outcome.usage.holdAmount) {
          const atHold = await settleUntil(opts.orgId, hold.reservationId, { holdAmount: true }, deadline).catch(() => undefined);
          if (atHold && error instanceof CreditsError) error.settlement = atHold;
        }
        // Unanswered, refused otherwise, or already resolved: the hold is left open, and the error
        // says what to settle (credits.settle(orgId, reservationId, usage)) before it expires.
        throw withUnsettledCall(error, call);
      }
      return { hold, settlement, result: outcome.result };
    },
  };
  return client;
}
