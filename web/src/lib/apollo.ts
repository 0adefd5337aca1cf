// The Apollo client: HTTP for queries and mutations, graphql-ws for subscriptions, the JWT on
// both. The socket's state is exposed so live views can fall back to polling when it is down.
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, ServerError } from '@apollo/client';
import { ErrorLink } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { Kind, OperationTypeNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { type InjectionKey, inject, type Ref, ref } from 'vue';

export type SocketStatus = 'connecting' | 'connected' | 'down';

export interface GraphqlConnection {
  client: ApolloClient;
  /** The subscription socket's state; `down` after a close or error until it reconnects. */
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

export interface CreateConnectionOptions {
  httpUrl: string;
  wsUrl: string;
  /** The current JWT, read on every request and every socket (re)connect. */
  getToken: () => string | null;
  /** Called when the engine refuses the token (expired, bad signature): sign in again. */
  onAuthError?: () => void;
}

/** Hasura's codes for a token it will not accept. */
const AUTH_ERROR_CODES = new Set(['invalid-jwt', 'invalid-headers', 'jwt-invalid-claims']);

export function isAuthError(error: unknown): boolean {
  if (CombinedGraphQLErrors.is(error)) return error.errors.some((e) => AUTH_ERROR_CODES.has(String(e.extensions?.code ?? '')));
  return ServerError.is(error) && error.statusCode === 401;
}

export function createGraphqlConnection(options: CreateConnectionOptions): GraphqlConnection {
  const socketStatus = ref<SocketStatus>('connecting');
  const authHeaders = (): Record<string, string> => {
    const token = options.getToken();
    return token ? { Authorization: `Bearer ${token}` } : {};
  };
  const auth = new ApolloLink((operation, forward) => {
    operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({ headers: { ...headers, ...authHeaders() } }));
    return forward(operation);
  });
  const ws = createClient({
    url: options.wsUrl,
    lazy: true,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    connectionParams: () => ({ headers: authHeaders() }),
    on: {
      connecting: () => {
        if (socketStatus.value !== 'down') socketStatus.value = 'connecting';
      },
      connected: () => {
        socketStatus.value = 'connected';
      },
      closed: () => {
        socketStatus.value = 'down';
      },
      error: () => {
        socketStatus.value = 'down';
      },
    },
  });
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION;
    },
    new GraphQLWsLink(ws),
    auth.concat(new HttpLink({ uri: options.httpUrl })),
  );
  const errors = new ErrorLink(({ error }) => {
    if (options.onAuthError && isAuthError(error)) options.onAuthError();
  });
  const client = new ApolloClient({ link: errors.concat(link), cache: createCache() });
  return {
    client,
    socketStatus,
    reset: async () => {
      ws.terminate();
      await client.resetStore();
    },
  };
}

export function useGraphqlConnection(): GraphqlConnection {
  const connection = inject(GRAPHQL_CONNECTION, null);
  if (!connection) throw new Error('no GraphQL connection provided: call app.provide(GRAPHQL_CONNECTION, …) first');
  return connection;
}
