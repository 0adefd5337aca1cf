// Live queries the way Hasura runs them: a subscription is a query refetched every
// HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL ms and pushed only when its result changed.
//
// Subscribers with the same query text, operation name and role share one *poller*; inside a
// poller, subscribers whose parameters (variables and the session variables the query reads) are
// equal share one *cohort*. Each interval a poller runs ONE statement for up to
// HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_BATCH_SIZE cohorts:
//
//   SELECT _subs.result_id, _fld_resp.root
//   FROM unnest($1::int4[], $2::json[]) AS _subs(result_id, result_vars)
//   LEFT OUTER JOIN LATERAL (<the query's compiled statement>) AS _fld_resp ON true
//
// where every bind parameter `$n::type` of the part-1 compiler reads `(_subs.result_vars->>n-1)::type`
// instead, so the cost grows with distinct queries, not with subscribers. Select permissions are those
// of the compiled statement, exactly as for queries.
import { createHash } from 'node:crypto';
import { inTransaction } from '@org-credits/db';
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import { parse } from 'graphql';
import type { Session } from '../auth.ts';
import type { EngineCore } from '../engine.ts';
import { EngineError, fromPgError, toGraphqlError } from '../errors.ts';
import type { Getter, Plan } from '../graphql/compile.ts';
import { compileOperation, resolveVariables, selectOperation } from '../graphql/plan.ts';
import type { Model } from '../model.ts';

export interface Subscriber {
  /** Sends one GraphQL response (the JSON text of `{"data":…}` or `{"errors":…}`). */
  push(response: string): void;
  /** The poller ended the subscription (the metadata no longer allows it): send the error and complete. */
  end(response: string): void;
}

export interface LiveQueryOptions {
  /** @default 1000 */
  refetchIntervalMs: number;
  /** Cohorts per statement. @default 100 */
  batchSize: number;
}

export interface LiveQueryStats {
  pollers: number;
  cohorts: number;
  subscribers: number;
  /** Statements run by pollers since start. */
  statements: number;
}

interface Cohort {
  /** The JSON text of the parameters (null for SQL NULL), the same for every subscriber of the cohort. */
  vars: string;
  subscribers: Set<Subscriber>;
  /** Subscribers that have not had a first answer yet. */
  fresh: Set<Subscriber>;
  lastHash: string | null;
}

interface Compiled {
  model: Model;
  sql: string;
  alias: string;
  getters: Getter[];
  sessionVariables: string[];
  /** The statement passes the whole session to a function (`session_argument`): every variable counts. */
  wholeSession: boolean;
  /** Variable values shaped the SQL text or were baked into it: the poller is per variable values. */
  dynamic: boolean;
}

/** A pg array literal for a list parameter (the compiler's getters give lists of text). */
function arrayLiteral(items: unknown[]): string {
  return `{${items
    .map((x) => (x === null || x === undefined ? 'NULL' : `"${String(x).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`))
    .join(',')}}`;
}

function paramText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return arrayLiteral(value);
  return String(value);
}

/** The compiled statement with its bind parameters read from the cohort's `result_vars` JSON array. */
export function multiplexedSql(sql: string): string {
  // Every parameter the compiler emits is `$n::type` (see Compiler.param/constParam/sessionJson).
  const inner = sql.replace(/\$(\d+)::/g, (_m, n: string) => `(_subs.result_vars->>${Number(n) - 1})::`);
  return (
    'SELECT _subs.result_id, _fld_resp.root FROM unnest($1::int4[], $2::json[]) AS _subs(result_id, result_vars) ' +
    `LEFT OUTER JOIN LATERAL (${inner}) AS _fld_resp ON true`
  );
}

/** The statement's bind parameter values for one subscriber (variables and the session variables it reads). */
function paramValues(c: Compiled, session: Session, vars: Record<string, unknown>): (string | null)[] {
  let sessionVars = session.variables;
  if (!c.wholeSession) {
    sessionVars = { 'x-hasura-role': session.role };
    for (const name of c.sessionVariables) {
      const value = session.variables[name];
      if (value !== undefined) sessionVars[name] = value;
    }
  }
  const ctx = { vars, session: sessionVars };
  return c.getters.map((g) => paramText(g(ctx)));
}

/**
 * A subscriber's cohort key: its parameter values (variables and the session variables the
 * statement reads) as the multiplexed statement's JSON argument.
 */
function cohortKey(c: Compiled, session: Session, vars: Record<string, unknown>): string {
  return JSON.stringify(paramValues(c, session, vars));
}

class Poller {
  readonly cohorts = new Map<string, Cohort>();
  /** Each subscriber's cohort (cohorts are regrouped when the metadata changes). */
  private readonly membership = new Map<Subscriber, Cohort>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  private compiled: Compiled;
  private multiplexed: string;

  constructor(
    private readonly manager: LiveQueries,
    readonly key: string,
    private readonly session: Session,
    private readonly document: DocumentNode,
    private readonly op: OperationDefinitionNode,
    private readonly vars: Record<string, unknown>,
    compiled: Compiled,
  ) {
    this.compiled = compiled;
    this.multiplexed = multiplexedSql(compiled.sql);
  }

  get size(): number {
    let n = 0;
    for (const c of this.cohorts.values()) n += c.subscribers.size;
    return n;
  }

  private join(params: string, subscriber: Subscriber) {
    let cohort = this.cohorts.get(params);
    if (!cohort) {
      cohort = { vars: params, subscribers: new Set(), fresh: new Set(), lastHash: null };
      this.cohorts.set(params, cohort);
    }
    cohort.subscribers.add(subscriber);
    cohort.fresh.add(subscriber);
    this.membership.set(subscriber, cohort);
  }

  /**
   * Adds a subscriber whose statement ran once without error (LiveQueries.check), in the cohort of
   * its parameter values as that check computed them (`cohortKey` of the same statement).
   */
  add(params: string, subscriber: Subscriber): () => void {
    this.join(params, subscriber);
    return () => {
      const cohort = this.membership.get(subscriber);
      this.membership.delete(subscriber);
      if (cohort) {
        cohort.subscribers.delete(subscriber);
        cohort.fresh.delete(subscriber);
        if (cohort.subscribers.size === 0 && this.cohorts.get(cohort.vars) === cohort) this.cohorts.delete(cohort.vars);
      }
      if (this.cohorts.size === 0) this.stop();
    };
  }

  start() {
    if (this.running || this.stopped) return;
    this.running = true;
    // The first poll runs at once; then at a fixed rate.
    void this.loop();
  }

  stop() {
    this.stopped = true;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.manager.removePoller(this);
  }

  private async loop() {
    while (this.running) {
      const started = performance.now();
      await this.poll().catch((error: unknown) =>
        this.manager.core.log({ level: 'error', type: 'livequery-poller-log', message: 'poll failed', error: String(error) }),
      );
      if (!this.running) return;
      const wait = Math.max(0, this.manager.options.refetchIntervalMs - (performance.now() - started));
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, wait);
      });
      this.timer = null;
    }
  }

  /** Recompiles after a metadata change; ends every subscriber if the role may no longer run it. */
  private refresh(): boolean {
    if (this.compiled.model === this.manager.core.model) return true;
    try {
      const compiled = this.manager.compile(this.session, this.document, this.op, this.vars);
      this.compiled = compiled;
      this.multiplexed = multiplexedSql(compiled.sql);
      // Cohort keys may change shape with the new statement's parameters: regroup.
      const all = [...this.cohorts.values()];
      this.cohorts.clear();
      this.membership.clear();
      for (const c of all) {
        for (const s of c.subscribers) {
          const sub = this.manager.owners.get(s);
          if (sub) this.join(cohortKey(this.compiled, sub.session, sub.vars), s);
        }
      }
      return true;
    } catch (error) {
      const e = error instanceof EngineError ? error : new EngineError('unexpected', String(error));
      const response = JSON.stringify({ errors: [toGraphqlError(e, false)] });
      for (const c of this.cohorts.values()) {
        for (const s of c.subscribers) {
          this.manager.owners.delete(s);
          s.end(response);
        }
      }
      this.cohorts.clear();
      this.membership.clear();
      this.stop();
      return false;
    }
  }

  private async poll() {
    if (!this.refresh()) return;
    const cohorts = [...this.cohorts.values()];
    if (cohorts.length === 0) return;
    const batch = this.manager.options.batchSize;
    await Promise.all(
      Array.from({ length: Math.ceil(cohorts.length / batch) }, (_, i) => this.pollBatch(cohorts.slice(i * batch, (i + 1) * batch))),
    );
  }

  private async pollBatch(cohorts: Cohort[]) {
    const ids = cohorts.map((_, i) => i);
    const vars = cohorts.map((c) => c.vars);
    this.manager.statements += 1;
    let rows: { result_id: number; root: string | null }[];
    try {
      rows = (await this.manager.core.pool.query<{ result_id: number; root: string | null }>(this.multiplexed, [ids, vars])).rows;
    } catch (error) {
      const e = error as { code?: string; message: string };
      const mapped = error instanceof EngineError ? error : e.code ? fromPgError(e, '$', this.multiplexed) : null;
      if (!mapped) throw error;
      // One cohort's parameters can fail the whole statement (a session variable that is not of its
      // column's type): run the cohorts one by one so that only the failing one gets the error.
      if (cohorts.length > 1) {
        await Promise.all(cohorts.map((c) => this.pollBatch([c])));
        return;
      }
      const response = JSON.stringify({ errors: [toGraphqlError(mapped, this.manager.core.config.devMode)] });
      this.deliver(cohorts, () => response);
      return;
    }
    const byId = new Map<number, string>();
    for (const row of rows) byId.set(Number(row.result_id), row.root ?? 'null');
    this.deliver(cohorts, (i) => `{"data":{${JSON.stringify(this.compiled.alias)}:${byId.get(i) ?? 'null'}}}`);
  }

  private deliver(cohorts: Cohort[], response: (index: number) => string) {
    cohorts.forEach((cohort, i) => {
      if (cohort.subscribers.size === 0) return;
      const text = response(i);
      const hash = createHash('sha1').update(text).digest('base64');
      const changed = hash !== cohort.lastHash;
      cohort.lastHash = hash;
      const targets = changed ? cohort.subscribers : cohort.fresh;
      for (const s of targets) s.push(text);
      cohort.fresh.clear();
    });
  }
}

interface Owned {
  session: Session;
  vars: Record<string, unknown>;
}

export class LiveQueries {
  private pollers = new Map<string, Poller>();
  /** The session and variables of each subscriber (to regroup cohorts after a metadata change). */
  readonly owners = new Map<Subscriber, Owned>();
  statements = 0;

  constructor(
    readonly core: EngineCore,
    readonly options: LiveQueryOptions,
  ) {}

  compile(session: Session, document: DocumentNode, op: OperationDefinitionNode, vars: Record<string, unknown>): Compiled {
    const options = this.core.compileOptions(session);
    const plan: Plan = compileOperation(options, document, op, vars, this.core.roleSchema(session));
    const roots = plan.roots;
    // Hasura v2 combines several root fields of one source into one live query; this engine polls one.
    // Refused as not supported, not with Hasura v1's validation message, which v2 no longer gives.
    if (roots.length !== 1) {
      throw new EngineError(
        'not-supported',
        'this engine serves a live query with one top level field only (Hasura v2 allows several): subscribe to each field on its own',
        '$',
      );
    }
    const root = roots[0] as Plan['roots'][number];
    if (root.kind !== 'sql' || !root.sql) {
      throw new EngineError('not-supported', 'this engine serves live queries over table and function fields only', '$');
    }
    return {
      model: this.core.model,
      sql: root.sql,
      alias: root.alias,
      getters: root.params ?? [],
      sessionVariables: plan.sessionVariables,
      wholeSession: /=> \$\d+::json/.test(root.sql),
      dynamic: plan.dynamic,
    };
  }

  /**
   * Starts a live query for one subscriber. Throws EngineError (Hasura's messages) when the
   * operation does not compile for the session's role. Returns the function that stops it.
   */
  async subscribe(
    session: Session,
    query: string,
    operationName: string | undefined,
    variables: Record<string, unknown>,
    subscriber: Subscriber,
    /** Whether the subscriber still wants it once its statement was checked (not stopped meanwhile). */
    wanted: () => boolean = () => true,
  ): Promise<() => void> {
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (error) {
      throw new EngineError('validation-failed', (error as Error).message.replace(/^Syntax Error: /, ''), '$.query');
    }
    const op = selectOperation(document, operationName);
    const vars = resolveVariables(document, op, variables);
    const compiled = this.compile(session, document, op, vars);
    for (const name of compiled.sessionVariables) {
      if (session.variables[name] === undefined) throw new EngineError('not-found', `missing session variable: "${name}"`);
    }
    const params = await this.check(compiled, session, vars);
    if (!wanted()) return () => undefined;
    const nulls = (op.variableDefinitions ?? []).map((d) => (vars[d.variable.name.value] == null ? '0' : '1')).join('');
    // A statement whose text depends on variable values (a whole `where` in a variable) is its own poller.
    const shape = compiled.dynamic ? `${compiled.sql}\0${JSON.stringify(vars)}` : compiled.sql;
    const key = `${session.role}\0${session.isAdmin}\0${session.backendOnly}\0${operationName ?? ''}\0${query}\0${nulls}\0${shape}`;
    let poller = this.pollers.get(key);
    if (!poller) {
      poller = new Poller(this, key, session, document, op, vars, compiled);
      this.pollers.set(key, poller);
    }
    this.owners.set(subscriber, { session, vars });
    const remove = poller.add(params, subscriber);
    poller.start();
    return () => {
      this.owners.delete(subscriber);
      remove();
    };
  }

  /**
   * Runs a new subscriber's statement once before it joins a poller, as Hasura does (it validates
   * the variables and tests the multiplexed query with the new cohort, in a read-only transaction,
   * before it starts a live query). So what would fail the subscriber's polls is refused at the
   * start with Hasura's error, and never joins a batch of other cohorts: a value that is not of its
   * type (a uuid variable "x": data-exception), a statement that fails when it runs (a function
   * raising for this argument), and any start while Postgres does not answer.
   */
  private async check(compiled: Compiled, session: Session, vars: Record<string, unknown>): Promise<string> {
    const statement = multiplexedSql(compiled.sql);
    const cohort = cohortKey(compiled, session, vars);
    try {
      await inTransaction(this.core.pool, (client) => client.query(statement, [[0], [cohort]]), { readOnly: true });
    } catch (error) {
      throw fromPgError(error as { code?: string; message: string }, '$', statement);
    }
    return cohort;
  }

  removePoller(poller: Poller) {
    if (this.pollers.get(poller.key) === poller) this.pollers.delete(poller.key);
  }

  stats(): LiveQueryStats {
    let cohorts = 0;
    let subscribers = 0;
    for (const p of this.pollers.values()) {
      cohorts += p.cohorts.size;
      subscribers += p.size;
    }
    return { pollers: this.pollers.size, cohorts, subscribers, statements: this.statements };
  }

  stop() {
    for (const p of [...this.pollers.values()]) p.stop();
    this.owners.clear();
  }
}
