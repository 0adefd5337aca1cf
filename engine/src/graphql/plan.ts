// One request's operation → a plan: for each root field, one SQL statement and its parameter getters.
import {
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  parse as parseDocument,
  print,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { EngineError, validation } from '../errors.ts';
import type { FunctionInfo, TableInfo } from '../model.ts';
import { type CompileOptions, Compiler, type MergedField, type Plan, type RootPlan } from './compile.ts';
import { compileMutationField } from './mutation.ts';
import { buildRoleSchema } from './schema.ts';
import { astToJs, type Vars } from './values.ts';
import { checkVariableTypes, definitionsOf, untypedError } from './variable-types.ts';

export interface RootFieldRef {
  kind:
    | 'select'
    | 'select_by_pk'
    | 'select_aggregate'
    | 'function'
    | 'function_aggregate'
    | 'insert'
    | 'insert_one'
    | 'update'
    | 'update_by_pk'
    | 'update_many'
    | 'delete'
    | 'delete_by_pk';
  table: TableInfo;
  fn?: FunctionInfo;
}

/**
 * The root fields a role can see, by name, for queries, mutations and subscriptions (live queries).
 * A select permission's query_root_fields governs query_root and its subscription_root_fields
 * subscription_root, independently (unset: all); functions are in both.
 */
export function rootFields(options: CompileOptions): {
  query: Map<string, RootFieldRef>;
  mutation: Map<string, RootFieldRef>;
  subscription: Map<string, RootFieldRef>;
} {
  const { model, role, isAdmin } = options;
  const query = new Map<string, RootFieldRef>();
  const mutation = new Map<string, RootFieldRef>();
  const subscription = new Map<string, RootFieldRef>();
  for (const table of model.tables) {
    const sel = isAdmin ? null : table.select.get(role);
    if (isAdmin || sel) {
      const pkSelectable =
        table.pg.primaryKey.length > 0 &&
        (isAdmin || sel?.columns === '*' || table.pg.primaryKey.every((c) => ((sel?.columns ?? []) as string[]).includes(c)));
      const roots: [Map<string, RootFieldRef>, string[] | undefined][] = [
        [query, sel?.query_root_fields ?? undefined],
        [subscription, sel?.subscription_root_fields ?? undefined],
      ];
      for (const [target, allowed] of roots) {
        const allowedRoot = (name: string) => !allowed || allowed.includes(name);
        if (allowedRoot('select')) target.set(table.roots.select, { kind: 'select', table });
        if (pkSelectable && allowedRoot('select_by_pk')) target.set(table.roots.select_by_pk, { kind: 'select_by_pk', table });
        if ((isAdmin || sel?.allow_aggregations) && allowedRoot('select_aggregate')) {
          target.set(table.roots.select_aggregate, { kind: 'select_aggregate', table });
        }
      }
    }
    const isView = table.pg.kind !== 'r' && table.pg.kind !== 'p';
    const ins = isAdmin ? {} : table.insert.get(role);
    if (ins && (!isView || table.pg.insertable) && (!ins.backend_only || options.backendOnly)) {
      mutation.set(table.roots.insert, { kind: 'insert', table });
      mutation.set(table.roots.insert_one, { kind: 'insert_one', table });
    }
    const upd = isAdmin ? {} : table.update.get(role);
    if (upd && (!isView || table.pg.updatable) && (!('backend_only' in upd && upd.backend_only) || options.backendOnly)) {
      mutation.set(table.roots.update, { kind: 'update', table });
      if (table.pg.primaryKey.length) mutation.set(table.roots.update_by_pk, { kind: 'update_by_pk', table });
      mutation.set(table.roots.update_many, { kind: 'update_many', table });
    }
    const del = isAdmin ? {} : table.delete.get(role);
    if (del && (!isView || table.pg.updatable) && (!('backend_only' in del && del.backend_only) || options.backendOnly)) {
      mutation.set(table.roots.delete, { kind: 'delete', table });
      if (table.pg.primaryKey.length) mutation.set(table.roots.delete_by_pk, { kind: 'delete_by_pk', table });
    }
  }
  for (const fn of model.functions) {
    const inferred = options.inferFunctionPermissions !== false && fn.exposedAs === 'query';
    const permitted = isAdmin || ((inferred || fn.permissions.has(role)) && fn.returns.select.has(role));
    if (!permitted) continue;
    if (fn.exposedAs === 'mutation') {
      mutation.set(fn.field, { kind: 'function', table: fn.returns, fn });
      continue;
    }
    for (const target of [query, subscription]) {
      target.set(fn.field, { kind: 'function', table: fn.returns, fn });
      if (isAdmin || fn.returns.select.get(role)?.allow_aggregations) {
        target.set(fn.aggregateField, { kind: 'function_aggregate', table: fn.returns, fn });
      }
    }
  }
  return { query, mutation, subscription };
}

export function selectOperation(document: DocumentNode, operationName: string | undefined | null): OperationDefinitionNode {
  const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) {
    const op = ops.find((o) => o.name?.value === operationName);
    if (!op) throw validation(`no such operation found in the document: ${JSON.stringify(operationName)}`);
    return op;
  }
  if (ops.length !== 1) throw validation('exactly one operation has to be present in the document when operationName is not specified');
  return ops[0] as OperationDefinitionNode;
}

export function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const out = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) out.set(d.name.value, d);
  return out;
}

/**
 * Applies variable defaults and checks the variables against the operation, in the order of Hasura's
 * Resolve.hs: required variables are given; no variable is defined twice; every `$x` used (in the
 * operation, through the fragments it spreads) is defined; every variable sent is used.
 */
export function resolveVariables(document: DocumentNode, op: OperationDefinitionNode, given: Vars | null | undefined): Vars {
  const vars: Vars = { ...(given ?? {}) };
  for (const def of op.variableDefinitions ?? []) {
    const name = def.variable.name.value;
    // As Hasura 2.36+ (HASURA_GRAPHQL_BACKWARDS_COMPAT_NULL_IN_NONNULLABLE_VARIABLES off, the
    // default): an explicit null is refused even when the variable has a default.
    if (vars[name] === null && def.type.kind === Kind.NON_NULL_TYPE) {
      throw validation(`null value found for non-nullable type: "${print(def.type)}"`, '$');
    }
    // A default is a constant (no variables): read as an argument's literal is.
    if (vars[name] === undefined && def.defaultValue) vars[name] = astToJs(def.defaultValue, { vars: {}, dynamic: false });
    if ((vars[name] === undefined || vars[name] === null) && def.type.kind === Kind.NON_NULL_TYPE) {
      throw validation(`expecting a value for non-nullable variable: "${name}"`, '$');
    }
  }
  const usage = variableUsage(document, op);
  if (usage.duplicate !== undefined) {
    throw new EngineError('parse-failed', `multiple definitions for variable "${usage.duplicate}"`, '$');
  }
  if (usage.unbound !== undefined) throw validation(`unbound variable "${usage.unbound}"`, '$');
  const unexpected = Object.keys(given ?? {}).filter((name) => !usage.used.has(name));
  if (unexpected.length) throw validation(`unexpected variables in variableValues: ${unexpected.join(', ')}`, '$');
  return vars;
}

interface VariableUsage {
  used: Set<string>;
  duplicate?: string;
  unbound?: string;
}

const usages = new WeakMap<OperationDefinitionNode, VariableUsage>();

/** Which variables an operation uses (in its directives, its selections and the fragments they spread), once per parsed operation. */
function variableUsage(document: DocumentNode, op: OperationDefinitionNode): VariableUsage {
  const known = usages.get(op);
  if (known) return known;
  const usage: VariableUsage = { used: new Set() };
  const defined = new Set<string>();
  for (const def of op.variableDefinitions ?? []) {
    const name = def.variable.name.value;
    if (defined.has(name) && usage.duplicate === undefined) usage.duplicate = name;
    defined.add(name);
  }
  const fragments = fragmentsOf(document);
  const value = (node: ValueNode) => {
    if (node.kind === Kind.VARIABLE) {
      const name = node.name.value;
      if (!defined.has(name)) usage.unbound ??= name;
      usage.used.add(name);
    } else if (node.kind === Kind.LIST) for (const item of node.values) value(item);
    else if (node.kind === Kind.OBJECT) for (const f of node.fields) value(f.value);
  };
  const directives = (nodes: readonly DirectiveNode[] | undefined) => {
    for (const d of nodes ?? []) for (const a of d.arguments ?? []) value(a.value);
  };
  // Fragments are inlined before variables are resolved: a spread's variables count, a fragment never spread does not.
  const visiting: string[] = [];
  const selections = (set: SelectionSetNode | undefined) => {
    for (const sel of set?.selections ?? []) {
      directives(sel.directives);
      if (sel.kind === Kind.FIELD) {
        for (const a of sel.arguments ?? []) value(a.value);
        selections(sel.selectionSet);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) selections(sel.selectionSet);
      else {
        const name = sel.name.value;
        const fragment = fragments.get(name);
        // An unknown or cyclic fragment is refused later, with Hasura's message, by the compiler.
        if (!fragment || visiting.includes(name)) continue;
        visiting.push(name);
        directives(fragment.directives);
        selections(fragment.selectionSet);
        visiting.pop();
      }
    }
  };
  directives(op.directives);
  selections(op.selectionSet);
  usages.set(op, usage);
  return usage;
}

export interface CompiledOperation extends Plan {}

/**
 * Checks every variable's declared type where it is used, for an operation not compiled as a whole
 * (one with action fields, src/actions): mismatches and usages the schema cannot type are refused
 * before anything runs.
 */
export function checkOperationVariables(
  options: CompileOptions,
  document: DocumentNode,
  op: OperationDefinitionNode,
  vars: Vars,
  schema: GraphQLSchema,
): void {
  const compiler = new Compiler(options, vars, fragmentsOf(document), definitionsOf(op));
  const untyped = checkVariableTypes(schema, compiler, op);
  if (untyped.length) throw untypedError(untyped);
}

/**
 * Compiles the operation for a role. Throws EngineError with Hasura's messages. `schema` is the role's
 * schema as introspection serves it: every variable's declared type is checked against it where the
 * variable is used, before anything is compiled (src/graphql/variable-types.ts).
 */
export function compileOperation(
  options: CompileOptions,
  document: DocumentNode,
  op: OperationDefinitionNode,
  vars: Vars,
  schema: GraphQLSchema,
  /** False when this operation's variables already passed the check for this role (src/engine.ts). */
  checkTypes = true,
): Plan {
  const compiler = new Compiler(options, vars, fragmentsOf(document), definitionsOf(op));
  const operation = op.operation;
  for (const d of op.directives ?? []) throw validation(`directive "${d.name.value}" is not allowed on a ${operation}`);
  const untyped = checkTypes ? checkVariableTypes(schema, compiler, op) : [];
  // A subscription is a live query (src/subscriptions) of subscription_root's fields.
  const fields = rootFields(options);
  const available = operation === 'mutation' ? fields.mutation : operation === 'subscription' ? fields.subscription : fields.query;
  const rootType = operation === 'mutation' ? 'mutation_root' : operation === 'subscription' ? 'subscription_root' : 'query_root';
  if (operation === 'mutation' && available.size === 0) throw validation('no mutations exist');
  const roots: RootPlan[] = [];
  for (const f of compiler.collect(op.selectionSet, rootType, '$')) {
    const path = f.path;
    if (f.name === '__typename') {
      roots.push({ alias: f.alias, kind: 'typename', typename: rootType });
      continue;
    }
    if (f.name === '__schema' || f.name === '__type') {
      roots.push({ alias: f.alias, kind: 'introspection', field: f.nodes[0] as NonNullable<RootPlan['field']> });
      continue;
    }
    const ref = available.get(f.name);
    if (!ref) throw validation(`field "${f.name}" not found in type: '${rootType}'`, path);
    compiler.resetParams();
    if (operation === 'mutation' && ref.kind !== 'function') {
      const { statements, combine } = compileMutationField(compiler, ref, f, path);
      const [first, ...more] = statements;
      roots.push({ alias: f.alias, kind: 'sql', sql: first?.sql, params: first?.params ?? [], more, combine });
      continue;
    }
    const sql = compileRoot(compiler, ref, f, path);
    roots.push({ alias: f.alias, kind: 'sql', sql, params: compiler.params });
  }
  // A variable at a name the compiler accepted but the schema does not declare: refused, never run unchecked.
  if (untyped.length) throw untypedError(untyped);
  return { operation, roots, sessionVariables: [...compiler.sessionVariables], dynamic: compiler.dynamic };
}

function compileRoot(c: Compiler, ref: RootFieldRef, f: MergedField, path: string): string {
  switch (ref.kind) {
    case 'select':
      return `SELECT (${c.selectList(ref.table, f, path)})::text AS root`;
    case 'select_by_pk':
      return `SELECT (${c.selectByPk(ref.table, f, path)})::text AS root`;
    case 'select_aggregate':
      return `SELECT (${c.selectAggregate(ref.table, f, path)})::text AS root`;
    case 'function':
    case 'function_aggregate': {
      const fn = ref.fn as FunctionInfo;
      const args = c.args(f, ['args', 'where', 'order_by', 'limit', 'offset', 'distinct_on'], path);
      const call = c.functionCall(fn, args, path);
      if (ref.kind === 'function_aggregate')
        return `SELECT (${c.selectAggregate(ref.table, f, path, { source: call, extraArgs: ['args'] })})::text AS root`;
      if (fn.fn.returnsSet) return `SELECT (${c.selectList(ref.table, f, path, { source: call, extraArgs: ['args'] })})::text AS root`;
      // A single row: the object itself (or null).
      const list = c.selectList(ref.table, f, path, { source: call, extraArgs: ['args'] });
      return `SELECT ((${list})->0)::text AS root`;
    }
    default:
      throw validation(`unexpected root field ${f.name}`, path);
  }
}

/** The SQL statements (with their parameter values) an operation compiles to for a session: for tools such as the benchmark. */
export function compileStatements(
  options: CompileOptions,
  query: string,
  operationName: string | undefined,
  variables: Vars,
  session: Record<string, string>,
): { text: string; values: unknown[] }[] {
  const document = parseDocument(query);
  const op = selectOperation(document, operationName);
  const vars = resolveVariables(document, op, variables);
  const plan = compileOperation(options, document, op, vars, buildRoleSchema(options));
  const ctx = { vars, session };
  return plan.roots.filter((r) => r.kind === 'sql').map((r) => ({ text: r.sql as string, values: (r.params ?? []).map((g) => g(ctx)) }));
}
