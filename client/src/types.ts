// The shapes of the credit actions as other services see them. Amounts of credits are decimal
// strings (exact, three decimal places); never JavaScript numbers.

/** What a caller tells the server about the size of the call, so it can hold enough. */
export interface CreditEstimateHint {
  /** Tokens in the prompt. @default the capability's typical input */
  inputTokens?: number;
  /** The caller's own estimate; it can raise the hold, never lower it. */
  estimatedCredits?: string;
}

export interface ReserveRequest extends CreditEstimateHint {
  capability: string;
  qualityLevel: string;
  idempotencyKey: string;
  /**
   * How long the hold lasts, 1 to 86400 seconds. Choose it above the longest the call can take
   * plus the settle's retries: a hold that expires before its settle is never charged.
   * @default 600 (the server's)
   */
  ttlSeconds?: number;
}

export interface ReserveResult {
  reservationId: string;
  amountCredits: string;
  expiresAt: string;
  /** Seconds the hold has left by the server's clock when it answered (less than the ttl for a replayed key). */
  expiresInSeconds: number;
  /** An earlier request made this hold (this client's own retry, or another caller with the same key). */
  replayed: boolean;
  modelId: string;
  availableCredits: string;
}

/** What the AI call really used: tokens for per-token capabilities, one call for per-call ones. */
export interface CreditUsage {
  inputTokens?: number;
  outputTokens?: number;
  calls?: number;
  /** `true`, with no counts: charge exactly the hold (a call that ran but whose usage cannot be reported). */
  holdAmount?: boolean;
}

export interface SettleResult {
  reservationId: string;
  chargedCredits: string;
  releasedCredits: string;
  capped: boolean;
  availableCredits: string;
}

export interface ReleaseResult {
  reservationId: string;
  releasedCredits: string;
  availableCredits: string;
}

/**
 * How the client reaches the credit actions. `createGraphQLTransport` speaks GraphQL to Hasura
 * (or the local engine); the api itself uses an in-process transport that calls the same action
 * handlers directly.
 */
export interface CreditsTransport {
  reserve(orgId: string, request: ReserveRequest): Promise<ReserveResult>;
  settle(orgId: string, reservationId: string, usage: CreditUsage): Promise<SettleResult>;
  release(orgId: string, reservationId: string, reason?: string): Promise<ReleaseResult>;
}
