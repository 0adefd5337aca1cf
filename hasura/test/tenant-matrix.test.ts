// The tenant-isolation matrix, generated from the metadata: for every tracked table, function and
// action, every identity tries every operation aimed at another organization's rows, through the
// engine over real HTTP (and WebSocket for subscriptions), against the migrated and seeded
// database. Each try must be refused or return nothing, and the database must be unchanged.
// A table, function or action added later is covered without anyone listing it here.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { defaultSource, loadMetadata, type TableMetadata } from './load-metadata.ts';
import { copyMetadataWithoutCron } from './metadata-without-cron.ts';
import { readSchemaFacts } from './schema-facts.ts';
import { ADMIN_SECRET, bearer, type GqlAnswer, jwt, NOW_S, type Stack, serviceClaims, startStack, userClaims } from './stack.ts';

const ORG_A = '0a000000-0000-4000-8000-000000000001';
const ORG_B = '0a000000-0000-4000-8000-000000000002';
const USERS = {
  adaOwnerA: '0b000000-0000-4000-8000-000000000001',
  minaMemberA: '0b000000-0000-4000-8000-000000000003',
  graceOwnerB: '0b000000-0000-4000-8000-000000000004',
  gusMemberB: '0b000000-0000-4000-8000-000000000005',
  caseyInBoth: '0b000000-0000-4000-8000-000000000006',
};
/** Tables everyone may read: the pricing page's catalogue (writes to them are still tried). */
const PUBLIC_CATALOGUE = new Set([
  'ai_capabilities',
  'llm_models',
  'plan_capabilities',
  'plan_capability_quality_levels',
  'plans',
  'quality_levels',
  'topup_packages',
]);

interface Identity {
  name: string;
  /** The role its requests would run as, if accepted. */
  role: string;
  headers: Record<string, string>;
  /** The organization whose rows it must not reach. */
  victim: string;
  /** The organization it legitimately acts in (null: none). */
  own: string | null;
}

const IDENTITIES: Identity[] = [
  { name: 'anonymous', role: 'anonymous', headers: {}, victim: ORG_B, own: null },
  { name: 'member of A', role: 'user', headers: bearer(jwt(userClaims(USERS.minaMemberA, ORG_A))), victim: ORG_B, own: ORG_A },
  { name: 'owner of A', role: 'user', headers: bearer(jwt(userClaims(USERS.adaOwnerA, ORG_A))), victim: ORG_B, own: ORG_A },
  {
    name: 'member of both, acting in A',
    role: 'user',
    headers: bearer(jwt(userClaims(USERS.caseyInBoth, ORG_A))),
    victim: ORG_B,
    own: ORG_A,
  },
  { name: 'member of B', role: 'user', headers: bearer(jwt(userClaims(USERS.gusMemberB, ORG_B))), victim: ORG_A, own: ORG_B },
  {
    name: 'service for A',
    role: 'service',
    headers: bearer(jwt(serviceClaims(ORG_A))),
    victim: ORG_B,
    own: ORG_A,
  },
  {
    name: 'member of A whose token claims B',
    role: 'user',
    headers: bearer(jwt(userClaims(USERS.minaMemberA, ORG_B))),
    victim: ORG_B,
    own: null,
  },
  {
    // Without a token the request is the unauthorized role, and its session variables are these very
    // headers (as Hasura builds that session): x-hasura-role must not lift it out of `anonymous`, and
    // anonymous's permissions must not use the rest (unauthorized-role.test.ts checks the metadata).
    name: 'no token, session headers sent',
    role: 'anonymous',
    headers: { 'x-hasura-role': 'user', 'x-hasura-user-id': USERS.graceOwnerB, 'x-hasura-org-id': ORG_B },
    victim: ORG_B,
    own: null,
  },
  {
    name: 'expired token',
    role: 'user',
    headers: bearer(jwt(userClaims(USERS.graceOwnerB, ORG_B), { exp: NOW_S - 3600 })),
    victim: ORG_B,
    own: null,
  },
  {
    name: 'wrong signature',
    role: 'user',
    headers: bearer(jwt(userClaims(USERS.graceOwnerB, ORG_B), { key: 'not-the-key-not-the-key-not-the-key' })),
    victim: ORG_B,
    own: null,
  },
  { name: 'alg none', role: 'user', headers: bearer(jwt(userClaims(USERS.graceOwnerB, ORG_B), { alg: 'none' })), victim: ORG_B, own: null },
  {
    name: 'role not in the allowed roles',
    role: 'service',
    headers: { ...bearer(jwt(userClaims(USERS.minaMemberA, ORG_A))), 'x-hasura-role': 'service' },
    victim: ORG_B,
    own: ORG_A,
  },
  {
    name: 'X-Hasura-Org-Id header without the admin secret',
    role: 'user',
    headers: { ...bearer(jwt(userClaims(USERS.minaMemberA, ORG_A))), 'x-hasura-org-id': ORG_B },
    victim: ORG_B,
    own: ORG_A,
  },
];

const db = await useTestDatabase();
const metadata = loadMetadata();
const source = defaultSource(metadata);
const facts = await readSchemaFacts(db.pool);

// ---------------------------------------------------------------------------------------------
// Rows of both organizations in every tenant table (the seeds hold some; the rest are added here
// as the admin would).
// ---------------------------------------------------------------------------------------------
async function giveRowsTo(org: string, user: string) {
  await db.pool.query(`select public.grant_credits($1::uuid, 100, 'promotion', 'matrix:' || $1::text, p_description => 'matrix fixture')`, [
    org,
  ]);
  const { rows } = await db.pool.query<{ id: string }>(
    `select id from public.reserve_credits($1::uuid, 1, 'matrix-open-' || $1::text, p_user_id => $2::uuid)`,
    [org, user],
  );
  const settled = await db.pool.query<{ id: string }>(
    `select id from public.reserve_credits($1::uuid, 2, 'matrix-settled-' || $1::text, p_user_id => $2::uuid)`,
    [org, user],
  );
  await db.pool.query(`select public.settle_reservation($1::uuid, 1.5, $2::uuid)`, [settled.rows[0]!.id, org]);
  if (!rows[0]) throw new Error('fixture reservation missing');
  await db.pool.query(
    `insert into public.organization_rate_usage (organization_id, capability_code, hour_start, hour_calls, day, day_calls)
     select $1, code, date_trunc('hour', now()), 1, current_date, 1 from public.ai_capabilities order by code limit 1
     on conflict do nothing`,
    [org],
  );
  await db.pool.query(
    `insert into public.organization_usage_daily (organization_id, day, capability_code, quality_level_code, calls, credits_consumed)
     select $1, current_date, c.code, q.code, 3, 4.5 from public.ai_capabilities c, public.quality_levels q order by c.code, q.code limit 1
     on conflict do nothing`,
    [org],
  );
  const pkg = await db.pool.query<{ id: string }>(`select id from public.topup_packages where is_active order by sort_order limit 1`);
  await db.pool.query(
    `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id) values ($1, true, 10, $2)
     on conflict do nothing`,
    [org, pkg.rows[0]!.id],
  );
  await db.pool.query(
    `insert into public.auto_topup_attempts (organization_id, package_id, status, idempotency_key, credits, price_minor, resolved_at)
     values ($1::uuid, $2::uuid, 'failed', 'matrix-attempt-' || $1::text, 500, 1000, now()) on conflict do nothing`,
    [org, pkg.rows[0]!.id],
  );
  await db.pool.query(`insert into public.spend_limits (organization_id, daily_limit_credits) values ($1, 1000) on conflict do nothing`, [
    org,
  ]);
  await db.pool.query(
    `insert into public.notifications (organization_id, user_id, kind, title, dedupe_key) values
       ($1, null, 'low_balance', 'Everyone', 'matrix-all'), ($1, $2, 'refund', 'Just you', 'matrix-one')
     on conflict do nothing`,
    [org, user],
  );
}
await db.pool.query(
  `insert into public.stripe_events (id, type, payload) values ('evt_matrix', 'checkout.session.completed', '{}') on conflict do nothing`,
);
await giveRowsTo(ORG_A, USERS.adaOwnerA);
await giveRowsTo(ORG_B, USERS.graceOwnerB);

// The engine serving hasura/metadata, and the api behind its actions.
const stack = await startStack(db);
/** The stack the cases talk to (the last test points it at an engine serving broken metadata). */
let client: Pick<Stack, 'post' | 'subscribeOnce'> = stack;
const post: Stack['post'] = (...args) => client.post(...args);
const subscribeOnce: Stack['subscribeOnce'] = (...args) => client.subscribeOnce(...args);

// ---------------------------------------------------------------------------------------------
// What the schema offers each table: its key, its owner column, a writable column to try.
// ---------------------------------------------------------------------------------------------
const primaryKeys = new Map<string, string[]>();
{
  const { rows } = await db.pool.query<{ table: string; columns: string[] }>(
    `select c.relname as "table", array_agg(a.attname::text order by k.ord) as columns
       from pg_catalog.pg_index i
       join pg_catalog.pg_class c on c.oid = i.indrelid
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
       join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
      where i.indisprimary and n.nspname = 'public'
      group by c.relname`,
  );
  for (const r of rows) primaryKeys.set(r.table, r.columns);
}
const columnTypes = new Map<string, string>();
{
  const { rows } = await db.pool.query<{ t: string; c: string; type: string }>(
    `select table_name as t, column_name as c, data_type as type from information_schema.columns where table_schema = 'public'`,
  );
  for (const r of rows) columnTypes.set(`${r.t}.${r.c}`, r.type);
}
const membersOf = async (org: string) =>
  (await db.pool.query<{ user_id: string }>('select user_id from public.organization_members where organization_id = $1', [org])).rows.map(
    (r) => r.user_id,
  );
const members = new Map([
  [ORG_A, await membersOf(ORG_A)],
  [ORG_B, await membersOf(ORG_B)],
]);

/** Tables no role may touch at all (the admin's): every row of them is out of reach. */
const adminOnly = (table: string) => {
  const t = source.tables.find((x) => x.table.name === table);
  return !!t && ![t.select_permissions, t.insert_permissions, t.update_permissions, t.delete_permissions].some((p) => p?.length);
};

/** The victim's rows of a table, as a boolean expression in GraphQL syntax. */
function victimWhere(table: string, identity: Identity): string | null {
  if (adminOnly(table)) return '{}';
  if (table === 'organizations') return `{ id: { _eq: "${identity.victim}" } }`;
  if (table === 'users') {
    const theirs = (members.get(identity.victim) ?? []).filter((u) => !(identity.own && members.get(identity.own)?.includes(u)));
    return `{ id: { _in: [${theirs.map((u) => `"${u}"`).join(', ')}] } }`;
  }
  if (facts.columns.get(table)?.includes('organization_id')) return `{ organization_id: { _eq: "${identity.victim}" } }`;
  return null;
}

/** True when a returned row belongs to the victim (and not also to the identity's own org). */
function isVictimRow(table: string, identity: Identity, row: Record<string, unknown>): boolean {
  if (adminOnly(table)) return true;
  if (table === 'organizations') return row.id === identity.victim;
  if (table === 'users') return victimWhere(table, identity)!.includes(`"${String(row.id)}"`);
  return row.organization_id === identity.victim;
}

function selectColumns(t: TableMetadata, role: string): string[] {
  const perm = t.select_permissions?.find((p) => p.role === role)?.permission.columns;
  if (Array.isArray(perm) && perm.length) return perm;
  const name = t.table.name;
  return primaryKeys.get(name) ?? (facts.columns.get(name) ?? []).slice(0, 1);
}

function literalFor(table: string, column: string): string {
  const type = columnTypes.get(`${table}.${column}`) ?? 'text';
  if (type === 'boolean') return 'false';
  if (['integer', 'bigint', 'smallint'].includes(type)) return '7';
  if (type === 'numeric') return '"7"';
  if (type === 'uuid') return '"00000000-0000-4000-8000-000000000000"';
  if (type.startsWith('timestamp')) return '"2031-01-01T00:00:00Z"';
  if (type === 'date') return '"2031-01-01"';
  if (type === 'jsonb' || type === 'json') return '{}';
  return '"matrix"';
}

function writableColumn(t: TableMetadata, role: string): string {
  const name = t.table.name;
  const perm = t.update_permissions?.find((p) => p.role === role)?.permission.columns;
  if (Array.isArray(perm) && perm.length) return perm[0]!;
  const keys = primaryKeys.get(name) ?? [];
  return (facts.columns.get(name) ?? []).find((c) => !keys.includes(c) && c !== 'organization_id') ?? keys[0]!;
}

function insertObject(table: string, identity: Identity): string {
  if (table === 'organizations') return `{ name: "Matrix", slug: "matrix-org" }`;
  if (table === 'users') return `{ email: "matrix@victim.test" }`;
  const fields = [];
  if (facts.columns.get(table)?.includes('organization_id')) fields.push(`organization_id: "${identity.victim}"`);
  const extra = (facts.columns.get(table) ?? []).find((c) => c !== 'organization_id' && !(primaryKeys.get(table) ?? []).includes(c));
  if (extra) fields.push(`${extra}: ${literalFor(table, extra)}`);
  return `{ ${fields.join(', ')} }`;
}

async function victimPk(table: string, identity: Identity): Promise<Record<string, unknown> | null> {
  const keys = primaryKeys.get(table);
  const where = victimWhere(table, identity);
  if (!keys || !where) return null;
  if (adminOnly(table)) {
    const { rows } = await db.pool.query(`select ${keys.map((k) => `${k}::text as ${k}`).join(', ')} from public.${table} limit 1`);
    return rows[0] ?? null;
  }
  const owner = table === 'organizations' ? 'id' : table === 'users' ? null : 'organization_id';
  const sql =
    owner === null
      ? `select ${keys.join(', ')} from public.users where id = any($1::uuid[]) limit 1`
      : `select ${keys.map((k) => `${k}::text as ${k}`).join(', ')} from public.${table} where ${owner} = $1 limit 1`;
  const param =
    owner === null
      ? (members.get(identity.victim) ?? []).filter((u) => !(identity.own && members.get(identity.own)?.includes(u)))
      : identity.victim;
  const { rows } = await db.pool.query(sql, [param]);
  return rows[0] ?? null;
}

const pkArgs = (pk: Record<string, unknown>, table: string) =>
  Object.entries(pk)
    .map(([k, v]) => {
      const lit = literalFor(table, k);
      return `${k}: ${lit.startsWith('"') ? JSON.stringify(String(v)) : String(v)}`;
    })
    .join(', ');

// ---------------------------------------------------------------------------------------------
// The cases.
// ---------------------------------------------------------------------------------------------
type Outcome = 'refused' | 'empty' | 'LEAK' | 'not served';

interface Case {
  target: string;
  operation: string;
  identity: Identity;
  /** The root field it calls, and whether over a subscription: when the engine does not serve it even to the admin, there is no verdict. */
  field: string;
  subscription?: boolean;
  /** Writes are also judged by the database (a write that answers nothing may still have written): the tables to compare, or all. */
  writes?: string[] | 'all';
  run: () => Promise<{ outcome: Outcome; detail: string }>;
}

const NOT_SERVED = /not supported by this engine|not served|does not serve/i;

function judge(answer: GqlAnswer, leak: (data: Record<string, unknown>) => string | null): { outcome: Outcome; detail: string } {
  const errors = answer.errors ?? [];
  if (errors.some((e) => NOT_SERVED.test(e.message))) return { outcome: 'not served', detail: errors[0]!.message };
  if (!answer.data)
    return errors.length || answer.status !== 200
      ? { outcome: 'refused', detail: errors[0]?.message ?? `HTTP ${answer.status}` }
      : { outcome: 'LEAK', detail: 'no data and no error' };
  const found = leak(answer.data);
  return found ? { outcome: 'LEAK', detail: found } : { outcome: errors.length ? 'refused' : 'empty', detail: errors[0]?.message ?? '' };
}

const rowsLeak = (table: string, identity: Identity, field: string) => (data: Record<string, unknown>) => {
  const rows = (data[field] ?? []) as Record<string, unknown>[];
  const bad = rows.filter((r) => isVictimRow(table, identity, r));
  return bad.length ? `${bad.length} row(s) of the victim: ${JSON.stringify(bad[0])}` : null;
};
const anyRows = (field: string) => (data: Record<string, unknown>) => {
  const value = data[field];
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.length ? `${value.length} row(s): ${JSON.stringify(value[0])}` : null;
  return `a row: ${JSON.stringify(value)}`;
};
const countLeak = (field: string) => (data: Record<string, unknown>) => {
  const count = (data[field] as { aggregate?: { count?: number } } | null)?.aggregate?.count ?? 0;
  return count ? `count ${count}` : null;
};
const affected = (field: string) => (data: Record<string, unknown>) => {
  const n = (data[field] as { affected_rows?: number } | null)?.affected_rows ?? 0;
  return n ? `${n} row(s) affected` : null;
};

const cases: Case[] = [];
for (const t of source.tables) {
  const table = t.table.name;
  const catalogue = PUBLIC_CATALOGUE.has(table);
  for (const identity of IDENTITIES) {
    const where = victimWhere(table, identity);
    const cols = selectColumns(t, identity.role).join(' ');
    const add = (operation: string, field: string, run: Case['run'], subscription = false) =>
      cases.push({
        target: table,
        operation,
        identity,
        field,
        subscription,
        writes: ['insert', 'update', 'delete'].includes(operation.split(' ')[0]!) ? [table] : undefined,
        run,
      });
    if (!catalogue) {
      if (!where) throw new Error(`${table}: the matrix cannot tell whose rows these are; teach victimWhere`);
      add('select', table, async () => judge(await post(identity.headers, `{ ${table} { ${cols} } }`), rowsLeak(table, identity, table)));
      add('select aimed', table, async () =>
        judge(await post(identity.headers, `{ ${table}(where: ${where}) { ${cols} } }`), anyRows(table)),
      );
      add('aggregate', `${table}_aggregate`, async () =>
        judge(
          await post(identity.headers, `{ ${table}_aggregate(where: ${where}) { aggregate { count } } }`),
          countLeak(`${table}_aggregate`),
        ),
      );
      add(
        'subscription',
        table,
        async () => judge(await subscribeOnce(identity.headers, `subscription { ${table}(where: ${where}) { ${cols} } }`), anyRows(table)),
        true,
      );
      const pk = await victimPk(table, identity);
      if (pk) {
        add('by_pk', `${table}_by_pk`, async () =>
          judge(await post(identity.headers, `{ ${table}_by_pk(${pkArgs(pk, table)}) { ${cols} } }`), anyRows(`${table}_by_pk`)),
        );
        const column = writableColumn(t, identity.role);
        add('update by_pk', `update_${table}_by_pk`, async () =>
          judge(
            await post(
              identity.headers,
              `mutation { update_${table}_by_pk(pk_columns: { ${pkArgs(pk, table)} }, _set: { ${column}: ${literalFor(table, column)} }) { __typename } }`,
            ),
            anyRows(`update_${table}_by_pk`),
          ),
        );
        add('delete by_pk', `delete_${table}_by_pk`, async () =>
          judge(
            await post(identity.headers, `mutation { delete_${table}_by_pk(${pkArgs(pk, table)}) { __typename } }`),
            anyRows(`delete_${table}_by_pk`),
          ),
        );
      }
    }
    const victimRows = where ?? '{}';
    const column = writableColumn(t, identity.role);
    add('insert', `insert_${table}`, async () =>
      judge(
        await post(identity.headers, `mutation { insert_${table}(objects: [${insertObject(table, identity)}]) { affected_rows } }`),
        affected(`insert_${table}`),
      ),
    );
    add('update', `update_${table}`, async () =>
      judge(
        await post(
          identity.headers,
          `mutation { update_${table}(where: ${victimRows}, _set: { ${column}: ${literalFor(table, column)} }) { affected_rows } }`,
        ),
        affected(`update_${table}`),
      ),
    );
    add('delete', `delete_${table}`, async () =>
      judge(
        await post(identity.headers, `mutation { delete_${table}(where: ${victimRows}) { affected_rows } }`),
        affected(`delete_${table}`),
      ),
    );
  }
}

for (const fn of source.functions ?? []) {
  const name = fn.function.name;
  const { rows } = await db.pool.query<{ args: string[]; types: string[]; returns: string }>(
    `select coalesce(p.proargnames, '{}')::text[] as args, array(select format_type(t, null) from unnest(p.proargtypes) t) as types, c.relname as returns
       from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
       left join pg_catalog.pg_class c on c.reltype = p.prorettype
      where n.nspname = $1 and p.proname = $2`,
    [fn.function.schema, name],
  );
  const [info] = rows;
  if (!info) throw new Error(`tracked function ${name} does not exist`);
  const returned = source.tables.find((t) => t.table.name === info.returns);
  for (const identity of IDENTITIES) {
    const args = info.args
      .map((arg, i) => {
        const type = info.types[i] ?? 'text';
        if (type === 'uuid') return `${arg}: "${identity.victim}"`;
        if (type === 'date') return `${arg}: "${i === info.args.length - 1 ? '2100-01-01' : '2000-01-01'}"`;
        if (type.startsWith('timestamp')) return null;
        return null;
      })
      .filter(Boolean)
      .join(', ');
    const cols = returned ? selectColumns(returned, identity.role).join(' ') : '__typename';
    cases.push({
      target: `${name}()`,
      operation: 'call',
      identity,
      field: name,
      run: async () => judge(await post(identity.headers, `{ ${name}(args: { ${args} }) { ${cols} } }`), anyRows(name)),
    });
  }
}

// Actions: the ones that name a row are aimed at the victim's; the others are tried by identities
// that must be refused before the handler runs, or that the handler must refuse (a user whose
// token claims an org they are not a member of).
const victimReservation = async (org: string) =>
  (
    await db.pool.query<{ id: string }>(
      `select id::text from public.credit_reservations where organization_id = $1 and status = 'open' limit 1`,
      [org],
    )
  ).rows[0]!.id;
const activePlan = (await db.pool.query<{ id: string }>(`select id::text from public.plans where is_active order by rank desc limit 1`))
  .rows[0]!.id;
const activePackage = (await db.pool.query<{ id: string }>(`select id::text from public.topup_packages where is_active limit 1`)).rows[0]!
  .id;
/** Each action called as a client would; `aimed` when the call names another organization's row. */
const ACTION_CALLS: Record<string, { aimed: boolean; query: (identity: Identity) => Promise<string> }> = {
  checkAIAccess: {
    aimed: false,
    query: async () => `{ checkAIAccess(capability: "summarization", qualityLevel: "fast") { allowed availableCredits } }`,
  },
  estimateCredits: {
    aimed: false,
    query: async () => `{ estimateCredits(capability: "summarization", qualityLevel: "fast") { typicalCredits } }`,
  },
  reserveCredits: {
    aimed: false,
    query: async () =>
      `mutation { reserveCredits(capability: "summarization", qualityLevel: "fast", idempotencyKey: "matrix") { reservationId } }`,
  },
  settleCredits: {
    aimed: true,
    query: async (i) =>
      `mutation { settleCredits(reservationId: "${await victimReservation(i.victim)}", usage: { inputTokens: 10, outputTokens: 10 }) { reservationId } }`,
  },
  releaseCredits: {
    aimed: true,
    query: async (i) => `mutation { releaseCredits(reservationId: "${await victimReservation(i.victim)}") { reservationId } }`,
  },
  runPlayground: {
    aimed: false,
    query: async () =>
      `mutation { runPlayground(capability: "summarization", qualityLevel: "fast", prompt: "hi", idempotencyKey: "matrix") { output } }`,
  },
  createTopUpCheckout: {
    aimed: false,
    query: async () => `mutation { createTopUpCheckout(packageId: "${activePackage}") { checkoutUrl } }`,
  },
  // Aimed: it names the victim's organization (FORBIDDEN unless it is the session's).
  previewPlanChange: {
    aimed: true,
    query: async (i) => `{ previewPlanChange(planId: "${activePlan}", organizationId: "${i.victim}") { amountDueMinor currency } }`,
  },
  changePlan: { aimed: false, query: async () => `mutation { changePlan(planId: "${activePlan}") { status } }` },
  cancelPlanChange: { aimed: false, query: async () => `mutation { cancelPlanChange { status } }` },
};
for (const action of metadata.actions ?? []) {
  const call = ACTION_CALLS[action.name];
  if (!call) throw new Error(`the matrix has no call for the action ${action.name}: add one to ACTION_CALLS`);
  for (const identity of IDENTITIES) {
    const permitted = (action.permissions ?? []).some((p) => p.role === identity.role);
    const escalates = 'x-hasura-role' in identity.headers;
    const orgHeader = 'x-hasura-org-id' in identity.headers && identity.own !== null;
    const base = {
      target: `${action.name} (action)`,
      operation: 'call',
      identity,
      field: action.name,
      writes: action.definition.type === 'mutation' ? ('all' as const) : undefined,
    };
    if (call.aimed || identity.own === null || !permitted || escalates) {
      // Must be refused, or find nothing: another org's reservation, or no org the caller belongs to.
      cases.push({ ...base, run: async () => judge(await post(identity.headers, await call.query(identity)), anyRows(action.name)) });
    } else if (orgHeader && action.definition.type === 'query') {
      // The header must change nothing: the answer is the one the same token gets without it.
      const { 'x-hasura-org-id': _ignored, ...plain } = identity.headers;
      cases.push({
        ...base,
        run: async () => {
          const query = await call.query(identity);
          const [withHeader, without] = [await post(identity.headers, query), await post(plain, query)];
          const verdict = judge(withHeader, () => null);
          if (verdict.outcome === 'not served') return verdict;
          return JSON.stringify(withHeader) === JSON.stringify(without)
            ? { outcome: 'empty', detail: 'same answer as without the header' }
            : { outcome: 'LEAK', detail: `the header changed the answer: ${JSON.stringify(withHeader)} vs ${JSON.stringify(without)}` };
        },
      });
    }
    // Otherwise: a permitted caller acting in its own organization on nothing of another's: not a crossing.
  }
}

// ---------------------------------------------------------------------------------------------
// Run them all, then compare the database.
// ---------------------------------------------------------------------------------------------
async function snapshot(only?: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, kind] of facts.relations) {
    if (kind !== 'table' || (only && !only.includes(name))) continue;
    const { rows } = await db.pool.query<{ h: string }>(
      `select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as h from public.${name} t`,
    );
    out[name] = rows[0]!.h;
  }
  return out;
}

describe('the tenant-isolation matrix', () => {
  it('has rows of both organizations in every tenant table, so that every aimed try has something to find', async () => {
    const empty: string[] = [];
    for (const t of source.tables) {
      const table = t.table.name;
      if (PUBLIC_CATALOGUE.has(table) || adminOnly(table) || table === 'users' || table === 'organizations') continue;
      for (const org of [ORG_A, ORG_B]) {
        const { rows } = await db.pool.query(`select 1 from public.${table} where organization_id = $1 limit 1`, [org]);
        if (!rows.length) empty.push(`${table} (${org})`);
      }
    }
    expect(empty).toEqual([]);
  });

  it('lets the legitimate identities read their own organization (the matrix is not blind)', async () => {
    const own = await post(
      IDENTITIES[1]!.headers,
      `{ credit_ledger_entries(limit: 1) { organization_id } organization_credit_balances { organization_id } }`,
    );
    expect(own.errors).toBeUndefined();
    expect(own.data).toMatchObject({
      credit_ledger_entries: [{ organization_id: ORG_A }],
      organization_credit_balances: [{ organization_id: ORG_A }],
    });
  });

  it('refuses, or answers nothing to, every identity aimed at another organization, and changes nothing', async () => {
    // What the engine serves at all: the admin's root fields (introspection), and whether a
    // subscription answers.
    const admin = { 'x-hasura-admin-secret': ADMIN_SECRET };
    const roots = await post(
      admin,
      '{ q: __type(name: "query_root") { fields { name } } m: __type(name: "mutation_root") { fields { name } } }',
    );
    expect(roots.errors, 'the admin introspects the root fields').toBeUndefined();
    const fieldsOf = (type: unknown) => ((type as { fields?: { name: string }[] } | null)?.fields ?? []).map((f) => f.name);
    const servedFields = new Set([...fieldsOf(roots.data?.q), ...fieldsOf(roots.data?.m)]);
    expect(servedFields.has('credit_grants'), 'introspection lists the tables').toBe(true);
    // A table field missing even for the admin (no insert into a view) is refused for everyone, as
    // in Hasura; an action missing for the admin is one the engine has not built yet.
    const served = async (c: Case) => !c.target.endsWith('(action)') || servedFields.has(c.field);
    const probe = await subscribeOnce(admin, 'subscription { organizations { id } }');
    const subscriptionsServed = Array.isArray(probe.data?.organizations);
    const before = await snapshot();
    const results: { label: string; outcome: Outcome; detail: string }[] = [];
    for (const c of cases) {
      if (!(await served(c)) || (c.subscription && !subscriptionsServed)) {
        results.push({
          label: `${c.target} ${c.operation} as ${c.identity.name}`,
          outcome: 'not served',
          detail: 'the engine does not serve it',
        });
        continue;
      }
      const tables = c.writes === 'all' ? undefined : c.writes;
      const was = c.writes ? await snapshot(tables) : null;
      let { outcome, detail } = await c.run();
      if (was) {
        const now = await snapshot(tables);
        const changed = Object.keys(now).filter((table) => now[table] !== was[table]);
        if (changed.length) [outcome, detail] = ['LEAK', `changed ${changed.join(', ')} (answer: ${outcome} ${detail})`];
      }
      results.push({ label: `${c.target} ${c.operation} as ${c.identity.name}`, outcome, detail });
    }
    const after = await snapshot();
    const counts = results.reduce<Record<string, number>>((acc, r) => {
      acc[r.outcome] = (acc[r.outcome] ?? 0) + 1;
      return acc;
    }, {});
    const notServed = [...new Set(results.filter((r) => r.outcome === 'not served').map((r) => r.label.split(' as ')[0]))];
    const verdicts = results.length - (counts['not served'] ?? 0);
    process.stdout.write(
      `[tenant matrix] ${results.length} cases over ${source.tables.length} tables, ${(source.functions ?? []).length} function(s), ` +
        `${(metadata.actions ?? []).length} actions and ${IDENTITIES.length} identities; ${verdicts} tried: ${JSON.stringify(counts)}\n` +
        (notServed.length ? `[tenant matrix] not served by the engine yet, so no verdict: ${notServed.join('; ')}\n` : ''),
    );
    // ORG_CREDITS_MATRIX_SHOW=<text> prints every case whose label contains it, with its verdict.
    const show = process.env.ORG_CREDITS_MATRIX_SHOW;
    if (show) for (const r of results.filter((x) => x.label.includes(show))) process.stdout.write(`${r.label}: ${r.outcome} ${r.detail}\n`);
    expect(results.filter((r) => r.outcome === 'LEAK')).toEqual([]);
    expect(after).toEqual(before);
  });
  it('finds the leak when a permission loses its organization (the matrix can fail)', async () => {
    // The same metadata, but members read the ledger of every organization they belong to.
    const broken = copyMetadataWithoutCron();
    const file = join(broken, 'databases', 'default', 'tables', 'public_credit_ledger_entries.yaml');
    const table = parseYaml(readFileSync(file, 'utf8')) as TableMetadata;
    const perm = table.select_permissions!.find((p) => p.role === 'user')!;
    perm.permission.filter = { organization: { members: { user_id: { _eq: 'X-Hasura-User-Id' } } } };
    writeFileSync(file, stringifyYaml(table));
    const brokenStack = await startStack(db, { metadataDir: broken });
    client = brokenStack;
    try {
      const leaks: string[] = [];
      for (const c of cases.filter((x) => x.target === 'credit_ledger_entries' && !x.writes)) {
        const { outcome } = await c.run();
        if (outcome === 'LEAK') leaks.push(`${c.operation} as ${c.identity.name}`);
      }
      expect(leaks.sort()).toEqual(
        ['aggregate', 'by_pk', 'select', 'select aimed', 'subscription'].map((op) => `${op} as member of both, acting in A`).sort(),
      );
    } finally {
      client = stack;
      await brokenStack.stop();
      rmSync(broken, { recursive: true, force: true });
    }
  });
});
