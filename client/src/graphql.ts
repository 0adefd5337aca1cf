// The GraphQL transport: the credit actions through Hasura's `/v1/graphql` (or the local engine),
// authenticated either with the admin secret plus `x-hasura-role: service` and the org, or with a
// service JWT whose claims carry the org.
import { CreditsError, CreditsTransportError } from './errors.ts';
import type { CreditsTransport, CreditUsage, ReleaseResult, ReserveRequest, ReserveResult, SettleResult } from './types.ts';

export type GraphQLAuth =
  /** The admin secret; the transport sends `x-hasura-role: service` and `x-hasura-org-id`. */
  | { adminSecret: string }
  /** A JWT for the `service` role; Hasura takes the org from its claims. */
  | { serviceToken: string };

export interface GraphQLTransportOptions {
  /** e.g. `http://localhost:8080/v1/graphql` */
  url: string;
  auth: GraphQLAuth;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Abort a request that takes longer. @default 30000 */
  timeoutMs?: number;
}

/** Hasura's message (code `unexpected`) when an action's handler did not answer. */
const WEBHOOK_FAILED = 'http exception when calling webhook';

const RESERVE = `mutation ReserveCredits($capability: String!, $qualityLevel: String!, $idempotencyKey: String!, $inputTokens: Int, $estimatedCredits: numeric) {
  reserveCredits(capability: $capability, qualityLevel: $qualityLevel, idempotencyKey: $idempotencyKey, inputTokens: $inputTokens, estimatedCredits: $estimatedCredits) {
    reservationId amountCredits expiresAt modelId availableCredits
  }
}`;

const SETTLE = `mutation SettleCredits($reservationId: uuid!, $usage: CreditUsageInput!) {
  settleCredits(reservationId: $reservationId, usage: $usage) {
    reservationId chargedCredits releasedCredits capped availableCredits
  }
}`;

const RELEASE = `mutation ReleaseCredits($reservationId: uuid!, $reason: String) {
  releaseCredits(reservationId: $reservationId, reason: $reason) {
    reservationId releasedCredits availableCredits
  }
}`;

interface GraphQLError {
  message?: string;
  extensions?: { code?: string; action?: string; retry_after_seconds?: number; required_plan?: string };
}

/** Amounts may come back as JSON numbers from some servers; keep them as the strings they print as. */
function amount(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new CreditsTransportError(`expected an amount of credits, got ${JSON.stringify(value)}`);
}

export function createGraphQLTransport(options: GraphQLTransportOptions): CreditsTransport {
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function request<T>(orgId: string, query: string, variables: Record<string, unknown>, field: string): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-hasura-org-id': orgId };
    if ('adminSecret' in options.auth) {
      headers['x-hasura-admin-secret'] = options.auth.adminSecret;
      headers['x-hasura-role'] = 'service';
    } else {
      headers.authorization = `Bearer ${options.auth.serviceToken}`;
    }
    let response: Response;
    try {
      response = await doFetch(options.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new CreditsTransportError(`no answer from ${options.url}: ${(error as Error).message}`);
    }
    if (response.status >= 500) throw new CreditsTransportError(`${options.url} answered HTTP ${response.status}`);
    let body: { data?: Record<string, unknown> | null; errors?: GraphQLError[] };
    try {
      body = (await response.json()) as typeof body;
    } catch (error) {
      throw new CreditsTransportError(`${options.url} answered HTTP ${response.status} without JSON: ${(error as Error).message}`);
    }
    const first = body.errors?.[0];
    if (first) {
      const ext = first.extensions ?? {};
      // Hasura's own answer when it could not get one from the action's handler (its timeout, a
      // broken connection): the action may or may not have run, so it is sent again with the key.
      if (ext.code === 'unexpected' && first.message === WEBHOOK_FAILED) {
        throw new CreditsTransportError(`${options.url}: ${WEBHOOK_FAILED} for ${field}`);
      }
      throw new CreditsError(ext.code ?? 'GRAPHQL_ERROR', first.message ?? 'the GraphQL request failed', {
        ...(ext.action !== undefined ? { action: ext.action } : {}),
        ...(ext.retry_after_seconds !== undefined ? { retryAfterSeconds: ext.retry_after_seconds } : {}),
        ...(ext.required_plan !== undefined ? { requiredPlan: ext.required_plan } : {}),
      });
    }
    const data = body.data?.[field];
    if (data === undefined || data === null) throw new CreditsTransportError(`${options.url} answered without data.${field}`);
    return data as T;
  }

  return {
    async reserve(orgId: string, req: ReserveRequest): Promise<ReserveResult> {
      const out = await request<Record<string, unknown>>(
        orgId,
        RESERVE,
        {
          capability: req.capability,
          qualityLevel: req.qualityLevel,
          idempotencyKey: req.idempotencyKey,
          inputTokens: req.inputTokens ?? null,
          estimatedCredits: req.estimatedCredits ?? null,
        },
        'reserveCredits',
      );
      return {
        reservationId: String(out.reservationId),
        amountCredits: amount(out.amountCredits),
        expiresAt: String(out.expiresAt),
        modelId: String(out.modelId),
        availableCredits: amount(out.availableCredits),
      };
    },
    async settle(orgId: string, reservationId: string, usage: CreditUsage): Promise<SettleResult> {
      const out = await request<Record<string, unknown>>(orgId, SETTLE, { reservationId, usage }, 'settleCredits');
      return {
        reservationId: String(out.reservationId),
        chargedCredits: amount(out.chargedCredits),
        releasedCredits: amount(out.releasedCredits),
        capped: Boolean(out.capped),
        availableCredits: amount(out.availableCredits),
      };
    },
    async release(orgId: string, reservationId: string, reason?: string): Promise<ReleaseResult> {
      const out = await request<Record<string, unknown>>(orgId, RELEASE, { reservationId, reason: reason ?? null }, 'releaseCredits');
      return {
        reservationId: String(out.reservationId),
        releasedCredits: amount(out.releasedCredits),
        availableCredits: amount(out.availableCredits),
      };
    },
  };
}
