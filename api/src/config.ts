// The service's configuration, read from the environment once at start and checked: every missing
// or wrong value is named with what it should be. Development has defaults; production
// (NODE_ENV=production) requires its secrets; the dev sign-in needs NODE_ENV=development (or test).
import { z } from 'zod';

export interface Config {
  production: boolean;
  port: number;
  host: string;
  databaseUrl: string;
  /** Connections in the api's pool. */
  databasePoolSize: number;
  /** The shared secret Hasura sends in `X-Org-Credits-Secret` with every action, cron and event call. */
  actionSecret: string;
  /** HS256 key from HASURA_GRAPHQL_JWT_SECRET, for the dev token endpoint. */
  jwtKey: string | null;
  /** Where other services (and the api's own GraphQL transport) reach Hasura. */
  graphqlUrl: string;
  adminSecret: string | null;
  openaiApiKey: string | null;
  aiBaseUrl: string | null;
  /** The web app's origin (for the dev sign-in from the browser). */
  webOrigin: string | null;
  /** Stripe's secret key; without one (development only) the local test payment provider runs. */
  stripeSecretKey: string | null;
  /** The signing secret of the Stripe webhook endpoint (whsec_…); null in production when unset. */
  stripeWebhookSecret: string | null;
  /** Another Stripe API base URL (a fake Stripe server in tests). */
  stripeApiUrl: string | null;
  /** Where browsers and the local payment provider reach this api (its /pay pages). */
  publicApiUrl: string | null;
  /** Where notifications are POSTed as JSON; the log when unset. */
  notificationsWebhookUrl: string | null;
  /** On SIGTERM / SIGINT, how long requests in flight may run before their connections are cut (SHUTDOWN_DRAIN_SECONDS). */
  shutdownDrainMs: number;
}

export const DEV_DEFAULTS = {
  databaseUrl: 'postgres://postgres@127.0.0.1:54329/org_credits',
  actionSecret: 'dev-action-secret',
  // The same development key as scripts/stack.ts, so dev tokens work with the local engine.
  jwtKey: 'dev-only-jwt-key-for-org-credits-local-stack-000',
  graphqlUrl: 'http://127.0.0.1:8080/v1/graphql',
  stripeWebhookSecret: 'whsec_dev_org_credits_local_test_payments',
  webOrigin: 'http://localhost:5173',
} as const;

const url = (name: string) => z.url({ error: `${name} must be a URL` });

const jwtSecret = z.string().transform((text, ctx) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'HASURA_GRAPHQL_JWT_SECRET must be JSON like {"type":"HS256","key":"…"}' });
    return z.NEVER;
  }
  const shape = z.object({ type: z.literal('HS256'), key: z.string().min(32) }).safeParse(parsed);
  if (!shape.success) {
    ctx.addIssue({ code: 'custom', message: 'HASURA_GRAPHQL_JWT_SECRET must have "type": "HS256" and a "key" of at least 32 characters' });
    return z.NEVER;
  }
  return shape.data.key;
});

const envSchema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: z.coerce.number({ error: 'PORT must be a number' }).int('PORT must be a whole number').min(0).max(65535).optional(),
  HOST: z.string().min(1).optional(),
  DATABASE_URL: url('DATABASE_URL').optional(),
  DATABASE_POOL_SIZE: z.coerce
    .number({ error: 'DATABASE_POOL_SIZE must be a number' })
    .int('DATABASE_POOL_SIZE must be a whole number')
    .min(1, 'DATABASE_POOL_SIZE must be at least 1')
    .max(500, 'DATABASE_POOL_SIZE must be at most 500')
    .optional(),
  ACTION_SECRET: z.string().min(16, 'ACTION_SECRET must be at least 16 characters').optional(),
  HASURA_GRAPHQL_JWT_SECRET: jwtSecret.optional(),
  HASURA_GRAPHQL_URL: url('HASURA_GRAPHQL_URL').optional(),
  HASURA_GRAPHQL_ADMIN_SECRET: z.string().min(1).optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  AI_BASE_URL: url('AI_BASE_URL')
    .refine((value) => {
      const parsed = new URL(value);
      return !parsed.username && !parsed.password;
    }, 'AI_BASE_URL must not hold a user name or password: put the key in OPENAI_API_KEY')
    .optional(),
  WEB_ORIGIN: url('WEB_ORIGIN').optional(),
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_/, 'STRIPE_SECRET_KEY must be a Stripe secret key (sk_… or rk_…)')
    .optional(),
  STRIPE_WEBHOOK_SECRET: z.string().min(16, 'STRIPE_WEBHOOK_SECRET must be the endpoint signing secret (whsec_…)').optional(),
  STRIPE_API_URL: url('STRIPE_API_URL').optional(),
  PUBLIC_API_URL: url('PUBLIC_API_URL').optional(),
  NOTIFICATIONS_WEBHOOK_URL: url('NOTIFICATIONS_WEBHOOK_URL').optional(),
  SHUTDOWN_DRAIN_SECONDS: z.coerce
    .number({ error: 'SHUTDOWN_DRAIN_SECONDS must be a number' })
    .min(0, 'SHUTDOWN_DRAIN_SECONDS must be at least 0')
    .max(600, 'SHUTDOWN_DRAIN_SECONDS must be at most 600')
    .optional(),
});

/**
 * 25 s: requests in flight finish within Kubernetes' default terminationGracePeriodSeconds (30 s)
 * with the 3 s given to cut work (ABORTED_WORK_GRACE_MS) and the pool's end to spare. A longer AI
 * call (up to 45 s) is cut and its hold released; raise it with the orchestrator's grace period.
 */
export const DEFAULT_SHUTDOWN_DRAIN_SECONDS = 25;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Empty variables count as unset, as in most shells' `FOO= cmd`. */
function present(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const given = present(env);
  const production = given.NODE_ENV === 'production';
  // The dev sign-in (/dev/*: tokens for anyone, every user's email) only where development says so
  // itself: an api started without NODE_ENV (a deployment that forgot it) signs nothing.
  const development = given.NODE_ENV === 'development' || given.NODE_ENV === 'test';
  // In production the api signs no tokens (the dev sign-in is off), so it neither needs nor reads
  // Hasura's JWT secret, whatever its form (an RS256 jwk_url from an identity provider, say).
  if (production) delete given.HASURA_GRAPHQL_JWT_SECRET;
  const parsed = envSchema.safeParse(given);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  const values = parsed.success ? parsed.data : ({} as z.output<typeof envSchema>);
  if (production) {
    const required = ['DATABASE_URL', 'ACTION_SECRET', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'WEB_ORIGIN'] as const;
    for (const name of required) if (given[name] === undefined) problems.push(`${name}: required when NODE_ENV=production`);
    // .env.example's placeholders, copied without being filled in.
    for (const name of ['ACTION_SECRET', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'] as const) {
      if (/change[-_]me/i.test(given[name] ?? '')) problems.push(`${name}: still the placeholder of .env.example`);
    }
    if (values.ACTION_SECRET === DEV_DEFAULTS.actionSecret) problems.push('ACTION_SECRET: the development secret is refused in production');
    if (values.STRIPE_WEBHOOK_SECRET === DEV_DEFAULTS.stripeWebhookSecret)
      problems.push('STRIPE_WEBHOOK_SECRET: the development secret is refused in production');
  }
  // Live money only in production: elsewhere development defaults and the dev sign-in may be on.
  if (!production && /^(sk|rk)_live_/.test(given.STRIPE_SECRET_KEY ?? ''))
    problems.push('STRIPE_SECRET_KEY: a live key needs NODE_ENV=production');
  if (problems.length) throw new ConfigError(`the api's configuration is not valid:\n  ${problems.join('\n  ')}`);
  return {
    production,
    port: values.PORT ?? 3001,
    host: values.HOST ?? '127.0.0.1',
    databaseUrl: values.DATABASE_URL ?? DEV_DEFAULTS.databaseUrl,
    databasePoolSize: values.DATABASE_POOL_SIZE ?? 20,
    actionSecret: values.ACTION_SECRET ?? DEV_DEFAULTS.actionSecret,
    jwtKey: development ? (values.HASURA_GRAPHQL_JWT_SECRET ?? DEV_DEFAULTS.jwtKey) : null,
    graphqlUrl: values.HASURA_GRAPHQL_URL ?? DEV_DEFAULTS.graphqlUrl,
    adminSecret: values.HASURA_GRAPHQL_ADMIN_SECRET ?? null,
    openaiApiKey: values.OPENAI_API_KEY ?? null,
    aiBaseUrl: values.AI_BASE_URL ?? null,
    webOrigin: values.WEB_ORIGIN ?? null,
    stripeSecretKey: values.STRIPE_SECRET_KEY ?? null,
    stripeWebhookSecret: values.STRIPE_WEBHOOK_SECRET ?? (production ? null : DEV_DEFAULTS.stripeWebhookSecret),
    stripeApiUrl: values.STRIPE_API_URL ?? null,
    publicApiUrl: values.PUBLIC_API_URL ?? null,
    notificationsWebhookUrl: values.NOTIFICATIONS_WEBHOOK_URL ?? null,
    shutdownDrainMs: Math.round((values.SHUTDOWN_DRAIN_SECONDS ?? DEFAULT_SHUTDOWN_DRAIN_SECONDS) * 1000),
  };
}
