// `withCredits`: hold credits, run the AI call, charge what it used; give the hold back if the call
// throws. One idempotency key per logical call, so a retry after a lost answer never holds or
// charges twice.
import { randomUUID } from 'node:crypto';
import { isRetryable } from './errors.ts';
import type { CreditEstimateHint, CreditsTransport, CreditUsage, ReleaseResult, ReserveResult, SettleResult } from './types.ts';

export interface WithCreditsOptions {
  orgId: string;
  capability: string;
  qualityLevel: string;
  /** What the server needs to size the hold. @default the capability's typical input */
  estimate?: CreditEstimateHint;
  /** The logical call's key; give your own to make the whole `withCredits` retryable across processes. @default a new UUID */
  idempotencyKey?: string;
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
  /** Extra attempts after a transport failure (no answer or HTTP 5xx). @default 3 */
  retries?: number;
  /** Waits between attempts, in ms; attempt n waits `backoffMs[n]` (the last one repeats). @default [100, 400, 1600] */
  backoffMs?: number[];
  /** How to wait; tests pass one that does not. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
}

export interface CreditsClient {
  withCredits<T>(options: WithCreditsOptions, run: (hold: CreditHold) => Promise<CreditsOutcome<T>>): Promise<WithCreditsResult<T>>;
  reserve(options: WithCreditsOptions & { idempotencyKey: string }): Promise<ReserveResult>;
  settle(orgId: string, reservationId: string, usage: CreditUsage): Promise<SettleResult>;
  release(orgId: string, reservationId: string, reason?: string): Promise<ReleaseResult>;
}

const RELEASE_REASON_MAX = 200;

export function createCreditsClient(options: CreditsClientOptions): CreditsClient {
  const { transport } = options;
  const retries = options.retries ?? 3;
  const backoff = options.backoffMs ?? [100, 400, 1600];
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  async function retrying<R>(op: () => Promise<R>): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await op();
      } catch (error) {
        if (!isRetryable(error) || attempt >= retries) throw error;
        await sleep(backoff[Math.min(attempt, backoff.length - 1)] ?? 0);
      }
    }
  }

  const client: CreditsClient = {
    reserve(opts) {
      return retrying(() =>
        transport.reserve(opts.orgId, {
          capability: opts.capability,
          qualityLevel: opts.qualityLevel,
          idempotencyKey: opts.idempotencyKey,
          ...opts.estimate,
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
      const reserved = await client.reserve({ ...opts, idempotencyKey });
      const hold: CreditHold = { ...reserved, idempotencyKey };
      let outcome: CreditsOutcome<T>;
      try {
        outcome = await run(hold);
      } catch (error) {
        const reason = `the call failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, RELEASE_REASON_MAX);
        // The hold goes back; if even that fails the reservation expires on its own. The caller
        // sees the error of its own function either way.
        await client.release(opts.orgId, hold.reservationId, reason).catch(() => undefined);
        throw error;
      }
      let settlement: SettleResult;
      try {
        settlement = await client.settle(opts.orgId, hold.reservationId, outcome.usage);
      } catch (error) {
        // Refused (bad usage, say) rather than unanswered: nothing will be charged, so the hold goes
        // back now instead of keeping the credits until it expires. Unanswered, or already resolved
        // (by an earlier attempt's settle), it is left as it is.
        const code = (error as { code?: unknown } | null)?.code;
        if (!isRetryable(error) && code !== 'RESERVATION_ALREADY_RESOLVED') {
          const reason = `the settle was refused: ${typeof code === 'string' ? code : 'error'}`.slice(0, RELEASE_REASON_MAX);
          await client.release(opts.orgId, hold.reservationId, reason).catch(() => undefined);
        }
        throw error;
      }
      return { hold, settlement, result: outcome.result };
    },
  };
  return client;
}
