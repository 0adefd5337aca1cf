// Errors the client raises. A `CreditsError` is an answer from the server (a stable code and what
// the user can do); a `CreditsTransportError` means no answer arrived, so the call may be retried
// with the same idempotency key.

export interface CreditsErrorDetails {
  action?: string;
  retryAfterSeconds?: number;
  requiredPlan?: string;
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

  constructor(code: string, message: string, details: CreditsErrorDetails = {}) {
    super(message);
    this.code = code;
    this.action = details.action;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.requiredPlan = details.requiredPlan;
  }
}

export class CreditsTransportError extends Error {
  override name = 'CreditsTransportError';
}

/** True when the request may not have reached the server and can be sent again. */
export function isRetryable(error: unknown): boolean {
  return error instanceof CreditsTransportError;
}
