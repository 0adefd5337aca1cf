// What the database says about the public schema (tables, views, columns, foreign keys), and the
// metadata's relationships resolved against it: the ground truth the metadata tests compare with.
import type { pg } from '@org-credits/db';
import type { BoolExp, Relationship, SourceMetadata, TableMetadata } from './load-metadata.ts';

export interface ForeignKey {
  name: string;
  table: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
}

export interface SchemaFacts {
  /** Tables and views of schema public, with their kind. */
  relations: Map<string, 'table' | 'view'>;
  columns: Map<string, string[]>;
  foreignKeys: ForeignKey[];
}

export async function readSchemaFacts(pool: pg.Pool): Promise<SchemaFacts> {
  const relations = new Map<string, 'table' | 'view'>();
  const { rows: rels } = await pool.query<{ name: string; kind: string }>(
    `select c.relname as name, c.relkind::text as kind from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm') order by 1`,
  );
  for (const r of rels) relations.set(r.name, r.kind === 'v' || r.kind === 'm' ? 'view' : 'table');
  const columns = new Map<string, string[]>();
  const { rows: cols } = await pool.query<{ table_name: string; column_name: string }>(
    `select table_name, column_name from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`,
  );
  for (const c of cols) columns.set(c.table_name, [...(columns.get(c.table_name) ?? []), c.column_name]);
  const { rows: fks } = await pool.query<ForeignKey>(
    `select con.conname as name, src.relname as "table", dst.relname as "refTable",
            array_agg(sa.attname::text order by k.ord) as columns, array_agg(da.attname::text order by k.ord) as "refColumns"
       from pg_catalog.pg_constraint con
       join pg_catalog.pg_class src on src.oid = con.conrelid
       join pg_catalog.pg_class dst on dst.oid = con.confrelid
       join pg_catalog.pg_namespace n on n.oid = src.relnamespace
      cross join lateral unnest(con.conkey, con.confkey) with ordinality as k(src_att, dst_att, ord)
       join pg_catalog.pg_attribute sa on sa.attrelid = con.conrelid and sa.attnum = k.src_att
       join pg_catalog.pg_attribute da on da.attrelid = con.confrelid and da.attnum = k.dst_att
      where con.contype = 'f' and n.nspname = 'public'
      group by con.conname, src.relname, dst.relname
      order by 2, 1`,
  );
  return { relations, columns, foreignKeys: fks };
}

export interface ResolvedRelationship {
  name: string;
  kind: 'object' | 'array';
  /** The table the relationship starts from. */
  table: string;
  target: string;
  /** Pairs of (column of `table`, column of `target`). */
  mapping: [string, string][];
  /** The foreign key it stands on, when it stands on one. */
  foreignKey?: ForeignKey;
}

const sameColumns = (a: string[], b: string[]) => a.length === b.length && a.every((c, i) => c === b[i]);

/** Resolves one relationship of `table` against the database; throws when it names what does not exist. */
export function resolveRelationship(facts: SchemaFacts, table: string, rel: Relationship, kind: 'object' | 'array'): ResolvedRelationship {
  const using = rel.using;
  if (using.manual_configuration) {
    const target = using.manual_configuration.remote_table.name;
    return { name: rel.name, kind, table, target, mapping: Object.entries(using.manual_configuration.column_mapping) };
  }
  const on = using.foreign_key_constraint_on;
  if (on === undefined) throw new Error(`${table}.${rel.name}: neither foreign_key_constraint_on nor manual_configuration`);
  if (typeof on === 'string' || Array.isArray(on)) {
    if (kind !== 'object') throw new Error(`${table}.${rel.name}: an array relationship must name the remote table`);
    const columns = typeof on === 'string' ? [on] : on;
    const fk = facts.foreignKeys.find((f) => f.table === table && sameColumns(f.columns, columns));
    if (!fk) throw new Error(`${table}.${rel.name}: no foreign key on ${table}(${columns.join(', ')})`);
    return { name: rel.name, kind, table, target: fk.refTable, mapping: fk.columns.map((c, i) => [c, fk.refColumns[i]!]), foreignKey: fk };
  }
  const remote = on.table.name;
  const columns = on.columns ?? (on.column ? [on.column] : []);
  const fk = facts.foreignKeys.find((f) => f.table === remote && f.refTable === table && sameColumns(f.columns, columns));
  if (!fk) throw new Error(`${table}.${rel.name}: no foreign key from ${remote}(${columns.join(', ')}) to ${table}`);
  return { name: rel.name, kind, table, target: remote, mapping: fk.refColumns.map((c, i) => [c, fk.columns[i]!]), foreignKey: fk };
}

export function relationshipsOf(facts: SchemaFacts, table: TableMetadata): ResolvedRelationship[] {
  const name = table.table.name;
  return [
    ...(table.object_relationships ?? []).map((r) => resolveRelationship(facts, name, r, 'object')),
    ...(table.array_relationships ?? []).map((r) => resolveRelationship(facts, name, r, 'array')),
  ];
}

/** Finds a relationship by table and name, for walking boolean expressions. */
export type RelationshipLookup = (table: string, name: string) => ResolvedRelationship | undefined;

export function relationshipLookup(facts: SchemaFacts, source: SourceMetadata): RelationshipLookup {
  const byTable = new Map<string, Map<string, ResolvedRelationship>>();
  for (const t of source.tables) byTable.set(t.table.name, new Map(relationshipsOf(facts, t).map((r) => [r.name, r])));
  return (table, name) => byTable.get(table)?.get(name);
}

const OPERATORS_TAKING_EXPRESSIONS = new Set(['_and', '_or']);

/**
 * Every column and relationship that a boolean expression names must exist on the table it is
 * evaluated against; returns the problems found (empty when all is well).
 */
export function checkBoolExp(facts: SchemaFacts, lookup: RelationshipLookup, table: string, exp: BoolExp, at = table): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(exp)) {
    if (OPERATORS_TAKING_EXPRESSIONS.has(key)) {
      if (!Array.isArray(value)) problems.push(`${at}.${key}: expected a list`);
      else {
        for (const [i, v] of value.entries()) problems.push(...checkBoolExp(facts, lookup, table, v as BoolExp, `${at}.${key}[${i}]`));
      }
    } else if (key === '_not') {
      problems.push(...checkBoolExp(facts, lookup, table, value as BoolExp, `${at}._not`));
    } else if (key === '_exists') {
      const { _table, _where } = value as { _table: { name: string }; _where: BoolExp };
      if (!facts.relations.has(_table.name)) problems.push(`${at}._exists: no table ${_table.name}`);
      else problems.push(...checkBoolExp(facts, lookup, _table.name, _where, `${at}._exists(${_table.name})`));
    } else if (key.startsWith('_')) {
      problems.push(`${at}: unknown boolean operator ${key}`);
    } else {
      const rel = lookup(table, key);
      if (rel) problems.push(...checkBoolExp(facts, lookup, rel.target, value as BoolExp, `${at}.${key}`));
      else if (!(facts.columns.get(table) ?? []).includes(key)) problems.push(`${at}: ${table} has no column or relationship ${key}`);
    }
  }
  return problems;
}

/** The conjuncts of an expression: `_and` lists and the keys of one object are all required. */
export function conjuncts(exp: BoolExp): BoolExp[] {
  const out: BoolExp[] = [];
  for (const [key, value] of Object.entries(exp)) {
    if (key === '_and') for (const part of value as BoolExp[]) out.push(...conjuncts(part));
    else out.push({ [key]: value });
  }
  return out;
}

const pinsTo = (value: unknown, variable: string) =>
  value !== null && typeof value === 'object' && (value as Record<string, unknown>)._eq === variable;

const ORG = 'X-Hasura-Org-Id';
const USER = 'X-Hasura-User-Id';

/**
 * True when `exp`, evaluated on rows of `table`, lets through only rows of the organization in
 * X-Hasura-Org-Id — and, when `requireMembership`, only while X-Hasura-User-Id is a member of that
 * organization. Rows of a table without an organization are reached through a relationship to
 * one that has.
 */
export function pinsTenant(
  facts: SchemaFacts,
  lookup: RelationshipLookup,
  table: string,
  exp: BoolExp,
  requireMembership: boolean,
): boolean {
  const parts = conjuncts(exp);
  const orgColumn =
    table === 'organizations' ? 'id' : (facts.columns.get(table) ?? []).includes('organization_id') ? 'organization_id' : null;
  if (orgColumn) {
    const orgPinned = parts.some((p) => pinsTo(p[orgColumn], ORG));
    if (!orgPinned) return false;
    if (!requireMembership) return true;
    return parts.some((p) => isMembershipOfRowOrg(facts, lookup, table, p) || isMembershipOfSessionOrg(p));
  }
  return parts.some((p) => {
    const [key, value] = Object.entries(p)[0]!;
    const rel = lookup(table, key);
    return rel !== undefined && pinsTenant(facts, lookup, rel.target, value as BoolExp, requireMembership);
  });
}

/** `organization: { members: { user_id: { _eq: X-Hasura-User-Id } } }` (from the row's org). */
function isMembershipOfRowOrg(facts: SchemaFacts, lookup: RelationshipLookup, table: string, part: BoolExp): boolean {
  const [key, value] = Object.entries(part)[0]!;
  const rel = lookup(table, key);
  if (!rel) return false;
  const orgColumn = table === 'organizations' ? 'id' : 'organization_id';
  if (table === 'organizations') {
    // organizations -> organization_members on id = organization_id
    if (rel.target !== 'organization_members' || !rel.mapping.some(([from, to]) => from === orgColumn && to === 'organization_id'))
      return false;
    return conjuncts(value as BoolExp).some((p) => pinsTo(p.user_id, USER));
  }
  if (rel.target !== 'organizations' || !rel.mapping.some(([from, to]) => from === orgColumn && to === 'id')) return false;
  return conjuncts(value as BoolExp).some((p) => isMembershipOfRowOrg(facts, lookup, 'organizations', p));
}

/** `_exists: { _table: organization_members, _where: { organization_id: X-Hasura-Org-Id, user_id: X-Hasura-User-Id } }`. */
function isMembershipOfSessionOrg(part: BoolExp): boolean {
  const exists = part._exists as { _table?: { name?: string }; _where?: BoolExp } | undefined;
  if (exists?._table?.name !== 'organization_members' || !exists._where) return false;
  const where = conjuncts(exists._where);
  return where.some((p) => pinsTo(p.organization_id, ORG)) && where.some((p) => pinsTo(p.user_id, USER));
}

/** The membership roles an expression requires of the session user (undefined when it requires none). */
export function requiredMembershipRoles(exp: BoolExp): string[] | undefined {
  for (const part of conjuncts(exp)) {
    const org = part.organization as BoolExp | undefined;
    if (!org) continue;
    for (const p of conjuncts(org)) {
      const members = p.members as BoolExp | undefined;
      if (!members) continue;
      const inner = conjuncts(members);
      if (!inner.some((q) => pinsTo(q.user_id, USER))) continue;
      const role = inner.find((q) => q.role)?.role as { _in?: string[]; _eq?: string } | undefined;
      if (role?._in) return role._in;
      if (role?._eq) return [role._eq];
    }
  }
  return undefined;
}
