// The GraphQL transport: the credit actions through Hasura's `/v1/graphql` (or the local engine),
// authenticated either with the admin secret plus `x-hasura-role: service` and the org, or with a
// service JWT whose claims carry the org (the reserve also names the org it means, so a token for
// another org is refused instead of charging that org).
import { CreditsError, CreditsTransportError } from './errors.ts';
import type { CreditsTransport, CreditUsage, ReleaseResult, ReserveRequest, ReserveResult, SettleResult } from './types.ts';

export type GraphQLAuth =
  /** The admin secret; the transport sends `x-hasura-role: service` and `x-hasura-org-id`. */
  | { adminSecret: string }
  /**
   * A JWT for the `service` role; Hasura takes the org from its claims. A function is asked for
   * the token on first use and again when Hasura answers `invalid-jwt` (an expired token), and the
   * request is then sent once more with the new token. A leading `Bearer ` is dropped.
   */
  | { serviceToken: string | (() => string | Promise<string>) };

export interface GraphQLTransportOptions {
  /** e.g. `http://localhost:8080/v1/graphql` */
  url: string;
  auth: GraphQLAuth;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Abort a request that takes longer. @default 30000 */
  timeoutMs?: number;
}

/**
 * Hasura's code when it got no usable answer from an action's handler: no answer at all ("http
 * exception when calling webhook"), a body that is not JSON (a proxy's HTML 502/503/504: "not a
 * valid json response from webhook"), a handler's 5xx ("internal error"), or an answer of the wrong
 * shape. The action may or may not have run; the credit actions are idempotent, so it is sent again
 * with the same arguments. The codes the api answers with are never `unexpected`.
 */
const NO_USABLE_ANSWER = 'unexpected';
/** Hasura's code for a JWT it does not accept (expired, say). */
const INVALID_JWT = 'invalid-jwt';

const RESERVE = `mutation ReserveCredits($capability: String!, $qualityLevel: String!, $idempotencyKey: String!, $inputTokens: Int, $estimatedCredits: numeric, $ttlSeconds: Int, $organizationId: uuid) {
  reserveCredits(capability: $capability, qualityLevel: $qualityLevel, idempotencyKey: $idempotencyKey, inputTokens: $inputTokens, estimatedCredits: $estimatedCredits, ttlSeconds: $ttlSeconds, organizationId: $organizationId) {
    reservationId amountCredits expiresAt expiresInSeconds replayed modelId availableCredits
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
  extensions?: {
    code?: string;
    action?: string;
    retry_after_seconds?: number;
    required_plan?: string;
    reservation_id?: string;
    status?: string;
  };
}

/** Amounts may come back as JSON numbers from some servers; keep them as the strings they print as. */
function amount(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new CreditsTransportError(`expected an amount of credits, got ${JSON.stringify(value)}`);
}

/** The token without a leading `Bearer ` (given as an Authorization header's value). */
function bareToken(token: string): string {
  return token.trim().replace(/^bearer\s+/i, '');
}

export function createGraphQLTransport(options: GraphQLTransportOptions): CreditsTransport {
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const auth = options.auth;
  /** The service token in use; asked for again after `invalid-jwt` (shared by requests in flight). */
  let token: Promise<string> | null = null;

  function serviceToken(refresh: boolean, used?: Promise<string>): Promise<string> {
    if (!('serviceToken' in auth)) throw new Error('no service token configured');
    const source = auth.serviceToken;
    // Requests that failed with the same token refresh it once between them.
    if (token && (!refresh || token !== used)) return token;
    const next = (async () => {
      try {
        return bareToken(typeof source === 'function' ? await source() : source);
      } catch (error) {
        throw new CreditsTransportError(`the service token could not be had: ${(error as Error).message}`);
      }
    })();
    // A failed fetch of the token is not kept: the next request asks again.
    next.catch(() => {
      if (token === next) token = null;
    });
    token = next;
    return next;
  }

  async function send<T>(orgId: string, query: string, variables: Record<string, unknown>, field: string, refreshed: boolean): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-hasura-org-id': orgId };
    let used: Promise<string> | undefined;
    if ('adminSecret' in auth) {
      headers['x-hasura-admin-secret'] = auth.adminSecret;
      headers['x-hasura-role'] = 'service';
    } else {
      used = serviceToken(false);
      headers.authorization = `Bearer ${await used}`;
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
      if (ext.code === NO_USABLE_ANSWER) {
        throw new CreditsTransportError(`${options.url}: no usable answer from the action for ${field} (${first.message ?? 'unexpected'})`);
      }
      // An expired service token: a function gives a new one, and the request goes once more.
      if (ext.code === INVALID_JWT && used && !refreshed && typeof (auth as { serviceToken?: unknown }).serviceToken === 'function') {
        await serviceToken(true, used);
        return send<T>(orgId, query, variables, field, true);
      }
      throw new CreditsError(ext.code ?? 'GRAPHQL_ERROR', first.message ?? 'the GraphQL request failed', {
        ...(ext.action !== undefined ? { action: ext.action } : {}),
        ...(ext.retry_after_seconds !== undefined ? { retryAfterSeconds: ext.retry_after_seconds } : {}),
        ...(ext.required_plan !== undefined ? { requiredPlan: ext.required_plan } : {}),
        ...(ext.reservation_id !== undefined ? { reservationId: ext.reservation_id } : {}),
        ...(ext.status !== undefined ? { status: ext.status } : {}),
      });
    }
    const data = body.data?.[field];
    if (data === undefined || data === null) throw new CreditsTransportError(`${options.url} answered without data.${field}`);
    return data as T;
  }

  const request = <T>(orgId: string, query: string, variables: Record<string, unknown>, field: string) =>
    send<T>(orgId, query, variables, field, false);

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
          ttlSeconds: req.ttlSeconds ?? null,
          // The org this client means: with a service token Hasura takes the org from the token,
          // and the action refuses (FORBIDDEN) a token for another org.
          organizationId: orgId,
        },
        'reserveCredits',
      );
      return {
        reservationId: String(out.reservationId),
        amountCredits: amount(out.amountCredits),
        expiresAt: String(out.expiresAt),
        expiresInSeconds: Number(out.expiresInSeconds),
        replayed: out.replayed === true,
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
