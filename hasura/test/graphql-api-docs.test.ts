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
const VARIABLES: Record<string, Record<string, unknown>> = {
  Ledger: { where: {} },
  Usage: { orgId: ACME, from: '2026-01-01', to: '2026-12-31' },
  UsageTotals: { from: '2026-01-01', to: '2026-12-31' },
  MarkRead: { id: notificationId, now: '2026-11-22T10:00:00Z' },
  MarkAllRead: { now: '2026-11-22T10:00:00Z' },
  SaveAutoTopUp: { packageId },
  DisableAutoTopUp: { orgId: ACME },
};

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
        'SaveAutoTopUp',
        'SaveSpendLimits',
      ]),
    );
  });

  it.each(dashboard.map((o) => [o.name, o] as const))('runs %s as an owner of the organization', async (_name, op) => {
    const answer = await stack.post(asOwner, op.text, VARIABLES[op.name]);
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toBeTruthy();
  });

  it.each(service.map((o) => [o.name, o] as const))('runs %s as a service of the organization', async (_name, op) => {
    const answer = await stack.post(asService, op.text, VARIABLES[op.name]);
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
      `select s.organization_id::text, s.daily_limit_credits::text, a.enabled
         from public.spend_limits s join public.auto_topup_settings a using (organization_id)`,
    );
    expect(rows).toEqual([{ organization_id: ACME, daily_limit_credits: '200.000', enabled: false }]);
  });
});
