// `pnpm dev` (or `npm run dev`): the whole product, seeded, with printed URLs and sign-ins.
// `pnpm dev --reset` starts from an empty database. Ctrl-C stops everything.
import { demoPeople, StackError, startStack } from './stack.ts';

const reset = process.argv.includes('--reset');
const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

const colours: Record<string, string> = { db: '35', engine: '34', api: '33', web: '32' };
const log = (component: string, line: string) => process.stdout.write(`\x1b[${colours[component] ?? '36'}m[${component}]\x1b[0m ${line}\n`);

try {
  const stack = await startStack({
    ports: {
      postgres: port('ORG_CREDITS_PG_PORT', 54329),
      engine: port('HASURA_GRAPHQL_SERVER_PORT', 8080),
      api: port('API_PORT', 3001),
      web: port('WEB_PORT', 5173),
    },
    reset,
    log,
  });
  const people = await demoPeople(stack.urls.database);
  const lines = [
    '',
    'org-credits is running:',
    `  web app        ${stack.urls.web}`,
    `  GraphQL        ${stack.urls.graphql}  (admin secret: ${stack.secrets.adminSecret})`,
    `  api            ${stack.urls.api}`,
    `  database       ${stack.urls.database}`,
    '',
    'Sign in on the web app as any of these demo people (no password in dev):',
    ...people.map((p) => `  ${p.email.padEnd(24)} ${p.role.padEnd(7)} ${p.org}`),
    '',
    'Payments use the local test payment page (no money moves). Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('dev', 'stopping…');
    await stack.stop();
    log('dev', 'stopped');
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (error) {
  if (error instanceof StackError) {
    process.stderr.write(`\n\x1b[31mpnpm dev failed at step "${error.step}"\x1b[0m: ${error.message}\n`);
  } else {
    process.stderr.write(`\n\x1b[31mpnpm dev failed\x1b[0m: ${(error as Error).stack ?? error}\n`);
  }
  process.exit(1);
}
