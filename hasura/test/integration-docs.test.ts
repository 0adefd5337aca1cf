// docs/integration.md step 1: the query a team runs before applying our migrations to find objects
// of theirs that ours would clash with. Run as written against a database with every migration
// applied, it must name every table, view, sequence and function our migrations create in
// `public` and every schema they create: a name it misses is a migration that stops (or a function
// that replaces the team's) in their project.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useTestDatabase } from '@org-credits/db/testing';
import { expect, it } from 'vitest';
import { hasuraDir } from './load-metadata.ts';

const db = await useTestDatabase();
const page = readFileSync(join(hasuraDir, '..', 'docs', 'integration.md'), 'utf8');

function clashQuery(): string {
  const start = page.indexOf('### 1. Check for name clashes first');
  if (start < 0) throw new Error('docs/integration.md has no "Check for name clashes first" step');
  const block = /```sql\n([\s\S]*?)```/.exec(page.slice(start));
  if (!block?.[1]) throw new Error('the step has no sql block');
  return block[1];
}

it("names everything our migrations create, so that a team's clash is found before it breaks a migration", async () => {
  const found = (await db.pool.query<{ kind: string; name: string }>(clashQuery())).rows.map((row) => `${row.kind}:${row.name}`);
  const ours = (
    await db.pool.query<{ object: string }>(
      `select 'table or view:' || c.relname as object
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
       union
       select 'function:' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'
       union
       -- hdb_catalog is the engine's (and Hasura's) own, not our migrations'.
       select 'schema:' || nspname from pg_namespace
       where nspname not in ('public', 'information_schema', 'hdb_catalog') and nspname not like 'pg\\_%'`,
    )
  ).rows.map((row) => row.object);
  expect(ours.length).toBeGreaterThan(50);
  expect([...new Set(found)].sort()).toEqual([...ours].sort());
});

/** The first sql block after `marker` in the page. */
function sqlAfter(marker: string): string {
  const start = page.indexOf(marker);
  if (start < 0) throw new Error(`docs/integration.md has no "${marker}"`);
  const block = /```sql\n([\s\S]*?)```/.exec(page.slice(start));
  if (!block?.[1]) throw new Error(`no sql block after "${marker}"`);
  return block[1];
}

it("step 2's triggers mirror a team's orgs, people and memberships, and start each org on the free plan", async () => {
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    // The team's own tables, with the column names the example assumes.
    await client.query(`
      create schema app;
      create table app.organizations (id uuid primary key, name text not null, slug text not null);
      create table app.users (id uuid primary key, email text not null, full_name text);
      create table app.memberships (org_id uuid references app.organizations, user_id uuid references app.users, role text not null,
        primary key (org_id, user_id));`);
    await client.query(sqlAfter('Triggers on your tables keep the mirror exact'));
    const org = '0e000000-0000-4000-8000-000000000001';
    const user = '0e000000-0000-4000-8000-000000000002';
    await client.query(`insert into app.organizations values ($1, 'Initech', 'initech')`, [org]);
    await client.query(`insert into app.users values ($1, 'Peter@Initech.test', 'Peter')`, [user]);
    await client.query(`insert into app.memberships values ($1, $2, 'billing')`, [org, user]);
    const mirrored = await client.query(
      `select o.name, u.email, m.role, p.code as plan, b.available_credits::text
       from public.organizations o
       join public.organization_members m on m.organization_id = o.id
       join public.users u on u.id = m.user_id
       join public.organization_subscriptions s on s.organization_id = o.id
       join public.plans p on p.id = s.plan_id
       join public.organization_credit_balances b on b.organization_id = o.id
       where o.id = $1`,
      [org],
    );
    expect(mirrored.rows).toEqual([
      { name: 'Initech', email: 'peter@initech.test', role: 'admin', plan: 'free', available_credits: '10.000' },
    ]);
    await client.query('delete from app.memberships where org_id = $1', [org]);
    expect((await client.query('select 1 from public.organization_members where organization_id = $1', [org])).rowCount).toBe(0);
    // A person erased: our row goes, and the same email can sign up again.
    await client.query('delete from app.users where id = $1', [user]);
    expect((await client.query('select 1 from public.users where id = $1', [user])).rowCount).toBe(0);
    await client.query(`insert into app.users values ('0e000000-0000-4000-8000-000000000004', 'peter@initech.test', 'Peter')`);
    // An org deleted: ours stays with its ledger, walled off, and auto top-up forgets its card.
    await client.query(`insert into app.memberships values ($1, '0e000000-0000-4000-8000-000000000004', 'owner')`, [org]);
    await client.query(
      `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
       select $1, true, 5, id, 'pm_card_visa' from public.topup_packages where is_active order by sort_order limit 1`,
      [org],
    );
    await client.query('delete from app.memberships where org_id = $1', [org]);
    await client.query('delete from app.organizations where id = $1', [org]);
    const closed = await client.query(
      `select o.name, s.enabled, s.stripe_payment_method_id, s.disabled_reason,
         (select count(*)::int from public.organization_members m where m.organization_id = o.id) as members,
         (select count(*)::int from public.credit_ledger_entries e where e.organization_id = o.id) as entries
       from public.organizations o join public.auto_topup_settings s on s.organization_id = o.id where o.id = $1`,
      [org],
    );
    expect(closed.rows).toEqual([
      {
        name: 'Initech',
        enabled: false,
        stripe_payment_method_id: null,
        disabled_reason: 'Turned off because the organization was deleted',
        members: 0,
        entries: 1,
      },
    ]);
    // Before the catalogue seed (no free plan), an org is refused rather than left without a plan.
    await client.query(`update public.plans set is_active = false where code = 'free'`);
    await expect(
      client.query(`insert into app.organizations values ('0e000000-0000-4000-8000-000000000003', 'Hooli', 'hooli')`),
    ).rejects.toThrow(/no active free plan; apply the catalogue seed/);
  } finally {
    await client.query('rollback');
    client.release();
  }
});
