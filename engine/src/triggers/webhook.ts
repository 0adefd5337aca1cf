// One webhook call as Hasura makes it: POST, JSON body, the trigger's headers, a timeout; and
// the request and response as Hasura records them in its invocation logs. The body is passed in
// as text, built from the database's own JSON, so numbers in row data reach the webhook with
// every digit (never through a JavaScript float).
import type { ResolvedHeader } from './types.ts';

/** The largest response body kept in an invocation log. */
const MAX_LOGGED_BODY = 64 * 1024;

export interface WebhookOutcome {
  ok: boolean;
  /** The engine is shutting down and cut the call short: no outcome to record, the event is released. */
  interrupted: boolean;
  /** HTTP status, or null when no response came (refused, reset, timed out). */
  status: number | null;
  /** Seconds asked for by a `Retry-After` header (a positive whole number), if any. */
  retryAfterSeconds: number | null;
  /** What failed, for logs: `http 500`, `timeout after 60s`, the network error's code. */
  error: string | null;
  durationMs: number;
  /** Hasura's invocation `request` JSON, as text. Headers from env are named, never their values. */
  requestLog: string;
  /** Hasura's invocation `response` JSON, as text. */
  responseLog: string;
}

export async function callWebhook(
  url: string,
  body: string,
  headers: ResolvedHeader[],
  timeoutSeconds: number,
  shutdown?: AbortSignal,
): Promise<WebhookOutcome> {
  const sent: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'hasura-graphql-engine (org-credits engine)' };
  for (const h of headers) sent[h.name.toLowerCase()] = h.value;
  const requestLog = `{"payload":${body},"headers":${JSON.stringify(
    headers.map((h) => (h.fromEnv ? { name: h.name, value_from_env: h.fromEnv } : { name: h.name, value: h.value })),
  )},"version":"2"}`;

  const started = performance.now();
  try {
    const timeout = AbortSignal.timeout(timeoutSeconds * 1000);
    const signal = shutdown ? AbortSignal.any([timeout, shutdown]) : timeout;
    if (shutdown?.aborted) throw shutdown.reason;
    const response = await fetch(url, { method: 'POST', headers: sent, body, signal });
    const text = await response.text();
    const responseHeaders = [...response.headers].map(([name, value]) => ({ name, value }));
    return {
      ok: response.status >= 200 && response.status < 300,
      interrupted: false,
      status: response.status,
      retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after')),
      error: response.status >= 200 && response.status < 300 ? null : `http ${response.status}`,
      durationMs: Math.round(performance.now() - started),
      requestLog,
      responseLog: JSON.stringify({
        type: 'webhook_response',
        data: { status: response.status, headers: responseHeaders, body: text.slice(0, MAX_LOGGED_BODY) },
        version: '2',
      }),
    };
  } catch (error) {
    const message = shutdown?.aborted ? 'interrupted by shutdown' : describeFailure(error, timeoutSeconds);
    return {
      ok: false,
      interrupted: shutdown?.aborted === true,
      status: null,
      retryAfterSeconds: null,
      error: message,
      durationMs: Math.round(performance.now() - started),
      requestLog,
      responseLog: JSON.stringify({ type: 'client_error', data: { message }, version: '2' }),
    };
  }
}

/** Hasura reads `Retry-After` as a whole number of seconds greater than zero; anything else is ignored. */
export function parseRetryAfter(value: string | null): number | null {
  if (value == null || !/^\s*\d+\s*$/.test(value)) return null;
  const seconds = Number.parseInt(value, 10);
  return seconds > 0 ? seconds : null;
}

function describeFailure(error: unknown, timeoutSeconds: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timeout after ${timeoutSeconds}s`;
  return e.cause?.code ?? e.cause?.message ?? e.message ?? 'request failed';
}
