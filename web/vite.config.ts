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
  server: { port: 5173 },
});
