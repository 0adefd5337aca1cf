import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [vue()],
  build: {
    // The bundle-size check (scripts/check-bundle-size.mjs) reads the manifest to find the
    // entry chunk and its static imports.
    manifest: true,
    target: 'es2022',
    // ECharts lives in the credits route's own chunk (lazy); the initial budget is checked separately.
    chunkSizeWarningLimit: 700,
  },
  // In development the app talks to GraphQL on its own origin, as it does behind nginx in
  // production (deploy/nginx.conf): Vite forwards /v1/graphql (HTTP and WebSocket) to the engine.
  server: {
    port: 5173,
    proxy: {
      '/v1/graphql': { target: process.env.ORG_CREDITS_ENGINE_URL ?? 'http://127.0.0.1:8080', ws: true, changeOrigin: true },
    },
  },
});
