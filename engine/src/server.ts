// HTTP with node:http (the request path is benchmarked: no framework).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EngineCore, HttpAnswer } from './engine.ts';
import { EngineError } from './errors.ts';
import { enabledLogTypes, healthz, logRequest } from './log.ts';
import type { MetadataOperation } from './metadata/api.ts';
import { SubscriptionService, subscriptionOptionsFromEnv } from './subscriptions/websocket.ts';

const VERSION = 'v2.48.0-org-credits-engine';

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

async function metadataEndpoint(core: EngineCore, req: IncomingMessage, body: string): Promise<HttpAnswer> {
  try {
    const session = await core.auth.authenticate(req.headers);
    if (!session.isAdmin) throw new EngineError('access-denied', 'restricted access : admin only');
  } catch (error) {
    const e = error as EngineError;
    return { status: 400, body: JSON.stringify({ path: e.path ?? '$', error: e.message, code: e.code ?? 'access-denied' }) };
  }
  let op: MetadataOperation;
  try {
    op = JSON.parse(body) as MetadataOperation;
  } catch {
    return { status: 400, body: JSON.stringify({ path: '$', error: 'invalid json', code: 'invalid-json' }) };
  }
  return { ...(await core.metadataRequest(op)), role: 'admin' };
}

export function createHttpServer(core: EngineCore): Server {
  const logTypes = enabledLogTypes(core.config.env);
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0] as string;
    const startedAt = performance.now();
    const handle = async () => {
      if (cors(core, req, res)) return;
      if (req.method === 'GET' && path === '/healthz') {
        const verbose = /[?&]verbose=(true|1)\b/.test(url);
        return send(res, await healthz(core, verbose), verbose ? undefined : 'text/plain; charset=utf-8');
      }
      if (req.method === 'GET' && path === '/v1/version') return send(res, { status: 200, body: JSON.stringify({ version: VERSION }) });
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
      send(res, answer);
      // One structured log entry per request, after the answer is on its way.
      logRequest(core, logTypes, { req, path, body, answer, startedAt });
    };
    handle().catch((error: unknown) => {
      core.log({ level: 'error', message: 'request failed', error: String((error as Error)?.stack ?? error) });
      if (!res.headersSent) send(res, { status: 500, body: JSON.stringify({ path: '$', error: 'internal error', code: 'unexpected' }) });
    });
  });
  // GraphQL over WebSocket (subscriptions, and queries and mutations) on the same port, as Hasura.
  const subscriptions = new SubscriptionService(core, subscriptionOptionsFromEnv(core.config.env));
  subscriptions.attach(server, logTypes.has('websocket-log'));
  core.subscriptions = subscriptions;
  return server;
}

export async function listen(server: Server, port: number, host?: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
