// The engine: state (metadata, catalog, model), the GraphQL request path and the metadata API.
// Request path: parse JSON → plan cache lookup → one pg query per root field → write raw JSON text.
import { createHash } from 'node:crypto';
import { inTransaction } from '@org-credits/db';
import { type DocumentNode, execute, Kind, type OperationDefinitionNode, parse, visit } from 'graphql';
import pg from 'pg';
import {
  type ActionCatalog,
  ActionHandlerError,
  actionRoots,
  buildActionCatalog,
  extendWithActions,
  runWithActions,
} from './actions/index.ts';
import { Authenticator, type Session } from './auth.ts';
import { type Catalog, loadCatalog } from './catalog.ts';
import type { EngineConfig } from './config.ts';
import { duringExecution, EngineError, fromPgError, isExecutionError, toGraphqlError } from './errors.ts';
import type { CompileOptions, Plan, RequestContext } from './graphql/compile.ts';
import { checkOperationVariables, compileOperation, resolveVariables, selectOperation } from './graphql/plan.ts';
import { buildRoleSchema } from './graphql/schema.ts';
import { parseRequestBody } from './graphql/values.ts';
import { encodeJsonPath, isObject, type JsonPath, typeMismatch } from './hasura-json.ts';
import { type MetadataContext, type MetadataOperation, runOperation } from './metadata/api.ts';
import { loadMetadataDir, unsupportedParts } from './metadata/load.ts';
import { bootstrap, readMetadata, writeMetadata } from './metadata/store.ts';
import { emptyMetadata, type Metadata } from './metadata/types.ts';
import { buildModel, type Model } from './model.ts';
import { resolveTriggers } from './triggers/config.ts';
import { createTriggerService, TriggerConfigError, type TriggerServiceWithManual } from './triggers/index.ts';

export type Log = (entry: Record<string, unknown>) => void;

interface Parsed {
  document: DocumentNode;
  op: OperationDefinitionNode;
  /** Compiled plans by which variables are null: SQL differs when a variable is null (`limit: null` is no limit, `_eq: null` is refused). */
  plans: Map<string, Plan>;
  /**
   * The variables' declared types passed the check against this role's schema (the cache key holds
   * the role). Not kept when an `@skip`/`@include` takes a variable: which fields are checked then
   * depends on its value.
   */
  typesChecked?: boolean;
}

/** An `@skip` or `@include` whose `if` is a variable anywhere in the document. */
function hasConditionalDirectives(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Directive(node) {
      if ((node.name.value === 'skip' || node.name.value === 'include') && node.arguments?.some((a) => a.value.kind === Kind.VARIABLE))
        found = true;
    },
  });
  return found;
}

export interface GraphqlRequest {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

export interface HttpAnswer {
  status: number;
  body: string;
  /** Extra response headers (the Set-Cookie headers of action handlers, as Hasura forwards them). */
  headers?: Record<string, string[]>;
  /** The role the request ran as, once authenticated (for the request log). */
  role?: string;
  /** The error was raised while the operation ran, not before (see duringExecution). */
  executionError?: boolean;
  /** Hasura answered it from an error (its logErrorAndResp), which carries no x-request-id header. */
  failed?: boolean;
}

const GQL_REQ = 'Hasura.GraphQL.Transport.HTTP.Protocol.GQLReq(GQLReq)';
const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/**
 * One request of a /v1/graphql body, checked as Hasura's `FromJSON GQLReq` (a generic aeson parser)
 * checks it: an object whose fields are read in order (operationName, query, variables), with aeson's
 * messages and `parse-failed`. A batch fails as a whole on its first bad item (path `$[i]`).
 */
function checkGraphqlRequest(item: unknown, at: JsonPath): GraphqlRequest {
  const fail = (path: JsonPath, message: string) => new EngineError('parse-failed', message, encodeJsonPath(path));
  if (!isObject(item)) throw fail(at, typeMismatch(GQL_REQ, 'Object', item));
  const name = item.operationName;
  if (name !== undefined && name !== null) {
    if (typeof name !== 'string') throw fail([...at, 'operationName'], typeMismatch('Name', 'String', name));
    if (!GRAPHQL_NAME.test(name)) throw fail([...at, 'operationName'], `${name} is not valid GraphQL name`);
  }
  if (!Object.hasOwn(item, 'query')) throw fail(at, `parsing ${GQL_REQ} failed, key "query" not found`);
  if (typeof item.query !== 'string') throw fail([...at, 'query'], typeMismatch('Text', 'String', item.query));
  const variables = item.variables;
  if (variables !== undefined && variables !== null) {
    if (!isObject(variables)) throw fail([...at, 'variables'], typeMismatch('HashMap', 'Object', variables));
    for (const key of Object.keys(variables))
      if (!GRAPHQL_NAME.test(key)) throw fail([...at, 'variables', key], `${key} is not valid GraphQL name`);
  }
  return item as GraphqlRequest;
}

const PLAN_CACHE_MAX = 2000;

export class EngineCore {
  metadata: Metadata = emptyMetadata();
  resourceVersion = 0;
  catalog!: Catalog;
  model!: Model;
  unsupported: string[] = [];
  /** Actions and their custom types (src/actions), rebuilt with every metadata change. */
  actionCatalog: ActionCatalog | undefined;
  private plans = new Map<string, Parsed>();
  private schemas = new Map<string, ReturnType<typeof buildRoleSchema>>();
  private metadataQueue: Promise<unknown> = Promise.resolve();
  readonly auth: Authenticator;
  /** Cron and event trigger delivery (src/triggers): started with the engine, reloaded after every metadata change. */
  triggers: TriggerServiceWithManual | null = null;
  /** Why the delivery workers could not start (the metadata's triggers cannot run), for /healthz. */
  triggerError: string | null = null;
  /** The WebSocket transport (src/subscriptions), set by the HTTP server. */
  subscriptions: { close(): void; stats(): Record<string, unknown> } | null = null;

  constructor(
    readonly config: EngineConfig,
    readonly pool: pg.Pool,
    readonly log: Log,
  ) {
    this.auth = new Authenticator(config);
  }

  /** Start-up: catalog tables, then the metadata directory (if configured) or what the database holds. */
  async start(): Promise<void> {
    await this.auth.ready();
    await bootstrap(this.pool);
    if (this.config.metadataDir) {
      const fromDir = loadMetadataDir(this.config.metadataDir);
      const parts = unsupportedParts(fromDir);
      if (parts.length)
        throw new Error(`the metadata in ${this.config.metadataDir} uses what this engine does not support: ${parts.join('; ')}`);
      const answer = await this.metadataRequest({ type: 'replace_metadata', args: fromDir }, true);
      if (answer.status !== 200) throw new Error(`the metadata in ${this.config.metadataDir} is inconsistent: ${answer.body}`);
    } else {
      const stored = await readMetadata(this.pool);
      const metadata = stored?.metadata ?? emptyMetadata();
      const parts = unsupportedParts(metadata);
      if (parts.length) throw new Error(`the stored metadata uses what this engine does not support: ${parts.join('; ')}`);
      this.catalog = await loadCatalog(this.pool);
      const model = buildModel(metadata, this.catalog);
      this.actionCatalog = buildActionCatalog(metadata, model);
      this.install(metadata, model, stored?.resourceVersion ?? 0);
    }
  }

  /** Creates the delivery workers on first use; (re)loads them with the metadata in force. */
  async startTriggers(): Promise<void> {
    const env = this.config.env;
    const positive = (name: string) => (Number(env[name]) > 0 ? Number(env[name]) : undefined);
    this.triggers ??= createTriggerService({
      pool: this.pool,
      metadata: () => this.metadata,
      env,
      log: this.log,
      ...(positive('HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL') ? { pollIntervalMs: positive('HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL') } : {}),
      ...(positive('HASURA_GRAPHQL_EVENTS_FETCH_BATCH_SIZE') ? { batchSize: positive('HASURA_GRAPHQL_EVENTS_FETCH_BATCH_SIZE') } : {}),
      ...(positive('HASURA_GRAPHQL_EVENTS_HTTP_POOL_SIZE') ? { concurrency: positive('HASURA_GRAPHQL_EVENTS_HTTP_POOL_SIZE') } : {}),
      ...(env.HASURA_GRAPHQL_GRACEFUL_SHUTDOWN_TIMEOUT !== undefined
        ? { shutdownGraceMs: Number(env.HASURA_GRAPHQL_GRACEFUL_SHUTDOWN_TIMEOUT) * 1000 }
        : {}),
    });
    try {
      if (this.triggers.health().running) await this.triggers.reload();
      else await this.triggers.start();
      this.triggerError = null;
    } catch (error) {
      // Like Hasura with inconsistent triggers at start-up: serve, say so loudly and in /healthz.
      this.triggerError = (error as Error).message;
      this.log({ level: 'error', type: 'startup', message: `cron and event triggers are not running: ${this.triggerError}` });
    }
  }

  private install(metadata: Metadata, model: Model, resourceVersion: number) {
    this.metadata = metadata;
    this.model = model;
    this.resourceVersion = resourceVersion;
    this.plans.clear();
    this.schemas.clear();
  }

  health(): HttpAnswer {
    if (this.unsupported.length) return { status: 200, body: `WARN: unsupported metadata not served: ${this.unsupported.join('; ')}` };
    return { status: 200, body: 'OK' };
  }

  compileOptions(session: Session): CompileOptions {
    return {
      model: this.model,
      role: session.role,
      isAdmin: session.isAdmin,
      stringifyNumeric: this.config.stringifyNumeric,
      backendOnly: session.isAdmin || session.backendOnly,
      inferFunctionPermissions: this.config.inferFunctionPermissions,
    };
  }

  roleSchema(session: Session) {
    const key = `${session.role}\0${session.isAdmin}\0${session.backendOnly}`;
    let schema = this.schemas.get(key);
    if (!schema) {
      schema = extendWithActions(buildRoleSchema(this.compileOptions(session)), this.actionCatalog, this.compileOptions(session));
      this.schemas.set(key, schema);
    }
    return schema;
  }

  // ---- GraphQL ----

  async graphql(headers: Record<string, string | string[] | undefined>, body: string, legacy: boolean): Promise<HttpAnswer> {
    let session: Session;
    try {
      session = await this.auth.authenticate(headers);
    } catch (error) {
      return this.graphqlError(error, legacy, false);
    }
    let parsed: unknown;
    try {
      parsed = parseRequestBody(body);
    } catch {
      return this.graphqlError(new EngineError('invalid-json', 'invalid json'), legacy, false);
    }
    let requests: GraphqlRequest[] | GraphqlRequest;
    try {
      requests = Array.isArray(parsed) ? parsed.map((item, i) => checkGraphqlRequest(item, [i])) : checkGraphqlRequest(parsed, []);
    } catch (error) {
      return { ...this.graphqlError(error, legacy, false), role: session.role };
    }
    const internal = this.config.devMode || (session.isAdmin && this.config.adminInternalErrors);
    if (Array.isArray(requests)) {
      const answers: string[] = [];
      for (const item of requests) answers.push((await this.one(session, item, legacy, internal, headers)).body);
      return { status: 200, body: `[${answers.join(',')}]`, role: session.role };
    }
    return { ...(await this.one(session, requests, legacy, internal, headers)), role: session.role };
  }

  /** One GraphQL request of an already resolved session: queries and mutations over WebSocket. */
  execute(session: Session, request: GraphqlRequest, headers: Record<string, string | string[] | undefined>): Promise<HttpAnswer> {
    const internal = this.config.devMode || (session.isAdmin && this.config.adminInternalErrors);
    return this.one(session, request, false, internal, headers);
  }

  private graphqlError(error: unknown, legacy: boolean, internal: boolean): HttpAnswer {
    const e =
      error instanceof EngineError ? error : new EngineError('unexpected', (error as Error).message ?? 'unexpected error', '$', 500);
    if (!(error instanceof EngineError))
      this.log({ level: 'error', message: 'unexpected error', error: String((error as Error).stack ?? error) });
    const executionError = isExecutionError(error);
    if (error instanceof ActionHandlerError) return { status: 200, body: `{"errors":[${error.toJson()}]}`, executionError, failed: true };
    return {
      status: legacy ? e.status : 200,
      body: JSON.stringify({ errors: [toGraphqlError(e, internal)] }),
      executionError,
      failed: true,
    };
  }

  private async one(
    session: Session,
    request: GraphqlRequest,
    legacy: boolean,
    internal: boolean,
    headers: Record<string, string | string[] | undefined> = {},
  ): Promise<HttpAnswer> {
    try {
      const extensions = (request as { extensions?: { persistedQuery?: unknown } } | null)?.extensions;
      if (extensions?.persistedQuery !== undefined) throw new EngineError('not-supported', 'Automatic Persisted Queries is not enabled');
      if (!request || typeof request !== 'object' || typeof request.query !== 'string') {
        if (request && typeof request === 'object' && 'extensions' in request) {
          throw new EngineError('not-supported', 'Automatic Persisted Queries is not enabled');
        }
        throw new EngineError('bad-request', 'the key "query" was not present');
      }
      const opName = typeof request.operationName === 'string' ? request.operationName : undefined;
      const vars = request.variables && typeof request.variables === 'object' ? (request.variables as Record<string, unknown>) : {};
      const key = `${session.role}\0${session.isAdmin}\0${session.backendOnly}\0${opName ?? ''}\0${request.query}`;
      let cached = this.plans.get(key);
      if (!cached) {
        let document: DocumentNode;
        try {
          document = parse(request.query);
        } catch (error) {
          throw new EngineError('validation-failed', (error as Error).message.replace(/^Syntax Error: /, ''), '$.query');
        }
        cached = { document, op: selectOperation(document, opName), plans: new Map() };
        if (this.plans.size >= PLAN_CACHE_MAX) this.plans.delete(this.plans.keys().next().value as string);
        this.plans.set(key, cached);
      }
      if (cached.op.operation === 'subscription')
        throw new EngineError('unexpected-payload', 'subscriptions are not supported over HTTP, use websockets instead');
      const resolved = resolveVariables(cached.document, cached.op, vars);
      const withActions = actionRoots(this.actionCatalog, this.compileOptions(session), cached.document, cached.op, resolved);
      // Once per cached operation: the declared types do not change between requests.
      const checkTypes = !cached.typesChecked;
      const checked = () => {
        if (checkTypes && !hasConditionalDirectives(cached.document)) cached.typesChecked = true;
      };
      if (withActions) {
        if (checkTypes)
          checkOperationVariables(this.compileOptions(session), cached.document, cached.op, resolved, this.roleSchema(session));
        checked();
        const cookies: string[] = [];
        const data = await this.runActions(session, headers, cached, resolved, request.query, withActions, cookies);
        return { status: 200, body: `{"data":${data}}`, ...(cookies.length ? { headers: { 'set-cookie': cookies } } : {}) };
      }
      const nulls = (cached.op.variableDefinitions ?? []).map((d) => (resolved[d.variable.name.value] == null ? '0' : '1')).join('');
      let plan = cached.plans.get(nulls);
      if (!plan) {
        plan = compileOperation(this.compileOptions(session), cached.document, cached.op, resolved, this.roleSchema(session), checkTypes);
        checked();
        if (!plan.dynamic) cached.plans.set(nulls, plan);
      }
      for (const name of plan.sessionVariables) {
        if (session.variables[name] === undefined) throw new EngineError('not-found', `missing session variable: "${name}"`);
      }
      const data = await duringExecution(this.run(session, plan, cached, resolved));
      return { status: 200, body: `{"data":${data}}` };
    } catch (error) {
      return this.graphqlError(error, legacy, internal);
    }
  }

  /** An operation with action root fields (src/actions): table fields still go through run(). */
  private runActions(
    session: Session,
    headers: Record<string, string | string[] | undefined>,
    parsed: Parsed,
    vars: Record<string, unknown>,
    query: string,
    fields: NonNullable<ReturnType<typeof actionRoots>>,
    cookies: string[],
  ): Promise<string> {
    const options = this.compileOptions(session);
    return runWithActions(
      {
        catalog: this.actionCatalog as ActionCatalog,
        options,
        session,
        headers,
        document: parsed.document,
        op: parsed.op,
        vars,
        requestQuery: query,
        pool: this.pool,
        env: this.config.env,
        cookies,
        runSql: (op) => {
          // The whole operation's variables were checked before its actions ran.
          const plan = compileOperation(options, parsed.document, op, vars, this.roleSchema(session), false);
          for (const name of plan.sessionVariables) {
            if (session.variables[name] === undefined) throw new EngineError('not-found', `missing session variable: "${name}"`);
          }
          return duringExecution(this.run(session, plan, parsed, vars));
        },
      },
      fields,
    );
  }

  private async run(session: Session, plan: Plan, parsed: Parsed, vars: Record<string, unknown>): Promise<string> {
    const ctx: RequestContext = { vars, session: session.variables };
    const parts: string[] = [];
    const sqlRoots = plan.roots.filter((r) => r.kind === 'sql');
    const results = new Map<string, string>();
    if (plan.operation === 'mutation') {
      await inTransaction(this.pool, async (client) => {
        // Event triggers copy this into each event's session_variables, as in Hasura.
        await client.query("SELECT set_config('hasura.user', $1, true)", [JSON.stringify(session.variables)]);
        for (const root of sqlRoots) {
          const all: string[] = [];
          let prev = await this.statement(
            client,
            root.sql as string,
            (root.params ?? []).map((g) => g(ctx)),
            root.alias,
          );
          all.push(prev);
          for (const next of root.more ?? []) {
            const stepCtx = { ...ctx, prev };
            prev = await this.statement(
              client,
              next.sql,
              next.params.map((g) => g(stepCtx)),
              root.alias,
            );
            all.push(prev);
          }
          results.set(root.alias, root.combine === 'array' ? `[${all.join(',')}]` : prev);
        }
      });
    } else {
      await Promise.all(
        sqlRoots.map(async (root) => {
          results.set(
            root.alias,
            await this.statement(
              this.pool,
              root.sql as string,
              (root.params ?? []).map((g) => g(ctx)),
              root.alias,
            ),
          );
        }),
      );
    }
    for (const root of plan.roots) {
      let value: string;
      if (root.kind === 'typename') value = JSON.stringify(root.typename);
      else if (root.kind === 'introspection') value = this.introspect(session, parsed, root.alias, vars);
      else value = results.get(root.alias) ?? 'null';
      parts.push(`${JSON.stringify(root.alias)}:${value}`);
    }
    return `{${parts.join(',')}}`;
  }

  private names = new Map<string, string>();
  private get preparedNames(): boolean {
    return this.metadata.sources[0]?.configuration.connection_info.use_prepared_statements === true;
  }
  private statementName(sql: string): string {
    let name = this.names.get(sql);
    if (!name) {
      name = `e${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
      if (this.names.size > 5000) this.names.clear();
      this.names.set(sql, name);
    }
    return name;
  }

  private async statement(db: pg.Pool | pg.PoolClient, sql: string, params: unknown[], alias: string): Promise<string> {
    try {
      // Named (prepared) statements when the source asks for them, as Hasura's use_prepared_statements does.
      const query: pg.QueryConfig = this.preparedNames
        ? { name: this.statementName(sql), text: sql, values: params }
        : { text: sql, values: params };
      const result = await db.query<{ root: string | null }>(query);
      return result.rows[0]?.root ?? 'null';
    } catch (error) {
      const e = error as { code?: string; message: string };
      if (e.code === 'HC001') {
        const path = /^WITH _m_\d+ AS \(INSERT/.test(sql) || sql.includes('AS (INSERT') ? `$.selectionSet.${alias}.args.objects` : '$';
        throw new EngineError('permission-error', 'Check constraint violation. insert/update check constraint failed', path);
      }
      if (e.code) throw fromPgError(e, '$', sql);
      throw error;
    }
  }

  private introspect(session: Session, parsed: Parsed, alias: string, vars: Record<string, unknown>): string {
    const schema = this.roleSchema(session);
    const op = parsed.op;
    const only: OperationDefinitionNode = {
      ...op,
      selectionSet: {
        ...op.selectionSet,
        selections: op.selectionSet.selections.filter((s) => s.kind !== Kind.FIELD || (s.alias?.value ?? s.name.value) === alias),
      },
    };
    const document: DocumentNode = {
      kind: Kind.DOCUMENT,
      definitions: [only, ...parsed.document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)],
    };
    const result = execute({ schema, document, variableValues: vars }) as { data?: Record<string, unknown>; errors?: unknown[] };
    if (result.errors?.length) throw new EngineError('validation-failed', String((result.errors[0] as Error).message));
    return JSON.stringify(result.data?.[alias] ?? null);
  }

  // ---- metadata API ----

  /** Runs a metadata API call (admin only, checked by the caller) in one transaction. */
  metadataRequest(op: MetadataOperation, startup = false): Promise<HttpAnswer> {
    const next = this.metadataQueue.then(() => this.metadataNow(op, startup));
    this.metadataQueue = next.catch(() => undefined);
    return next;
  }

  private async metadataNow(op: MetadataOperation, startup: boolean): Promise<HttpAnswer> {
    try {
      const { ctx, answer, actionCatalog, version } = await inTransaction(this.pool, async (client) => {
        const catalog = await loadCatalog(client);
        const draft = structuredClone(this.metadata);
        const ctx: MetadataContext = {
          client,
          draft,
          catalog,
          model: startup ? buildModel(emptyMetadata(), catalog) : buildModel(draft, catalog),
          changed: false,
          defaultDatabaseUrl: this.defaultDatabaseUrl(),
        };
        if (op.resource_version !== undefined && op.resource_version !== this.resourceVersion) {
          throw new EngineError(
            'conflict',
            `metadata resource version referenced (${op.resource_version}) did not match current version`,
            '$',
          );
        }
        const answer = await runOperation(ctx, op);
        const actionCatalog = buildActionCatalog(ctx.draft, ctx.model);
        if (ctx.changed && !startup) {
          try {
            resolveTriggers(ctx.draft, this.config.env);
          } catch (error) {
            if (error instanceof TriggerConfigError) throw new EngineError(error.code, error.message, error.path);
            throw error;
          }
        }
        const version = ctx.changed ? await writeMetadata(client, ctx.draft) : this.resourceVersion;
        return { ctx, answer, actionCatalog, version };
      });
      // Committed: only now does the engine serve what changed.
      if (ctx.changed || startup) {
        this.catalog = ctx.catalog;
        this.actionCatalog = actionCatalog;
        this.install(ctx.draft, ctx.model, version);
      }
      if (ctx.changed && this.triggers) await this.startTriggers();
      return { status: 200, body: JSON.stringify(answer) };
    } catch (error) {
      if (startup && !(error instanceof EngineError)) throw error;
      const e = error instanceof EngineError ? error : fromPgError(error as { message: string }, '$');
      const body: Record<string, unknown> = { path: e.path, error: e.message, code: e.code };
      if (e.internal !== undefined) body.internal = e.internal;
      if (!(error instanceof EngineError)) this.log({ level: 'error', message: 'metadata call failed', error: String(error) });
      return { status: e.status === 500 ? 500 : 400, body: JSON.stringify(body) };
    }
  }

  private defaultDatabaseUrl(): MetadataContext['defaultDatabaseUrl'] {
    return this.metadata.sources[0]?.configuration.connection_info.database_url ?? { from_env: 'HASURA_GRAPHQL_DATABASE_URL' };
  }

  async close(): Promise<void> {
    this.subscriptions?.close();
    await this.triggers?.stop();
    await this.pool.end();
  }
}

/** The connection string of the metadata's first source (resolving `from_env`). */
export function sourceUrl(metadata: Metadata, env: NodeJS.ProcessEnv): string | undefined {
  const url = metadata.sources[0]?.configuration.connection_info.database_url;
  if (typeof url === 'string') return url;
  if (url && 'from_env' in url) {
    const value = env[url.from_env];
    if (!value) throw new Error(`environment variable ${url.from_env} (named by databases.yaml) is not set`);
    return value;
  }
  return undefined;
}

export { pg };
