// Where the app finds the engine and the api: Vite env variables at build time.

export interface AppConfig {
  graphqlHttpUrl: string;
  graphqlWsUrl: string;
  apiUrl: string;
}

export function readConfig(env: ImportMetaEnv = import.meta.env): AppConfig {
  return {
    graphqlHttpUrl: env.VITE_GRAPHQL_HTTP_URL ?? 'http://localhost:8080/v1/graphql',
    graphqlWsUrl: env.VITE_GRAPHQL_WS_URL ?? 'ws://localhost:8080/v1/graphql',
    apiUrl: (env.VITE_API_URL ?? 'http://localhost:3000').replace(/\/$/, ''),
  };
}
