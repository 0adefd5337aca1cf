import { createPinia } from 'pinia';
import { createApp } from 'vue';
import App from './App.vue';
import { readConfig } from './config.ts';
import { createGraphqlConnection, GRAPHQL_CONNECTION, type GraphqlConnection } from './lib/apollo.ts';
import { APP_CONFIG } from './lib/app-config.ts';
import { signOutOnAuthError } from './lib/auth-error.ts';
import { retryFailedQueries } from './lib/graphql-vue.ts';
import { createAppRouter } from './router.ts';
import { useSessionStore } from './stores/session.ts';
import './styles/main.css';

async function start() {
  const config = readConfig();
  const app = createApp(App);
  const pinia = createPinia();
  app.provide(APP_CONFIG, config);

  const router = createAppRouter(pinia);
  let connection: GraphqlConnection;
  if (import.meta.env.VITE_DEMO_MOCK === '1') {
    // Design preview only (`VITE_DEMO_MOCK=1 pnpm dev`): fixture data instead of the engine.
    // The condition is replaced at build time, so production bundles do not contain it.
    const preview = await import('./preview/demo.ts');
    connection = preview.createDemoConnection();
    preview.signInDemo();
  } else {
    connection = createGraphqlConnection({
      httpUrl: config.graphqlHttpUrl,
      wsUrl: config.graphqlWsUrl,
      getToken: () => useSessionStore(pinia).token,
      onAuthError: signOutOnAuthError(pinia, router),
      // Sections that failed while the engine was out of reach load again once it is back,
      // without "Try again".
      onReconnect: retryFailedQueries,
    });
  }
  app.provide(GRAPHQL_CONNECTION, connection);
  app.use(pinia);
  app.use(router);
  await router.isReady();
  app.mount('#app');
}

void start();
