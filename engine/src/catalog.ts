// What Postgres itself says about the tracked objects: columns and their types, keys, foreign
// keys and functions. Read in a few catalog queries at start-up and after every metadata change.
import type pg from 'pg';

export interface PgColumn {
  name: string;
  /** The type's name as in pg_type (`int4`, `_text`, `my_enum`). */
  type: string;
  /** For arrays, the element type's name. */
  elemType: string | null;
  /** `b` base, `e` enum, `c` composite, `d` domain, `r` range … */
  typeKind: string;
  /** Type as Postgres prints it (`integer`, `text[]`), for casts. */
  sqlType: string;
  nullable: boolean;
  hasDefault: boolean;
  generated: boolean;
  position: number;
  comment: string | null;
}

export interface PgForeignKey {
  name: string;
  columns: string[];
  refSchema: string;
  refTable: string;
  refColumns: string[];
}

export interface PgTable {
  schema: string;
  name: string;
  /** r table, v view, m materialized view, f foreign table, p partitioned table */
  kind: string;
  columns: PgColumn[];
  primaryKey: string[];
  /** Unique and primary-key constraints, by name. */
  constraints: { name: string; columns: string[]; primary: boolean }[];
  foreignKeys: PgForeignKey[];
  comment: string | null;
  /** Views that Postgres can insert/update/delete through. */
  insertable: boolean;
  updatable: boolean;
}

export interface PgFunctionArg {
  name: string | null;
  type: string;
  typeSchema: string;
  hasDefault: boolean;
}

export interface PgFunction {
  schema: string;
  name: string;
  args: PgFunctionArg[];
  returnSchema: string;
  returnType: string;
  /** `b`, `c` (composite = a table row) … */
  returnTypeKind: string;
  returnsSet: boolean;
  volatility: 'i' | 's' | 'v';
  comment: string | null;
  overloads: number;
}

export interface Catalog {
  tables: Map<string, PgTable>;
  functions: Map<string, PgFunction>;
  enums: Map<string, string[]>;
}

export const key = (schema: string, name: string) => `${schema}.${name}`;

const tablesSql = `
select n.nspname as schema, c.relname as name, c.relkind as kind, obj_description(c.oid, 'pg_class') as comment,
  (c.relkind in ('r','p') or pg_relation_is_updatable(c.oid, false) & 8 = 8) as insertable,
  (c.relkind in ('r','p') or pg_relation_is_updatable(c.oid, false) & 4 = 4) as updatable,
  coalesce((select json_agg(json_build_object(
      'name', a.attname, 'type', t.typname, 'elemType', et.typname, 'typeKind', coalesce(et.typtype, t.typtype)::text,
      'sqlType', format_type(a.atttypid, a.atttypmod), 'nullable', not a.attnotnull,
      'hasDefault', a.atthasdef or a.attidentity <> '', 'generated', a.attgenerated <> '',
      'position', a.attnum, 'comment', col_description(c.oid, a.attnum)) order by a.attnum)
    from pg_attribute a join pg_type t on t.oid = a.atttypid left join pg_type et on et.oid = t.typelem and t.typcategory = 'A'
    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns,
  coalesce((select json_agg(json_build_object('name', k.conname, 'primary', k.contype = 'p',
      'columns', (select json_agg(a.attname order by u.ord) from unnest(k.conkey) with ordinality u(attnum, ord)
                  join pg_attribute a on a.attrelid = c.oid and a.attnum = u.attnum)))
    from pg_constraint k where k.conrelid = c.oid and k.contype in ('p','u')), '[]') as constraints,
  coalesce((select json_agg(json_build_object('name', k.conname, 'refSchema', rn.nspname, 'refTable', rc.relname,
      'columns', (select json_agg(a.attname order by u.ord) from unnest(k.conkey) with ordinality u(attnum, ord)
                  join pg_attribute a on a.attrelid = c.oid and a.attnum = u.attnum),
      'refColumns', (select json_agg(a.attname order by u.ord) from unnest(k.confkey) with ordinality u(attnum, ord)
                  join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.attnum)))
    from pg_constraint k join pg_class rc on rc.oid = k.confrelid join pg_namespace rn on rn.oid = rc.relnamespace
    where k.conrelid = c.oid and k.contype = 'f'), '[]') as foreign_keys
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r','v','m','f','p') and n.nspname not in ('pg_catalog','information_schema','hdb_catalog')
  and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'`;

const functionsSql = `
select n.nspname as schema, p.proname as name, p.provolatile as volatility, p.proretset as returns_set,
  rn.nspname as return_schema, rt.typname as return_type, rt.typtype::text as return_type_kind,
  obj_description(p.oid, 'pg_proc') as comment,
  count(*) over (partition by n.nspname, p.proname) as overloads,
  coalesce((select json_agg(json_build_object('name', nullif(p.proargnames[u.ord], ''), 'type', t.typname, 'typeSchema', tn.nspname,
      'hasDefault', u.ord > p.pronargs - p.pronargdefaults) order by u.ord)
    from unnest(p.proargtypes::oid[]) with ordinality u(oid, ord) join pg_type t on t.oid = u.oid join pg_namespace tn on tn.oid = t.typnamespace), '[]') as args
from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_type rt on rt.oid = p.prorettype
join pg_namespace rn on rn.oid = rt.typnamespace
where p.prokind = 'f' and n.nspname not in ('pg_catalog','information_schema','hdb_catalog') and n.nspname not like 'pg_toast%'`;

const enumsSql = `select t.typname as name, json_agg(e.enumlabel order by e.enumsortorder) as labels
from pg_type t join pg_enum e on e.enumtypid = t.oid group by t.typname`;

interface TableRow {
  schema: string;
  name: string;
  kind: string;
  comment: string | null;
  insertable: boolean;
  updatable: boolean;
  columns: PgColumn[];
  constraints: { name: string; columns: string[]; primary: boolean }[];
  foreign_keys: PgForeignKey[];
}

export async function loadCatalog(db: pg.Pool | pg.PoolClient): Promise<Catalog> {
  // In turn: a client runs one query at a time (and catalog loads are not on the request path).
  const tables = await db.query<TableRow>(tablesSql);
  const functions = await db.query<{
    schema: string;
    name: string;
    volatility: 'i' | 's' | 'v';
    returns_set: boolean;
    return_schema: string;
    return_type: string;
    return_type_kind: string;
    comment: string | null;
    overloads: string;
    args: PgFunctionArg[];
  }>(functionsSql);
  const enums = await db.query<{ name: string; labels: string[] }>(enumsSql);
  const catalog: Catalog = { tables: new Map(), functions: new Map(), enums: new Map() };
  for (const row of tables.rows) {
    const pk = row.constraints.find((c) => c.primary)?.columns ?? [];
    catalog.tables.set(key(row.schema, row.name), {
      schema: row.schema,
      name: row.name,
      kind: row.kind,
      columns: row.columns,
      primaryKey: pk,
      constraints: row.constraints,
      foreignKeys: row.foreign_keys,
      comment: row.comment,
      insertable: row.insertable,
      updatable: row.updatable,
    });
  }
  for (const row of functions.rows) {
    catalog.functions.set(key(row.schema, row.name), {
      schema: row.schema,
      name: row.name,
      args: row.args,
      returnSchema: row.return_schema,
      returnType: row.return_type,
      returnTypeKind: row.return_type_kind,
      returnsSet: row.returns_set,
      volatility: row.volatility,
      comment: row.comment,
      overloads: Number(row.overloads),
    });
  }
  for (const row of enums.rows) catalog.enums.set(row.name, row.labels);
  return catalog;
}
