// The schema model: metadata joined with the Postgres catalog, with Hasura's default names.
// Everything that compiles GraphQL to SQL, and the introspection schema, reads this.
import { type Catalog, key, type PgColumn, type PgFunction, type PgTable } from './catalog.ts';
import { EngineError } from './errors.ts';
import {
  type DeletePermission,
  type FunctionEntry,
  type InsertPermission,
  type Metadata,
  qualified,
  type Relationship,
  type SelectPermission,
  type TableEntry,
  type UpdatePermission,
} from './metadata/types.ts';

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
export const qualifiedSql = (schema: string, name: string) => `${quoteIdent(schema)}.${quoteIdent(name)}`;

export interface ColumnInfo {
  /** Postgres name. */
  name: string;
  /** GraphQL field name (custom_name or the column name). */
  field: string;
  pg: PgColumn;
  /** GraphQL scalar name (`Int`, `String`, `uuid`, …); for arrays the element's. */
  scalar: string;
  isArray: boolean;
  /** SQL type to cast parameters to. */
  castType: string;
}

export interface RelationshipInfo {
  name: string;
  kind: 'object' | 'array';
  target: TableInfo;
  /** [local column, remote column] pairs. */
  mapping: [string, string][];
  /** Inserts of the parent run before (object FK on the parent) or after (array) this one. */
  insertOrder: 'before_parent' | 'after_parent';
  /**
   * Whether an object relationship's field is nullable, as Hasura decides it: non-null only for one
   * on this table's own foreign key (not manual, not the reverse side) whose columns are all NOT
   * NULL. Array relationships: always false (their lists are never null).
   */
  nullable: boolean;
}

export interface ComputedFieldInfo {
  name: string;
  fn: PgFunction;
  tableArgument: string | null;
  sessionArgument: string | null;
  /** Set when the function returns rows of a tracked table. */
  returnsTable: TableInfo | null;
  scalar: string;
  comment?: string;
}

export interface FunctionInfo {
  entry: FunctionEntry;
  fn: PgFunction;
  field: string;
  aggregateField: string;
  exposedAs: 'query' | 'mutation';
  returns: TableInfo;
  sessionArgument: string | null;
  /** Arguments shown in GraphQL (without the session argument). */
  args: { name: string; type: string; scalar: string; hasDefault: boolean }[];
  permissions: Set<string>;
}

export interface RootNames {
  select: string;
  select_by_pk: string;
  select_aggregate: string;
  insert: string;
  insert_one: string;
  update: string;
  update_by_pk: string;
  update_many: string;
  delete: string;
  delete_by_pk: string;
}

export interface TableInfo {
  entry: TableEntry;
  pg: PgTable;
  sql: string;
  name: string;
  columns: ColumnInfo[];
  byField: Map<string, ColumnInfo>;
  byName: Map<string, ColumnInfo>;
  objectRelationships: Map<string, RelationshipInfo>;
  arrayRelationships: Map<string, RelationshipInfo>;
  computedFields: Map<string, ComputedFieldInfo>;
  roots: RootNames;
  select: Map<string, SelectPermission>;
  insert: Map<string, InsertPermission>;
  update: Map<string, UpdatePermission>;
  delete: Map<string, DeletePermission>;
}

export interface Model {
  tables: TableInfo[];
  tablesByKey: Map<string, TableInfo>;
  functions: FunctionInfo[];
  catalog: Catalog;
  roles: Set<string>;
}

/**
 * Scalars of Hasura's numeric columns (`isNumType`: integer, smallint, bigint, real, double precision,
 * numeric, money): those with `sum` / `avg` / `stddev` / … aggregate fields and `_inc`.
 */
export const numericScalars: ReadonlySet<string> = new Set(['Int', 'smallint', 'bigint', 'Float', 'float8', 'numeric', 'money']);

/**
 * Scalars Hasura answers as JSON strings with HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES (`isBigNum`: bigint,
 * bigserial, numeric, double precision, money), as `toJSONableExp` casts them to text: columns, scalar
 * computed fields, and every aggregate of such a column (`avg` too, although its GraphQL type is Float).
 */
export const stringifiedScalars: ReadonlySet<string> = new Set(['bigint', 'numeric', 'float8', 'money']);

/** Hasura's GraphQL scalar for a Postgres type name. */
export function scalarFor(typeName: string): string {
  switch (typeName) {
    case 'int4':
      return 'Int';
    case 'int2':
      return 'smallint';
    case 'int8':
      return 'bigint';
    case 'float4':
      return 'Float';
    case 'float8':
      return 'float8';
    case 'text':
    case 'varchar':
      return 'String';
    case 'bool':
      return 'Boolean';
    default:
      return typeName;
  }
}

export function tableKeyOf(value: { schema: string; name: string } | string): string {
  const q = qualified(value);
  return key(q.schema, q.name);
}

function castTypeOf(column: PgColumn): string {
  return column.sqlType;
}

function defaultTableName(table: PgTable): string {
  return table.schema === 'public' ? table.name : `${table.schema}_${table.name}`;
}

/** Builds the model, failing with a message that names the first thing that does not exist. */
export function buildModel(metadata: Metadata, catalog: Catalog): Model {
  const source = metadata.sources[0];
  const model: Model = { tables: [], tablesByKey: new Map(), functions: [], catalog, roles: new Set() };
  if (!source) return model;
  for (const entry of source.tables) {
    const tableKey = tableKeyOf(entry.table);
    const pg = catalog.tables.get(tableKey);
    if (!pg) throw new EngineError('invalid-configuration', `table "${entry.table.name}" does not exist`, '$.args');
    const config = entry.configuration ?? {};
    const name = config.custom_name ?? defaultTableName(pg);
    const columns: ColumnInfo[] = pg.columns.map((c) => {
      const field = config.column_config?.[c.name]?.custom_name ?? config.custom_column_names?.[c.name] ?? c.name;
      const isArray = c.elemType !== null;
      return { name: c.name, field, pg: c, scalar: scalarFor(isArray ? (c.elemType as string) : c.type), isArray, castType: castTypeOf(c) };
    });
    const r = config.custom_root_fields ?? {};
    const roots: RootNames = {
      select: r.select ?? name,
      select_by_pk: r.select_by_pk ?? `${name}_by_pk`,
      select_aggregate: r.select_aggregate ?? `${name}_aggregate`,
      insert: r.insert ?? `insert_${name}`,
      insert_one: r.insert_one ?? `insert_${name}_one`,
      update: r.update ?? `update_${name}`,
      update_by_pk: r.update_by_pk ?? `update_${name}_by_pk`,
      update_many: r.update_many ?? `update_${name}_many`,
      delete: r.delete ?? `delete_${name}`,
      delete_by_pk: r.delete_by_pk ?? `delete_${name}_by_pk`,
    };
    const info: TableInfo = {
      entry,
      pg,
      sql: qualifiedSql(pg.schema, pg.name),
      name,
      columns,
      byField: new Map(columns.map((c) => [c.field, c])),
      byName: new Map(columns.map((c) => [c.name, c])),
      objectRelationships: new Map(),
      arrayRelationships: new Map(),
      computedFields: new Map(),
      roots,
      select: new Map((entry.select_permissions ?? []).map((p) => [p.role, p.permission])),
      insert: new Map((entry.insert_permissions ?? []).map((p) => [p.role, p.permission])),
      update: new Map((entry.update_permissions ?? []).map((p) => [p.role, p.permission])),
      delete: new Map((entry.delete_permissions ?? []).map((p) => [p.role, p.permission])),
    };
    for (const perms of [info.select, info.insert, info.update, info.delete]) for (const role of perms.keys()) model.roles.add(role);
    model.tables.push(info);
    model.tablesByKey.set(tableKey, info);
  }
  for (const info of model.tables) {
    for (const [kind, list] of [
      ['object', info.entry.object_relationships],
      ['array', info.entry.array_relationships],
    ] as const) {
      for (const rel of list ?? []) {
        try {
          const resolved = resolveRelationship(model, info, rel, kind);
          (kind === 'object' ? info.objectRelationships : info.arrayRelationships).set(rel.name, resolved);
        } catch (error) {
          if (!(error instanceof EngineError)) throw error;
          throw new EngineError(error.code, `in table "${info.pg.name}": in relationship "${rel.name}": ${error.message}`, error.path);
        }
      }
    }
  }
  for (const entry of source.functions ?? []) model.functions.push(resolveFunction(model, entry));
  for (const info of model.tables) {
    for (const cf of info.entry.computed_fields ?? []) {
      const fnName = qualified(cf.definition.function);
      const fn = catalog.functions.get(key(fnName.schema, fnName.name));
      if (!fn) throw new EngineError('invalid-configuration', `function "${fnName.name}" does not exist`, '$.args');
      const returnsTable = fn.returnTypeKind === 'c' ? (model.tablesByKey.get(key(fn.returnSchema, fn.returnType)) ?? null) : null;
      if (fn.returnTypeKind === 'c' && !returnsTable) {
        throw new EngineError('invalid-configuration', `the function "${fn.name}" returns a table that is not tracked`, '$.args');
      }
      info.computedFields.set(cf.name, {
        name: cf.name,
        fn,
        tableArgument: cf.definition.table_argument ?? null,
        sessionArgument: cf.definition.session_argument ?? null,
        returnsTable,
        scalar: scalarFor(fn.returnType),
        ...(cf.comment ? { comment: cf.comment } : {}),
      });
    }
  }
  return model;
}

function resolveRelationship(model: Model, info: TableInfo, rel: Relationship, kind: 'object' | 'array'): RelationshipInfo {
  const using = rel.using;
  if (using.manual_configuration) {
    const m = using.manual_configuration;
    const target = model.tablesByKey.get(tableKeyOf(m.remote_table));
    if (!target) throw new EngineError('invalid-configuration', `table "${qualified(m.remote_table).name}" is not tracked`, '$.args');
    return {
      name: rel.name,
      kind,
      target,
      mapping: Object.entries(m.column_mapping),
      insertOrder: m.insertion_order ?? (kind === 'object' ? 'before_parent' : 'after_parent'),
      nullable: kind === 'object',
    };
  }
  const fk = using.foreign_key_constraint_on;
  if (fk === undefined) throw new EngineError('parse-failed', `relationship "${rel.name}" has no "using"`, '$.args');
  if (typeof fk === 'string' || Array.isArray(fk) || (kind === 'object' && !('table' in fk && fk.table))) {
    // The foreign key is on this table.
    const cols = typeof fk === 'string' ? [fk] : Array.isArray(fk) ? fk : 'columns' in fk ? fk.columns : [fk.column];
    const constraint = info.pg.foreignKeys.find((k) => k.columns.length === cols.length && cols.every((c) => k.columns.includes(c)));
    if (!constraint) {
      throw new EngineError('invalid-configuration', `no foreign constraint exists on the given column(s) ${cols.join(', ')}`, '$.args');
    }
    const target = model.tablesByKey.get(key(constraint.refSchema, constraint.refTable));
    if (!target) throw new EngineError('invalid-configuration', `table "${constraint.refTable}" is not tracked`, '$.args');
    return {
      name: rel.name,
      kind,
      target,
      mapping: constraint.columns.map((c, i) => [c, constraint.refColumns[i] as string]),
      insertOrder: 'before_parent',
      nullable: kind === 'object' && constraint.columns.some((c) => info.pg.columns.find((col) => col.name === c)?.nullable !== false),
    };
  }
  if (!('table' in fk) || !fk.table) throw new EngineError('parse-failed', 'Expecting object { table, columns }.', '$.args');
  const target = model.tablesByKey.get(tableKeyOf(fk.table));
  if (!target) throw new EngineError('invalid-configuration', `table "${qualified(fk.table).name}" is not tracked`, '$.args');
  const cols = 'columns' in fk ? fk.columns : [fk.column];
  const constraint = target.pg.foreignKeys.find(
    (k) =>
      k.refSchema === info.pg.schema &&
      k.refTable === info.pg.name &&
      k.columns.length === cols.length &&
      cols.every((c) => k.columns.includes(c)),
  );
  if (!constraint) {
    throw new EngineError('invalid-configuration', `no foreign constraint exists on the given column(s) ${cols.join(', ')}`, '$.args');
  }
  return {
    name: rel.name,
    kind,
    target,
    mapping: constraint.refColumns.map((c, i) => [c, constraint.columns[i] as string]),
    insertOrder: 'after_parent',
    nullable: kind === 'object',
  };
}

function resolveFunction(model: Model, entry: FunctionEntry): FunctionInfo {
  const fn = model.catalog.functions.get(key(entry.function.schema, entry.function.name));
  if (!fn) throw new EngineError('not-exists', `no such function exists: "${entry.function.name}"`, '$.args');
  if (fn.overloads > 1)
    throw new EngineError('not-supported', `function "${fn.name}" is overloaded. Overloaded functions are not supported`);
  const returns = model.tablesByKey.get(key(fn.returnSchema, fn.returnType));
  if (!returns) {
    throw new EngineError(
      'not-supported',
      `the function "${fn.name}" cannot be tracked because the function does not return a SETOF table or a single row of a table`,
    );
  }
  const config = entry.configuration ?? {};
  const exposedAs = config.exposed_as ?? (fn.volatility === 'v' ? 'mutation' : 'query');
  if (exposedAs === 'mutation' && fn.volatility !== 'v') {
    const message = `in function "${fn.name}": the function "${fn.name}" cannot be tracked because the function was requested to be exposed as a mutation, but is not marked VOLATILE. Maybe the function was given the wrong volatility when it was defined?`;
    throw new EngineError('constraint-violation', message, '$.args', 400, [
      { definition: { schema: fn.schema, name: fn.name }, reason: message, type: 'function' },
    ]);
  }
  const base = config.custom_name ?? (fn.schema === 'public' ? fn.name : `${fn.schema}_${fn.name}`);
  const sessionArgument = config.session_argument ?? null;
  const args = fn.args
    .filter((a) => a.name !== sessionArgument)
    .map((a, i) => ({ name: a.name ?? `arg_${i + 1}`, type: a.type, scalar: scalarFor(a.type), hasDefault: a.hasDefault }));
  return {
    entry,
    fn,
    field: config.custom_root_fields?.function ?? base,
    aggregateField: config.custom_root_fields?.function_aggregate ?? `${base}_aggregate`,
    exposedAs,
    returns,
    sessionArgument,
    args,
    permissions: new Set((entry.permissions ?? []).map((p) => p.role)),
  };
}
