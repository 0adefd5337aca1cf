#!/usr/bin/env -S npx tsx
// `pnpm --filter ./engine start`: serve on HASURA_GRAPHQL_SERVER_PORT, configured like Hasura.
import { configFromEnv, createEngine } from './index.ts';

try {
  // A configuration Hasura refuses to start with is refused here too, with Hasura's message.
  const config = configFromEnv();
  const engine = await createEngine(config);
  await engine.listen(config.port, '0.0.0.0');
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`engine: ${signal} again, exiting without waiting for requests in flight\n`);
      process.exit(1);
    }
    stopping = true;
    await engine.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (error) {
  process.stderr.write(`engine failed to start: ${(error as Error).message}\n`);
  process.exit(1);
}
