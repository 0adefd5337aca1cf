// Observability: one structured JSON log entry per HTTP request, in the shape of Hasura's `http-log`
// (role, operation name, time, error code, status; never headers, tokens, secrets or variables),
// and `/healthz` with the database and the delivery workers.
//
// HASURA_GRAPHQL_ENABLED_LOG_TYPES (default `startup, http-log, webhook-log, websocket-log`, as Hasura)
// turns `http-log` and `websocket-log` entries off when they are not listed.
import type { IncomingMessage } from 'node:http';
import type { EngineCore, HttpAnswer } from './engine.ts';

export function enabledLogTypes(env: NodeJS.ProcessEnv): Set<string> {
  const raw = env.HASURA_GRAPHQL_ENABLED_LOG_TYPES ?? 'startup, http-log, webhook-log, websocket-log';
  return new Set(
    raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/** The operation name of a GraphQL request body (of its first item for a batch), read without parsing it again. */
function operationName(body: string): string | null {
  const given = /"operationName"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(body);
  if (given) return given[1] as string;
  // Without operationName: the name of the document's (first) operation, if it has one.
  return /"query"\s*:\s*"\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/.exec(body)?.[1] ?? null;
}

/** Error codes in an answer body (`{"errors":[…]}`, a batch of them, or the metadata API's `{code}`). */
function errorCodes(body: string): string[] {
  if (!body.includes('"code"')) return [];
  const codes: string[] = [];
  for (const m of body.matchAll(/"code":"([^"\\]+)"/g)) codes.push(m[1] as string);
  return codes;
}

export interface RequestLogInput {
  req: IncomingMessage;
  path: string;
  body: string;
  answer: HttpAnswer;
  startedAt: number;
  /** The request's x-request-id, or the one the engine made up for it. */
  requestId: string;
}

/** Logs one request as Hasura's `http-log`, with the role the request ran as (none when it was refused). */
export function logRequest(core: EngineCore, types: Set<string>, input: RequestLogInput): void {
  if (!types.has('http-log')) return;
  const { req, path, body, answer, startedAt, requestId } = input;
  const role = answer.role ?? null;
  const graphql = path === '/v1/graphql' || path === '/v1alpha1/graphql';
  const codes = answer.status >= 400 || answer.body.startsWith('{"errors"') || answer.body.startsWith('[') ? errorCodes(answer.body) : [];
  const name = graphql ? operationName(body) : null;
  const metadataType = !graphql && path !== '/healthz' ? (/"type"\s*:\s*"([^"]+)"/.exec(body)?.[1] ?? null) : null;
  core.log({
    level: answer.status >= 500 ? 'error' : codes.length ? 'warn' : 'info',
    type: 'http-log',
    detail: {
      request_id: requestId,
      operation: {
        user_vars: role ? { 'x-hasura-role': role } : null,
        query: graphql ? { operationName: name } : metadataType ? { type: metadataType } : null,
        query_execution_time: Math.round((performance.now() - startedAt) * 1000) / 1e6,
        response_size: Buffer.byteLength(answer.body),
        error: codes.length ? { code: codes.length === 1 ? codes[0] : codes } : null,
      },
      http_info: { status: answer.status, method: req.method, url: path, http_version: req.httpVersion },
    },
  });
}

/**
 * `/healthz`: `OK`, or `WARN: …` (delivery workers failing, metadata not served) with 200, or
 * `ERROR: …` with 500 when the database does not answer, as Hasura's plain-text answers.
 * `/healthz?verbose=true` answers JSON with the database, the delivery workers and subscriptions.
 */
export async function healthz(core: EngineCore, verbose: boolean): Promise<HttpAnswer> {
  const started = performance.now();
  let database: { ok: boolean; ms: number; error?: string };
  try {
    await core.pool.query('SELECT 1');
    database = { ok: true, ms: Math.round((performance.now() - started) * 1000) / 1000 };
  } catch (error) {
    database = { ok: false, ms: Math.round(performance.now() - started), error: (error as Error).message };
  }
  const triggers = core.triggers?.health() ?? null;
  const subscriptions = core.subscriptions?.stats() ?? null;
  const warnings: string[] = [];
  const base = core.health();
  if (base.body !== 'OK') warnings.push(base.body.replace(/^WARN: /, ''));
  if (core.triggerError) warnings.push(`delivery workers not running: ${core.triggerError}`);
  else if (triggers && triggers.status === 'failing') {
    const last = triggers.last_error as { message?: string } | null;
    warnings.push(`delivery workers failing: ${last?.message ?? 'unknown error'}`);
  }
  const status = database.ok ? 200 : 500;
  if (verbose) {
    const memory = process.memoryUsage();
    return {
      status,
      body: JSON.stringify({
        status: !database.ok ? 'ERROR' : warnings.length ? 'WARN' : 'OK',
        warnings,
        database,
        triggers,
        subscriptions,
        process: { rss_bytes: memory.rss, heap_used_bytes: memory.heapUsed },
      }),
    };
  }
  if (!database.ok) return { status, body: `ERROR: database unreachable: ${database.error}` };
  if (warnings.length) return { status, body: `WARN: ${warnings.join('; ')}` };
  return { status, body: 'OK' };
}
