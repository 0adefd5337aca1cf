/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The engine's GraphQL HTTP endpoint, e.g. http://localhost:8080/v1/graphql */
  readonly VITE_GRAPHQL_HTTP_URL?: string;
  /** The engine's GraphQL WebSocket endpoint, e.g. ws://localhost:8080/v1/graphql */
  readonly VITE_GRAPHQL_WS_URL?: string;
  /** The api service (dev sign-in endpoints), e.g. http://localhost:3000 */
  readonly VITE_API_URL?: string;
  /** `1` serves the design preview: fixture data, no backend. Never set in production builds. */
  readonly VITE_DEMO_MOCK?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
