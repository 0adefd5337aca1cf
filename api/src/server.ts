// Runs the app: `start()` opens the database pool and listens (port 0 picks a free one, as tests
// do); `stop()` drains the requests in flight, then closes both.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pg } from '@org-credits/db';
import { createHttpDrain } from '@org-credits/db/http-drain';
import type { AIProvider } from './ai/index.ts';
import { createAIProvider } from './ai/index.ts';
import { createApp } from './app.ts';
import { type Config, DEV_DEFAULTS, loadConfig } from './config.ts';
import { createPayments, type Payments } from './payments/index.ts';

export interface StartOptions {
  config?: Config;
  /** Overrides of the configuration (tests set `port: 0` and a database). */
  overrides?: Partial<Config>;
  ai?: AIProvider;
  clock?: () => Date;
  /** The payment side; by default Stripe when STRIPE_SECRET_KEY is set, else the local test provider. */
  payments?: Payments;
}

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  db: pg.Pool;
  /** The AI provider in use (`openai-compatible`, `local`, or `none` in production without a key). */
  ai: AIProvider;
  /**
   * Stops gracefully: no new connections, `/healthz` answers 503 on the ones still open, requests
   * in flight may finish for `config.shutdownDrainMs`, then the rest are cut (their work is told to
   * stop: an AI call is aborted and its hold released) and get up to {@link ABORTED_WORK_GRACE_MS}
   * to wind down, then the pool ends. Calling it again returns the same promise.
   */
  stop(): Promise<void>;
  /** Whether `stop()` has begun. */
  readonly stopping: boolean;
}

/**
 * After the drain timeout the connections left are cut; the handlers behind them still run (an AI
 * call aborted by the cut releases its hold, one SQL statement) and get this long before the pool
 * ends. The whole stop is thus at most the drain timeout plus 3 s.
 */
export const ABORTED_WORK_GRACE_MS = 3_000;

export async function start(options: StartOptions = {}): Promise<RunningServer> {
  const config = { ...(options.config ?? loadConfig()), ...options.overrides };
  const db = new pg.Pool({ connectionString: config.databaseUrl, max: config.databasePoolSize });
  db.on('error', (error) => console.error('[api] idle database connection failed:', error.message));
  // In production without OPENAI_API_KEY there is no AI provider (AI actions answer AI_PROVIDER_ERROR), never the local one.
  const ai =
    options.ai ??
    createAIProvider({
      openaiApiKey: config.openaiApiKey ?? undefined,
      aiBaseUrl: config.aiBaseUrl ?? undefined,
      production: config.production,
    });
  let publicUrl = config.publicApiUrl;
  // Production takes payments only through Stripe; loadConfig refuses a production configuration
  // without its key and webhook secret, so payments are off only when overrides remove them.
  const paymentsOff = config.production && (!config.stripeSecretKey || !config.stripeWebhookSecret);
  const payments =
    options.payments ??
    (paymentsOff
      ? undefined
      : createPayments({
          stripeSecretKey: config.stripeSecretKey,
          stripeApiUrl: config.stripeApiUrl,
          stripeWebhookSecret: config.stripeWebhookSecret ?? DEV_DEFAULTS.stripeWebhookSecret,
          webOrigin: config.webOrigin ?? DEV_DEFAULTS.webOrigin,
          apiPublicUrl: () => publicUrl ?? '',
          notificationsWebhookUrl: config.notificationsWebhookUrl,
          ...(options.clock ? { clock: options.clock } : {}),
        }));
  const app = createApp({
    ...(payments ? { payments } : {}),
    db,
    ai,
    actionSecret: config.actionSecret,
    production: config.production,
    jwtKey: config.jwtKey,
    webOrigin: config.webOrigin,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  // A request counts as in flight until its handler answers (`res.end()`, called also on a socket
  // already gone, as the error middleware does after an aborted call). A response's 'close' is not
  // enough: a handler whose caller hung up still runs, and may need the pool to release a hold.
  const server = createServer((req, res) => {
    // Load balancers that still probe this instance see it leaving.
    if (drain.draining && req.method === 'GET' && (req.url ?? '').split('?')[0] === '/healthz') {
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      res.end(JSON.stringify({ ok: false, message: 'shutting down' }));
      return;
    }
    const done = drain.begin(res);
    const end = res.end;
    res.end = function (this: ServerResponse, ...args: unknown[]) {
      const result = (end as (...a: unknown[]) => ServerResponse).apply(this, args);
      done();
      return result;
    } as ServerResponse['end'];
    app(req, res);
  });
  const drain = createHttpDrain(server);
  server.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  publicUrl ??= `http://${config.host}:${port}`;
  let stopped: Promise<void> | null = null;
  const stop = async () => {
    const { finished, cut, left } = await drain.drain(config.shutdownDrainMs, ABORTED_WORK_GRACE_MS);
    if (!finished) {
      // Their handlers saw the connection close (runPlayground aborts the AI call and releases the hold).
      console.error(`[api] ${cut} request(s) still running after the ${config.shutdownDrainMs} ms drain: their connections were closed`);
      if (left) console.error(`[api] ${left} handler(s) still running ${ABORTED_WORK_GRACE_MS} ms after the cut: ending the pool anyway`);
    }
    await db.end();
  };
  return {
    url: `http://${config.host}:${port}`,
    port,
    config,
    db,
    ai,
    stop() {
      stopped ??= stop();
      return stopped;
    },
    get stopping() {
      return drain.draining;
    },
  };
}
