// One webhook call as Hasura makes it: POST, JSON body, the trigger's headers, a timeout; and
// the request and response as Hasura records them in its invocation logs. The body is passed in
// as text, built from the database's own JSON, so numbers in row data reach the webhook with
// every digit (never through a JavaScript float).
import { httpCall, parseUrl } from '../http-call.ts';
import type { ResolvedHeader } from './types.ts';

/** The redirect statuses, and how many are followed (fetch's limit). */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 20;
/** Dropped when a redirect turns the call into a GET, and when it leaves the origin (fetch's rules). */
const BODY_HEADERS = new Set(['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']);
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

function withoutHeaders(headers: Record<string, string>, names: Set<string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.has(name)));
}

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

interface Answer {
  status: number;
  /** As fetch's `Headers` lists them: lower-case names in order, repeated ones joined with `, ` (each `set-cookie` on its own). */
  headers: { name: string; value: string }[];
  retryAfter: string | null;
  location: string | null;
  body: string;
}

/** One call (see `httpCall`), sent once more when a kept-alive connection had just been closed. */
async function send(url: URL, method: 'POST' | 'GET', headers: Record<string, string>, body: string, signal: AbortSignal): Promise<Answer> {
  const answer = await httpCall(url, headers, body, { method, signal, retryStaleConnection: true });
  const raw = answer.rawHeaders;
  const byName = new Map<string, string[]>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const list = byName.get(name);
    if (list) list.push(raw[i + 1] as string);
    else byName.set(name, [raw[i + 1] as string]);
  }
  const list: { name: string; value: string }[] = [];
  for (const name of [...byName.keys()].sort()) {
    const values = byName.get(name) as string[];
    if (name === 'set-cookie') for (const value of values) list.push({ name, value });
    else list.push({ name, value: values.join(', ') });
  }
  return {
    status: answer.status,
    headers: list,
    retryAfter: byName.get('retry-after')?.join(', ') ?? null,
    location: byName.get('location')?.[0] ?? null,
    body: answer.body,
  };
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
    let at = parseUrl(url);
    let method: 'POST' | 'GET' = 'POST';
    let headersNow = sent;
    let answer = await send(at, method, headersNow, body, signal);
    // Redirects are followed as fetch follows them: 307 and 308 again with the same method and
    // body; 303, and 301/302 after a POST, as a GET without body or content-type; credentials
    // left behind when the origin changes; at most 20.
    for (let hops = 0; answer.location !== null && REDIRECTS.has(answer.status); hops++) {
      if (hops === MAX_REDIRECTS) throw new Error('redirect count exceeded');
      const next = new URL(answer.location, at);
      if (answer.status === 303 || ((answer.status === 301 || answer.status === 302) && method === 'POST')) {
        method = 'GET';
        headersNow = withoutHeaders(headersNow, BODY_HEADERS);
      }
      if (next.origin !== at.origin) headersNow = withoutHeaders(headersNow, CREDENTIAL_HEADERS);
      at = next;
      answer = await send(at, method, headersNow, body, signal);
    }
    const ok = answer.status >= 200 && answer.status < 300;
    return {
      ok,
      interrupted: false,
      status: answer.status,
      retryAfterSeconds: parseRetryAfter(answer.retryAfter),
      error: ok ? null : `http ${answer.status}`,
      durationMs: Math.round(performance.now() - started),
      requestLog,
      responseLog: JSON.stringify({
        type: 'webhook_response',
        data: { status: answer.status, headers: answer.headers, body: answer.body.slice(0, MAX_LOGGED_BODY) },
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
  const e = error as { name?: string; code?: string; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timeout after ${timeoutSeconds}s`;
  // node:http's errors carry their code (ECONNREFUSED, ECONNRESET…).
  return e.code ?? e.message ?? 'request failed';
}
