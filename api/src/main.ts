// `pnpm --filter @org-credits/api start`: the actions service with the environment's configuration.
import { ConfigError, loadConfig } from './config.ts';
import { start } from './server.ts';

try {
  const config = loadConfig();
  const server = await start({ config });
  console.log(`[api] listening on ${server.url} (AI provider: ${server.ai.name})`);
  const shutdown = async () => {
    await server.stop();
    process.exit(0);
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
