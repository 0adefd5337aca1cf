// Every query and mutation that docs/graphql-api.md shows a client (up to its Actions section)
// runs as written, as the role the page says, against the engine serving hasura/metadata.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useTestDatabase } from '@org-credits/db/testing';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { hasuraDir } from './load-metadata.ts';
import { bearer, jwt, serviceClaims, startStack, userClaims } from './stack.ts';

const ACME = '0a000000-0000-4000-8000-000000000001';
const ADA_OWNER = '0b000000-0000-4000-8000-000000000001';

const db = await useTestDatabase();
const stack = await startStack(db);
const asOwner = bearer(jwt(userClaims(ADA_OWNER, ACME)));
const asService = bearer(jwt(serviceClaims(ACME)));

const page = readFileSync(join(hasuraDir, '..', 'docs', 'graphql-api.md'), 'utf8');

/** The graphql blocks of one `## ` section, split into operations. */
function operationsOf(section: string): { name: string; text: string }[] {
  const start = page.indexOf(`\n## ${section}`);
  if (start < 0) throw new Error(`docs/graphql-api.md has no section "${section}"`);
  const end = page.indexOf('\n## ', start + 1);
  const body = page.slice(start, end < 0 ? undefined : end);
  return [...body.matchAll(/```graphql\n([\s\S]*?)```/g)].flatMap((m) =>
    parse(m[1]!).definitions.map((def) => {
      const text = m[1]!.slice(def.loc!.start, def.loc!.end);
      return { name: 'name' in def && def.name ? def.name.value : '(anonymous)', text };
    }),
  );
}

const packageId = (
  await db.pool.query<{ id: string }>('select id::text from public.topup_packages where is_active order by sort_order limit 1')
).rows[0]!.id;
const notificationId = (
  await db.pool.query<{ id: string }>(
    `insert into public.notifications (organization_id, kind, title) values ($1, 'low_balance', 'Docs example') returning id::text`,
    [ACME],
  )
).rows[0]!.id;
/** The row's updated_at as a page would have loaded it (the settings updates are guarded by it). */
async function loadedAt(table: 'auto_topup_settings' | 'spend_limits'): Promise<string> {
  const answer = await stack.post(asOwner, `query { ${table}_by_pk(organization_id: "${ACME}") { updated_at } }`);
  const row = answer.data?.[`${table}_by_pk`] as { updated_at: string } | undefined;
  if (!row) throw new Error(`no ${table} row to update: ${JSON.stringify(answer.errors)}`);
  return row.updated_at;
}

/** Each operation's variables, as the page's examples give them (read when the operation runs). */
const VARIABLES: Record<string, () => Promise<Record<string, unknown>> | Record<string, unknown>> = {
  Ledger: () => ({ where: {} }),
  Usage: () => ({ orgId: ACME, from: '2026-01-01', to: '2026-12-31' }),
  UsageTotals: () => ({ from: '2026-01-01', to: '2026-12-31' }),
  MarkRead: () => ({ id: notificationId, now: '2026-11-22T10:00:00Z' }),
  MarkAllRead: () => ({ now: '2026-11-22T10:00:00Z' }),
  CreateAutoTopUpSettings: () => ({
    object: {
      enabled: true,
      threshold_credits: '500',
      package_id: packageId,
      monthly_max_count: 4,
      monthly_max_minor: 20000,
      cooldown_minutes: 60,
    },
  }),
  UpdateAutoTopUpSettings: async () => ({
    orgId: ACME,
    loadedAt: await loadedAt('auto_topup_settings'),
    changes: { enabled: false },
  }),
  CreateSpendLimits: () => ({ object: { daily_limit_credits: '200', monthly_limit_credits: '4000' } }),
  UpdateSpendLimits: async () => ({
    orgId: ACME,
    loadedAt: await loadedAt('spend_limits'),
    changes: { monthly_limit_credits: '5000' },
  }),
};
const variablesOf = async (name: string) => (await VARIABLES[name]?.()) ?? undefined;

describe('the engine on hasura/metadata', () => {
  it('starts with no warning, except naming the actions it does not serve yet', () => {
    const warnings = stack.engineLog
      .filter((entry) => entry.level === 'warn' || entry.level === 'error')
      .map((entry) => String(entry.message))
      .filter((message) => !/action\(s\) that this engine does not serve yet/.test(message));
    expect(warnings).toEqual([]);
  });
});

describe('docs/graphql-api.md', () => {
  const dashboard = operationsOf('Queries the dashboard uses');
  const service = operationsOf('Queries a service uses');

  it('shows the dashboard the queries for balance, ledger, usage, grants, reservations, catalogue, notifications and settings', () => {
    expect(dashboard.map((o) => o.name)).toEqual(
      expect.arrayContaining([
        'Balance',
        'Ledger',
        'Usage',
        'ActiveGrants',
        'OpenHolds',
        'Catalogue',
        'Unread',
        'MarkRead',
        'CreateAutoTopUpSettings',
        'UpdateAutoTopUpSettings',
        'CreateSpendLimits',
        'UpdateSpendLimits',
      ]),
    );
  });

  it.each(dashboard.map((o) => [o.name, o] as const))('runs %s as an owner of the organization', async (_name, op) => {
    const answer = await stack.post(asOwner, op.text, await variablesOf(op.name));
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toBeTruthy();
  });

  it.each(service.map((o) => [o.name, o] as const))('runs %s as a service of the organization', async (_name, op) => {
    const answer = await stack.post(asService, op.text, await variablesOf(op.name));
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toBeTruthy();
  });

  it('runs the catalogue query for the pricing page without a token', async () => {
    const catalogue = dashboard.find((o) => o.name === 'Catalogue')!;
    const answer = await stack.post({}, catalogue.text);
    expect(answer.errors).toBeUndefined();
    expect(((answer.data?.plans ?? []) as unknown[]).length).toBeGreaterThan(0);
  });

  it('changed what the settings examples say they change, for the token’s organization only', async () => {
    const { rows } = await db.pool.query(
      `select s.organization_id::text, s.daily_limit_credits::text, s.monthly_limit_credits::text, a.enabled, a.threshold_credits::text
         from public.spend_limits s join public.auto_topup_settings a using (organization_id)`,
    );
    expect(rows).toEqual([
      {
        organization_id: ACME,
        daily_limit_credits: '200.000',
        monthly_limit_credits: '5000.000',
        enabled: false,
        threshold_credits: '500.000',
      },
    ]);
  });

  it('changes nothing from a page older than the row, and creates nothing over a row created meanwhile', async () => {
    const update = dashboard.find((o) => o.name === 'UpdateSpendLimits')!;
    const stale = await stack.post(asOwner, update.text, {
      orgId: ACME,
      loadedAt: '2000-01-01T00:00:00Z',
      changes: { daily_limit_credits: '1' },
    });
    expect(stale.errors).toBeUndefined();
    expect(stale.data).toEqual({ update_spend_limits: { affected_rows: 0, returning: [] } });
    const create = dashboard.find((o) => o.name === 'CreateSpendLimits')!;
    const again = await stack.post(asOwner, create.text, { object: { daily_limit_credits: '1' } });
    expect(again.errors).toBeUndefined();
    expect(again.data).toEqual({ insert_spend_limits_one: null });
    const { rows } = await db.pool.query('select daily_limit_credits::text from public.spend_limits');
    expect(rows).toEqual([{ daily_limit_credits: '200.000' }]);
  });
});
