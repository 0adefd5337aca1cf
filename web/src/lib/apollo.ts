// The Apollo client: HTTP for queries and mutations, graphql-ws for subscriptions, the JWT on
// both. The socket's state is exposed so live views can fall back to polling when it is down.
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, ServerError } from '@apollo/client';
import { ErrorLink } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { type InjectionKey, inject, type Ref, ref } from 'vue';

/**
 * - `connecting`: the first connection is being made (or will be, once something subscribes), also
 *   after a close the app made itself (its last subscription ended, a new token): nothing was lost;
 * - `connected`: the socket is open and answering;
 * - `down`: the engine or the network closed the socket, or it stopped answering, and it is being opened again;
 * - `stopped`: the engine closed it for a reason a retry does not cure (a refused or expired token,
 *   a protocol error): it stays closed until something subscribes anew (sign-in, a page reload).
 */
export type SocketStatus = 'connecting' | 'connected' | 'down' | 'stopped';

export interface GraphqlConnection {
  client: ApolloClient;
  /** The subscription socket's state; `down` after a close, an error or a silence until it reconnects. */
  socketStatus: Ref<SocketStatus>;
  /** After a new token (sign-in, org switch, sign-out): reopens the socket with it and refetches
   * what is on screen, so no row of the previous org stays in the cache. */
  reset: () => Promise<void>;
}

export const GRAPHQL_CONNECTION: InjectionKey<GraphqlConnection> = Symbol('graphql-connection');

export function createCache(): InMemoryCache {
  return new InMemoryCache({
    typePolicies: {
      // Rows keyed by something other than `id`.
      organization_credit_balances: { keyFields: ['organization_id'] },
      organization_subscriptions: { keyFields: ['organization_id'] },
      auto_topup_settings: { keyFields: ['organization_id'] },
      spend_limits: { keyFields: ['organization_id'] },
      organization_members: { keyFields: ['organization_id', 'user_id'] },
      quality_levels: { keyFields: ['code'] },
      ai_capabilities: { keyFields: ['code'] },
      llm_models: { keyFields: ['id'] },
      organization_usage_daily: { keyFields: false },
      plan_capabilities: { keyFields: false },
      plan_capability_quality_levels: { keyFields: false },
    },
  });
}

/** How long the socket may go without a word before it counts as dead, and how it is kept alive. */
export interface SocketTimings {
  /** A ping to the engine this long after the socket opened and after each pong. @default 10000 */
  keepAlive?: number;
  /** No pong this long after a ping: the socket is dead. @default 5000 */
  pongTimeout?: number;
  /**
   * No message at all (the engine pings every 5 s, and answers our pings) this long, or no
   * connection this long after it began: the socket is dead. @default 12000
   */
  silenceTimeout?: number;
  /** The longest wait between two attempts to reconnect. @default 10000 */
  maxRetryWait?: number;
}

export interface CreateConnectionOptions extends SocketTimings {
  httpUrl: string;
  wsUrl: string;
  /** The current JWT, read on every request and every socket (re)connect. */
  getToken: () => string | null;
  /**
   * Called when the engine refuses a token (expired, bad signature): sign in again. `token` is the
   * one the refused request or socket carried, which may be older than the current one by then.
   */
  onAuthError?: (token: string | null) => void;
  /** Called when the socket is connected again after it was lost (e.g. to retry what failed meanwhile). */
  onReconnect?: () => void;
  /** A query without an answer this long ends in an error. @default 15000 */
  requestTimeout?: number;
  /** A mutation without an answer this long ends in an error: longer than any action may take. @default 90000 */
  mutationTimeout?: number;
  /** The randomness of the retry waits' jitter. @default Math.random */
  random?: () => number;
}

/** Hasura's codes for a token it will not accept. */
const AUTH_ERROR_CODES = new Set(['invalid-jwt', 'invalid-headers', 'jwt-invalid-claims']);

export function isAuthError(error: unknown): boolean {
  if (CombinedGraphQLErrors.is(error)) return error.errors.some((e) => AUTH_ERROR_CODES.has(String(e.extensions?.code ?? '')));
  return ServerError.is(error) && error.statusCode === 401;
}

/**
 * The wait before the reconnect attempt number `retries` (0 after the first failure): doubling
 * from 1 s up to `max`, and between half of that and all of it, so that every open tab does not
 * come back at the same moment after an outage.
 */
export function retryDelay(retries: number, max = 10_000, random: () => number = Math.random): number {
  const ceiling = Math.min(max, 1_000 * 2 ** Math.min(retries, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The close codes after which graphql-ws does not reconnect (its `retryAttempts` documentation). */
const FATAL_CLOSE_CODES = new Set([4500, 4005, 4400, 4004, 4401, 4406, 4409, 4429]);
const RETRIED_WEBSOCKET_CODES = new Set([1000, 1001, 1005, 1006, 1012, 1013, 1014]);

function closeCode(event: unknown): { code: number; reason: string } | null {
  if (!event || typeof event !== 'object' || !('code' in event)) return null;
  const { code, reason } = event as { code: unknown; reason?: unknown };
  return typeof code === 'number' ? { code, reason: typeof reason === 'string' ? reason : '' } : null;
}

function isFatalClose(code: number): boolean {
  return FATAL_CLOSE_CODES.has(code) || (code >= 1000 && code <= 1999 && !RETRIED_WEBSOCKET_CODES.has(code));
}

/** fetch that gives up after `ms`: a server that accepts the request and never answers ends in an
 * error (and "Try again") instead of "Loading…" for ever. The wait covers reading the body too;
 * the timer ends with it. */
export function fetchWithTimeout(ms: number): typeof fetch {
  return (input, init = {}) => {
    const controller = new AbortController();
    const outer = init.signal;
    if (outer) {
      if (outer.aborted) controller.abort(outer.reason);
      else outer.addEventListener('abort', () => controller.abort(outer.reason), { once: true });
    }
    const timer = setTimeout(() => {
      controller.abort(new DOMException(`The server did not answer within ${Math.round(ms / 1000)} seconds.`, 'TimeoutError'));
    }, ms);
    return fetch(input, { ...init, signal: controller.signal }).then(
      async (response) => {
        try {
          const body = await response.text();
          return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
        } finally {
          clearTimeout(timer);
        }
      },
      (error: unknown) => {
        clearTimeout(timer);
        throw error;
      },
    );
  };
}

interface SocketLike {
  readyState: number;
  send: (data: string) => void;
  close: (code?: number, reason?: string) => void;
}

const OPEN = 1;

export function createGraphqlConnection(options: CreateConnectionOptions): GraphqlConnection & { dispose: () => void } {
  const { keepAlive = 10_000, pongTimeout = 5_000, silenceTimeout = 12_000, maxRetryWait = 10_000, random = Math.random } = options;
  const socketStatus = ref<SocketStatus>('connecting');
  const authHeaders = (token: string | null): Record<string, string> => (token ? { Authorization: `Bearer ${token}` } : {});
  // Each request keeps the token it was sent with (`authToken`), and the socket the one it connected
  // with: a refusal of an older token, answered after a newer one was stored, is told apart.
  const auth = new ApolloLink((operation, forward) => {
    const token = options.getToken();
    operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
      headers: { ...headers, ...authHeaders(token) },
      authToken: token,
    }));
    return forward(operation);
  });
  let socketToken: string | null = null;

  // A socket can stall without closing (frames stop on a dead network, a laptop that slept, a proxy
  // that dropped the connection): the browser still says it is open, for minutes. So the socket is
  // dead when it goes quiet (no ping from the engine, no pong to ours) or does not connect in time;
  // then it is dropped at once (`terminate`: a close handshake over a dead network would wait for
  // an answer that never comes) and graphql-ws opens a new one, while live views poll.
  let socket: SocketLike | null = null;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  let silenceTimer: ReturnType<typeof setTimeout> | undefined;
  const clearTimers = () => {
    clearTimeout(pongTimer);
    clearTimeout(silenceTimer);
    pongTimer = undefined;
    silenceTimer = undefined;
  };
  const dead = () => {
    clearTimers();
    const current = socket;
    socket = null;
    socketStatus.value = 'down';
    try {
      // 4408: what graphql-ws's documentation closes a socket with when its pong does not come.
      if (current?.readyState === OPEN) current.close(4408, 'Request Timeout');
    } catch {
      // Closing a socket that is going away anyway.
    }
    ws.terminate();
  };
  const expectWordWithin = (ms: number) => {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(dead, ms);
  };
  const expectPong = () => {
    clearTimeout(pongTimer);
    pongTimer = setTimeout(dead, pongTimeout);
  };

  // The closes the app makes itself are no lost socket: graphql-ws closing with 1000 (Normal
  // Closure) when its last subscription ends or the client is disposed, and `reset`'s terminate
  // for a new token. They are told from the engine's 1000 and the network's closes by who asked.
  const closedByUs = new WeakSet<object>();
  let resetting = false;
  const Socket = globalThis.WebSocket as typeof WebSocket | undefined;
  const TrackedSocket = Socket
    ? class extends Socket {
        override close(code?: number, reason?: string): void {
          if (code === 1000) closedByUs.add(this);
          super.close(code, reason);
        }
      }
    : undefined;

  // Waits between reconnect attempts, cut short when the browser says the network is back.
  let wake: (() => void) | null = null;
  const retryWait = (retries: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (wake === done) wake = null;
        resolve();
      };
      const timer = setTimeout(done, retryDelay(retries, maxRetryWait, random));
      wake = done;
    });

  const ws = createClient({
    url: options.wsUrl,
    lazy: true,
    ...(TrackedSocket ? { webSocketImpl: TrackedSocket } : {}),
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait,
    keepAlive,
    connectionParams: () => {
      socketToken = options.getToken();
      return { headers: authHeaders(socketToken) };
    },
    on: {
      connecting: () => {
        // A lost socket stays lost until it is connected again, so that the connection then counts
        // as a return (onReconnect) after a retried close and after one graphql-ws did not retry.
        if (socketStatus.value !== 'down' && socketStatus.value !== 'stopped') socketStatus.value = 'connecting';
        expectWordWithin(silenceTimeout);
      },
      opened: (opened) => {
        socket = opened as SocketLike;
        expectWordWithin(silenceTimeout);
      },
      connected: (connected) => {
        socket = connected as SocketLike;
        const wasLost = socketStatus.value === 'down' || socketStatus.value === 'stopped';
        socketStatus.value = 'connected';
        expectWordWithin(silenceTimeout);
        if (wasLost) options.onReconnect?.();
      },
      message: () => {
        if (socket) expectWordWithin(silenceTimeout);
      },
      ping: (received) => {
        if (!received) expectPong();
      },
      pong: (received) => {
        if (received) {
          clearTimeout(pongTimer);
          pongTimer = undefined;
        }
      },
      closed: (event) => {
        clearTimers();
        const ours = resetting || (socket !== null && closedByUs.has(socket));
        socket = null;
        const close = closeCode(event);
        if (ours) {
          // Not lost: the next connection (if anything still subscribes) is no reconnect.
          socketStatus.value = 'connecting';
          return;
        }
        socketStatus.value = close && isFatalClose(close.code) ? 'stopped' : 'down';
        // The engine closes with 4400 when the token expires (or is refused at connect): graphql-ws
        // does not reconnect after it, and no new connection would be accepted: the session is over.
        if (close?.code === 4400 && /jwt/i.test(close.reason)) options.onAuthError?.(socketToken);
      },
      error: () => {
        if (socketStatus.value !== 'stopped') socketStatus.value = 'down';
      },
    },
  });

  // A ping now: a socket that does not answer within the pong timeout is dead.
  const probe = () => {
    if (!socket || socket.readyState !== OPEN) return;
    try {
      socket.send('{"type":"ping"}');
      expectPong();
    } catch {
      dead();
    }
  };
  const recheck = () => {
    if (socketStatus.value === 'connected') probe();
    else wake?.();
  };
  const onOnline = () => recheck();
  // Offline, no frame can pass: the socket is dead now, not when the keep-alive notices.
  const onOffline = () => {
    if (socket) dead();
  };
  const onVisibility = () => {
    if (globalThis.document?.visibilityState !== 'hidden') recheck();
  };
  globalThis.window?.addEventListener('online', onOnline);
  globalThis.window?.addEventListener('offline', onOffline);
  globalThis.document?.addEventListener('visibilitychange', onVisibility);

  const link = ApolloLink.split(
    ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(ws),
    auth.concat(
      // A mutation may run an action that takes its time (a playground run: up to Hasura's 60 s
      // action timeout), and is charged when it ends: given up on at 15 s, it was charged while the
      // page said it had failed. So mutations wait longer than any action may take.
      ApolloLink.split(
        ({ operationType }) => operationType === OperationTypeNode.MUTATION,
        new HttpLink({ uri: options.httpUrl, fetch: fetchWithTimeout(options.mutationTimeout ?? 90_000) }),
        new HttpLink({ uri: options.httpUrl, fetch: fetchWithTimeout(options.requestTimeout ?? 15_000) }),
      ),
    ),
  );
  const errors = new ErrorLink(({ error, operation }) => {
    if (!options.onAuthError || !isAuthError(error)) return;
    // Over HTTP, the request's own token; a subscription's is the socket's.
    const context = operation.getContext() as { authToken?: string | null };
    options.onAuthError(context.authToken !== undefined ? context.authToken : socketToken);
  });
  const client = new ApolloClient({ link: errors.concat(link), cache: createCache() });
  return {
    client,
    socketStatus,
    reset: async () => {
      resetting = true;
      try {
        ws.terminate();
      } finally {
        resetting = false;
      }
      await resetStoreQuietly(client);
    },
    dispose: () => {
      globalThis.window?.removeEventListener('online', onOnline);
      globalThis.window?.removeEventListener('offline', onOffline);
      globalThis.document?.removeEventListener('visibilitychange', onVisibility);
      clearTimers();
      wake?.();
      // Rejects when it was still waiting to connect: nothing is left to close then.
      Promise.resolve(ws.dispose()).catch(() => {});
    },
  };
}

/**
 * The store emptied and every query on screen asked again (after a new token). What those queries
 * answer, failures included, is shown where each is; and a query called off meanwhile (its section
 * left the screen, its variables changed with the org) rejects with an AbortError. Neither is the
 * reset's own failure: it never rejects, so a switch of org is never reported as failed (before,
 * "The operation was aborted." appeared beside the org switcher).
 */
export async function resetStoreQuietly(client: ApolloClient): Promise<void> {
  try {
    await client.resetStore();
  } catch {
    // Each query shows its own error.
  }
}

export function useGraphqlConnection(): GraphqlConnection {
  const connection = inject(GRAPHQL_CONNECTION, null);
  if (!connection) throw new Error('no GraphQL connection provided: call app.provide(GRAPHQL_CONNECTION, …) first');
  return connection;
}
