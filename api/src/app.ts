// The Express app: Hasura's actions (and later its cron and event triggers) behind the shared
// secret, the dev sign-in, and one error middleware registered last.
import { timingSafeEqual } from 'node:crypto';
import express, { type RequestHandler } from 'express';
import type pg from 'pg';
import { actions } from './actions/index.ts';
import type { AIProvider } from './ai/index.ts';
import { devRoutes } from './dev.ts';
import { AppError, type ErrorLogger, errorMiddleware, invalidInputFromZod } from './errors.ts';
import { eventsRouter } from './events/index.ts';
import { cronRouter } from './jobs/index.ts';
import type { Payments } from './payments/index.ts';
import type { LocalProvider } from './payments/local-provider.ts';
import { actionEnvelope, sessionFrom } from './session.ts';
import { stripeWebhookRouter } from './webhooks/stripe.ts';

export const SECRET_HEADER = 'x-org-credits-secret';

/**
 * The largest request bodies the api reads, per route; a larger one is answered 413
 * PAYLOAD_TOO_LARGE and nothing runs. Hasura's action, cron and event payloads are a few KB
 * (a playground prompt is at most 64,000 characters); Stripe's events are a few KB as well.
 */
export const BODY_LIMITS = { hasura: '1mb', stripeWebhook: '512kb', devSignIn: '16kb', localPayPage: '16kb' } as const;

export interface AppDeps {
  db: pg.Pool;
  ai: AIProvider;
  /** The shared secret every action, cron and event request carries in `X-Org-Credits-Secret`. */
  actionSecret: string;
  /** In production the dev routes answer 404. @default false */
  production?: boolean;
  /** Key for the dev tokens; without one the dev routes answer 404. */
  jwtKey?: string | null;
  /** The web app's origin, allowed to call the dev routes from a browser. */
  webOrigin?: string | null;
  /** @default () => new Date() */
  clock?: () => Date;
  /** @default console */
  logger?: ErrorLogger;
  /** Stripe (or the local test provider), the webhook secret, the web origin, notifications. Without it: no /webhooks, /cron, /events, /pay. */
  payments?: Payments;
}

/** 401 and nothing runs unless the request carries the shared secret. */
export function requireSecret(secret: string): RequestHandler {
  // An empty or short secret would let anyone in (an empty header matches an empty secret).
  if (secret.length < 16) throw new Error('the shared secret (ACTION_SECRET) must have at least 16 characters');
  const expected = Buffer.from(secret);
  return (req, _res, next) => {
    const given = Buffer.from(req.get(SECRET_HEADER) ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError('UNAUTHORIZED', `missing or wrong ${SECRET_HEADER} header`);
    }
    next();
  };
}

export function createApp(deps: AppDeps): express.Express {
  const clock = deps.clock ?? (() => new Date());
  if (deps.production && deps.payments?.provider.kind === 'local') {
    throw new Error('the local test payment provider cannot run in production: configure STRIPE_SECRET_KEY');
  }
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const secret = requireSecret(deps.actionSecret);
  const hasuraJson = express.json({ limit: BODY_LIMITS.hasura });
  const payments = deps.payments;
  const runAction = async (body: unknown, signal?: AbortSignal): Promise<unknown> => {
    const envelope = actionEnvelope.safeParse(body);
    if (!envelope.success) throw invalidInputFromZod(envelope.error, 'action request');
    const { action, input, session_variables } = envelope.data;
    const definition = Object.hasOwn(actions, action.name) ? actions[action.name] : undefined;
    if (!definition) throw new AppError('NOT_FOUND', `no action named ${action.name}`);
    const session = sessionFrom(session_variables);
    const args = definition.input.safeParse(input);
    if (!args.success) throw invalidInputFromZod(args.error, `input of ${action.name}`);
    return definition.handler(
      { session, db: deps.db, ai: deps.ai, clock, ...(payments ? { payments } : {}), ...(signal ? { signal } : {}) },
      args.data,
    );
  };
  // POST /actions, the hot path (every reserve and settle), is the first route, so the router does
  // not walk the layers below for it: the secret before the body is even parsed, then the body,
  // then the action; errors go to the error middleware registered last.
  app.post('/actions', secret, hasuraJson, async (req, res) => {
    // Hasura gave up (its action timeout) or the connection broke: work still running for this
    // request, such as an AI call, stops, so a call the caller was told failed is not charged.
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(new Error('the caller stopped waiting for the answer'));
    });
    res.json(await runAction(req.body, gone.signal));
  });

  app.get('/healthz', async (_req, res) => {
    await deps.db.query('select 1');
    res.json({ ok: true });
  });

  // Checked before the body is even parsed: /cron/* and /events/* (part 2), and other methods on /actions.
  app.use(['/actions', '/cron', '/events'], secret);
  // JSON bodies only where JSON is expected: Stripe's webhook (part 2) needs its raw body for the
  // signature and mounts its own parser.
  app.use(['/actions', '/cron', '/events'], hasuraJson);
  app.use('/dev', express.json({ limit: BODY_LIMITS.devSignIn }));
  if (payments) {
    const logger = deps.logger ?? console;
    const paymentDeps = { db: deps.db, payments, clock, logger: { error: logger.error.bind(logger), info: console.info } };
    // The auto top-up check events first: the routers match disjoint paths.
    app.use(eventsRouter(paymentDeps));
    app.use(cronRouter(paymentDeps));
    app.use(stripeWebhookRouter({ ...paymentDeps, bodyLimit: BODY_LIMITS.stripeWebhook }));
    if (payments.provider.kind === 'local') {
      app.use('/pay', express.urlencoded({ extended: false, limit: BODY_LIMITS.localPayPage }));
      app.use((payments.provider as LocalProvider).router());
    }
  }

  app.use(
    devRoutes({ db: deps.db, production: deps.production ?? false, jwtKey: deps.jwtKey ?? null, webOrigin: deps.webOrigin ?? null, clock }),
  );

  app.use((req, _res, next) => next(new AppError('NOT_FOUND', `no route ${req.method} ${req.path}`)));
  app.use(errorMiddleware(deps.logger ?? console));
  return app;
}
