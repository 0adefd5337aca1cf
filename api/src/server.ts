// Runs the app: `start()` opens the database pool and listens (port 0 picks a free one, as tests
// do); `stop()` closes both.
import type { AddressInfo } from 'node:net';
import { pg } from '@org-credits/db';
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
  stop(): Promise<void>;
}

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
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  publicUrl ??= `http://${config.host}:${port}`;
  return {
    url: `http://${config.host}:${port}`,
    port,
    config,
    db,
    ai,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      await db.end();
    },
  };
}
