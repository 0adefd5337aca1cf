// Errors the client raises. A `CreditsError` is an answer from the server (a stable code and what
// the user can do); a `CreditsTransportError` means no usable answer arrived (no answer, an HTTP
// 5xx, or Hasura's `unexpected`: it got none from the action), so the call may be retried with the
// same idempotency key.
import type { CreditUsage, SettleResult } from './types.ts';

export interface CreditsErrorDetails {
  action?: string;
  retryAfterSeconds?: number;
  requiredPlan?: string;
  /** For `RESERVATION_ALREADY_RESOLVED`: the reservation the server found resolved. */
  reservationId?: string;
  /** For `RESERVATION_ALREADY_RESOLVED`: `settled` (it was charged), `released` or `expired` (never charged). */
  status?: string;
}

/**
 * What `withCredits` knows when the charge after the call did not go through as planned: the
 * reservation to settle later (`credits.settle(orgId, reservationId, usage)`, the same usage: it is
 * idempotent), the call's usage and result, and when the hold expires (after that and the expiry
 * job the reservation can no longer be charged).
 */
export interface UnsettledCall {
  reservationId: string;
  expiresAt: string;
  usage: CreditUsage;
  result: unknown;
}

export class CreditsError extends Error {
  override name = 'CreditsError';
  readonly code: string;
  /** What the user can do: `upgrade`, `top_up`, `wait` or `raise_limit`. */
  readonly action: string | undefined;
  /** For `RATE_LIMITED`: when a retry can succeed. */
  readonly retryAfterSeconds: number | undefined;
  /** For `*_NOT_IN_PLAN`: the smallest plan that has it. */
  readonly requiredPlan: string | undefined;
  /**
   * The reservation: for `RESERVATION_ALREADY_RESOLVED` the server's, and set by `withCredits`
   * when a settle after the call was refused.
   */
  reservationId: string | undefined;
  /**
   * For `RESERVATION_ALREADY_RESOLVED`: `settled` (charged; a lost answer: do not run the call
   * again), `released` or `expired` (never charged).
   */
  readonly status: string | undefined;
  /** Set by `withCredits` when the call ran but its settle was refused: see `UnsettledCall`. */
  expiresAt: string | undefined;
  usage: CreditUsage | undefined;
  result: unknown;
  /**
   * Set by `withCredits` when the settle was refused for its usage (`INVALID_INPUT`) and the hold
   * was charged instead (`usage: { holdAmount: true }`): what was charged.
   */
  settlement: SettleResult | undefined;

  constructor(code: string, message: string, details: CreditsErrorDetails = {}) {
    super(message);
    this.code = code;
    this.action = details.action;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.requiredPlan = details.requiredPlan;
    this.reservationId = details.reservationId;
    this.status = details.status;
  }
}

export class CreditsTransportError extends Error {
  override name = 'CreditsTransportError';
  /**
   * Set by `withCredits` when the settle after the call got no answer after its retries: the call
   * ran and is not known to be charged. Settle it later with
   * `credits.settle(orgId, error.reservationId, error.usage)` before `expiresAt`.
   */
  reservationId: string | undefined;
  expiresAt: string | undefined;
  usage: CreditUsage | undefined;
  result: unknown;
  /**
   * Set by `withCredits` when its reserve got no answer after its retries: the key it reserved with
   * (yours, or the UUID it made). The reserve may have held credits all the same; a `withCredits`
   * with this key finds that hold instead of making a second one (left alone, it expires after
   * `ttlSeconds`, never charged).
   */
  idempotencyKey: string | undefined;
}

/** True when the request may not have reached the server and can be sent again. */
export function isRetryable(error: unknown): boolean {
  return error instanceof CreditsTransportError;
}

/** Adds what `withCredits` knows of an unsettled call to an error it rethrows (CreditsError or transport). */
export function withUnsettledCall(error: unknown, call: UnsettledCall): unknown {
  if (error instanceof CreditsError || error instanceof CreditsTransportError) {
    error.reservationId = call.reservationId;
    error.expiresAt = call.expiresAt;
    error.usage = call.usage;
    error.result = call.result;
  }
  return error;
}
