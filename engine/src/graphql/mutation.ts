// Mutations: insert (with on_conflict and nested object/array inserts), update (_set, _inc, jsonb
// operators), delete, their _by_pk / _one / _many forms. Each root field is one statement built
// from data-modifying CTEs; permission checks run on the written rows and raise through
// hdb_catalog.check_violation, failing the whole request's transaction.
import { validation } from '../errors.ts';
import type { InsertPermission, UpdatePermission } from '../metadata/types.ts';
import { type ColumnInfo, numericScalars, quoteIdent, type RelationshipInfo, type TableInfo } from '../model.ts';
import { buildObject, type Compiler, type Getter, type MergedField } from './compile.ts';
import type { RootFieldRef } from './plan.ts';
import { isNull, jsValue, listItems, objectEntries, type Val } from './values.ts';

export const checkViolationMessage = 'Check constraint violation. insert/update check constraint failed';

interface Cte {
  name: string;
  sql: string;
  /** Rows written to a table (counted in affected_rows). */
  writes?: boolean;
}

export interface Statement {
  sql: string;
  params: Getter[];
}

export function compileMutationField(
  c: Compiler,
  ref: RootFieldRef,
  f: MergedField,
  path: string,
): { statements: Statement[]; combine: 'last' | 'array' } {
  if (ref.kind === 'update_many') {
    const args = c.args(f, ['updates'], path);
    const updates = args.get('updates');
    if (!updates) throw validation('missing required field "updates"', `${path}.args`);
    const statements: Statement[] = [];
    // Each update runs as its own statement, in order, so that later ones see earlier ones.
    for (const [i, u] of listItems(updates, c).entries()) {
      c.resetParams();
      const entries = new Map(objectEntries(u, c, `${ref.table.name}_updates`, `${path}.args.updates[${i}]`));
      const operators = updateOperators(c, ref.table);
      for (const k of entries.keys()) {
        if (k !== 'where' && !operators.includes(k)) {
          throw validation(`field "${k}" not found in type: '${ref.table.name}_updates'`, `${path}.args.updates[${i}].${k}`);
        }
      }
      const ctes: Cte[] = [];
      const name = updateCte(c, ref.table, entries, ctes, `${path}.args.updates[${i}]`, false);
      statements.push({ sql: finish(c, ref.table, ctes, name, f, path, false), params: c.params });
    }
    return { statements, combine: 'array' };
  }
  const sql = compileOne(c, ref, f, path);
  if (typeof sql === 'string') return { statements: [{ sql, params: c.params }], combine: 'last' };
  return { statements: sql, combine: 'last' };
}

function compileOne(c: Compiler, ref: RootFieldRef, f: MergedField, path: string): string | Statement[] {
  const table = ref.table;
  switch (ref.kind) {
    case 'insert':
    case 'insert_one': {
      const args = c.args(f, ref.kind === 'insert' ? ['objects', 'on_conflict'] : ['object', 'on_conflict'], path);
      const objectsVal = args.get(ref.kind === 'insert' ? 'objects' : 'object');
      if (!objectsVal) throw validation(`missing required field "${ref.kind === 'insert' ? 'objects' : 'object'}"`, `${path}.args`);
      if (ref.kind === 'insert' && isNull(objectsVal, c)) throw validation('expected a list, but found null', `${path}.args.objects`);
      const objects = ref.kind === 'insert' ? listItems(objectsVal, c) : [objectsVal];
      const ctes: Cte[] = [];
      const result = insertRows(
        c,
        table,
        objects,
        args.get('on_conflict'),
        ctes,
        `${path}.args.${ref.kind === 'insert' ? 'objects' : 'object'}`,
        null,
      );
      if (ctes.filter((x) => x.writes).length <= 1) return finish(c, table, ctes, result, f, path, ref.kind === 'insert_one');
      return nestedInsert(c, table, ctes, result, f, path, ref.kind === 'insert_one');
    }
    case 'update':
    case 'update_by_pk': {
      const ctes: Cte[] = [];
      const args = c.args(f, [...updateOperators(c, table), ref.kind === 'update' ? 'where' : 'pk_columns'], path);
      const name = updateCte(c, table, args, ctes, `${path}.args`, ref.kind === 'update_by_pk');
      return finish(c, table, ctes, name, f, path, ref.kind === 'update_by_pk');
    }
    case 'delete':
    case 'delete_by_pk': {
      const args = c.args(
        f,
        [ref.kind === 'delete' ? 'where' : ''].concat(
          ref.kind === 'delete_by_pk' ? table.pg.primaryKey.map((n) => table.byName.get(n)?.field ?? n) : [],
        ),
        path,
      );
      const a = c.alias();
      const conds = [deleteFilter(c, table, a)];
      if (ref.kind === 'delete') {
        const where = args.get('where');
        if (!where) throw validation('missing required field "where"', `${path}.args`);
        conds.push(c.boolExp(table, a, where, `${path}.args.where`));
      } else conds.push(pkConds(c, table, a, args, path));
      const name = `_m${c.alias()}`;
      const ctes: Cte[] = [
        { name, writes: true, sql: `DELETE FROM ${table.sql} AS ${a} WHERE ${conds.join(' AND ')} RETURNING ${a}.*, true AS "__chk"` },
      ];
      return finish(c, table, ctes, name, f, path, ref.kind === 'delete_by_pk');
    }
    default:
      throw validation(`unexpected mutation field ${f.name}`, path);
  }
}

function deleteFilter(c: Compiler, table: TableInfo, alias: string): string {
  if (c.options.isAdmin) return 'true';
  const perm = table.delete.get(c.options.role);
  return perm ? c.permExp(table, alias, perm.filter ?? {}) : 'false';
}

function pkConds(c: Compiler, table: TableInfo, alias: string, args: Map<string, Val>, path: string): string {
  return table.pg.primaryKey
    .map((n) => {
      const col = table.byName.get(n) as ColumnInfo;
      const v = args.get(col.field);
      if (!v) throw validation(`missing required field "${col.field}"`, `${path}.args`);
      if (isNull(v, c)) throw validation(`unexpected null value for type "${col.scalar}"`, `${path}.args.${col.field}`);
      return `${alias}.${quoteIdent(n)} = ${c.param(v, col.castType, col.scalar, col.isArray, `${path}.args.${col.field}`)}`;
    })
    .join(' AND ');
}

/**
 * Whether Hasura's update operator applies to a column (its `updateOperatorApplicableColumn`): `_set`
 * to every column, `_inc` to numeric ones, the jsonb operators to jsonb ones. `<table><op>_input` has
 * a field for each updatable column it applies to.
 */
function operatorApplies(op: string, col: ColumnInfo): boolean {
  if (op === '_set') return true;
  if (op === '_inc') return numericScalars.has(col.scalar) && !col.isArray;
  return col.scalar === 'jsonb' && !col.isArray;
}

/** The update operators of the role's update on `table`: those that apply to one of its updatable columns at least, as Hasura's. */
function updateOperators(c: Compiler, table: TableInfo): string[] {
  const perm = c.options.isAdmin ? null : (table.update.get(c.options.role) ?? null);
  const cols = table.columns.filter((col) => !col.pg.generated && (!perm || perm.columns === '*' || perm.columns.includes(col.name)));
  return ['_set', '_inc', '_append', '_prepend', '_delete_key', '_delete_elem', '_delete_at_path'].filter((op) =>
    cols.some((col) => operatorApplies(op, col)),
  );
}

function updateCte(c: Compiler, table: TableInfo, args: Map<string, Val>, ctes: Cte[], argsPath: string, byPk: boolean): string {
  const perm: UpdatePermission | null = c.options.isAdmin ? null : (table.update.get(c.options.role) ?? null);
  const a = c.alias();
  const sets = new Map<string, string>();
  const updatable = (op: string, field: string, typeName: string, p: string): ColumnInfo => {
    const col = table.byField.get(field);
    if (!col || (perm && perm.columns !== '*' && !perm.columns.includes(col.name)) || col.pg.generated || !operatorApplies(op, col)) {
      throw validation(`field "${field}" not found in type: '${typeName}'`, p);
    }
    return col;
  };
  for (const [op, v] of args) {
    if (op === 'where' || op === 'pk_columns' || isNull(v, c)) continue;
    const typeName = op === '_set' ? `${table.name}_set_input` : `${table.name}${op}_input`;
    for (const [field, x] of objectEntries(v, c, typeName, `${argsPath}.${op}`)) {
      const p = `${argsPath}.${op}.${field}`;
      const col = updatable(op, field, typeName, p);
      const ref = `${a}.${quoteIdent(col.name)}`;
      const prev = sets.get(col.name);
      const cur = prev ? `(${prev})` : ref;
      switch (op) {
        case '_set':
          sets.set(col.name, c.param(x, col.castType, col.scalar, col.isArray, p));
          break;
        case '_inc':
          sets.set(col.name, `${cur} + ${c.param(x, col.castType, col.scalar, false, p)}`);
          break;
        case '_append':
          sets.set(col.name, `${cur} || ${c.param(x, 'jsonb', 'jsonb', false, p)}`);
          break;
        case '_prepend':
          sets.set(col.name, `${c.param(x, 'jsonb', 'jsonb', false, p)} || ${cur}`);
          break;
        case '_delete_key':
          sets.set(col.name, `${cur} - ${c.param(x, 'text', 'String', false, p)}`);
          break;
        case '_delete_elem':
          sets.set(col.name, `${cur} - ${c.param(x, 'int4', 'Int', false, p)}`);
          break;
        case '_delete_at_path':
          sets.set(col.name, `${cur} #- ${c.param(x, 'text[]', 'String', true, p)}`);
          break;
      }
    }
  }
  for (const [colName, value] of Object.entries(perm?.set ?? {})) {
    const col = table.byName.get(colName);
    if (!col) continue;
    sets.set(col.name, presetValue(c, col, value));
  }
  const conds: string[] = [];
  if (perm) conds.push(c.permExp(table, a, perm.filter ?? {}));
  if (byPk) {
    const pk = args.get('pk_columns');
    if (!pk) throw validation('missing required field "pk_columns"', `${argsPath}`);
    conds.push(
      pkConds(
        c,
        table,
        a,
        new Map(objectEntries(pk, c, `${table.name}_pk_columns_input`, `${argsPath}.pk_columns`)),
        `${argsPath}.pk_columns`,
      ),
    );
  } else {
    const where = args.get('where');
    if (!where) throw validation('missing required field "where"', `${argsPath}`);
    conds.push(c.boolExp(table, a, where, `${argsPath}.where`));
  }
  const check = perm?.check ? c.permExp(table, a, perm.check) : 'true';
  const name = `_m${c.alias()}`;
  if (sets.size === 0) {
    // Nothing to set (no operator, or only empty ones, and no preset): Hasura runs no update and
    // answers affected_rows 0, returning [] (null for update_by_pk), whatever rows the filter matches.
    // The filter and check stay in the text (never true), so that their parameters are used.
    ctes.push({ name, sql: `SELECT ${a}.*, (${check}) AS "__chk" FROM ${table.sql} AS ${a} WHERE false AND ${conds.join(' AND ')}` });
  } else {
    const setSql = [...sets].map(([col, v]) => `${quoteIdent(col)} = ${v}`).join(', ');
    ctes.push({
      name,
      sql: `UPDATE ${table.sql} AS ${a} SET ${setSql} WHERE ${conds.join(' AND ')} RETURNING ${a}.*, (${check}) AS "__chk"`,
    });
  }
  return name;
}

function presetValue(c: Compiler, col: ColumnInfo, value: unknown): string {
  if (typeof value === 'string' && /^x-hasura-/i.test(value)) return c.session(value, col.castType);
  return c.constParam(
    typeof value === 'object' && value !== null ? JSON.stringify(value) : value === null ? null : String(value),
    col.castType,
  );
}

/**
 * Adds the CTEs inserting `objects` into `table` and returns the name of the CTE holding the
 * inserted rows. `parent` fixes columns from an enclosing row (array-relationship inserts).
 */
function insertRows(
  c: Compiler,
  table: TableInfo,
  objects: Val[],
  onConflict: Val | undefined,
  ctes: Cte[],
  path: string,
  parent: { cte: string; mapping: [string, string][] } | null,
): string {
  const perm: InsertPermission | null = c.options.isAdmin ? null : (table.insert.get(c.options.role) ?? null);
  if (!c.options.isAdmin && !perm) throw validation(`no insert permission on "${table.name}"`, path);
  const typeName = `${table.name}_insert_input`;
  const rows: { values: Map<string, string>; arrays: [RelationshipInfo, Val, string][]; sources: string[] }[] = [];
  for (const [i, obj] of objects.entries()) {
    const p = objects.length > 1 || path.endsWith('objects') ? `${path}[${i}]` : path;
    const values = new Map<string, string>();
    const arrays: [RelationshipInfo, Val, string][] = [];
    const sources: string[] = [];
    for (const [field, v] of objectEntries(obj, c, typeName, p)) {
      const fp = `${p}.${field}`;
      const col = table.byField.get(field);
      if (col) {
        if ((perm && perm.columns !== undefined && perm.columns !== '*' && !perm.columns.includes(col.name)) || col.pg.generated) {
          throw validation(`field "${field}" not found in type: '${typeName}'`, fp);
        }
        values.set(col.name, c.param(v, col.castType, col.scalar, col.isArray, fp));
        continue;
      }
      const objRel = table.objectRelationships.get(field);
      if (objRel) {
        const entries = new Map(objectEntries(v, c, `${objRel.target.name}_obj_rel_insert_input`, fp));
        const data = entries.get('data');
        if (!data) throw validation('missing required field "data"', fp);
        const inner = insertRows(c, objRel.target, [data], entries.get('on_conflict'), ctes, `${fp}.data`, null);
        if (objRel.insertOrder === 'before_parent') {
          for (const [local, remote] of objRel.mapping) values.set(local, `(SELECT ${quoteIdent(remote)} FROM ${inner} LIMIT 1)`);
          sources.push(inner);
        }
        continue;
      }
      const arrRel = table.arrayRelationships.get(field);
      if (arrRel) {
        arrays.push([arrRel, v, fp]);
        continue;
      }
      throw validation(`field "${field}" not found in type: '${typeName}'`, fp);
    }
    if (parent)
      for (const [local, remote] of parent.mapping) values.set(remote, `(SELECT ${quoteIdent(local)} FROM ${parent.cte} LIMIT 1)`);
    for (const [colName, value] of Object.entries(perm?.set ?? {})) {
      const col = table.byName.get(colName);
      if (col) values.set(col.name, presetValue(c, col, value));
    }
    rows.push({ values, arrays, sources });
  }
  const a = c.alias();
  const conflictSql = () =>
    onConflict && !isNull(onConflict, c)
      ? onConflictSql(c, table, a, onConflict, `${path.replace(/\.objects.*$|\.object.*$/, '')}.on_conflict`)
      : '';
  if (rows.length === 0) {
    // `objects: []` (or an array relationship's `data: []`): Hasura inserts nothing and answers
    // affected_rows 0, returning []; an INSERT here would write a row of defaults. `on_conflict` is
    // still checked, as Hasura parses it.
    c.validateOnly(conflictSql);
    const name = `_m${c.alias()}`;
    ctes.push({ name, sql: `SELECT ${a}.*, true AS "__chk" FROM ${table.sql} AS ${a} WHERE false` });
    return name;
  }
  const conflict = conflictSql();
  const check = insertCheckSql(c, table, a, perm, conflict !== '');
  const hasArrays = rows.some((r) => r.arrays.length > 0);
  const insertOne = (rowSet: typeof rows): string => {
    const cols = [...new Set(rowSet.flatMap((r) => [...r.values.keys()]))];
    if (cols.length === 0) return `INSERT INTO ${table.sql} AS ${a} DEFAULT VALUES${conflict} RETURNING ${a}.*, (${check}) AS "__chk"`;
    const values = rowSet.map((r) => `(${cols.map((col) => r.values.get(col) ?? 'DEFAULT').join(', ')})`).join(', ');
    return `INSERT INTO ${table.sql} AS ${a} (${cols.map(quoteIdent).join(', ')}) VALUES ${values}${conflict} RETURNING ${a}.*, (${check}) AS "__chk"`;
  };
  const name = `_m${c.alias()}`;
  if (!hasArrays) {
    ctes.push({ name, writes: true, sql: insertOne(rows) });
    return name;
  }
  // Array relationships need each parent row on its own, so that children can refer to it.
  const parts: string[] = [];
  for (const row of rows) {
    const rowName = `_m${c.alias()}`;
    ctes.push({ name: rowName, writes: true, sql: insertOne([row]) });
    parts.push(rowName);
    for (const [rel, v, fp] of row.arrays) {
      const entries = new Map(objectEntries(v, c, `${rel.target.name}_arr_rel_insert_input`, fp));
      const data = entries.get('data');
      if (!data) throw validation('missing required field "data"', fp);
      if (isNull(data, c)) throw validation('expected a list, but found null', `${fp}.data`);
      const child = insertRows(c, rel.target, listItems(data, c), entries.get('on_conflict'), ctes, `${fp}.data`, {
        cte: rowName,
        mapping: rel.mapping,
      });
      // Children's checks must hold too: fold them into the parent's rows.
      ctes.push({ name: `${child}_ok`, sql: `SELECT bool_and("__chk") AS ok FROM ${child}` });
    }
  }
  ctes.push({ name, sql: parts.map((p) => `SELECT * FROM ${p}`).join(' UNION ALL ') });
  return name;
}

/**
 * The check each written row must pass, as Hasura's `insertOrUpdateCheckExpr` (Translate/Insert.hs):
 * with an ON CONFLICT clause and an update permission that has a `check`, a row the conflict updated
 * (xmax <> 0) is checked against the update permission's `check` and an inserted one (xmax = 0)
 * against the insert permission's; otherwise every row against the insert permission's `check`.
 */
function insertCheckSql(c: Compiler, table: TableInfo, alias: string, perm: InsertPermission | null, onConflict: boolean): string {
  const insertCheck = perm?.check ? c.permExp(table, alias, perm.check) : 'true';
  if (!perm || !onConflict) return insertCheck;
  const upd = table.update.get(c.options.role);
  if (!upd?.check) return insertCheck;
  return `CASE WHEN ${alias}.xmax = 0 THEN (${insertCheck}) ELSE (${c.permExp(table, alias, upd.check)}) END`;
}

function onConflictSql(c: Compiler, table: TableInfo, alias: string, v: Val, path: string): string {
  const entries = new Map(objectEntries(v, c, `${table.name}_on_conflict`, path));
  for (const k of entries.keys()) {
    if (!['constraint', 'update_columns', 'where'].includes(k))
      throw validation(`field "${k}" not found in type: '${table.name}_on_conflict'`, `${path}.${k}`);
  }
  const constraintVal = entries.get('constraint');
  if (!constraintVal) throw validation('missing required field "constraint"', path);
  const constraint = String(jsValue(constraintVal, c));
  if (!table.pg.constraints.some((k) => k.name === constraint)) {
    throw validation(
      `expected one of the values ${table.pg.constraints.map((k) => k.name).join(', ')} for type "${table.name}_constraint", but found "${constraint}"`,
      `${path}.constraint`,
    );
  }
  const updateCols = entries.get('update_columns');
  const cols = updateCols ? listItems(updateCols, c).map((x) => String(jsValue(x, c))) : [];
  const upd: UpdatePermission | null = c.options.isAdmin
    ? null
    : (c.model.tablesByKey.get(`${table.pg.schema}.${table.pg.name}`)?.update.get(c.options.role) ?? null);
  if (cols.length === 0) return ` ON CONFLICT ON CONSTRAINT ${quoteIdent(constraint)} DO NOTHING`;
  if (!c.options.isAdmin && !upd)
    throw validation(`field "update_columns" not found in type: '${table.name}_on_conflict'`, `${path}.update_columns`);
  const sets = cols.map((field) => {
    const col = table.byField.get(field);
    if (!col || (upd && upd.columns !== '*' && !upd.columns.includes(col.name))) {
      throw validation(`expected one of the values for type "${table.name}_update_column", but found "${field}"`, `${path}.update_columns`);
    }
    return `${quoteIdent(col.name)} = EXCLUDED.${quoteIdent(col.name)}`;
  });
  for (const [colName, value] of Object.entries(upd?.set ?? {})) {
    const col = table.byName.get(colName);
    if (col) sets.push(`${quoteIdent(col.name)} = ${presetValue(c, col, value)}`);
  }
  const conds: string[] = [];
  if (upd) conds.push(c.permExp(table, alias, upd.filter ?? {}));
  // A null `where` is refused by boolExp, as Hasura refuses it (it would widen the update).
  const where = entries.get('where');
  if (where) conds.push(c.boolExp(table, alias, where, `${path}.where`));
  return ` ON CONFLICT ON CONSTRAINT ${quoteIdent(constraint)} DO UPDATE SET ${sets.join(', ')}${conds.length ? ` WHERE ${conds.join(' AND ')}` : ''}`;
}

function responseJson(c: Compiler, table: TableInfo, cte: string, f: MergedField, path: string, affected?: string): string {
  const typeName = `${table.name}_mutation_response`;
  const pairs: [string, string][] = [];
  for (const part of c.collect(c.subSelection(f, typeName), typeName, path)) {
    const p = part.path;
    if (part.name === '__typename') pairs.push([part.alias, `'${typeName}'::text`]);
    else if (part.name === 'affected_rows') {
      c.leaf(part);
      c.args(part, [], p);
      pairs.push([part.alias, affected ?? `(SELECT count(*) FROM ${cte})`]);
    } else if (part.name === 'returning' && c.canSelect(table)) {
      const b = c.alias();
      const row = c.rowJson(table, b, c.subSelection(part, table.name), p);
      // As Hasura does, `returning` shows the written rows with the role's select columns (not its row filter).
      pairs.push([part.alias, `(SELECT coalesce(json_agg(${row}), '[]'::json) FROM ${cte} AS ${b})`]);
    } else throw validation(`field "${part.name}" not found in type: '${typeName}'`, p);
  }
  return buildObject(pairs);
}

function finish(c: Compiler, table: TableInfo, ctes: Cte[], name: string, f: MergedField, path: string, single: boolean): string {
  let body: string;
  if (single) {
    if (!c.canSelect(table)) throw validation(`field "${f.name}" not found in type: 'mutation_root'`, path);
    const b = c.alias();
    const row = c.rowJson(table, b, c.subSelection(f, table.name), path);
    body = `(SELECT ${row} FROM ${name} AS ${b} LIMIT 1)`;
  } else body = responseJson(c, table, name, f, path);
  const guard = checkGuardSql(ctes);
  return `WITH ${ctes.map((x) => `${x.name} AS (${x.sql})`).join(', ')} SELECT ${guard}(${body})::text END AS root`;
}

/**
 * Nested inserts: the rows written in one statement are invisible to that statement's own
 * subqueries, so the answer (with relationships to the new rows) is read by a second statement
 * in the same transaction, from the primary keys the first one returns.
 */
function nestedInsert(
  c: Compiler,
  table: TableInfo,
  ctes: Cte[],
  name: string,
  f: MergedField,
  path: string,
  single: boolean,
): Statement[] {
  const writes = ctes.filter((x) => x.writes).map((x) => x.name);
  const guard = checkGuardSql(ctes);
  const first = `WITH ${ctes.map((x) => `${x.name} AS (${x.sql})`).join(', ')} SELECT ${guard}json_build_object('affected', ${writes.map((w) => `(SELECT count(*) FROM ${w})`).join(' + ')}, 'rows', (SELECT json_agg(${name}) FROM ${name}))::text END AS root`;
  const firstParams = c.params;
  c.resetParams();
  c.params.push((ctx) => ctx.prev ?? null);
  const prev = `$${c.params.length}::json`;
  const pk = table.pg.primaryKey.length ? table.pg.primaryKey : table.columns.map((col) => col.name);
  const m = `_m${c.alias()}`;
  const written = `SELECT _t.* FROM ${table.sql} AS _t JOIN json_populate_recordset(NULL::${table.sql}, ${prev}->'rows') AS _x ON ${pk.map((k) => `_t.${quoteIdent(k)} IS NOT DISTINCT FROM _x.${quoteIdent(k)}`).join(' AND ')}`;
  let body: string;
  if (single) {
    if (!c.canSelect(table)) throw validation(`field "${f.name}" not found in type: 'mutation_root'`, path);
    const b = c.alias();
    body = `(SELECT ${c.rowJson(table, b, c.subSelection(f, table.name), path)} FROM ${m} AS ${b} LIMIT 1)`;
  } else body = responseJson(c, table, m, f, path, `(${prev}->>'affected')::int`);
  return [
    { sql: first, params: firstParams },
    { sql: `WITH ${m} AS (${written}) SELECT (${body})::text AS root`, params: c.params },
  ];
}

function checkGuardSql(ctes: Cte[]): string {
  const checked = ctes.filter((x) => !x.name.endsWith('_ok')).map((x) => x.name);
  const okNames = ctes.filter((x) => x.name.endsWith('_ok')).map((x) => x.name);
  const okCond = okNames.length ? ` OR EXISTS (${okNames.map((n) => `SELECT 1 FROM ${n} WHERE ok = false`).join(' UNION ALL ')})` : '';
  return `CASE WHEN EXISTS (${checked.map((n) => `SELECT 1 FROM ${n} WHERE NOT "__chk"`).join(' UNION ALL ')})${okCond} THEN hdb_catalog.check_violation('${checkViolationMessage}')::text ELSE `;
}
