// The engine as a library: `createEngine(config)` → `{ listen(port), close(), url }`.
import pg from 'pg';
import { configFromEnv, type EngineConfig } from './config.ts';
import { EngineCore, type Log, sourceUrl } from './engine.ts';
import { loadMetadataDir } from './metadata/load.ts';
import { createHttpServer, HTTP_DRAIN_MS, listen } from './server.ts';

export type { EngineConfig } from './config.ts';
export type { Metadata } from './metadata/types.ts';
export { configFromEnv };

export interface Engine {
  core: EngineCore;
  /** Starts serving; resolves with the URL (port 0 picks a free port). */
  listen(port?: number, host?: string): Promise<string>;
  /**
   * Stops as Hasura does: no new connections, HTTP requests in flight finish (up to `httpDrainMs`,
   * then they are cut), then cron and event deliveries in flight get their grace period
   * (HASURA_GRAPHQL_GRACEFUL_SHUTDOWN_TIMEOUT), then the pool ends. WebSockets close at once with
   * 1012 "server shutting down", so their clients reconnect to another instance. Calling it again
   * returns the same promise.
   */
  close(): Promise<void>;
  readonly url: string;
}

export interface CreateEngineOptions {
  log?: Log;
  /** Pool size. @default 16 */
  poolSize?: number;
  /** How long `close()` lets HTTP requests in flight finish before cutting them. @default HTTP_DRAIN_MS (30 s, as Hasura) */
  httpDrainMs?: number;
}

const jsonLog: Log = (entry) => process.stdout.write(`${JSON.stringify({ timestamp: new Date().toISOString(), ...entry })}\n`);

export async function createEngine(config: EngineConfig = configFromEnv(), options: CreateEngineOptions = {}): Promise<Engine> {
  const log = options.log ?? jsonLog;
  let url = config.databaseUrl;
  if (config.metadataDir) url = sourceUrl(loadMetadataDir(config.metadataDir), config.env) ?? url;
  if (!url) throw new Error('HASURA_GRAPHQL_DATABASE_URL is not set');
  // Numbers stay text: numeric and bigint never pass through a JavaScript float.
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 16 });
  pool.on('error', (error) => log({ level: 'error', message: 'idle connection failed', error: error.message }));
  const core = new EngineCore(config, pool, log);
  try {
    await core.start();
  } catch (error) {
    await pool.end();
    throw error;
  }
  // Cron and event trigger delivery starts once the metadata is in place.
  await core.startTriggers();
  const { server, drain } = createHttpServer(core);
  const httpDrainMs = options.httpDrainMs ?? HTTP_DRAIN_MS;
  let address = '';
  let closing: Promise<void> | null = null;
  return {
    core,
    async listen(port = config.port, host?: string) {
      const actual = await listen(server, port, host);
      address = `http://${host && host !== '0.0.0.0' ? host : '127.0.0.1'}:${actual}`;
      log({ level: 'info', message: `engine listening on ${address}` });
      return address;
    },
    close() {
      closing ??= (async () => {
        // WebSocket connections are upgraded sockets the HTTP server no longer tracks: close them first.
        core.subscriptions?.close();
        const drained = await drain.drain(httpDrainMs);
        if (!drained.finished)
          log({ level: 'warn', message: `${drained.cut} HTTP request(s) still running after the ${httpDrainMs} ms drain were cut` });
        await core.close();
      })();
      return closing;
    },
    get url() {
      return address;
    },
  };
}
