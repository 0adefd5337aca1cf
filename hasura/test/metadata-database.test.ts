// The metadata against the database the migrations build: every table tracked with its
// relationships, every permission naming what exists, and the tenant walls in every permission.
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { type BoolExp, defaultSource, loadMetadata, type TableMetadata } from './load-metadata.ts';
import {
  checkBoolExp,
  pinsTenant,
  readSchemaFacts,
  relationshipLookup,
  relationshipsOf,
  requiredMembershipRoles,
  type SchemaFacts,
} from './schema-facts.ts';

const db = await useTestDatabase();
const facts = await readSchemaFacts(db.pool);
const metadata = loadMetadata();
const source = defaultSource(metadata);
const lookup = relationshipLookup(facts, source);
const tableMeta = new Map(source.tables.map((t) => [t.table.name, t]));

/** The public catalogue: the only tables anonymous may read, and the only ones without a tenant wall. */
const PUBLIC_CATALOGUE = [
  'ai_capabilities',
  'llm_models',
  'plan_capabilities',
  'plan_capability_quality_levels',
  'plans',
  'quality_levels',
  'topup_packages',
];
/** Money and payment records: they change only through SQL functions called by the api. */
const WRITTEN_ONLY_BY_FUNCTIONS = ['credit_grants', 'credit_reservations', 'credit_ledger_entries', 'topup_purchases', 'stripe_events'];
/** What a role other than the admin may write, and how. */
const WRITABLE: Record<string, { insert: string[]; update: string[] }> = {
  auto_topup_settings: { insert: ['user'], update: ['user'] },
  spend_limits: { insert: ['user'], update: ['user'] },
  notifications: { insert: [], update: ['user'] },
};
const isSecretColumn = (column: string) => column.startsWith('stripe_') || column === 'metadata';

function columnsOf(table: string, columns: string[] | '*'): string[] {
  return columns === '*' ? (facts.columns.get(table) ?? []) : columns;
}

function everyPermission(t: TableMetadata) {
  return [
    ...(t.select_permissions ?? []).map((p) => ({
      kind: 'select' as const,
      role: p.role,
      columns: p.permission.columns,
      exps: [p.permission.filter],
    })),
    ...(t.insert_permissions ?? []).map((p) => ({
      kind: 'insert' as const,
      role: p.role,
      columns: p.permission.columns,
      exps: [p.permission.check],
    })),
    ...(t.update_permissions ?? []).map((p) => ({
      kind: 'update' as const,
      role: p.role,
      columns: p.permission.columns,
      exps: [p.permission.filter, ...(p.permission.check ? [p.permission.check] : [])],
    })),
    ...(t.delete_permissions ?? []).map((p) => ({
      kind: 'delete' as const,
      role: p.role,
      columns: [] as string[],
      exps: [p.permission.filter],
    })),
  ];
}

describe('tracking', () => {
  it('the migrations created the tables this test knows about (the facts are real)', () => {
    expect(facts.relations.get('organizations')).toBe('table');
    expect(facts.foreignKeys.length).toBeGreaterThan(20);
  });

  it('tracks every table and view of schema public', () => {
    const untracked = [...facts.relations.keys()].filter((name) => !tableMeta.has(name));
    expect(untracked).toEqual([]);
  });

  it('tracks nothing that the database lacks', () => {
    const missing = [...tableMeta.keys()].filter((name) => !facts.relations.has(name));
    expect(missing).toEqual([]);
  });

  it('gives every tracked table a comment', () => {
    const bare = source.tables.filter((t) => !t.configuration?.comment?.trim()).map((t) => t.table.name);
    expect(bare).toEqual([]);
  });
});

describe('relationships', () => {
  it('stand on foreign keys or columns that exist', () => {
    const problems: string[] = [];
    for (const t of source.tables) {
      try {
        for (const rel of relationshipsOf(facts, t)) {
          for (const [from, to] of rel.mapping) {
            if (!facts.columns.get(rel.table)?.includes(from)) problems.push(`${rel.table}.${rel.name}: no column ${from}`);
            if (!facts.columns.get(rel.target)?.includes(to)) problems.push(`${rel.table}.${rel.name}: ${rel.target} has no column ${to}`);
          }
        }
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    expect(problems).toEqual([]);
  });

  it('exist both ways for every foreign key: an object relationship on the referencing table and one back', () => {
    const missing: string[] = [];
    const resolved = source.tables.flatMap((t) => relationshipsOf(facts, t));
    for (const fk of facts.foreignKeys) {
      const forward = resolved.some((r) => r.foreignKey?.name === fk.name && r.table === fk.table && r.kind === 'object');
      const back = resolved.some((r) => r.foreignKey?.name === fk.name && r.table === fk.refTable);
      if (!forward) missing.push(`${fk.table}(${fk.columns.join(', ')}) -> ${fk.refTable}: no object relationship on ${fk.table}`);
      if (!back) missing.push(`${fk.table}(${fk.columns.join(', ')}) -> ${fk.refTable}: no relationship back on ${fk.refTable}`);
    }
    expect(missing).toEqual([]);
  });

  it('have names unique within their table and distinct from its columns', () => {
    const clashes: string[] = [];
    for (const t of source.tables) {
      const names = [...(t.object_relationships ?? []), ...(t.array_relationships ?? [])].map((r) => r.name);
      for (const name of names) {
        if (names.filter((n) => n === name).length > 1) clashes.push(`${t.table.name}.${name} twice`);
        if (facts.columns.get(t.table.name)?.includes(name)) clashes.push(`${t.table.name}.${name} is also a column`);
      }
    }
    expect(clashes).toEqual([]);
  });
});

describe('permissions', () => {
  it('name only columns, relationships and tables that exist', () => {
    const problems: string[] = [];
    for (const t of source.tables) {
      const table = t.table.name;
      for (const perm of everyPermission(t)) {
        const where = `${table} ${perm.kind} for ${perm.role}`;
        for (const column of columnsOf(table, perm.columns)) {
          if (!facts.columns.get(table)?.includes(column)) problems.push(`${where}: no column ${column}`);
        }
        for (const exp of perm.exps) problems.push(...checkBoolExp(facts, lookup, table, exp, where));
      }
    }
    expect(problems).toEqual([]);
  });

  it("for user, let through only rows of the token's organization, and only while the user is a member of it", () => {
    const open: string[] = [];
    for (const t of source.tables) {
      if (PUBLIC_CATALOGUE.includes(t.table.name)) continue;
      for (const perm of everyPermission(t).filter((p) => p.role === 'user')) {
        for (const exp of perm.exps) {
          if (!pinsTenant(facts, lookup, t.table.name, exp, true)) open.push(`${t.table.name} ${perm.kind}: ${JSON.stringify(exp)}`);
        }
      }
    }
    expect(open).toEqual([]);
  });

  it("for service, let through only rows of the token's organization", () => {
    const open: string[] = [];
    for (const t of source.tables) {
      if (PUBLIC_CATALOGUE.includes(t.table.name)) continue;
      for (const perm of everyPermission(t).filter((p) => p.role === 'service')) {
        for (const exp of perm.exps) {
          if (!pinsTenant(facts, lookup, t.table.name, exp, false)) open.push(`${t.table.name} ${perm.kind}: ${JSON.stringify(exp)}`);
        }
      }
    }
    expect(open).toEqual([]);
  });

  it('give no role but user, service and anonymous any access, and anonymous only the public catalogue', () => {
    const roles = new Set(source.tables.flatMap((t) => everyPermission(t).map((p) => p.role)));
    expect([...roles].sort()).toEqual(['anonymous', 'service', 'user']);
    const anonymous = source.tables.filter((t) => everyPermission(t).some((p) => p.role === 'anonymous')).map((t) => t.table.name);
    expect(anonymous.sort()).toEqual([...PUBLIC_CATALOGUE].sort());
  });

  it('keep tenant data out of the public catalogue', () => {
    const tenantColumns = PUBLIC_CATALOGUE.flatMap((table) =>
      (facts.columns.get(table) ?? []).filter((c) => c === 'organization_id' || c === 'user_id').map((c) => `${table}.${c}`),
    );
    expect(tenantColumns).toEqual([]);
  });

  it('let no role but the admin insert, update or delete grants, reservations, the ledger, purchases or Stripe events', () => {
    const writes = WRITTEN_ONLY_BY_FUNCTIONS.flatMap((table) => {
      const t = tableMeta.get(table);
      expect(t, `${table} is tracked`).toBeDefined();
      return everyPermission(t!)
        .filter((p) => p.kind !== 'select')
        .map((p) => `${table} ${p.kind} for ${p.role}`);
    });
    expect(writes).toEqual([]);
  });

  it('allow writes only where the rules say: settings and limits for owners and admins, read marks for members', () => {
    const found: Record<string, { insert: string[]; update: string[] }> = {};
    for (const t of source.tables) {
      const perms = everyPermission(t);
      expect(
        perms.filter((p) => p.kind === 'delete').map((p) => p.role),
        `${t.table.name} delete`,
      ).toEqual([]);
      const insert = perms.filter((p) => p.kind === 'insert').map((p) => p.role);
      const update = perms.filter((p) => p.kind === 'update').map((p) => p.role);
      if (insert.length || update.length) found[t.table.name] = { insert, update };
    }
    expect(found).toEqual(WRITABLE);
    for (const table of ['auto_topup_settings', 'spend_limits']) {
      const t = tableMeta.get(table)!;
      const update = t.update_permissions![0]!.permission;
      const insert = t.insert_permissions![0]!.permission;
      for (const exp of [update.filter, update.check!, insert.check])
        expect(requiredMembershipRoles(exp)?.sort(), table).toEqual(['admin', 'owner']);
      expect(insert.set, `${table} insert presets the organization`).toEqual({ organization_id: 'X-Hasura-Org-Id' });
      expect(columnsOf(table, insert.columns)).not.toContain('organization_id');
      expect(columnsOf(table, update.columns)).not.toContain('organization_id');
    }
    const notifications = tableMeta.get('notifications')!.update_permissions![0]!.permission;
    expect(notifications.columns).toEqual(['read_at']);
  });

  it('bound what owners may write: amounts, counts and a package that is on sale', () => {
    const settings = tableMeta.get('auto_topup_settings')!.update_permissions![0]!.permission.check!;
    const text = JSON.stringify(settings);
    for (const column of ['threshold_credits', 'cooldown_minutes', 'monthly_max_count', 'monthly_max_minor'])
      expect(text).toContain(`"${column}"`);
    expect(text).toContain('"package":{"is_active":{"_eq":true}}');
    const limits = JSON.stringify(tableMeta.get('spend_limits')!.update_permissions![0]!.permission.check!);
    for (const column of ['daily_limit_credits', 'monthly_limit_credits', 'per_call_limit_credits'])
      expect(limits).toContain(`"${column}"`);
  });

  it('never show Stripe ids or internal metadata columns to any role', () => {
    const leaks: string[] = [];
    for (const t of source.tables) {
      for (const perm of everyPermission(t)) {
        for (const column of columnsOf(t.table.name, perm.columns)) {
          if (isSecretColumn(column)) leaks.push(`${t.table.name}.${column} (${perm.kind} for ${perm.role})`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });

  it('list columns explicitly (a new secret column is never exposed by "*")', () => {
    const stars = source.tables.flatMap((t) =>
      everyPermission(t)
        .filter((p) => p.kind !== 'delete' && p.columns === '*')
        .map((p) => `${t.table.name} ${p.kind} for ${p.role}`),
    );
    expect(stars).toEqual([]);
  });

  it('limit the rows one query of user may read from the large tables', () => {
    const large = [
      'credit_ledger_entries',
      'credit_reservations',
      'credit_grants',
      'organization_usage_daily',
      'notifications',
      'topup_purchases',
    ];
    const unlimited = large.filter((table) => {
      const perm = tableMeta.get(table)?.select_permissions?.find((p) => p.role === 'user');
      return !perm?.permission.limit;
    });
    expect(unlimited).toEqual([]);
  });
});

describe('tracked functions', () => {
  it('exist, only read (stable or immutable), and return rows of a tracked table whose permissions then apply', async () => {
    const functions = source.functions ?? [];
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      const { rows } = await db.pool.query<{ volatility: string; returns_set: boolean; return_table: string | null }>(
        `select p.provolatile::text as volatility, p.proretset as returns_set, c.relname as return_table
           from pg_catalog.pg_proc p
           join pg_catalog.pg_namespace n on n.oid = p.pronamespace
           left join pg_catalog.pg_class c on c.reltype = p.prorettype
          where n.nspname = $1 and p.proname = $2`,
        [fn.function.schema, fn.function.name],
      );
      expect(rows, `${fn.function.name} exists once`).toHaveLength(1);
      const [row] = rows;
      expect(['s', 'i'], `${fn.function.name} is stable or immutable`).toContain(row!.volatility);
      expect(fn.configuration?.exposed_as ?? 'query').toBe('query');
      const returned = tableMeta.get(row!.return_table ?? '');
      expect(returned, `${fn.function.name} returns a tracked table`).toBeDefined();
      for (const { role } of fn.permissions ?? []) {
        expect(
          returned!.select_permissions?.some((p) => p.role === role),
          `${role} may select from ${row!.return_table}`,
        ).toBe(true);
      }
      expect(fn.comment?.trim()).toBeTruthy();
    }
  });
});

describe("the database's own functions", () => {
  it('each has a comment, and an empty search_path unless it is inlined SQL or a CHECK rule, as docs/data-model.md says', async () => {
    // Ours: every function in the public and ledger schemas that no extension installed. A SET
    // clause keeps the planner from inlining a SQL function, and costs each row a CHECK tests, so
    // those go without it, written with qualified names and built-in operators only.
    const { rows } = await db.pool.query<{ fn: string; commented: boolean; search_path_empty: boolean; exempt: boolean }>(
      `select p.oid::regprocedure::text as fn,
              l.lanname = 'sql' or exists (
                select 1 from pg_catalog.pg_depend d
                 where d.classid = 'pg_constraint'::regclass and d.refclassid = 'pg_proc'::regclass and d.refobjid = p.oid) as exempt,
              coalesce(obj_description(p.oid, 'pg_proc'), '') <> '' as commented,
              coalesce('search_path=""' = any (p.proconfig), false) as search_path_empty
         from pg_catalog.pg_proc p
         join pg_catalog.pg_namespace n on n.oid = p.pronamespace
         join pg_catalog.pg_language l on l.oid = p.prolang
        where n.nspname in ('public', 'ledger')
          and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
        order by 1`,
    );
    expect(rows.length).toBeGreaterThan(50);
    expect(rows.filter((r) => !r.commented).map((r) => r.fn)).toEqual([]);
    expect(rows.filter((r) => !r.search_path_empty && !r.exempt).map((r) => r.fn)).toEqual([]);
  });
});

describe('the tenant check itself', () => {
  const org = { organization_id: { _eq: 'X-Hasura-Org-Id' } };
  const member = { organization: { members: { user_id: { _eq: 'X-Hasura-User-Id' } } } };
  const check = (exp: BoolExp, membership = true) => pinsTenant(facts, lookup, 'credit_grants', exp, membership);

  it('accepts the organization pinned together with a membership', () => {
    expect(check({ _and: [org, member] })).toBe(true);
    expect(check({ ...org, ...member })).toBe(true);
  });

  it('refuses an organization without a membership, a membership without an organization, or either under _or', () => {
    expect(check(org)).toBe(false);
    expect(check(member)).toBe(false);
    expect(check({ _or: [org, member] })).toBe(false);
    expect(check({})).toBe(false);
  });

  it('refuses a membership of a user named by something other than the session', () => {
    expect(check({ _and: [org, { organization: { members: { role: { _eq: 'owner' } } } }] })).toBe(false);
  });
});

export type { SchemaFacts };
