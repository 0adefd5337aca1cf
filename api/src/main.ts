// `pnpm --filter @org-credits/api start`: the actions service with the environment's configuration.
import { ConfigError, loadConfig } from './config.ts';
import { ABORTED_WORK_GRACE_MS, start } from './server.ts';

try {
  const config = loadConfig();
  const server = await start({ config });
  console.log(`[api] listening on ${server.url} (AI provider: ${server.ai.name})`);
  const shutdown = async (signal: NodeJS.Signals) => {
    if (server.stopping) {
      // A second Ctrl-C: the impatient way out. Holds still open expire with the expire_reservations job.
      console.error(`[api] ${signal} again: exiting without waiting for requests in flight`);
      process.exit(1);
    }
    console.log(`[api] ${signal}: draining requests in flight (up to ${config.shutdownDrainMs} ms), then exiting`);
    // stop() is bounded; this only guards against a pool that never ends (a query that never returns).
    setTimeout(
      () => {
        console.error('[api] shutdown did not finish in time: exiting');
        process.exit(1);
      },
      config.shutdownDrainMs + ABORTED_WORK_GRACE_MS + 2_000,
    ).unref();
    try {
      await server.stop();
      process.exit(0);
    } catch (error) {
      console.error('[api] shutdown failed:', error);
      process.exit(1);
    }
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
