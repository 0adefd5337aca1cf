// The whole product on one machine: embedded Postgres (or DATABASE_URL), migrations and seeds,
// the engine, the api (local payment and AI providers) and the web app. Used by `pnpm dev` and by
// the end-to-end tests' global setup. Each step says what it is doing and, when it fails, which
// step and why.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  createDatabase,
  databaseExists,
  freePorts,
  isPortFree,
  MigrationChangedError,
  migrate,
  pg,
  repoRoot,
  seed,
  startDatabaseServer,
  withDatabase,
} from '../db/src/index.ts';

export interface StackPorts {
  postgres: number;
  engine: number;
  api: number;
  web: number;
}

/** Four distinct free ports for a stack of its own (tests, screenshots). */
export async function freeStackPorts(): Promise<StackPorts> {
  const [postgres, engine, api, web] = (await freePorts(4)) as [number, number, number, number];
  return { postgres, engine, api, web };
}

export interface StackOptions {
  ports: StackPorts;
  /** Where the embedded cluster keeps its files. @default `<repo>/.data/pg` */
  dataDir?: string;
  /** Start from an empty database. @default false */
  reset?: boolean;
  /** Name of the application database. @default 'org_credits' */
  databaseName?: string;
  /** Serve the web app with `vite` (dev) or a production build with `vite preview`. @default 'dev' */
  webMode?: 'dev' | 'preview' | 'none';
  /** Where each component's log lines go. */
  log?: (component: string, line: string) => void;
  /** Extra environment for the api (for example a fake Stripe). */
  apiEnv?: Record<string, string>;
}

export interface RunningStack {
  urls: { graphql: string; graphqlWs: string; engine: string; api: string; web: string; database: string };
  secrets: { adminSecret: string; jwtKey: string; actionSecret: string; stripeWebhookSecret: string };
  stop(): Promise<void>;
}

/** Development-only secrets: printed, never used in production (the api refuses them there). */
export const devSecrets = {
  adminSecret: 'dev-admin-secret',
  jwtKey: 'dev-only-jwt-key-for-org-credits-local-stack-000',
  actionSecret: 'dev-action-secret',
  stripeWebhookSecret: 'whsec_dev_local_payment_provider',
};

export class StackError extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}

const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');

export async function startStack(options: StackOptions): Promise<RunningStack> {
  const log = options.log ?? ((component, line) => process.stdout.write(`[${component}] ${line}\n`));
  const { ports } = options;
  const children: { name: string; child: ChildProcess }[] = [];
  let stopping = false;

  const names: Record<keyof StackPorts, string> = {
    postgres: 'Postgres (ORG_CREDITS_PG_PORT)',
    engine: 'the engine (HASURA_GRAPHQL_SERVER_PORT)',
    api: 'the api (API_PORT)',
    web: 'the web app (WEB_PORT)',
  };
  for (const key of Object.keys(ports) as (keyof StackPorts)[]) {
    if (key === 'postgres' && process.env.DATABASE_URL) continue;
    if (key === 'web' && options.webMode === 'none') continue;
    if (!(await isPortFree(ports[key]))) {
      throw new StackError('ports', `port ${ports[key]} for ${names[key]} is taken; stop what uses it or choose another port`);
    }
  }

  const dataDir = options.dataDir ?? join(repoRoot, '.data', 'pg');
  if (options.reset && !process.env.DATABASE_URL && existsSync(dataDir)) {
    rmSync(dataDir, { recursive: true, force: true });
    log('db', `removed ${dataDir} (--reset)`);
  }
  let server: Awaited<ReturnType<typeof startDatabaseServer>>;
  try {
    server = await startDatabaseServer({ dataDir, port: ports.postgres, onLog: () => undefined });
  } catch (error) {
    throw new StackError('database', (error as Error).message);
  }
  const databaseName = options.databaseName ?? 'org_credits';
  let databaseUrl = server.adminUrl;
  try {
    if (server.embedded) {
      if (options.reset && (await databaseExists(server.adminUrl, databaseName))) {
        await createDatabase(server.adminUrl, databaseName, { replace: true });
      } else if (!(await databaseExists(server.adminUrl, databaseName))) {
        await createDatabase(server.adminUrl, databaseName);
      }
      databaseUrl = withDatabase(server.adminUrl, databaseName);
    }
    await migrate(databaseUrl, (line) => log('db', line));
    await seed(databaseUrl, (line) => log('db', line));
  } catch (error) {
    await server.stop();
    // The embedded database is development data only; one built by an older version of the
    // migrations (edited in place before they were released) cannot always be upgraded.
    let hint = '';
    if (server.embedded && !options.reset) {
      hint =
        error instanceof MigrationChangedError
          ? `\n\`pnpm dev --reset\` rebuilds this development database (${dataDir}) from the migrations as they are now, with the demo data.`
          : `\nThis development database (${dataDir}) may have been built by an older version of the migrations: \`pnpm dev --reset\` rebuilds it with the demo data.`;
    }
    throw new StackError('migrations and seeds', `${(error as Error).message}${hint}`);
  }

  const engineUrl = `http://127.0.0.1:${ports.engine}`;
  const apiUrl = `http://127.0.0.1:${ports.api}`;
  const webUrl = `http://localhost:${ports.web}`;
  const jwtSecret = JSON.stringify({ type: 'HS256', key: devSecrets.jwtKey });

  const stopAll = async () => {
    stopping = true;
    await Promise.all(children.map(({ child }) => stopChild(child)));
    await server.stop();
  };

  const launch = (name: string, cmd: string, args: string[], env: Record<string, string>, cwd = repoRoot) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const forward = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log(name, line);
    };
    child.stdout?.on('data', forward);
    child.stderr?.on('data', forward);
    child.on('exit', (code, signal) => {
      if (!stopping) log(name, `exited unexpectedly (code ${code}, signal ${signal})`);
    });
    children.push({ name, child });
    return child;
  };

  try {
    // The api first: the engine delivers cron and event triggers to it from its first second.
    launch('api', tsx, [join(repoRoot, 'api', 'src', 'main.ts')], {
      NODE_ENV: 'development',
      PORT: String(ports.api),
      DATABASE_URL: databaseUrl,
      ACTION_SECRET: devSecrets.actionSecret,
      HASURA_GRAPHQL_URL: `${engineUrl}/v1/graphql`,
      HASURA_GRAPHQL_ADMIN_SECRET: devSecrets.adminSecret,
      HASURA_GRAPHQL_JWT_SECRET: jwtSecret,
      STRIPE_WEBHOOK_SECRET: devSecrets.stripeWebhookSecret,
      WEB_ORIGIN: webUrl,
      PUBLIC_API_URL: apiUrl,
      ...options.apiEnv,
    });
    await waitForHttp('api', `${apiUrl}/healthz`, children);

    launch('engine', tsx, [join(repoRoot, 'engine', 'src', 'main.ts')], {
      HASURA_GRAPHQL_DATABASE_URL: databaseUrl,
      HASURA_GRAPHQL_SERVER_PORT: String(ports.engine),
      HASURA_GRAPHQL_ADMIN_SECRET: devSecrets.adminSecret,
      HASURA_GRAPHQL_JWT_SECRET: jwtSecret,
      HASURA_GRAPHQL_UNAUTHORIZED_ROLE: 'anonymous',
      HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
      HASURA_GRAPHQL_DEV_MODE: 'true',
      ACTIONS_BASE_URL: apiUrl,
      ACTION_SECRET: devSecrets.actionSecret,
    });
    await waitForHttp('engine', `${engineUrl}/healthz`, children);

    if (options.webMode !== 'none') {
      // GraphQL on the web app's own origin, forwarded by Vite to the engine (as nginx does in production).
      const webEnv = {
        VITE_GRAPHQL_HTTP_URL: `${webUrl}/v1/graphql`,
        VITE_GRAPHQL_WS_URL: `ws://localhost:${ports.web}/v1/graphql`,
        VITE_API_URL: apiUrl,
        ORG_CREDITS_ENGINE_URL: engineUrl,
      };
      const vite = join(repoRoot, 'web', 'node_modules', '.bin', 'vite');
      const args = options.webMode === 'preview' ? ['preview'] : [];
      launch('web', vite, [...args, '--port', String(ports.web), '--strictPort', '--host', 'localhost'], webEnv, join(repoRoot, 'web'));
      await waitForHttp('web', webUrl, children);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }

  return {
    urls: {
      graphql: `${engineUrl}/v1/graphql`,
      graphqlWs: `ws://127.0.0.1:${ports.engine}/v1/graphql`,
      engine: engineUrl,
      api: apiUrl,
      web: webUrl,
      database: databaseUrl,
    },
    secrets: devSecrets,
    stop: stopAll,
  };
}

async function waitForHttp(
  step: string,
  url: string,
  children: { name: string; child: ChildProcess }[],
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const own = children.find((c) => c.name === step)?.child;
  while (Date.now() < deadline) {
    if (own && own.exitCode !== null) throw new StackError(step, `exited with code ${own.exitCode} before it was ready (its log is above)`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new StackError(step, `not ready at ${url} within ${timeoutMs / 1000} s`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}

/** The seeded people and their orgs, for the printed demo sign-ins. */
export async function demoPeople(databaseUrl: string): Promise<{ email: string; org: string; role: string }[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ email: string; org: string; role: string }>(
      `select u.email, o.name as org, m.role
         from public.organization_members m
         join public.users u on u.id = m.user_id
         join public.organizations o on o.id = m.organization_id
        order by o.name, case m.role when 'owner' then 0 when 'admin' then 1 else 2 end, u.email`,
    );
    return rows;
  } finally {
    await client.end();
  }
}
