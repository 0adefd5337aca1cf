// Conformance runner: Hasura's own yaml fixtures (server/tests-py/queries, copied under
// shared/hasura-reference/tests-py, beside the repository) against this engine. It loads fixtures as Hasura's
// Python harness does (see tests-py/INDEX.md): query folders run setup.yaml/teardown.yaml through
// /v1/query around the folder; mutation folders run schema_setup.yaml once and
// values_setup.yaml/values_teardown.yaml around every test. Each query goes over HTTP with its
// headers — as they are with the admin secret (admin-secret mode), or minted into a JWT's claims
// when they carry X-Hasura-Role (JWT mode). Answers are compared as the harness does: object key
// order ignored, list order kept, and the HTTP status.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as jose from 'jose';
import YAML from 'yaml';
import { configFromEnv } from '../src/config.ts';
import { createEngine, type Engine } from '../src/index.ts';
import { sharedDir } from '../src/shared-dir.ts';
import { type ActionHandler, startActionHandler } from './action-handler.ts';
import { expectedFailures, outOfScopeFolders } from './expected-failures.ts';

export const referenceRoot = join(sharedDir(), 'hasura-reference', 'tests-py');
const ADMIN_SECRET = 'conformance-admin-secret';
const JWT_KEY = 'conformance-jwt-key-for-hs512-which-needs-at-least-sixty-four-characters';

export type Mode = 'admin-secret' | 'jwt';

export interface TestOutcome {
  file: string;
  index: number;
  description: string;
  status: 'passed' | 'failed' | 'skipped' | 'expected-failure' | 'unexpected-pass';
  reason?: string;
}

export interface FolderOutcome {
  folder: string;
  passed: number;
  failed: number;
  skipped: number;
  expectedFailures: number;
  skipReason?: string;
  tests: TestOutcome[];
}

export interface RunOptions {
  mode: Mode;
  /** Creates an empty database and returns its URL; dropped with `dropDatabase`. */
  createDatabase: () => Promise<{ url: string; drop: () => Promise<void> }>;
  folders?: string[];
  log?: (line: string) => void;
}

interface Fixture {
  description?: string;
  url: string;
  status?: number;
  headers?: Record<string, string>;
  query: unknown;
  response?: unknown;
}

const backendSuffix = /_(mssql|citus|bigquery|cockroach)\.yaml$/;

/**
 * Metadata steps the upstream test module runs around a fixture (they are not tests themselves):
 * graphql_mutation/functions grants a function permission, runs the query, and drops it again.
 */
const steps: Record<string, { before: string[]; after: string[] }> = {
  'graphql_mutation/functions/function_as_mutations_permissions.yaml': {
    before: ['create_function_permission_add_to_score.yaml'],
    after: ['drop_function_permission_add_to_score.yaml'],
  },
  'graphql_mutation/functions/single_row_function_as_mutation.yaml': {
    before: ['create_function_permission_add_to_score_by_user_id.yaml'],
    after: ['drop_function_permission_add_to_score_by_user_id.yaml'],
  },
};
/** Fixtures upstream sends with `check_query_admin_secret` (headers as they are, plus the admin secret, in every mode). */
const adminSecretFixtures = new Set([
  'graphql_mutation/insert/permissions/backend_user_insert_fail.yaml',
  'graphql_mutation/insert/permissions/backend_user_insert_invalid_bool.yaml',
  'graphql_mutation/insert/permissions/backend_user_insert_pass.yaml',
  'graphql_mutation/insert/permissions/backend_user_no_admin_secret_fail.yaml',
  'graphql_mutation/insert/permissions/user_with_no_backend_privilege.yaml',
]);
/**
 * GraphQL calls the upstream test modules make in Python before a fixture (tests-py/INDEX.md, actions/sync),
 * and per-file resets standing in for the class-scoped schema setup around upstream's test classes.
 */
const clarke = 'mutation { insert_user_one(object: {email: "clarke@gmail.com", name: "Clarke"}) { id } }';
const graphqlBefore: Record<string, string[]> = {
  'actions/sync/get_user_by_email_success.yaml': [clarke],
  'actions/sync/get_user_by_email_nested_success.yaml': [clarke],
  'actions/sync/get_user_by_email_nested_join_success.yaml': [clarke],
  'actions/sync/get_users_by_email_success.yaml': [
    'mutation { insert_user(objects: [{id: 1, name: "Clarke 1", email: "clarke@gmail.com"}, {id: 2, name: "Clarke 2", email: "clarke@gmail.com"}]) { affected_rows } }',
  ],
};
const resetBeforeEachFile: Record<string, string> = { 'actions/sync': 'TRUNCATE "user" RESTART IDENTITY' };
const stepFiles = new Set(Object.values(steps).flatMap((s) => [...s.before, ...s.after]));
const setupFiles = new Set([
  'setup.yaml',
  'teardown.yaml',
  'schema_setup.yaml',
  'schema_teardown.yaml',
  'values_setup.yaml',
  'values_teardown.yaml',
  'pre_setup.yaml',
  'post_teardown.yaml',
]);

/** Every fixture folder (a folder with yaml files in it). */
export function listFolders(root = referenceRoot): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    const entries = readdirSync(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name.endsWith('.yaml'))) out.push(relative(root, dir));
    for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name));
  };
  walk(root);
  return out.sort();
}

/** Deep equality with object key order ignored and list order kept. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (typeof a === 'object') {
    if (Array.isArray(b)) return false;
    const ka = Object.keys(a as object).sort();
    const kb = Object.keys(b as object).sort();
    return sameJson(ka, kb) && ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

async function post(
  engine: Engine,
  url: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${engine.url}${url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: compared as text.
  }
  return { status: res.status, body: parsed };
}

const repairsRoot = join(import.meta.dirname, 'repairs');

async function setupCall(engine: Engine, file: string, url = '/v1/query'): Promise<void> {
  // A repaired copy in this project's tree (see repairs/) takes the place of the upstream file.
  const repaired = join(repairsRoot, relative(referenceRoot, file));
  if (existsSync(repaired)) file = repaired;
  if (!existsSync(file)) return;
  const body = YAML.parse(readFileSync(file, 'utf8'));
  const answer = await post(engine, url, body, { 'x-hasura-admin-secret': ADMIN_SECRET });
  if (answer.status !== 200) throw new Error(`${relative(referenceRoot, file)} failed: ${JSON.stringify(answer.body).slice(0, 600)}`);
}

async function sqlCall(engine: Engine, sql: string): Promise<string | null> {
  const answer = await post(engine, '/v2/query', { type: 'run_sql', args: { sql } }, { 'x-hasura-admin-secret': ADMIN_SECRET });
  return answer.status === 200 ? null : `run_sql failed: ${JSON.stringify(answer.body).slice(0, 400)}`;
}

async function graphqlCall(engine: Engine, query: string): Promise<string | null> {
  const answer = await post(engine, '/v1/graphql', { query }, { 'x-hasura-admin-secret': ADMIN_SECRET });
  const body = answer.body as { errors?: unknown };
  return body.errors ? `precondition failed: ${JSON.stringify(body.errors).slice(0, 400)}` : null;
}

async function authHeaders(mode: Mode, headers: Record<string, string> | undefined): Promise<Record<string, string>> {
  const given = headers ?? { 'X-Hasura-Role': 'admin' };
  const lower = Object.fromEntries(Object.entries(given).map(([k, v]) => [k.toLowerCase(), String(v)]));
  if (mode === 'jwt' && lower['x-hasura-role'] && lower['x-hasura-role'] !== 'admin') {
    // Hasura's harness: the headers become the claims of a token.
    const claims: Record<string, unknown> = {
      'x-hasura-allowed-roles': [lower['x-hasura-role']],
      'x-hasura-default-role': lower['x-hasura-role'],
    };
    const rest: Record<string, string> = {};
    for (const [k, v] of Object.entries(lower)) {
      if (k.startsWith('x-hasura-') && k !== 'x-hasura-role') claims[k] = v;
      else if (!k.startsWith('x-hasura-')) rest[k] = v;
    }
    const token = await new jose.SignJWT({ 'https://hasura.io/jwt/claims': claims })
      .setProtectedHeader({ alg: 'HS512' })
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(JWT_KEY));
    return { ...rest, authorization: `Bearer ${token}` };
  }
  return { ...lower, 'x-hasura-admin-secret': ADMIN_SECRET };
}

function fixturesOf(file: string): Fixture[] {
  const parsed = YAML.parse(readFileSync(file, 'utf8'), { merge: true }) as Fixture | Fixture[];
  return Array.isArray(parsed) ? parsed : [parsed];
}

/** Runs one folder in a fresh database and engine. */
export async function runFolder(folder: string, options: RunOptions): Promise<FolderOutcome> {
  const dir = join(referenceRoot, folder);
  const outcome: FolderOutcome = { folder, passed: 0, failed: 0, skipped: 0, expectedFailures: 0, tests: [] };
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && !setupFiles.has(f) && !stepFiles.has(f))
    .sort();
  const outOfScope = outOfScopeFolders[folder];
  const mutationStyle = existsSync(join(dir, 'schema_setup.yaml'));
  const hasSetup = mutationStyle || existsSync(join(dir, 'setup.yaml')) || existsSync(join(repairsRoot, folder, 'setup.yaml'));
  const skipAll = outOfScope ?? (hasSetup ? undefined : 'missing setup: the folder has no setup.yaml upstream copy');
  const testFiles: string[] = [];
  for (const f of files) {
    if (skipAll) {
      outcome.tests.push({ file: `${folder}/${f}`, index: 0, description: '', status: 'skipped', reason: skipAll });
      continue;
    }
    if (backendSuffix.test(f) || /^(schema_)?(setup|teardown)_/.test(f) || /^values_(setup|teardown)_/.test(f)) {
      const backend = backendSuffix.exec(f)?.[1] ?? 'another backend';
      outcome.tests.push({
        file: `${folder}/${f}`,
        index: 0,
        description: '',
        status: 'skipped',
        reason: `out of scope: fixture for ${backend} (this engine serves Postgres only)`,
      });
      continue;
    }
    testFiles.push(f);
  }
  if (skipAll) outcome.skipReason = skipAll;
  if (testFiles.length === 0) {
    outcome.skipped = outcome.tests.length;
    return outcome;
  }
  const database = await options.createDatabase();
  const env: Record<string, string> = {
    HASURA_GRAPHQL_DATABASE_URL: database.url,
    HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
    ORG_CREDITS_ENGINE_METADATA_DIR: '',
    // Hasura's test suite runs the server with --stringify-numeric-types.
    HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
  };
  if (options.mode === 'jwt') env.HASURA_GRAPHQL_JWT_SECRET = JSON.stringify({ type: 'HS512', key: JWT_KEY });
  if (folder === 'graphql_mutation/functions') env.HASURA_GRAPHQL_INFER_FUNCTION_PERMISSIONS = 'false';
  // actions/sync: the stand-in for the harness's action webhook, on 127.0.0.1:5593 as the fixtures name it.
  let actionHandler: ActionHandler | null = null;
  if (folder.startsWith('actions/')) {
    const where = new URL(process.env.ACTION_WEBHOOK_HANDLER ?? 'http://127.0.0.1:5593');
    actionHandler = await startActionHandler(Number(where.port || 80), where.hostname);
    env.ACTION_WEBHOOK_HANDLER = actionHandler.url;
  }
  const engine = await createEngine(configFromEnv(env), { log: () => undefined, poolSize: 4 });
  try {
    await engine.listen(0, '127.0.0.1');
    if (actionHandler) actionHandler.target = { url: `${engine.url}/v1/graphql`, adminSecret: ADMIN_SECRET };
    try {
      if (mutationStyle) await setupCall(engine, join(dir, 'schema_setup.yaml'));
      else await setupCall(engine, join(dir, 'setup.yaml'));
    } catch (error) {
      const reason = `setup failed: ${(error as Error).message}`;
      for (const f of testFiles) outcome.tests.push(...record(folder, f, fixturesOf(join(dir, f)), reason));
      tally(outcome);
      return outcome;
    }
    for (const f of testFiles) {
      const fixtures = fixturesOf(join(dir, f));
      // Upstream runs all queries of one file inside one test, so values are set up once per file.
      let valuesFailure: string | null = null;
      const reset = resetBeforeEachFile[folder];
      if (reset) valuesFailure = await sqlCall(engine, reset);
      for (const query of graphqlBefore[`${folder}/${f}`] ?? []) valuesFailure ??= await graphqlCall(engine, query);
      if (mutationStyle)
        valuesFailure = await setupCall(engine, join(dir, 'values_setup.yaml')).then(
          () => null,
          (e: Error) => e.message,
        );
      for (const [index, fixture] of fixtures.entries()) {
        let failure: string | null = valuesFailure;
        const around = steps[`${folder}/${f}`];
        for (const step of around?.before ?? [])
          failure ??= await setupCall(engine, join(dir, step), '/v1/metadata').then(
            () => null,
            (e: Error) => e.message,
          );
        failure ??= await runFixture(engine, fixture, options.mode, adminSecretFixtures.has(`${folder}/${f}`));
        for (const step of around?.after ?? []) await setupCall(engine, join(dir, step), '/v1/metadata').catch(() => undefined);
        outcome.tests.push(judge(`${folder}/${f}`, index, fixture, failure));
      }
      if (mutationStyle) {
        const teardown = await setupCall(engine, join(dir, 'values_teardown.yaml')).then(
          () => null,
          (e: Error) => e.message,
        );
        if (teardown && !valuesFailure)
          outcome.tests.push(judge(`${folder}/${f}`, fixtures.length, { url: '', query: null, description: 'values teardown' }, teardown));
      }
    }
  } finally {
    await engine.close();
    await actionHandler?.close();
    await database.drop();
  }
  tally(outcome);
  return outcome;
}

function record(folder: string, file: string, fixtures: Fixture[], failure: string): TestOutcome[] {
  return fixtures.map((fixture, index) => judge(`${folder}/${file}`, index, fixture, failure));
}

function judge(file: string, index: number, fixture: Fixture, failure: string | null): TestOutcome {
  const expected = expectedFailures[`${file}#${index}`] ?? expectedFailures[file];
  const description = fixture.description ?? '';
  if (failure === null) {
    if (expected)
      return { file, index, description, status: 'unexpected-pass', reason: `listed as expected to fail (${expected.reason}) but passed` };
    return { file, index, description, status: 'passed' };
  }
  if (expected) return { file, index, description, status: 'expected-failure', reason: `${expected.kind}: ${expected.reason}` };
  return { file, index, description, status: 'failed', reason: failure };
}

function tally(outcome: FolderOutcome) {
  for (const t of outcome.tests) {
    if (t.status === 'passed') outcome.passed += 1;
    else if (t.status === 'skipped') outcome.skipped += 1;
    else if (t.status === 'expected-failure') outcome.expectedFailures += 1;
    else outcome.failed += 1;
  }
}

/** Runs one fixture; null when the answer matches, else why not. */
async function runFixture(engine: Engine, fixture: Fixture, mode: Mode, adminSecretOnly: boolean): Promise<string | null> {
  const url = fixture.url;
  if (typeof url !== 'string') return 'the fixture has no url';
  const isGraphql = url.endsWith('/graphql');
  const headers = isGraphql
    ? await authHeaders(adminSecretOnly ? 'admin-secret' : mode, fixture.headers)
    : { 'x-hasura-admin-secret': ADMIN_SECRET };
  const answer = await post(engine, url, fixture.query, headers);
  const status = fixture.status ?? 200;
  if (answer.status !== status) return `status ${answer.status}, expected ${status}: ${JSON.stringify(answer.body).slice(0, 500)}`;
  if (fixture.response !== undefined && !sameJson(answer.body, fixture.response)) {
    return `answer ${JSON.stringify(answer.body).slice(0, 700)}\nexpected ${JSON.stringify(fixture.response).slice(0, 700)}`;
  }
  return null;
}

export interface Summary {
  folders: FolderOutcome[];
  passed: number;
  failed: number;
  skipped: number;
  expectedFailures: number;
}

export async function runConformance(options: RunOptions): Promise<Summary> {
  const folders = options.folders ?? listFolders();
  const summary: Summary = { folders: [], passed: 0, failed: 0, skipped: 0, expectedFailures: 0 };
  for (const folder of folders) {
    const outcome = await runFolder(folder, options);
    summary.folders.push(outcome);
    summary.passed += outcome.passed;
    summary.failed += outcome.failed;
    summary.skipped += outcome.skipped;
    summary.expectedFailures += outcome.expectedFailures;
    options.log?.(formatFolder(outcome));
  }
  return summary;
}

export function formatFolder(o: FolderOutcome): string {
  const lines = [`${o.folder}: ${o.passed} passed, ${o.failed} failed, ${o.expectedFailures} expected failures, ${o.skipped} skipped`];
  if (o.skipReason) lines.push(`  skipped (whole folder): ${o.skipReason}`);
  const reasons = new Map<string, number>();
  for (const t of o.tests) {
    if (t.status === 'skipped' && !o.skipReason) reasons.set(t.reason ?? '', (reasons.get(t.reason ?? '') ?? 0) + 1);
    if (t.status === 'failed' || t.status === 'unexpected-pass')
      lines.push(`  FAIL ${t.file}[${t.index}] ${t.description}\n    ${t.reason?.replaceAll('\n', '\n    ')}`);
    if (t.status === 'expected-failure') lines.push(`  expected failure ${t.file}: ${t.reason}`);
  }
  for (const [reason, n] of reasons) lines.push(`  skipped ${n}: ${reason}`);
  return lines.join('\n');
}

export const newDatabaseName = () => `conf_${randomBytes(5).toString('hex')}`;
