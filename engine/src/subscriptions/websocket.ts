// GraphQL over WebSocket at /v1/graphql (and /v1alpha1/graphql), with both protocols Hasura speaks,
// chosen by Sec-WebSocket-Protocol as Hasura chooses: `graphql-transport-ws` (graphql-ws, Apollo's
// GraphQLWsLink) and anything else the older `graphql-ws` of subscriptions-transport-ws ("Apollo").
//
// Auth from the connection_init payload's `headers` only (as Hasura's ConnParams; the payload's other
// keys are not headers), over the upgrade request's own headers, resolved as for HTTP (admin secret,
// JWT, unauthorized role).
// A JWT's `exp` closes the connection. Queries and mutations run as over HTTP; subscriptions are
// live queries (live.ts).
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Kind, parse } from 'graphql';
import { WebSocket, WebSocketServer } from 'ws';
import { stringifyExact } from '../actions/json.ts';
import type { Session } from '../auth.ts';
import type { EngineCore, GraphqlRequest } from '../engine.ts';
import { EngineError, toGraphqlError } from '../errors.ts';
import { parseRequestBody } from '../graphql/values.ts';
import { LiveQueries, type Subscriber } from './live.ts';

type Protocol = 'graphql-transport-ws' | 'graphql-ws';

export interface SubscriptionOptions {
  /** HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL (ms). @default 1000 */
  refetchIntervalMs: number;
  /** HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_BATCH_SIZE. @default 100 */
  batchSize: number;
  /** HASURA_GRAPHQL_WEBSOCKET_KEEPALIVE (seconds). @default 5 */
  keepAliveSeconds: number;
  /** HASURA_GRAPHQL_WEBSOCKET_CONNECTION_INIT_TIMEOUT (seconds, graphql-transport-ws only). @default 3 */
  initTimeoutSeconds: number;
}

export function subscriptionOptionsFromEnv(env: NodeJS.ProcessEnv): SubscriptionOptions {
  const num = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} is not a positive number: ${raw}`);
    return value;
  };
  return {
    refetchIntervalMs: num('HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL', 1000),
    batchSize: Math.floor(num('HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_BATCH_SIZE', 100)),
    keepAliveSeconds: num('HASURA_GRAPHQL_WEBSOCKET_KEEPALIVE', 5),
    initTimeoutSeconds: num('HASURA_GRAPHQL_WEBSOCKET_CONNECTION_INIT_TIMEOUT', 3),
  };
}

const PATHS = new Set(['/v1/graphql', '/v1alpha1/graphql']);
const DROPPED = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'upgrade', 'connection']);

/** The longest delay setTimeout keeps (2^31-1 ms); a longer one fires after 1 ms. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

let nextConnectionId = 1;

class Connection {
  readonly id = `ws-${nextConnectionId++}`;
  private session: Session | null = null;
  private initError: string | null = null;
  private initialised = false;
  private readonly operations = new Map<string, () => void>();
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private queue: Promise<void> = Promise.resolve();
  /** The upgrade request's headers with the connection_init headers over them. */
  private headers: Record<string, string> = {};

  constructor(
    private readonly service: SubscriptionService,
    private readonly socket: WebSocket,
    private readonly protocol: Protocol,
    private readonly requestHeaders: Record<string, string>,
  ) {
    socket.on('message', (data, isBinary) => {
      // Once the connection is closed (by either side), no message is handled: nothing may start.
      if (this.closed) return;
      if (isBinary) return this.protocolError('binary messages are not supported');
      // One message at a time, in order, as Hasura handles a connection (the older protocol's clients
      // send `start` right after `connection_init`, without waiting for the ack).
      const text = data.toString();
      this.queue = this.queue
        .then(() => this.onMessage(text))
        .catch((error: unknown) => {
          this.service.core.log({ level: 'error', type: 'websocket-log', message: 'message failed', error: String(error) });
        });
    });
    socket.on('close', () => this.cleanup());
    socket.on('error', () => this.cleanup());
    if (protocol === 'graphql-transport-ws') {
      const timer = setTimeout(() => {
        if (!this.initialised) this.close(4408, 'Connection initialisation timeout');
      }, service.options.initTimeoutSeconds * 1000);
      this.timers.push(timer);
    }
    this.log('accepted');
  }

  private log(event: string, extra: Record<string, unknown> = {}) {
    if (!this.service.logEnabled) return;
    this.service.core.log({
      level: 'info',
      type: 'websocket-log',
      detail: {
        event: { type: event, ...extra },
        connection_info: { websocket_id: this.id, protocol: this.protocol },
        user_vars: this.session ? { 'x-hasura-role': this.session.role } : null,
      },
    });
  }

  private send(text: string) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(text);
  }

  /** Closes with a graphql-transport-ws error code, and Hasura's `server_error_msg` reason. */
  private close(code: number, message: string) {
    if (this.closed) return;
    let reason = JSON.stringify({ server_error_msg: `${code}: ${message}` });
    // A close reason is at most 123 bytes.
    while (Buffer.byteLength(reason) > 123)
      reason = JSON.stringify({ server_error_msg: `${code}: ${message.slice(0, message.length - 8)}…` }).slice(0, 123);
    this.cleanup();
    this.socket.close(code, Buffer.byteLength(reason) <= 123 ? reason : undefined);
  }

  private protocolError(message: string) {
    if (this.protocol === 'graphql-transport-ws') return this.close(4400, message);
    this.send(JSON.stringify({ type: 'connection_error', payload: message }));
  }

  private cleanup() {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    for (const stop of this.operations.values()) stop();
    this.operations.clear();
    this.service.connections.delete(this);
    this.log('closed');
  }

  /** Closes the socket (engine shutdown). */
  shutdown() {
    this.cleanup();
    this.socket.close(1012, 'server shutting down');
  }

  private async onMessage(raw: string) {
    // Messages queued behind the one that closed the connection (connection_terminate, a duplicate
    // id, an unparsable message, a second connection_init) are dropped, as Hasura stops reading.
    if (this.closed) return;
    let message: { type?: unknown; id?: unknown; payload?: unknown };
    try {
      // As an HTTP body: a number with more significant digits than a float holds stays exact.
      message = parseRequestBody(raw) as typeof message;
      if (!message || typeof message !== 'object' || typeof message.type !== 'string') throw new Error('the key "type" was not present');
    } catch (error) {
      return this.protocolError(`parsing ClientMessage failed: ${(error as Error).message}`);
    }
    const transport = this.protocol === 'graphql-transport-ws';
    switch (message.type) {
      case 'connection_init':
        return this.onInit(message.payload);
      case 'ping':
        if (transport)
          this.send(stringifyExact(message.payload !== undefined ? { type: 'pong', payload: message.payload } : { type: 'pong' }));
        return;
      case 'pong':
        return;
      case 'subscribe':
      case 'start':
        if ((message.type === 'subscribe') !== transport) break;
        // Not awaited: a query in flight does not hold up the connection's later messages.
        void this.onStart(message.id, message.payload).catch((error: unknown) => {
          this.service.core.log({ level: 'error', type: 'websocket-log', message: 'operation failed', error: String(error) });
        });
        return;
      case 'complete':
      case 'stop':
        if ((message.type === 'complete') !== transport) break;
        // The older protocol: a stop without an id is a message Hasura cannot parse (test_stop_without_id).
        if (!transport && typeof message.id !== 'string')
          return this.protocolError('parsing ClientMessage failed: the key "id" was not present');
        return this.onStop(message.id);
      case 'connection_terminate':
        if (transport) break;
        this.cleanup();
        this.socket.close(1000);
        return;
    }
    return this.protocolError(`parsing ClientMessage failed: unexpected type for ClientMessage: ${message.type}`);
  }

  private async onInit(payload: unknown) {
    const transport = this.protocol === 'graphql-transport-ws';
    if (this.initialised || this.initError !== null) {
      if (transport) return this.close(4429, 'Too many initialisation requests');
    }
    // Hasura reads only `payload.headers` (its ConnParams); other keys of the payload are not headers.
    const given: Record<string, string> = {};
    const params = payload && typeof payload === 'object' ? (payload as { headers?: unknown }).headers : undefined;
    if (params && typeof params === 'object') {
      for (const [k, v] of Object.entries(params)) if (typeof v === 'string') given[k.toLowerCase()] = v;
    }
    const headers = { ...this.requestHeaders, ...given };
    this.headers = headers;
    try {
      this.session = await this.service.core.auth.authenticate(headers);
    } catch (error) {
      const message = error instanceof EngineError ? error.message : String(error);
      this.initError = message;
      this.log('connection_error', { detail: message });
      if (transport) return this.close(4400, `Connection initialization failed: ${message}`);
      this.send(JSON.stringify({ type: 'connection_error', payload: message }));
      return;
    }
    if (this.closed) return;
    this.initialised = true;
    this.initError = null;
    this.send('{"type":"connection_ack"}');
    this.log('connection_ack');
    const expiry = this.session.expiresAt;
    if (expiry !== undefined) {
      // Hasura closes a JWT-authenticated connection when the token expires.
      this.expireAt(expiry);
    }
    const keepAlive = setInterval(
      () => this.send(transport ? '{"type":"ping","payload":{"message":"keepalive"}}' : '{"type":"ka"}'),
      this.service.options.keepAliveSeconds * 1000,
    );
    this.timers.push(keepAlive);
    if (!transport) this.send('{"type":"ka"}');
  }

  /**
   * Arms the expiry timer. Node runs a delay over 2^31-1 ms (about 24.8 days) after 1 ms, so a far
   * expiry is reached in steps of at most that.
   */
  private expireAt(expiry: number) {
    if (this.closed) return;
    const left = Math.max(0, expiry - Date.now());
    const step = Math.min(left, MAX_TIMER_DELAY_MS);
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      if (step < left) this.expireAt(expiry);
      else this.expire();
    }, step);
    this.timers.push(timer);
  }

  private expire() {
    this.log('jwt_expired');
    if (this.protocol === 'graphql-transport-ws') return this.close(4400, 'Could not verify JWT: JWTExpired');
    this.send(JSON.stringify({ type: 'connection_error', payload: 'Could not verify JWT: JWTExpired' }));
    this.cleanup();
    this.socket.close(1000, 'Could not verify JWT: JWTExpired');
  }

  /**
   * A start that cannot begin (Hasura's sendStartErr: `start-failed`): one error object on the older
   * protocol, a list on graphql-transport-ws.
   */
  private startError(id: string, error: EngineError) {
    const body = toGraphqlError(error, this.internalErrors());
    const payload = this.protocol === 'graphql-transport-ws' ? [body] : body;
    this.send(JSON.stringify({ type: 'error', id, payload }));
  }

  /**
   * An operation's errors, as Hasura sends them: graphql-transport-ws, an `error` with the list; the older
   * protocol, `{"errors":[…]}` in an `error` when the operation failed before it ran (preExecErr, the
   * Apollo fmtErrorMessage) and in a `data` message when it failed while running (postExecErr, a
   * statement or an action's handler).
   */
  private operationErrors(id: string, errors: unknown[], executionError = false) {
    if (this.protocol === 'graphql-transport-ws') return this.send(JSON.stringify({ type: 'error', id, payload: errors }));
    this.send(JSON.stringify({ type: executionError ? 'data' : 'error', id, payload: { errors } }));
  }

  private internalErrors(): boolean {
    const config = this.service.core.config;
    return config.devMode || (!!this.session?.isAdmin && config.adminInternalErrors);
  }

  private dataMessage(id: string, response: string): string {
    const type = this.protocol === 'graphql-transport-ws' ? 'next' : 'data';
    return `{"type":"${type}","id":${JSON.stringify(id)},"payload":${response}}`;
  }

  private async onStart(rawId: unknown, payload: unknown) {
    const transport = this.protocol === 'graphql-transport-ws';
    if (this.closed) return;
    if (typeof rawId !== 'string' || !rawId) return this.protocolError('parsing ClientMessage failed: the key "id" was not present');
    const id = rawId;
    if (!this.initialised || !this.session) {
      if (transport) return this.close(4401, 'Unauthorized');
      const message =
        this.initError !== null
          ? `cannot start as connection_init failed with: ${this.initError}`
          : 'start received before the connection is initialised';
      this.startError(id, new EngineError('start-failed', message));
      this.send(JSON.stringify({ type: 'complete', id }));
      return;
    }
    if (this.operations.has(id)) {
      if (transport) return this.close(4409, `Subscriber for ${id} already exists`);
      this.startError(id, new EngineError('start-failed', `an operation already exists with this id: ${id}`));
      this.send(JSON.stringify({ type: 'complete', id }));
      return;
    }
    const request = (payload ?? {}) as GraphqlRequest;
    const session = this.session;
    const query = typeof request.query === 'string' ? request.query : undefined;
    const isSubscription = query !== undefined && isSubscriptionOperation(query, request.operationName);
    if (!isSubscription) {
      // Queries and mutations: one answer, then complete.
      this.operations.set(id, () => undefined);
      const started = performance.now();
      const answer = await this.service.core.execute(session, request, this.headers);
      if (!this.operations.has(id)) return;
      this.operations.delete(id);
      this.logOperation(id, request, started, answer.body);
      if (answer.body.startsWith('{"errors"')) {
        const errors = (JSON.parse(answer.body) as { errors: unknown[] }).errors;
        this.operationErrors(id, errors, answer.executionError);
      } else this.send(this.dataMessage(id, answer.body));
      this.send(JSON.stringify({ type: 'complete', id }));
      return;
    }
    const subscriber: Subscriber = {
      push: (response) => this.send(this.dataMessage(id, response)),
      end: (response) => {
        this.operations.delete(id);
        this.operationErrors(id, (JSON.parse(response) as { errors: unknown[] }).errors);
        if (!transport) this.send(JSON.stringify({ type: 'complete', id }));
      },
    };
    // The id is taken while the subscriber's statement is checked (a duplicate id meanwhile is refused);
    // a stop or the connection's end meanwhile cancels it.
    let cancelled = false;
    const pending = () => {
      cancelled = true;
    };
    this.operations.set(id, pending);
    try {
      const vars = request.variables && typeof request.variables === 'object' ? (request.variables as Record<string, unknown>) : {};
      const opName = typeof request.operationName === 'string' ? request.operationName : undefined;
      const wanted = () => !cancelled && !this.closed && this.operations.get(id) === pending;
      const stop = await this.service.live.subscribe(session, query as string, opName, vars, subscriber, wanted);
      if (!wanted()) {
        stop();
        return;
      }
      this.operations.set(id, stop);
      this.log('operation', { operation_id: id, operation_name: opName ?? null, operation_type: 'started' });
    } catch (error) {
      if (this.operations.get(id) === pending) this.operations.delete(id);
      if (cancelled || this.closed) return;
      const e = error instanceof EngineError ? error : new EngineError('unexpected', String((error as Error).message ?? error));
      this.log('operation', { operation_id: id, operation_type: 'query_err', code: e.code });
      this.operationErrors(id, [toGraphqlError(e, this.internalErrors())]);
      if (!transport) this.send(JSON.stringify({ type: 'complete', id }));
    }
  }

  private logOperation(id: string, request: GraphqlRequest, started: number, body: string) {
    let code: string | null = null;
    if (body.startsWith('{"errors"')) code = /"code":"([^"]+)"/.exec(body)?.[1] ?? null;
    this.log('operation', {
      operation_id: id,
      operation_name: typeof request.operationName === 'string' ? request.operationName : null,
      operation_type: code ? 'query_err' : 'completed',
      query_execution_time_ms: Math.round((performance.now() - started) * 1000) / 1000,
      ...(code ? { code } : {}),
    });
  }

  private onStop(rawId: unknown) {
    if (typeof rawId !== 'string') return;
    const stop = this.operations.get(rawId);
    if (!stop) return;
    stop();
    this.operations.delete(rawId);
    this.log('operation', { operation_id: rawId, operation_type: 'stopped' });
  }
}

/** Whether the request's selected operation is a subscription (documents that do not parse go the query path, which reports them). */
function isSubscriptionOperation(query: string, operationName: unknown): boolean {
  let ops: { operation: string; name?: { value: string } }[];
  try {
    ops = parse(query).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION) as typeof ops;
  } catch {
    return false;
  }
  if (typeof operationName === 'string' && operationName)
    return ops.some((o) => o.name?.value === operationName && o.operation === 'subscription');
  return ops.length === 1 && ops[0]?.operation === 'subscription';
}

export class SubscriptionService {
  readonly live: LiveQueries;
  readonly connections = new Set<Connection>();
  private readonly wss: WebSocketServer;
  logEnabled = true;

  constructor(
    readonly core: EngineCore,
    readonly options: SubscriptionOptions,
  ) {
    this.live = new LiveQueries(core, { refetchIntervalMs: options.refetchIntervalMs, batchSize: options.batchSize });
    this.wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has('graphql-transport-ws') ? 'graphql-transport-ws' : 'graphql-ws'),
    });
  }

  /** Handles upgrades on the HTTP server's graphql paths. */
  attach(server: Server, logEnabled = true) {
    this.logEnabled = logEnabled;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '/').split('?')[0] as string;
      if (!PATHS.has(path)) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      const origin = req.headers.origin;
      const domains = this.core.config.corsDomains;
      if (origin && domains && !domains.some((d) => d === '*' || d === origin || matchesWildcard(origin, d))) {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const protocol: Protocol = ws.protocol === 'graphql-transport-ws' ? 'graphql-transport-ws' : 'graphql-ws';
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) {
          if (v === undefined || DROPPED.has(k) || k.startsWith('sec-websocket-')) continue;
          headers[k] = Array.isArray(v) ? (v[0] as string) : v;
        }
        this.connections.add(new Connection(this, ws, protocol, headers));
      });
    });
  }

  stats() {
    return { connections: this.connections.size, ...this.live.stats() };
  }

  close() {
    for (const c of [...this.connections]) c.shutdown();
    this.live.stop();
    this.wss.close();
  }
}

function matchesWildcard(origin: string, domain: string): boolean {
  const star = domain.indexOf('*');
  return star >= 0 && origin.startsWith(domain.slice(0, star)) && origin.endsWith(domain.slice(star + 1));
}
