// HTTP with node:http (the request path is benchmarked: no framework).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpDrain, type HttpDrain } from '@org-credits/db/http-drain';
import type { Session } from './auth.ts';
import type { EngineCore, HttpAnswer } from './engine.ts';
import { EngineError, toGraphqlError } from './errors.ts';
import { enabledLogTypes, healthz, logRequest } from './log.ts';
import type { MetadataOperation } from './metadata/api.ts';
import { SubscriptionService, subscriptionOptionsFromEnv } from './subscriptions/websocket.ts';

/** The Hasura version whose API the engine serves (production runs it: docker-compose.yml). */
const VERSION = 'v2.48.1';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, answer: HttpAnswer, type = 'application/json; charset=utf-8') {
  res.writeHead(answer.status, { ...answer.headers, 'content-type': type, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

/** Whether a browser origin may call the engine (HASURA_GRAPHQL_CORS_DOMAIN: `*`, exact origins, or `*.example.com` wildcards). */
export function originAllowed(origin: string, domains: string[]): boolean {
  return domains.some((d) => {
    if (d === '*') return true;
    if (d === origin) return true;
    const star = d.indexOf('*');
    return star >= 0 && origin.startsWith(d.slice(0, star)) && origin.endsWith(d.slice(star + 1));
  });
}

/** CORS as Hasura answers it: the origin echoed with credentials allowed; preflights answered 204. */
function cors(core: EngineCore, req: IncomingMessage, res: ServerResponse): boolean {
  const origin = req.headers.origin;
  const domains = core.config.corsDomains;
  if (!origin || !domains || !originAllowed(origin, domains)) return false;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-allow-credentials', 'true');
  res.setHeader('vary', 'Origin');
  if (req.method === 'OPTIONS') {
    res.setHeader('access-control-allow-methods', 'GET,POST,OPTIONS');
    res.setHeader('access-control-allow-headers', req.headers['access-control-request-headers'] ?? '*');
    res.setHeader('access-control-max-age', '1728000');
    res.writeHead(204);
    res.end();
    return true;
  }
  return false;
}

/** An authentication or authorisation error in the metadata API's shape (Hasura's encodeQErr), with its status. */
function metadataError(error: unknown): HttpAnswer {
  if (!(error instanceof EngineError)) throw error;
  return { status: error.status, body: JSON.stringify({ path: error.path, error: error.message, code: error.code }), failed: true };
}

/**
 * /v1/metadata, /v2/query, /v1/query, as Hasura's handlers (mkSpockAction with AHPost): the caller is
 * authenticated (a bad or missing admin secret is a 401), the body is parsed, and only then must the
 * role be admin (`$.args`, 400).
 */
async function metadataEndpoint(core: EngineCore, req: IncomingMessage, body: string): Promise<HttpAnswer> {
  let session: Session;
  try {
    session = await core.auth.authenticate(req.headers);
  } catch (error) {
    return metadataError(error);
  }
  let op: MetadataOperation;
  try {
    op = JSON.parse(body) as MetadataOperation;
  } catch {
    return {
      status: 400,
      body: JSON.stringify({ path: '$', error: 'invalid json', code: 'invalid-json' }),
      failed: true,
      role: session.role,
    };
  }
  if (!session.isAdmin)
    return { ...metadataError(new EngineError('access-denied', 'restricted access : admin only', '$.args')), role: session.role };
  return { ...(await core.metadataRequest(op)), role: 'admin' };
}

/**
 * Endpoints Hasura serves and this engine does not: authenticated as Hasura would (admin only where
 * Hasura's handler is), then refused with `not-supported`, in the endpoint's error shape.
 */
const UNSUPPORTED: Record<string, { method: string; what: string; graphql?: boolean; adminOnly?: boolean }> = {
  '/v1beta1/relay': { method: 'POST', what: 'the Relay API (/v1beta1/relay)', graphql: true },
  '/v1/graphql/explain': { method: 'POST', what: 'explaining queries (/v1/graphql/explain)', adminOnly: true },
  '/v1alpha1/graphql/explain': { method: 'POST', what: 'explaining queries (/v1alpha1/graphql/explain)', adminOnly: true },
  '/v1alpha1/config': { method: 'GET', what: 'the server configuration API (/v1alpha1/config)', adminOnly: true },
  '/v1alpha1/pg_dump': { method: 'POST', what: 'pg_dump (/v1alpha1/pg_dump)', adminOnly: true },
};

async function unsupportedEndpoint(core: EngineCore, req: IncomingMessage, route: (typeof UNSUPPORTED)[string]): Promise<HttpAnswer> {
  const graphqlShape = (e: EngineError): HttpAnswer => ({
    status: 200,
    body: JSON.stringify({ errors: [toGraphqlError(e, false)] }),
    failed: true,
  });
  let session: Session;
  try {
    session = await core.auth.authenticate(req.headers);
  } catch (error) {
    if (route.graphql && error instanceof EngineError) return graphqlShape(error);
    return metadataError(error);
  }
  if (route.adminOnly && !session.isAdmin)
    return { ...metadataError(new EngineError('access-denied', 'You have to be an admin to access this endpoint')), role: session.role };
  const error = new EngineError('not-supported', `${route.what} is not supported by this engine`);
  return { ...(route.graphql ? graphqlShape(error) : metadataError(error)), role: session.role };
}

/**
 * How long HTTP requests in flight may finish when the engine stops: Hasura v2 sets Warp's graceful
 * shutdown timeout to 30 s (fixed, not configurable), then cuts what is left.
 */
export const HTTP_DRAIN_MS = 30_000;

/**
 * The engine's HTTP server (GraphQL over WebSocket on the same port), with its drain: `drain(ms)`
 * stops accepting connections, lets the requests in flight finish for up to `ms` (their connections
 * close after the answer: `Connection: close`), then cuts the connections left; it resolves once
 * every connection is closed, with whether everything finished in time.
 */
export function createHttpServer(core: EngineCore): { server: Server; drain: HttpDrain } {
  const logTypes = enabledLogTypes(core.config.env);
  const server = createServer((req, res) => {
    const done = drain.begin(res);
    const url = req.url ?? '/';
    const path = url.split('?')[0] as string;
    const startedAt = performance.now();
    const handle = async () => {
      if (cors(core, req, res)) return;
      // `/hasura/healthz` is Hasura's alternative path to the same check.
      if (req.method === 'GET' && (path === '/healthz' || path === '/hasura/healthz')) {
        const verbose = /[?&]verbose=(true|1)\b/.test(url);
        return send(res, await healthz(core, verbose), verbose ? undefined : 'text/plain; charset=utf-8');
      }
      if (req.method === 'GET' && path === '/v1/version')
        return send(res, { status: 200, body: JSON.stringify({ version: VERSION, server_type: 'ce' }) });
      // Hasura answers with the client's x-request-id, or a new one (on answers that are not errors).
      const given = req.headers['x-request-id'];
      const requestId = (Array.isArray(given) ? given[0] : given) ?? randomUUID();
      const unsupported = UNSUPPORTED[path];
      if (unsupported && req.method === unsupported.method) {
        await readBody(req);
        return send(res, await unsupportedEndpoint(core, req, unsupported));
      }
      if (req.method !== 'POST')
        return send(res, { status: 404, body: JSON.stringify({ path: '$', error: 'resource does not exist', code: 'not-found' }) });
      const body = await readBody(req);
      let answer: HttpAnswer;
      switch (path) {
        case '/v1/graphql':
          answer = await core.graphql(req.headers, body, false);
          break;
        case '/v1alpha1/graphql':
          answer = await core.graphql(req.headers, body, true);
          break;
        case '/v1/metadata':
        case '/v2/query':
        case '/v1/query':
          answer = await metadataEndpoint(core, req, body);
          break;
        default:
          answer = { status: 404, body: JSON.stringify({ path: '$', error: 'resource does not exist', code: 'not-found' }) };
      }
      if (!answer.failed && answer.status < 400) answer = { ...answer, headers: { ...answer.headers, 'x-request-id': [requestId] } };
      send(res, answer);
      // One structured log entry per request, after the answer is on its way.
      logRequest(core, logTypes, { req, path, body, answer, startedAt, requestId });
    };
    handle()
      .catch((error: unknown) => {
        core.log({ level: 'error', message: 'request failed', error: String((error as Error)?.stack ?? error) });
        if (!res.headersSent) send(res, { status: 500, body: JSON.stringify({ path: '$', error: 'internal error', code: 'unexpected' }) });
      })
      .finally(done);
  });
  const drain = createHttpDrain(server);
  // GraphQL over WebSocket (subscriptions, and queries and mutations) on the same port, as Hasura.
  const subscriptions = new SubscriptionService(core, subscriptionOptionsFromEnv(core.config.env));
  subscriptions.attach(server, logTypes.has('websocket-log'));
  core.subscriptions = subscriptions;
  return { server, drain };
}

export async function listen(server: Server, port: number, host?: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
