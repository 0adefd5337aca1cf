// GraphQL → SQL. Each root field becomes ONE statement that builds its JSON inside Postgres.
// Session variables travel as one JSON bind parameter ($1) and every argument value as its own
// bind parameter: nothing from a request is ever spliced into SQL text.
import {
  type DirectiveNode,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLBoolean,
  GraphQLNonNull,
  Kind,
  type SelectionSetNode,
  type ValueNode,
  type VariableDefinitionNode,
} from 'graphql';
import { stringifyExact } from '../actions/json.ts';
import type { PgFunction } from '../catalog.ts';
import { validation } from '../errors.ts';
import type { SelectPermission } from '../metadata/types.ts';
import {
  type ColumnInfo,
  type ComputedFieldInfo,
  type FunctionInfo,
  type Model,
  numericScalars,
  qualifiedSql,
  quoteIdent,
  type RelationshipInfo,
  stringifiedScalars,
  type TableInfo,
} from '../model.ts';
import {
  boundedInteger,
  describe,
  INT32,
  INT64,
  isNull,
  jsValue,
  listItems,
  numberText,
  objectEntries,
  toPgParam,
  type Val,
  type ValueContext,
  type Vars,
} from './values.ts';
import { typeCheckVariable } from './variable-types.ts';

export interface RequestContext {
  vars: Vars;
  session: Record<string, string>;
  /** The previous statement's result, for a root field that runs several statements. */
  prev?: string;
}

export type Getter = (ctx: RequestContext) => unknown;

export interface RootPlan {
  alias: string;
  kind: 'sql' | 'typename' | 'introspection';
  sql?: string;
  params?: Getter[];
  /** Further statements of the same root field (nested inserts, update_many), run in order. */
  more?: { sql: string; params: Getter[] }[];
  /** How the statements' results make the answer: the last one, or an array of all. */
  combine?: 'last' | 'array';
  typename?: string;
  field?: FieldNode;
}

export interface Plan {
  operation: 'query' | 'mutation' | 'subscription';
  roots: RootPlan[];
  sessionVariables: string[];
  dynamic: boolean;
}

export interface CompileOptions {
  model: Model;
  role: string;
  isAdmin: boolean;
  stringifyNumeric: boolean;
  /** Admin, or x-hasura-use-backend-only-permissions with the admin secret. */
  backendOnly: boolean;
  /** HASURA_GRAPHQL_INFER_FUNCTION_PERMISSIONS: query functions need no function permission. */
  inferFunctionPermissions?: boolean;
}

export interface MergedField {
  alias: string;
  name: string;
  nodes: FieldNode[];
  /** Hasura's path of this field (fragment names included). */
  path: string;
  /** Fragments being spread around this field (to refuse cycles through nested fields). */
  chain: string[];
}

const BOOLEAN_NON_NULL = new GraphQLNonNull(GraphQLBoolean);

const comparisonOps: Record<string, string> = { _eq: '=', _neq: '<>', _gt: '>', _lt: '<', _gte: '>=', _lte: '<=' };
const textOps: Record<string, string> = {
  _like: 'LIKE',
  _nlike: 'NOT LIKE',
  _ilike: 'ILIKE',
  _nilike: 'NOT ILIKE',
  _similar: 'SIMILAR TO',
  _nsimilar: 'NOT SIMILAR TO',
  _regex: '~',
  _nregex: '!~',
  _iregex: '~*',
  _niregex: '!~*',
};
const jsonbOps: Record<string, [string, string]> = {
  _contains: ['@>', 'jsonb'],
  _contained_in: ['<@', 'jsonb'],
  _has_key: ['?', 'text'],
  _has_keys_any: ['?|', 'text[]'],
  _has_keys_all: ['?&', 'text[]'],
};
const directions: Record<string, string> = {
  asc: 'ASC NULLS LAST',
  asc_nulls_last: 'ASC NULLS LAST',
  asc_nulls_first: 'ASC NULLS FIRST',
  desc: 'DESC NULLS FIRST',
  desc_nulls_first: 'DESC NULLS FIRST',
  desc_nulls_last: 'DESC NULLS LAST',
};
const aggregateOps = ['sum', 'avg', 'max', 'min', 'stddev', 'stddev_pop', 'stddev_samp', 'var_pop', 'var_samp', 'variance'];

/** The comparison-expression type's name for a column's scalar, as Hasura names it. */
export function comparisonTypeName(column: { scalar: string; isArray: boolean }): string {
  return column.isArray ? `${column.scalar}_array_comparison_exp` : `${column.scalar}_comparison_exp`;
}

export class Compiler implements ValueContext {
  params: Getter[] = [];
  private sessionRef: string | null = null;
  dynamic = false;
  sessionVariables = new Set<string>();
  private n = 0;
  readonly vars: Vars;

  constructor(
    readonly options: CompileOptions,
    vars: Vars,
    readonly fragments: Map<string, FragmentDefinitionNode>,
    /** The operation's variable definitions: a variable's declared type is checked where it is used. */
    readonly definitions: Map<string, VariableDefinitionNode> = new Map(),
  ) {
    this.vars = vars;
  }

  get model() {
    return this.options.model;
  }

  alias(): string {
    this.n += 1;
    return `_${this.n}`;
  }

  /** A bind parameter for one scalar value, cast to the given SQL type. */
  param(v: Val, castType: string, scalar: string, isArray: boolean, path: string): string {
    let getter: Getter;
    if ('node' in v && v.node.kind === Kind.VARIABLE) {
      const name = v.node.name.value;
      getter = (ctx) => toPgParam(ctx.vars[name], scalar, isArray, path);
    } else {
      const value = toPgParam(jsValue(v, this), scalar, isArray, path);
      getter = () => value;
    }
    this.params.push(getter);
    return `$${this.params.length}::${castType}`;
  }

  constParam(value: unknown, castType: string): string {
    this.params.push(() => value);
    return `$${this.params.length}::${castType}`;
  }

  /** The session as one JSON bind parameter (allocated on first use in a statement). */
  sessionJson(): string {
    if (!this.sessionRef) {
      this.params.push((ctx) => JSON.stringify(ctx.session));
      this.sessionRef = `$${this.params.length}::json`;
    }
    return this.sessionRef;
  }

  /** Runs `fn` for the errors it throws only: the parameters it allocates are dropped. */
  validateOnly(fn: () => unknown): void {
    const params = this.params;
    const sessionRef = this.sessionRef;
    this.params = [...params];
    try {
      fn();
    } finally {
      this.params = params;
      this.sessionRef = sessionRef;
    }
  }

  /** Starts a new statement: fresh parameters. */
  resetParams() {
    this.params = [];
    this.sessionRef = null;
  }

  /** A session variable's value, cast (`X-Hasura-User-Id` → `($1::json->>'x-hasura-user-id')::int4`). */
  session(name: string, castType: string): string {
    const lower = name.toLowerCase();
    this.sessionVariables.add(lower);
    const json = this.sessionJson();
    this.params.push(() => lower);
    const value = `((${json})->>$${this.params.length}::text)`;
    if (castType.endsWith('[]')) {
      // Array session variables come as a Postgres array literal ({a,b}) or a JSON array (["a","b"]).
      return `(CASE WHEN left(${value}, 1) = '[' THEN ARRAY(SELECT json_array_elements_text(${value}::json))::${castType} ELSE ${value}::${castType} END)`;
    }
    return `${value}::${castType}`;
  }

  // ---- selection sets ----

  /** Fragments in effect around each sub-selection built by subSelection(). */
  private chains = new WeakMap<SelectionSetNode, string[]>();

  /** Fields of a selection set, with fragments inlined, @skip/@include applied and aliases merged. */
  collect(set: SelectionSetNode, typeName: string, path: string): MergedField[] {
    const out = new Map<string, MergedField>();
    const visit = (s: SelectionSetNode, chain: string[], prefix: string) => {
      for (const sel of s.selections) {
        if (!this.included(sel.directives, `${prefix}.selectionSet`)) continue;
        if (sel.kind === Kind.FIELD) {
          const alias = sel.alias?.value ?? sel.name.value;
          const existing = out.get(alias);
          if (existing) {
            // Hasura's mergeFields (Parser/Collect.hs), at the selection set being collected.
            if (existing.name !== sel.name.value) {
              throw validation(
                `selection of both "${existing.name}" and "${sel.name.value}" specify the same response name, "${alias}"`,
                `${path}.selectionSet`,
              );
            }
            if (!sameArguments(existing.nodes[0] as FieldNode, sel)) {
              throw validation(`inconsistent arguments between multiple selections of field "${existing.name}"`, `${path}.selectionSet`);
            }
            existing.nodes.push(sel);
          } else out.set(alias, { alias, name: sel.name.value, nodes: [sel], path: `${prefix}.selectionSet.${alias}`, chain });
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          const cond = sel.typeCondition?.name.value;
          if (cond && cond !== typeName) continue;
          visit(sel.selectionSet, chain, prefix);
        } else {
          const name = sel.name.value;
          if (chain.includes(name)) {
            throw validation(
              `cannot spread fragment "${name}" within itself via ${[...chain.slice(chain.indexOf(name) + 1), name].join(',')}`,
              `${prefix}.selectionSet`,
            );
          }
          const fragment = this.fragments.get(name);
          if (!fragment) throw validation(`fragment "${name}" not found`, `${prefix}.selectionSet`);
          if (fragment.typeCondition.name.value !== typeName) continue;
          visit(fragment.selectionSet, [...chain, name], `${prefix}.selectionSet.${name}`);
        }
      }
    };
    visit(set, this.chains.get(set) ?? [], path);
    return [...out.values()];
  }

  private included(directives: readonly DirectiveNode[] | undefined, path: string): boolean {
    if (!directives?.length) return true;
    const names = directives.map((d) => d.name.value);
    const dupes = names.filter((n, i) => names.indexOf(n) !== i);
    if (dupes.length) throw validation(`the following directives are used more than once: ${[...new Set(dupes)].join(', ')}`, path);
    let keep = true;
    for (const d of directives) {
      if (d.name.value !== 'skip' && d.name.value !== 'include') {
        throw validation(`directive "${d.name.value}" is not defined in the schema`, path);
      }
      const arg = d.arguments?.find((a) => a.name.value === 'if');
      if (!arg) throw validation(`missing required field "if"`, path);
      // Hasura's `if` is a Boolean! field of the directive's arguments: path …selectionSet.<directive>.args.if.
      if (arg.value.kind === Kind.VARIABLE) {
        typeCheckVariable(this.definitions, arg.value, BOOLEAN_NON_NULL, false, `${path}.${d.name.value}.args.if`);
      }
      const value = jsValue({ node: arg.value }, this);
      if (typeof value !== 'boolean') throw validation(`expected a boolean for type "Boolean", but found ${describe(value)}`, path);
      if (d.name.value === 'skip' && value) keep = false;
      if (d.name.value === 'include' && !value) keep = false;
    }
    return keep;
  }

  args(field: MergedField, allowed: string[], path: string): Map<string, Val> {
    const node = field.nodes[0] as FieldNode;
    const out = new Map<string, Val>();
    for (const arg of node.arguments ?? []) {
      const name = arg.name.value;
      // Hasura's rawSelection checks argument names at the field's own path, before withKey "args".
      if (!allowed.includes(name)) throw validation(`"${field.name}" has no argument named "${name}"`, path);
      out.set(name, { node: arg.value });
    }
    return out;
  }

  /**
   * Refuses a selection set on a field of scalar type, as Hasura's field parser does
   * (`rawSelection`: before its arguments are read).
   */
  leaf(field: MergedField): void {
    if (field.nodes.some((n) => n.selectionSet)) throw validation('unexpected subselection set for non-object field', field.path);
  }

  /** The merged sub-selection of a field of object type `typeName`: refused when there is none, as Hasura's parser does. */
  subSelection(field: MergedField, typeName: string): SelectionSetNode {
    if (!field.nodes.some((n) => n.selectionSet)) throw validation(`missing selection set for "${typeName}"`, `${field.path}.selectionSet`);
    const selections = field.nodes.flatMap((n) => n.selectionSet?.selections ?? []);
    const set: SelectionSetNode = { kind: Kind.SELECTION_SET, selections };
    this.chains.set(set, field.chain);
    return set;
  }

  // ---- permissions ----

  selectPerm(table: TableInfo): SelectPermission | null {
    if (this.options.isAdmin) return null;
    const perm = table.select.get(this.options.role);
    if (!perm) throw validation(`no select permission on "${table.name}"`);
    return perm;
  }

  canSelect(table: TableInfo): boolean {
    return this.options.isAdmin || table.select.has(this.options.role);
  }

  columnAllowed(table: TableInfo, column: ColumnInfo): boolean {
    if (this.options.isAdmin) return true;
    const perm = table.select.get(this.options.role);
    if (!perm) return false;
    return perm.columns === '*' || perm.columns.includes(column.name);
  }

  computedAllowed(table: TableInfo, cf: ComputedFieldInfo): boolean {
    if (this.options.isAdmin) return true;
    const perm = table.select.get(this.options.role);
    if (!perm) return false;
    if (cf.returnsTable && !this.canSelect(cf.returnsTable)) return false;
    return (perm.computed_fields ?? []).includes(cf.name);
  }

  relationshipAllowed(rel: RelationshipInfo): boolean {
    return this.canSelect(rel.target);
  }

  /** The select permission's filter on `alias` ('true' for the admin). */
  permFilter(table: TableInfo, alias: string): string {
    if (this.options.isAdmin) return 'true';
    const perm = table.select.get(this.options.role);
    if (!perm) return 'false';
    return this.permExp(table, alias, perm.filter ?? {});
  }

  permExp(table: TableInfo, alias: string, filter: Record<string, unknown>): string {
    return this.boolExp(table, alias, { js: filter }, '$', true);
  }

  // ---- boolean expressions ----

  /**
   * A `<table>_bool_exp` as SQL. As in Hasura v2, a null anywhere inside it (`_and: null`, `_not: null`,
   * a column or an operator given null) is refused: ignoring it would widen the filter, and
   * `delete_x(where: {id: {_eq: $id}})` with a null `$id` would delete every row. Only the select
   * argument `where: null` itself means no filter (see rowsSource).
   */
  boolExp(table: TableInfo, alias: string, v: Val, path: string, perm = false): string {
    if (perm && isNull(v, this)) return 'true';
    const parts: string[] = [];
    for (const [rawKey, sub] of objectEntries(v, this, `${table.name}_bool_exp`, path)) {
      // Permissions also accept the legacy `$and`, `$or`, `$not`, `$exists` spellings.
      const k = perm && rawKey.startsWith('$') ? `_${rawKey.slice(1)}` : rawKey;
      const p = `${path}.${rawKey}`;
      if (k === '_and' || k === '_or') {
        if (!perm && isNull(sub, this)) throw validation('expected a list, but found null', p);
        const items = listItems(sub, this).map((item, i) => this.boolExp(table, alias, item, perm ? p : `${p}[${i}]`, perm));
        if (!items.length) parts.push(k === '_and' ? 'true' : 'false');
        else parts.push(`(${items.join(k === '_and' ? ' AND ' : ' OR ')})`);
      } else if (k === '_not') {
        parts.push(`NOT (${this.boolExp(table, alias, sub, p, perm)})`);
      } else if (k === '_exists' && perm) {
        // Permissions only: Hasura's client bool_exp has no _exists, and a client's would read the target
        // table with no select permission applied. A client's falls through to "not found" below.
        const entries = new Map(objectEntries(sub, this, `${table.name}_exists`, p));
        const tableVal = entries.get('_table');
        const whereVal = entries.get('_where');
        if (!tableVal || !whereVal) throw validation('"_exists" needs "_table" and "_where"', p);
        const t = jsValue(tableVal, this) as { schema?: string; name: string } | string;
        const target = this.model.tablesByKey.get(typeof t === 'string' ? `public.${t}` : `${t.schema ?? 'public'}.${t.name}`);
        if (!target) throw validation(`table ${JSON.stringify(t)} is not tracked`, p);
        const a = this.alias();
        parts.push(`EXISTS (SELECT 1 FROM ${target.sql} AS ${a} WHERE ${this.boolExp(target, a, whereVal, p, perm)})`);
      } else {
        const column = perm ? table.byName.get(k) : table.byField.get(k);
        if (column && (perm || this.columnAllowed(table, column))) {
          parts.push(this.compare(table, column, `${alias}.${quoteIdent(column.name)}`, sub, p, perm, alias));
          continue;
        }
        const rel = table.objectRelationships.get(k) ?? table.arrayRelationships.get(k);
        if (rel && (perm || this.relationshipAllowed(rel))) {
          const a = this.alias();
          const join = rel.mapping.map(([l, r]) => `${alias}.${quoteIdent(l)} = ${a}.${quoteIdent(r)}`).join(' AND ');
          const targetPerm = perm ? 'true' : this.permFilter(rel.target, a);
          parts.push(
            `EXISTS (SELECT 1 FROM ${rel.target.sql} AS ${a} WHERE ${join} AND ${targetPerm} AND ${this.boolExp(rel.target, a, sub, p, perm)})`,
          );
          continue;
        }
        const aggRel = k.endsWith('_aggregate') ? table.arrayRelationships.get(k.slice(0, -10)) : undefined;
        if (aggRel && (perm || (this.relationshipAllowed(aggRel) && this.aggregationsAllowed(aggRel.target)))) {
          parts.push(this.aggregateBoolExp(table, alias, aggRel, sub, p, perm));
          continue;
        }
        const cf = table.computedFields.get(k);
        // Hasura's bool_exp has computed fields without input arguments only (BoolExp.hs, boolExpField).
        if (cf && (perm || (this.computedAllowed(table, cf) && computedInputArgs(cf).length === 0))) {
          const call = this.computedCall(table, cf, alias, new Map(), p);
          if (cf.returnsTable) {
            const a = this.alias();
            parts.push(`EXISTS (SELECT 1 FROM ${call} AS ${a} WHERE ${this.boolExp(cf.returnsTable, a, sub, p, perm)})`);
          } else {
            const info = { scalar: cf.scalar, isArray: false, castType: cf.fn.returnType, name: cf.name } as ColumnInfo;
            parts.push(this.compare(table, info, call, sub, p, perm, alias));
          }
          continue;
        }
        throw validation(`field "${k}" not found in type: '${table.name}_bool_exp'`, p);
      }
    }
    return parts.length === 0 ? 'true' : parts.length === 1 ? (parts[0] as string) : `(${parts.join(' AND ')})`;
  }

  /**
   * `<rel>_aggregate: {<fn>: {arguments, distinct, filter, predicate}}`, as Hasura's aggregation
   * predicates (Schema/BoolExp/AggregationPredicates.hs): exactly one function, its `predicate` a
   * comparison of the function's result over the related rows the role may read.
   */
  private aggregateBoolExp(table: TableInfo, alias: string, rel: RelationshipInfo, v: Val, path: string, perm: boolean): string {
    const target = rel.target;
    const a = this.alias();
    const join = rel.mapping.map(([l, r]) => `${alias}.${quoteIdent(l)} = ${a}.${quoteIdent(r)}`).join(' AND ');
    const targetPerm = perm ? 'true' : this.permFilter(target, a);
    const typeName = `${target.name}_aggregate_bool_exp`;
    const cols = target.columns.filter((c) => perm || this.columnAllowed(target, c));
    const available = aggregatePredicateFunctions.filter((fn) => aggregatePredicateColumns(fn, cols).length > 0);
    const given: [string, Val][] = [];
    for (const [fn, body] of objectEntries(v, this, typeName, path)) {
      if (!available.some((x) => x.name === fn)) throw validation(`field "${fn}" not found in type: '${typeName}'`, `${path}.${fn}`);
      if (!isNull(body, this)) given.push([fn, body]);
    }
    if (given.length !== 1) throw validation('exactly one predicate should be specified', path);
    const [fnName, body] = given[0] as [string, Val];
    const fn = available.find((x) => x.name === fnName) as (typeof aggregatePredicateFunctions)[number];
    const p = `${path}.${fnName}`;
    const bodyType = `${typeName}_${fnName}`;
    const entries = new Map(objectEntries(body, this, bodyType, p));
    for (const k of entries.keys()) {
      if (!['arguments', 'distinct', 'filter', 'predicate'].includes(k))
        throw validation(`field "${k}" not found in type: '${bodyType}'`, `${p}.${k}`);
    }
    const columnsOf = aggregatePredicateColumns(fn, cols);
    const columnArg = (x: Val, enumName: string, at: string): string => {
      const value = jsValue(x, this);
      const col = columnsOf.find((c) => c.field === value);
      if (!col) {
        throw validation(
          `expected one of the values ${columnsOf.map((c) => c.field).join(', ')} for type "${enumName}", but found ${stringifyExact(value)}`,
          at,
        );
      }
      return `${a}.${quoteIdent(col.name)}`;
    };
    const argsVal = entries.get('arguments');
    let args: string[];
    if (fn.args === '*') {
      const enumName = `${target.name}_select_column`;
      args =
        argsVal && !isNull(argsVal, this) ? listItems(argsVal, this).map((x, i) => columnArg(x, enumName, `${p}.arguments[${i}]`)) : [];
    } else {
      if (!argsVal) throw validation('missing required field "arguments"', p);
      const enumName = `${target.name}_select_column_${bodyType}_arguments_columns`;
      if (typeof fn.args === 'string') args = [columnArg(argsVal, enumName, `${p}.arguments`)];
      else {
        const argsType = `${bodyType}_arguments`;
        const named = new Map(objectEntries(argsVal, this, argsType, `${p}.arguments`));
        for (const k of named.keys()) {
          if (!fn.args.includes(k)) throw validation(`field "${k}" not found in type: '${argsType}'`, `${p}.arguments.${k}`);
        }
        args = fn.args.map((name) => {
          const x = named.get(name);
          if (!x) throw validation(`missing required field "${name}"`, `${p}.arguments`);
          return columnArg(x, enumName, `${p}.arguments.${name}`);
        });
      }
    }
    const distinctVal = entries.get('distinct');
    const distinct = distinctVal ? jsValue(distinctVal, this) === true : false;
    const filter = entries.get('filter');
    const where = filter && !isNull(filter, this) ? this.boolExp(target, a, filter, `${p}.filter`, perm) : 'true';
    const predicate = entries.get('predicate');
    if (!predicate) throw validation('missing required field "predicate"', p);
    const call = args.length ? `${fnName}(${distinct ? 'DISTINCT ' : ''}${args.join(', ')})` : `${fnName}(*)`;
    const value = `(SELECT ${call} FROM ${target.sql} AS ${a} WHERE ${join} AND ${targetPerm} AND ${where})`;
    const castType = fn.returns === 'Int' ? 'int4' : fn.returns === 'Boolean' ? 'bool' : 'float8';
    const info = { scalar: fn.returns, isArray: false, castType, name: fnName } as ColumnInfo;
    return this.compare(table, info, value, predicate, `${p}.predicate`, perm, alias);
  }

  private compare(table: TableInfo, column: ColumnInfo, expr: string, v: Val, path: string, perm: boolean, alias: string): string {
    const parts: string[] = [];
    const typeName = comparisonTypeName(column);
    const value = (x: Val, p: string, array = false): string => {
      if (perm && 'js' in x && typeof x.js === 'string' && /^x-hasura-/i.test(x.js)) {
        return this.session(x.js, array ? `${column.castType}[]` : column.castType);
      }
      return this.param(x, array ? `${column.castType}[]` : column.castType, column.scalar, array || column.isArray, p);
    };
    // In permissions a bare value means `_eq`, and operators may be spelled `$eq`.
    const entries: [string, Val][] =
      perm && 'js' in v && (v.js === null || typeof v.js !== 'object' || Array.isArray(v.js))
        ? [['_eq', v]]
        : objectEntries(v, this, typeName, path).map(([op, x]) => [perm && op.startsWith('$') ? `_${op.slice(1)}` : op, x]);
    // Outside permissions, an operator given null is refused as Hasura's column parsers refuse it.
    const refuseNull = (x: Val, p: string, scalar = column.scalar) => {
      if (!perm && isNull(x, this)) throw validation(`unexpected null value for type "${scalar}"`, p);
    };
    const refuseNullList = (x: Val, p: string) => {
      if (!perm && isNull(x, this)) throw validation('expected a list, but found null', p);
    };
    for (const [op, x] of entries) {
      const p = `${path}.${op}`;
      if (op in comparisonOps) {
        refuseNull(x, p);
        if (isNull(x, this)) continue;
        const colRef = perm ? this.columnRef(table, alias, x) : null;
        parts.push(`${expr} ${comparisonOps[op]} ${colRef ?? value(x, p)}`);
      } else if (op === '_in' || op === '_nin') {
        refuseNullList(x, p);
        if (isNull(x, this)) continue;
        const arr = perm && 'js' in x && typeof x.js === 'string' ? value(x, p, true) : this.listParam(x, column, p);
        parts.push(op === '_in' ? `${expr} = ANY(${arr})` : `NOT (${expr} = ANY(${arr}))`);
      } else if (op === '_cast') {
        // `_cast: {String: {...}}` compares the column's text form.
        for (const [target, inner] of objectEntries(x, this, `${column.scalar}_cast_exp`, p)) {
          if (target !== 'String') throw validation(`field "${target}" not found in type: '${column.scalar}_cast_exp'`, `${p}.${target}`);
          const asText = { ...column, scalar: 'String', isArray: false, castType: 'text' } as ColumnInfo;
          parts.push(this.compare(table, asText, `(${expr})::text`, inner, `${p}.${target}`, perm, alias));
        }
      } else if (op === '_is_null') {
        const b = jsValue(x, this);
        if (b === null && perm) continue;
        if (typeof b !== 'boolean') throw validation(`expected a boolean for type "Boolean", but found ${describe(b)}`, p);
        parts.push(b ? `${expr} IS NULL` : `${expr} IS NOT NULL`);
      } else if (op in textOps && !column.isArray) {
        refuseNull(x, p);
        if (isNull(x, this)) continue;
        parts.push(`${expr} ${textOps[op]} ${value(x, p)}`);
      } else if (op in jsonbOps && column.scalar === 'jsonb') {
        // `_has_key` takes a nullable String (a null key matches no row); the other operators refuse null.
        if (op === '_has_keys_any' || op === '_has_keys_all') refuseNullList(x, p);
        else if (op !== '_has_key') refuseNull(x, p);
        if (isNull(x, this) && (perm || op !== '_has_key')) continue;
        const [sqlOp, cast] = jsonbOps[op] as [string, string];
        if (perm && 'js' in x && typeof x.js === 'string' && /^x-hasura-/i.test(x.js))
          parts.push(`${expr} ${sqlOp} ${this.session(x.js, cast)}`);
        else if (cast === 'text[]') parts.push(`${expr} ${sqlOp} ${this.param(x, cast, 'String', true, p)}`);
        else if (cast === 'text') parts.push(`${expr} ${sqlOp} ${this.param(x, cast, 'String', false, p)}`);
        else parts.push(`${expr} ${sqlOp} ${this.param(x, cast, 'jsonb', false, p)}`);
      } else if ((op === '_contains' || op === '_contained_in') && column.isArray) {
        refuseNull(x, p);
        if (isNull(x, this)) continue;
        parts.push(`${expr} ${op === '_contains' ? '@>' : '<@'} ${value(x, p)}`);
      } else if (perm && ['_ceq', '_cne', '_cgt', '_clt', '_cgte', '_clte'].includes(op)) {
        const other = this.columnRef(table, alias, x) ?? `${alias}.${quoteIdent(String(jsValue(x, this)))}`;
        const sqlOp = comparisonOps[`_${op.slice(2)}`] ?? '=';
        parts.push(`${expr} ${sqlOp} ${other}`);
      } else {
        throw validation(`field "${op}" not found in type: '${typeName}'`, p);
      }
    }
    return parts.length === 0 ? 'true' : parts.length === 1 ? (parts[0] as string) : `(${parts.join(' AND ')})`;
  }

  /** In permissions, `{"_eq": ["$", "col"]}` style column references are not Hasura's; only _c* ops take columns. */
  private columnRef(_table: TableInfo, _alias: string, _x: Val): string | null {
    return null;
  }

  /** The list of an `_in`/`_nin`: a null item is refused, as Hasura's column parser refuses it. */
  private listParam(x: Val, column: ColumnInfo, path: string): string {
    const checked = (items: unknown[]) => {
      const i = items.findIndex((item) => item === null || item === undefined);
      if (i >= 0) throw validation(`unexpected null value for type "${column.scalar}"`, `${path}[${i}]`);
      return toPgParam(items, column.scalar, true, path);
    };
    if ('node' in x && x.node.kind === Kind.VARIABLE) {
      const name = x.node.name.value;
      this.params.push((ctx) => {
        const value = ctx.vars[name];
        return checked(Array.isArray(value) ? value : [value]);
      });
      return `$${this.params.length}::${column.castType}[]`;
    }
    const items = listItems(x, this).map((item) => jsValue(item, this));
    return this.constParam(checked(items), `${column.castType}[]`);
  }

  // ---- order by ----

  orderBy(table: TableInfo, alias: string, v: Val, path: string): { expr: string; dir: string }[] {
    const out: { expr: string; dir: string }[] = [];
    for (const item of listItems(v, this)) {
      for (const [k, sub] of objectEntries(item, this, `${table.name}_order_by`, path)) {
        const p = `${path}.${k}`;
        if (isNull(sub, this)) continue;
        const column = table.byField.get(k);
        if (column && this.columnAllowed(table, column)) {
          out.push({ expr: `${alias}.${quoteIdent(column.name)}`, dir: this.direction(sub, p) });
          continue;
        }
        const objRel = table.objectRelationships.get(k);
        if (objRel && this.relationshipAllowed(objRel)) {
          const a = this.alias();
          const join = objRel.mapping.map(([l, r]) => `${alias}.${quoteIdent(l)} = ${a}.${quoteIdent(r)}`).join(' AND ');
          for (const inner of this.orderBy(objRel.target, a, sub, p)) {
            out.push({
              expr: `(SELECT ${inner.expr} FROM ${objRel.target.sql} AS ${a} WHERE ${join} AND ${this.permFilter(objRel.target, a)} LIMIT 1)`,
              dir: inner.dir,
            });
          }
          continue;
        }
        const aggRel = k.endsWith('_aggregate') ? table.arrayRelationships.get(k.slice(0, -10)) : undefined;
        if (aggRel && this.relationshipAllowed(aggRel)) {
          const a = this.alias();
          const join = aggRel.mapping.map(([l, r]) => `${alias}.${quoteIdent(l)} = ${a}.${quoteIdent(r)}`).join(' AND ');
          const from = `FROM ${aggRel.target.sql} AS ${a} WHERE ${join} AND ${this.permFilter(aggRel.target, a)}`;
          this.aggregateOrderBy(aggRel.target, a, from, sub, p, out);
          continue;
        }
        // Hasura's order_by has computed fields without input arguments only (OrderBy.hs): a scalar one
        // as `<cf>: order_by`, a table-returning one as `<cf>_aggregate: <target>_aggregate_order_by`.
        const cfAgg = k.endsWith('_aggregate') ? table.computedFields.get(k.slice(0, -10)) : undefined;
        if (cfAgg?.returnsTable && this.computedAllowed(table, cfAgg) && computedInputArgs(cfAgg).length === 0) {
          const a = this.alias();
          const call = this.computedCall(table, cfAgg, alias, new Map(), p);
          const from = `FROM ${call} AS ${a} WHERE ${this.permFilter(cfAgg.returnsTable, a)}`;
          this.aggregateOrderBy(cfAgg.returnsTable, a, from, sub, p, out);
          continue;
        }
        const cf = table.computedFields.get(k);
        if (cf && !cf.returnsTable && this.computedAllowed(table, cf) && computedInputArgs(cf).length === 0) {
          out.push({ expr: this.computedCall(table, cf, alias, new Map(), p), dir: this.direction(sub, p) });
          continue;
        }
        throw validation(`field "${k}" not found in type: '${table.name}_order_by'`, p);
      }
    }
    return out;
  }

  /** `<target>_aggregate_order_by`: `count`, and per aggregate operator the columns it applies to, as Hasura's `orderByAggregation`. */
  private aggregateOrderBy(target: TableInfo, a: string, from: string, sub: Val, p: string, out: { expr: string; dir: string }[]): void {
    for (const [fn, body] of objectEntries(sub, this, `${target.name}_aggregate_order_by`, p)) {
      if (isNull(body, this)) continue;
      const cols = aggregateOps.includes(fn) ? target.columns.filter((c) => this.columnAllowed(target, c) && aggregatable(fn, c)) : [];
      if (fn === 'count') {
        out.push({ expr: `(SELECT count(*) ${from})`, dir: this.direction(body, `${p}.count`) });
      } else if (cols.length) {
        for (const [colName, dir] of objectEntries(body, this, `${target.name}_${fn}_order_by`, `${p}.${fn}`)) {
          if (isNull(dir, this)) continue;
          const col = cols.find((c) => c.field === colName);
          if (!col) throw validation(`field "${colName}" not found in type: '${target.name}_${fn}_order_by'`, `${p}.${fn}.${colName}`);
          out.push({ expr: `(SELECT ${fn}(${a}.${quoteIdent(col.name)}) ${from})`, dir: this.direction(dir, `${p}.${fn}.${colName}`) });
        }
      } else {
        throw validation(`field "${fn}" not found in type: '${target.name}_aggregate_order_by'`, `${p}.${fn}`);
      }
    }
  }

  private direction(v: Val, path: string): string {
    const value = jsValue(v, this);
    const dir = typeof value === 'string' ? directions[value] : undefined;
    if (!dir)
      throw validation(
        `expected one of the values asc, asc_nulls_first, asc_nulls_last, desc, desc_nulls_first, desc_nulls_last for type "order_by", but found ${stringifyExact(value)}`,
        path,
      );
    return dir;
  }

  // ---- selects ----

  /** A row of `table` (alias `alias`) as a JSON object with the requested fields. */
  rowJson(table: TableInfo, alias: string, set: SelectionSetNode, path: string): string {
    const pairs: [string, string][] = [];
    for (const f of this.collect(set, table.name, path)) {
      const p = f.path;
      pairs.push([f.alias, this.fieldExpr(table, alias, f, p)]);
    }
    return buildObject(pairs);
  }

  private rowValue(table: TableInfo, alias: string): string {
    return `ROW(${table.columns.map((c) => `${alias}.${quoteIdent(c.name)}`).join(', ')})::${table.sql}`;
  }

  computedCall(table: TableInfo, cf: ComputedFieldInfo, alias: string, args: Map<string, Val>, path: string): string {
    const parts: string[] = [];
    let positional = 0;
    for (const arg of cf.fn.args) {
      const name = arg.name;
      if (name === cf.tableArgument || (cf.tableArgument === null && positional === 0 && name !== cf.sessionArgument)) {
        parts.push(name ? `${quoteIdent(name)} => ${this.rowValue(table, alias)}` : this.rowValue(table, alias));
        positional += 1;
        continue;
      }
      positional += 1;
      if (name && name === cf.sessionArgument) {
        parts.push(`${quoteIdent(name)} => ${this.sessionJson()}`);
        continue;
      }
      const v = name ? args.get(name) : undefined;
      if (v === undefined) {
        if (arg.hasDefault) continue;
        throw validation(`missing required field "${name}"`, `${path}.args`);
      }
      parts.push(
        `${quoteIdent(name as string)} => ${this.param(v, qualifiedType(arg.typeSchema, arg.type), scalarOf(arg.type), false, path)}`,
      );
    }
    return `${qualifiedSql(cf.fn.schema, cf.fn.name)}(${parts.join(', ')})`;
  }

  private fieldExpr(table: TableInfo, alias: string, f: MergedField, path: string): string {
    if (f.name === '__typename') return `'${table.name.replaceAll("'", "''")}'::text`;
    const column = table.byField.get(f.name);
    if (column && this.columnAllowed(table, column)) {
      this.leaf(f);
      const isJson = column.scalar === 'json' || column.scalar === 'jsonb';
      const colArgs = this.args(f, isJson ? ['path'] : [], path);
      const pathArg = colArgs.get('path');
      if (pathArg && !isNull(pathArg, this)) {
        const keys = parseJsonPath(String(jsValue(pathArg, this)), `${path}.args.path`);
        return `${alias}.${quoteIdent(column.name)} #> ${this.constParam(keys, 'text[]')}`;
      }
      const ref = `${alias}.${quoteIdent(column.name)}`;
      if (this.options.stringifyNumeric && stringifiedScalars.has(column.scalar)) {
        return column.isArray ? `${ref}::text[]` : `${ref}::text`;
      }
      return ref;
    }
    const objRel = table.objectRelationships.get(f.name);
    if (objRel && this.relationshipAllowed(objRel)) {
      this.args(f, [], path);
      const a = this.alias();
      const join = objRel.mapping.map(([l, r]) => `${alias}.${quoteIdent(l)} = ${a}.${quoteIdent(r)}`).join(' AND ');
      const row = this.rowJson(objRel.target, a, this.subSelection(f, objRel.target.name), path);
      return `(SELECT ${row} FROM ${objRel.target.sql} AS ${a} WHERE ${join} AND ${this.permFilter(objRel.target, a)} LIMIT 1)`;
    }
    const arrRel = table.arrayRelationships.get(f.name);
    if (arrRel && this.relationshipAllowed(arrRel)) {
      return this.selectList(arrRel.target, f, path, { joinFrom: alias, mapping: arrRel.mapping });
    }
    if (f.name.endsWith('_aggregate')) {
      const aggRel = table.arrayRelationships.get(f.name.slice(0, -10));
      if (aggRel && this.relationshipAllowed(aggRel) && this.aggregationsAllowed(aggRel.target)) {
        return this.selectAggregate(aggRel.target, f, path, { joinFrom: alias, mapping: aggRel.mapping });
      }
    }
    const cf = table.computedFields.get(f.name);
    if (cf && this.computedAllowed(table, cf)) {
      if (cf.returnsTable) {
        const hasArgs = computedInputArgs(cf).length > 0;
        const fnArgs = this.args(f, [...(hasArgs ? ['args'] : []), 'where', 'order_by', 'limit', 'offset', 'distinct_on'], path).get(
          'args',
        );
        const callArgs = this.computedArgs(table, cf, fnArgs, path);
        const call = this.computedCall(table, cf, alias, callArgs, path);
        return this.selectList(cf.returnsTable, f, path, { source: call, extraArgs: hasArgs ? ['args'] : [] });
      }
      this.leaf(f);
      const fnArgs = this.args(f, computedInputArgs(cf).length > 0 ? ['args'] : [], path).get('args');
      const callArgs = this.computedArgs(table, cf, fnArgs, path);
      const call = this.computedCall(table, cf, alias, callArgs, path);
      if (this.options.stringifyNumeric && stringifiedScalars.has(cf.scalar)) return `(${call})::text`;
      return call;
    }
    throw validation(`field "${f.name}" not found in type: '${table.name}'`, path);
  }

  /** A computed field's `args` (`<cf>_<table>_args`): its function's input arguments by name. */
  private computedArgs(table: TableInfo, cf: ComputedFieldInfo, v: Val | undefined, path: string): Map<string, Val> {
    if (!v || isNull(v, this)) return new Map();
    const typeName = computedArgsTypeName(table, cf);
    const names = computedInputArgs(cf).map((a) => a.name);
    const out = new Map(objectEntries(v, this, typeName, `${path}.args.args`));
    for (const k of out.keys())
      if (!names.includes(k)) throw validation(`field "${k}" not found in type: '${typeName}'`, `${path}.args.args.${k}`);
    return out;
  }

  aggregationsAllowed(table: TableInfo): boolean {
    return this.options.isAdmin || table.select.get(this.options.role)?.allow_aggregations === true;
  }

  /** Rows of a table (or a function returning its rows) filtered, ordered and paged: the FROM of a select. */
  private rowsSource(
    table: TableInfo,
    args: Map<string, Val>,
    path: string,
    src: SourceSpec,
  ): { sql: string; alias: string; outerOrder: string } {
    const a = this.alias();
    const conds: string[] = [];
    const from = src.source ? `${src.source} AS ${a}` : `${table.sql} AS ${a}`;
    if (src.joinFrom && src.mapping) {
      for (const [l, r] of src.mapping) conds.push(`${src.joinFrom}.${quoteIdent(l)} = ${a}.${quoteIdent(r)}`);
    }
    conds.push(this.permFilter(table, a));
    if (src.extraWhere) conds.push(src.extraWhere(a));
    // `where: null` is no filter, as in Hasura; a null inside the expression is refused by boolExp.
    const where = args.get('where');
    if (where && !isNull(where, this)) conds.push(this.boolExp(table, a, where, `${path}.args.where`));
    const order = args.get('order_by') ? this.orderBy(table, a, args.get('order_by') as Val, `${path}.args.order_by`) : [];
    const distinct = args.get('distinct_on');
    let distinctSql = '';
    if (distinct && !isNull(distinct, this)) {
      const cols = listItems(distinct, this).map((d) => {
        const name = jsValue(d, this);
        const col = table.byField.get(String(name));
        if (!col || !this.columnAllowed(table, col)) {
          throw validation(
            `expected one of the values ${table.columns.map((c) => c.field).join(', ')} for type "${table.name}_select_column", but found ${stringifyExact(name)}`,
            `${path}.args.distinct_on`,
          );
        }
        return `${a}.${quoteIdent(col.name)}`;
      });
      if (order.length) {
        const lead = order.slice(0, cols.length).map((o) => o.expr);
        if (lead.length < cols.length || !cols.every((c) => lead.includes(c))) {
          throw validation('"distinct_on" columns must match initial "order_by" columns', `${path}.args`);
        }
      } else for (const c of cols) order.push({ expr: c, dir: 'ASC NULLS LAST' });
      distinctSql = `DISTINCT ON (${cols.join(', ')}) `;
    }
    let limitSql = '';
    const limitVal = args.get('limit');
    const permLimit = this.options.isAdmin ? undefined : table.select.get(this.options.role)?.limit;
    if (limitVal && !isNull(limitVal, this)) {
      limitSql = ` LIMIT ${this.limitParam(limitVal, `${path}.args.limit`, limitValue, permLimit)}`;
    } else if (permLimit !== undefined && src.applyPermLimit !== false) {
      limitSql = ` LIMIT ${Number(permLimit)}`;
    }
    const offsetVal = args.get('offset');
    const offsetSql =
      offsetVal && !isNull(offsetVal, this) ? ` OFFSET ${this.limitParam(offsetVal, `${path}.args.offset`, offsetValue)}` : '';
    const orderCols = order.map((o, i) => `${o.expr} AS "__o${i}"`);
    const select = [`${a}.*`, ...orderCols].join(', ');
    const orderSql = order.length ? ` ORDER BY ${order.map((o) => `${o.expr} ${o.dir}`).join(', ')}` : '';
    const sql = `SELECT ${distinctSql}${select} FROM ${from} WHERE ${conds.join(' AND ')}${orderSql}${limitSql}${offsetSql}`;
    const b = this.alias();
    const outerOrder = order.length ? ` ORDER BY ${order.map((o, i) => `${b}."__o${i}" ${o.dir}`).join(', ')}` : '';
    return { sql, alias: b, outerOrder };
  }

  /**
   * A limit or offset, as a parameter; a limit at most the permission's. The limit is Hasura's
   * `nonNegativeInt` (an Int32), the offset its `bigInt` (an Int64, or a string of digits).
   */
  private limitParam(v: Val, path: string, parse: (value: unknown, path: string) => bigint, permLimit?: number): string {
    const check = (value: unknown) => {
      const n = parse(value, path);
      return permLimit !== undefined && n > BigInt(permLimit) ? BigInt(permLimit) : n;
    };
    if ('node' in v && v.node.kind === Kind.VARIABLE) {
      const name = v.node.name.value;
      this.params.push((ctx) => String(check(ctx.vars[name])));
    } else {
      const value = String(check(jsValue(v, this)));
      this.params.push(() => value);
    }
    return `$${this.params.length}::int8`;
  }

  /** A JSON array of rows. */
  selectList(table: TableInfo, f: MergedField, path: string, src: SourceSpec = {}): string {
    const allowed = ['where', 'order_by', 'limit', 'offset', 'distinct_on', ...(src.extraArgs ?? [])];
    const args = this.args(f, allowed, path);
    const rows = this.rowsSource(table, args, path, src);
    const row = this.rowJson(table, rows.alias, this.subSelection(f, table.name), path);
    return `(SELECT coalesce(json_agg(${row}${rows.outerOrder}), '[]'::json) FROM (${rows.sql}) AS ${rows.alias})`;
  }

  /** `{ aggregate { count sum {…} … } nodes {…} }` over the selected rows. */
  selectAggregate(table: TableInfo, f: MergedField, path: string, src: SourceSpec = {}): string {
    const allowed = ['where', 'order_by', 'limit', 'offset', 'distinct_on', ...(src.extraArgs ?? [])];
    const args = this.args(f, allowed, path);
    const rows = this.rowsSource(table, args, path, { ...src, applyPermLimit: false });
    const b = rows.alias;
    const pairs: [string, string][] = [];
    for (const part of this.collect(this.subSelection(f, `${table.name}_aggregate`), `${table.name}_aggregate`, path)) {
      const p = part.path;
      if (part.name === '__typename') pairs.push([part.alias, `'${table.name}_aggregate'::text`]);
      else if (part.name === 'nodes') {
        this.args(part, [], p);
        pairs.push([
          part.alias,
          `coalesce(json_agg(${this.rowJson(table, b, this.subSelection(part, table.name), p)}${rows.outerOrder}), '[]'::json)`,
        ]);
      } else if (part.name === 'aggregate') {
        this.args(part, [], p);
        pairs.push([part.alias, this.aggregateFields(table, b, part, p)]);
      } else throw validation(`field "${part.name}" not found in type: '${table.name}_aggregate'`, p);
    }
    return `(SELECT ${buildObject(pairs)} FROM (${rows.sql}) AS ${b})`;
  }

  private aggregateFields(table: TableInfo, b: string, f: MergedField, path: string): string {
    const pairs: [string, string][] = [];
    const typeName = `${table.name}_aggregate_fields`;
    for (const part of this.collect(this.subSelection(f, typeName), typeName, path)) {
      const p = part.path;
      if (part.name === '__typename') {
        pairs.push([part.alias, `'${typeName}'::text`]);
      } else if (part.name === 'count') {
        this.leaf(part);
        const args = this.args(part, ['columns', 'distinct'], p);
        const cols = args.get('columns');
        const distinct = args.get('distinct') ? jsValue(args.get('distinct') as Val, this) === true : false;
        let expr = 'count(*)';
        if (cols && !isNull(cols, this)) {
          const refs = listItems(cols, this).map((c) => {
            const name = String(jsValue(c, this));
            const col = table.byField.get(name);
            if (!col || !this.columnAllowed(table, col)) {
              throw validation(
                `expected one of the values for type "${table.name}_select_column", but found "${name}"`,
                `${p}.args.columns`,
              );
            }
            return `${b}.${quoteIdent(col.name)}`;
          });
          const inner = refs.length === 1 ? (refs[0] as string) : `ROW(${refs.join(', ')})`;
          expr = distinct ? `count(DISTINCT ${inner})` : `count(${inner})`;
        } else if (distinct) expr = `count(DISTINCT ${b}.*)`;
        pairs.push([part.alias, expr]);
      } else if (aggregateOps.includes(part.name)) {
        this.args(part, [], p);
        const opType = `${table.name}_${part.name}_fields`;
        const inner: [string, string][] = [];
        for (const colField of this.collect(this.subSelection(part, opType), opType, p)) {
          const cp = colField.path;
          if (colField.name === '__typename') {
            inner.push([colField.alias, `'${opType}'::text`]);
            continue;
          }
          const col = table.byField.get(colField.name);
          if (!col || !this.columnAllowed(table, col) || !aggregatable(part.name, col)) {
            throw validation(`field "${colField.name}" not found in type: '${opType}'`, cp);
          }
          this.leaf(colField);
          this.args(colField, [], cp);
          let expr = `${part.name}(${b}.${quoteIdent(col.name)})`;
          // As Hasura's toJSONableExp, by the column's type for every operator (avg of a numeric or
          // bigint column is a string, avg of an Int column a number), whatever the field's GraphQL type.
          if (this.options.stringifyNumeric && stringifiedScalars.has(col.scalar)) expr = `(${expr})::text`;
          inner.push([colField.alias, expr]);
        }
        pairs.push([part.alias, buildObject(inner)]);
      } else {
        throw validation(`field "${part.name}" not found in type: '${typeName}'`, p);
      }
    }
    return buildObject(pairs);
  }

  selectByPk(table: TableInfo, f: MergedField, path: string): string {
    const pkCols = table.pg.primaryKey.map((n) => table.byName.get(n) as ColumnInfo);
    const args = this.args(
      f,
      pkCols.map((c) => c.field),
      path,
    );
    const a = this.alias();
    const conds = pkCols.map((c) => {
      const v = args.get(c.field);
      if (!v) throw validation(`missing required field "${c.field}"`, `${path}.args`);
      if (isNull(v, this)) throw validation(`unexpected null value for type "${c.scalar}"`, `${path}.args.${c.field}`);
      return `${a}.${quoteIdent(c.name)} = ${this.param(v, c.castType, c.scalar, c.isArray, `${path}.args.${c.field}`)}`;
    });
    conds.push(this.permFilter(table, a));
    const row = this.rowJson(table, a, this.subSelection(f, table.name), path);
    return `(SELECT ${row} FROM ${table.sql} AS ${a} WHERE ${conds.join(' AND ')} LIMIT 1)`;
  }

  /** The call of a tracked function with its `args` (named notation, each a bind parameter). */
  functionCall(fn: FunctionInfo, args: Map<string, Val>, path: string): string {
    const fnArgs = args.get('args');
    const given = fnArgs ? new Map(objectEntries(fnArgs, this, `${fn.field}_args`, `${path}.args.args`)) : new Map<string, Val>();
    for (const k of given.keys()) {
      if (!fn.args.some((a) => a.name === k))
        throw validation(`field "${k}" not found in type: '${fn.field}_args'`, `${path}.args.args.${k}`);
    }
    const parts: string[] = [];
    for (const [i, arg] of fn.fn.args.entries()) {
      const name = arg.name ?? `arg_${i + 1}`;
      if (fn.sessionArgument && name === fn.sessionArgument) {
        parts.push(`${quoteIdent(name)} => ${this.sessionJson()}`);
        continue;
      }
      const v = given.get(name);
      if (v === undefined) {
        if (arg.hasDefault) continue;
        throw validation(`missing required field "${name}"`, `${path}.args.args`);
      }
      const value = this.param(
        v,
        qualifiedType(arg.typeSchema, arg.type),
        scalarOf(arg.type),
        arg.type.startsWith('_'),
        `${path}.args.args.${name}`,
      );
      parts.push(arg.name ? `${quoteIdent(name)} => ${value}` : value);
    }
    return `${qualifiedSql(fn.fn.schema, fn.fn.name)}(${parts.join(', ')})`;
  }
}

export interface SourceSpec {
  joinFrom?: string;
  mapping?: [string, string][];
  source?: string;
  extraArgs?: string[];
  extraWhere?: (alias: string) => string;
  applyPermLimit?: boolean;
}

function qualifiedType(schema: string, type: string): string {
  if (schema === 'pg_catalog') return type.startsWith('_') ? `${type.slice(1)}[]` : type;
  return type.startsWith('_') ? `${qualifiedSql(schema, type.slice(1))}[]` : qualifiedSql(schema, type);
}

export function scalarOf(type: string): string {
  const t = type.startsWith('_') ? type.slice(1) : type;
  switch (t) {
    case 'int4':
      return 'Int';
    case 'text':
    case 'varchar':
      return 'String';
    case 'bool':
      return 'Boolean';
    case 'float4':
      return 'Float';
    default:
      return t;
  }
}

export function aggregatable(op: string, col: ColumnInfo): boolean {
  if (col.isArray) return false;
  if (op === 'max' || op === 'min') return !['json', 'jsonb', 'Boolean', 'point', 'uuid'].includes(col.scalar);
  return numericScalars.has(col.scalar);
}

/** Equal arguments, as Hasura compares them when merging fields: by name, values structurally (object fields in any order). */
function sameArguments(a: FieldNode, b: FieldNode): boolean {
  const left = new Map((a.arguments ?? []).map((x) => [x.name.value, x.value]));
  const right = new Map((b.arguments ?? []).map((x) => [x.name.value, x.value]));
  if (left.size !== right.size) return false;
  for (const [name, value] of left) {
    const other = right.get(name);
    if (!other || !sameValue(value, other)) return false;
  }
  return true;
}

function sameValue(a: ValueNode, b: ValueNode): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case Kind.VARIABLE:
      return a.name.value === (b as typeof a).name.value;
    case Kind.NULL:
      return true;
    case Kind.INT:
      return BigInt(a.value) === BigInt((b as typeof a).value);
    case Kind.FLOAT:
      return decimalKey(a.value) === decimalKey((b as typeof a).value);
    case Kind.STRING:
    case Kind.BOOLEAN:
    case Kind.ENUM:
      return a.value === (b as typeof a).value;
    case Kind.LIST: {
      const other = (b as typeof a).values;
      return a.values.length === other.length && a.values.every((v, i) => sameValue(v, other[i] as ValueNode));
    }
    case Kind.OBJECT: {
      const left = new Map(a.fields.map((f) => [f.name.value, f.value]));
      const right = new Map((b as typeof a).fields.map((f) => [f.name.value, f.value]));
      if (left.size !== right.size) return false;
      for (const [name, value] of left) {
        const other = right.get(name);
        if (!other || !sameValue(value, other)) return false;
      }
      return true;
    }
  }
}

/** A GraphQL float literal's exact value as a canonical key (digits and exponent), as Hasura's Scientific compares. */
function decimalKey(text: string): string {
  const [mantissa = '', exp = '0'] = text.toLowerCase().split('e');
  const negative = mantissa.startsWith('-');
  const [whole = '', fraction = ''] = mantissa.replace(/^[-+]/, '').split('.');
  let digits = `${whole}${fraction}`.replace(/^0+/, '');
  if (digits === '') return '0';
  let exponent = BigInt(exp) - BigInt(fraction.length);
  const trailing = digits.length - digits.replace(/0+$/, '').length;
  digits = digits.slice(0, digits.length - trailing);
  exponent += BigInt(trailing);
  return `${negative ? '-' : ''}${digits}e${exponent}`;
}

/** `json_build_object` for up to 50 pairs; more are built from a row, keeping the order. */
export function buildObject(pairs: [string, string][]): string {
  const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;
  if (pairs.length <= 50) return `json_build_object(${pairs.map(([k, v]) => `${lit(k)}, ${v}`).join(', ')})`;
  return `(SELECT row_to_json(_e) FROM (SELECT ${pairs.map(([k, v]) => `${v} AS ${quoteIdent(k)}`).join(', ')}) AS _e)`;
}

/** Hasura's `path` argument of json/jsonb columns (`$.a.b[0]`, `a`, `['k']`, `objs[0]["k"]`) as keys for `#>`. */
export function parseJsonPath(text: string, path: string): string[] {
  const keys: string[] = [];
  let i = 0;
  if (text.startsWith('$')) i = 1;
  const bad = () => validation(`parse json path error: ${text}`, path);
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '.') {
      i += 1;
      if (text[i] === '[') continue;
      const m = /^[^.[]+/.exec(text.slice(i));
      if (!m) throw bad();
      keys.push(m[0]);
      i += m[0].length;
    } else if (ch === '[') {
      const rest = text.slice(i);
      const num = /^\[(\d+)\]/.exec(rest);
      const quoted = /^\[(['"])(.*?)\1\]/.exec(rest);
      if (num) {
        keys.push(num[1] as string);
        i += num[0].length;
      } else if (quoted) {
        keys.push(quoted[2] as string);
        i += quoted[0].length;
      } else throw bad();
    } else if (i === 0 || (i === 1 && text.startsWith('$'))) {
      const m = /^[^.[]+/.exec(text.slice(i));
      if (!m) throw bad();
      keys.push(m[0]);
      i += m[0].length;
    } else throw bad();
  }
  return keys;
}

/**
 * The arguments of a computed field's function a client gives in `args` (Hasura's `_cffInputArgs`):
 * all but the table row argument and the session argument, chosen as computedCall chooses them.
 */
export function computedInputArgs(cf: ComputedFieldInfo): PgFunction['args'] {
  const out: PgFunction['args'] = [];
  for (const [i, arg] of cf.fn.args.entries()) {
    const name = arg.name;
    if (name === cf.tableArgument || (cf.tableArgument === null && i === 0 && name !== cf.sessionArgument)) continue;
    if (name && name === cf.sessionArgument) continue;
    out.push(arg);
  }
  return out;
}

/** Hasura's `mkFunctionArgsTypeName`: `<computed field>_<table>_args`. */
export function computedArgsTypeName(table: TableInfo, cf: ComputedFieldInfo): string {
  return `${cf.name}_${table.name}_args`;
}

/**
 * Hasura's Postgres aggregation predicates (Backends/Postgres/Instances/Schema.hs, `aggregationFunctions`),
 * in its order: the name, what the arguments are (`*`, one column of a scalar, or named columns) and the
 * scalar of the result, whose comparison expression is the `predicate`.
 */
export const aggregatePredicateFunctions: { name: string; args: '*' | string | string[]; returns: string }[] = [
  { name: 'avg', args: 'float8', returns: 'float8' },
  { name: 'bool_and', args: 'Boolean', returns: 'Boolean' },
  { name: 'bool_or', args: 'Boolean', returns: 'Boolean' },
  { name: 'count', args: '*', returns: 'Int' },
  { name: 'max', args: 'float8', returns: 'float8' },
  { name: 'min', args: 'float8', returns: 'float8' },
  { name: 'sum', args: 'float8', returns: 'float8' },
  { name: 'corr', args: ['Y', 'X'], returns: 'float8' },
  { name: 'covar_samp', args: ['Y', 'X'], returns: 'float8' },
  { name: 'stddev_samp', args: 'float8', returns: 'float8' },
  { name: 'var_samp', args: 'float8', returns: 'float8' },
];

/** The columns (of those given) an aggregation predicate's arguments may name: float8 ones for `args: 'float8'`, …. */
export function aggregatePredicateColumns(fn: (typeof aggregatePredicateFunctions)[number], cols: ColumnInfo[]): ColumnInfo[] {
  const scalar = fn.args === '*' ? null : Array.isArray(fn.args) ? 'float8' : fn.args;
  return cols.filter((c) => !c.isArray && (scalar === null || c.scalar === scalar));
}

/**
 * Hasura's `nonNegativeInt` (the limit): an Int literal or JSON number from 0 up is read as an Int32
 * (parse-failed beyond its bounds, or for a JSON number with a fraction); anything else, a negative
 * number or a Float literal included, is a type mismatch.
 */
function limitValue(value: unknown, path: string): bigint {
  const text = numberText(value);
  if (text !== undefined && Number(text) >= 0) return boundedInteger(text, INT32, path);
  throw validation(`expected a non-negative 32-bit integer for type "Int", but found ${describe(value)}`, path);
}

/**
 * Hasura's `bigInt` (the offset): an Int literal or JSON number read as an Int64 (parse-failed beyond
 * its bounds), or a string of digits read as Data.Text.Read's `decimal` reads it into an Int64
 * (wrapping around); anything else is a type mismatch. A negative offset is refused as before
 * (Hasura leaves it to Postgres).
 */
function offsetValue(value: unknown, path: string): bigint {
  const text = numberText(value);
  let n: bigint;
  if (text !== undefined) n = boundedInteger(text, INT64, path);
  else if (typeof value === 'string' && /^[0-9]+$/.test(value)) n = BigInt.asIntN(64, BigInt(value));
  else
    throw validation(
      `expected a 32-bit integer, or a 64-bit integer represented as a string for type "Int", but found ${describe(value)}`,
      path,
    );
  if (n < 0n) throw validation('expected a non-negative 32-bit integer for type "Int", but found an integer', path);
  return n;
}
