// The web app's settings saves, through the engine on hasura/metadata: the documents of
// web/src/graphql/settings.ts with what web/src/lib/settings-save.ts sends. A page sends only what
// the person changed, onto the row as it loaded it (its updated_at), so a page older than the row
// changes nothing: before, its whole-row upsert turned auto top-up back on after the api turned it
// off for a dispute (erasing the reason and the failures), and removed another admin's daily limit.
// Also: what the billing page shows against a spend limit is what reserve_credits counts.
import { useTestDatabase } from '@org-credits/db/testing';
import { print } from 'graphql';
import { beforeEach, describe, expect, it } from 'vitest';
import { CreditBalanceQueryDocument } from '../../web/src/graphql/balance.ts';
import {
  AutoTopUpSettingsDocument,
  type AutoTopUpSettingsInput,
  type AutoTopUpSettingsRow,
  CreateAutoTopUpSettingsDocument,
  CreateSpendLimitsDocument,
  SpendLimitsDocument,
  type SpendLimitsInput,
  type SpendLimitsRow,
  UpdateAutoTopUpSettingsDocument,
  UpdateSpendLimitsDocument,
} from '../../web/src/graphql/settings.ts';
import { autoTopUpSave, type SettingsSave, spendLimitsSave } from '../../web/src/lib/settings-save.ts';
import { bearer, type GqlAnswer, jwt, startStack, userClaims } from './stack.ts';

const ACME = '0a000000-0000-4000-8000-000000000001';
const GLOBEX = '0a000000-0000-4000-8000-000000000002';
const ADA_OWNER = '0b000000-0000-4000-8000-000000000001';
const ALAN_ADMIN = '0b000000-0000-4000-8000-000000000002';
const MINA_MEMBER = '0b000000-0000-4000-8000-000000000003';
const GRACE_OWNER = '0b000000-0000-4000-8000-000000000004';
const PACK500 = '0c000000-0000-4000-8000-000000000001';
const PACK1400 = '0c000000-0000-4000-8000-000000000002';

const db = await useTestDatabase();
const stack = await startStack(db);
const owner = bearer(jwt(userClaims(ADA_OWNER, ACME)));
const admin = bearer(jwt(userClaims(ALAN_ADMIN, ACME)));
const member = bearer(jwt(userClaims(MINA_MEMBER, ACME)));
const globexOwner = bearer(jwt(userClaims(GRACE_OWNER, GLOBEX)));

type Headers = Record<string, string>;

function ok(answer: GqlAnswer): Record<string, unknown> {
  expect(answer.errors).toBeUndefined();
  return answer.data!;
}

/** What the billing page loads. */
async function loadAutoTopUp(headers: Headers, orgId = ACME): Promise<AutoTopUpSettingsRow | null> {
  const data = ok(await stack.post(headers, print(AutoTopUpSettingsDocument), { orgId }));
  return data.auto_topup_settings_by_pk as AutoTopUpSettingsRow | null;
}

async function loadLimits(headers: Headers, orgId = ACME, now = new Date()) {
  const today = now.toISOString().slice(0, 10);
  const monthStart = `${today.slice(0, 8)}01`;
  const data = ok(await stack.post(headers, print(SpendLimitsDocument), { orgId, today, monthStart }));
  return data as {
    spend_limits_by_pk: SpendLimitsRow | null;
    consumedToday: { spend_day_credits: string }[];
    consumedThisMonth: { spend_month_credits: string }[];
  };
}

/** What is held, as the page reads it: from the balance the whole app shares. */
async function loadHeld(headers: Headers, orgId: string) {
  const data = ok(await stack.post(headers, print(CreditBalanceQueryDocument), { orgId }));
  return (data.organization_credit_balances as { reserved_credits: string | null }[])[0]?.reserved_credits;
}

/** Sends one save as the app does; answers whether it wrote the row (false: it changed nothing). */
async function send<T>(
  headers: Headers,
  save: SettingsSave<T>,
  docs: { create: Parameters<typeof print>[0]; update: Parameters<typeof print>[0]; table: string },
): Promise<boolean> {
  if (save.kind === 'unchanged') throw new Error('nothing to send');
  if (save.kind === 'create') {
    const data = ok(await stack.post(headers, print(docs.create), { object: save.object }));
    return data[`insert_${docs.table}_one`] !== null;
  }
  const data = ok(await stack.post(headers, print(docs.update), { orgId: save.orgId, loadedAt: save.loadedAt, changes: save.changes }));
  return (data[`update_${docs.table}`] as { affected_rows: number }).affected_rows === 1;
}

const saveAutoTopUp = (headers: Headers, loaded: AutoTopUpSettingsRow | null, form: AutoTopUpSettingsInput) =>
  send(headers, autoTopUpSave(loaded, form), {
    create: CreateAutoTopUpSettingsDocument,
    update: UpdateAutoTopUpSettingsDocument,
    table: 'auto_topup_settings',
  });
const saveLimits = (headers: Headers, loaded: SpendLimitsRow | null, form: SpendLimitsInput) =>
  send(headers, spendLimitsSave(loaded, form), {
    create: CreateSpendLimitsDocument,
    update: UpdateSpendLimitsDocument,
    table: 'spend_limits',
  });

/** The form as the page fills it from a row. */
const formOf = (row: AutoTopUpSettingsRow): AutoTopUpSettingsInput => ({
  enabled: row.enabled,
  threshold_credits: row.threshold_credits,
  package_id: row.package_id,
  monthly_max_count: row.monthly_max_count,
});

async function autoTopUpRow(orgId = ACME) {
  const { rows } = await db.pool.query(
    `select enabled, threshold_credits::text, package_id::text, monthly_max_count, consecutive_failures, disabled_reason
       from public.auto_topup_settings where organization_id = $1`,
    [orgId],
  );
  return rows[0];
}

async function limitsRow(orgId = ACME) {
  const { rows } = await db.pool.query(
    `select daily_limit_credits::text, monthly_limit_credits::text, per_call_limit_credits::text
       from public.spend_limits where organization_id = $1`,
    [orgId],
  );
  return rows[0];
}

const DISPUTED = 'Turned off because a payment was disputed (dp_1); turn it on again once that is settled';

describe('auto top-up settings saved from the billing page', () => {
  beforeEach(async () => {
    await db.pool.query(
      `insert into public.auto_topup_settings (organization_id, enabled, threshold_credits, package_id, stripe_payment_method_id)
       values ($1, true, 100, $2, 'pm_card')
       on conflict (organization_id) do update set enabled = true, threshold_credits = 100, package_id = $2, monthly_max_count = null,
         consecutive_failures = 0, disabled_reason = null, stripe_payment_method_id = 'pm_card'`,
      [ACME, PACK500],
    );
  });

  it('a page from before the api turned it off for a dispute changes nothing; once reloaded, only the threshold', async () => {
    const loaded = (await loadAutoTopUp(admin))!;
    expect(loaded).toMatchObject({ enabled: true, threshold_credits: '100.000' });
    // As the api does on charge.dispute.created (api/src/payments/charge-events.ts), at its own clock.
    await db.pool.query(
      `update public.auto_topup_settings set enabled = false, disabled_reason = $2, updated_at = $3, consecutive_failures = 2
        where organization_id = $1 and enabled`,
      [ACME, DISPUTED, new Date()],
    );

    expect(await saveAutoTopUp(admin, loaded, { ...formOf(loaded), threshold_credits: '150' })).toBe(false);
    expect(await autoTopUpRow()).toEqual({
      enabled: false,
      threshold_credits: '100.000',
      package_id: PACK500,
      monthly_max_count: null,
      consecutive_failures: 2,
      disabled_reason: DISPUTED,
    });

    // The page loads the row again ("here are the current ones") and the admin saves the threshold.
    const current = (await loadAutoTopUp(admin))!;
    expect(current).toMatchObject({ enabled: false, disabled_reason: DISPUTED });
    expect(autoTopUpSave(current, { ...formOf(current), threshold_credits: '150' })).toMatchObject({
      kind: 'update',
      changes: { threshold_credits: '150' },
    });
    expect(await saveAutoTopUp(admin, current, { ...formOf(current), threshold_credits: '150' })).toBe(true);
    expect(await autoTopUpRow()).toMatchObject({
      enabled: false,
      threshold_credits: '150.000',
      consecutive_failures: 2,
      disabled_reason: DISPUTED,
    });
  });

  it('every other writer moves updated_at too: a write that names none, and one that names the very value loaded', async () => {
    const loaded = (await loadAutoTopUp(owner))!;
    // The webhook's card update sets no updated_at (api/src/webhooks/stripe.ts).
    await db.pool.query(`update public.auto_topup_settings set stripe_payment_method_id = 'pm_new' where organization_id = $1`, [ACME]);
    expect(await saveAutoTopUp(owner, loaded, { ...formOf(loaded), monthly_max_count: 3 })).toBe(false);

    const second = (await loadAutoTopUp(owner))!;
    expect(second.updated_at).not.toBe(loaded.updated_at);
    // A writer whose clock gives the value the page loaded (a SQL function's p_now, say) still moves it.
    await db.pool.query('update public.auto_topup_settings set threshold_credits = 120, updated_at = $2 where organization_id = $1', [
      ACME,
      second.updated_at,
    ]);
    expect(await saveAutoTopUp(owner, second, { ...formOf(second), monthly_max_count: 3 })).toBe(false);
    expect(await autoTopUpRow()).toMatchObject({ threshold_credits: '120.000', monthly_max_count: null });
  });

  it('a page as fresh as the row saves (updated_at survives the round trip), sending only what changed', async () => {
    const loaded = (await loadAutoTopUp(owner))!;
    const save = autoTopUpSave(loaded, { ...formOf(loaded), threshold_credits: '100', package_id: PACK1400, monthly_max_count: 4 });
    expect(save).toEqual({
      kind: 'update',
      orgId: ACME,
      loadedAt: loaded.updated_at,
      changes: { package_id: PACK1400, monthly_max_count: 4 },
    });
    expect(await saveAutoTopUp(owner, loaded, { ...formOf(loaded), package_id: PACK1400, monthly_max_count: 4 })).toBe(true);
    expect(await autoTopUpRow()).toMatchObject({ enabled: true, threshold_credits: '100.000', package_id: PACK1400, monthly_max_count: 4 });
    // Turning it off from a fresh page sends only enabled.
    const next = (await loadAutoTopUp(admin))!;
    expect(autoTopUpSave(next, { ...formOf(next), enabled: false })).toMatchObject({ changes: { enabled: false } });
    expect(await saveAutoTopUp(admin, next, { ...formOf(next), enabled: false })).toBe(true);
    expect(await autoTopUpRow()).toMatchObject({ enabled: false, package_id: PACK1400 });
  });

  it('a plain member’s save changes no row', async () => {
    const loaded = (await loadAutoTopUp(member))!;
    expect(await saveAutoTopUp(member, loaded, { ...formOf(loaded), enabled: false })).toBe(false);
    expect(await autoTopUpRow()).toMatchObject({ enabled: true });
  });

  it('two pages that loaded no row: the first creates it, the second changes nothing', async () => {
    await db.pool.query('delete from public.auto_topup_settings where organization_id = $1', [GLOBEX]);
    const first = await loadAutoTopUp(globexOwner, GLOBEX);
    const second = await loadAutoTopUp(globexOwner, GLOBEX);
    expect([first, second]).toEqual([null, null]);
    const on: AutoTopUpSettingsInput = { enabled: true, threshold_credits: '300', package_id: PACK500, monthly_max_count: 2 };
    expect(await saveAutoTopUp(globexOwner, first, on)).toBe(true);
    expect(
      await saveAutoTopUp(globexOwner, second, { enabled: false, threshold_credits: '', package_id: null, monthly_max_count: null }),
    ).toBe(false);
    expect(await autoTopUpRow(GLOBEX)).toMatchObject({
      enabled: true,
      threshold_credits: '300.000',
      package_id: PACK500,
      monthly_max_count: 2,
    });
  });
});

describe('spend limits saved from the billing page', () => {
  it('an admin’s page from before the owner set a daily limit changes nothing; once reloaded, only the monthly limit', async () => {
    await db.pool.query('delete from public.spend_limits where organization_id = $1', [ACME]);
    await db.pool.query('insert into public.spend_limits (organization_id) values ($1)', [ACME]);
    const adminsPage = (await loadLimits(admin)).spend_limits_by_pk!;
    const ownersPage = (await loadLimits(owner)).spend_limits_by_pk!;
    const none: SpendLimitsInput = { daily_limit_credits: null, monthly_limit_credits: null, per_call_limit_credits: null };

    expect(await saveLimits(owner, ownersPage, { ...none, daily_limit_credits: '100' })).toBe(true);
    expect(await saveLimits(admin, adminsPage, { ...none, monthly_limit_credits: '5000' })).toBe(false);
    expect(await limitsRow()).toEqual({ daily_limit_credits: '100.000', monthly_limit_credits: null, per_call_limit_credits: null });

    const current = (await loadLimits(admin)).spend_limits_by_pk!;
    const form = { daily_limit_credits: '100.000', monthly_limit_credits: '5000', per_call_limit_credits: null };
    expect(spendLimitsSave(current, form)).toMatchObject({ kind: 'update', changes: { monthly_limit_credits: '5000' } });
    expect(await saveLimits(admin, current, form)).toBe(true);
    expect(await limitsRow()).toEqual({ daily_limit_credits: '100.000', monthly_limit_credits: '5000.000', per_call_limit_credits: null });
  });

  it('two pages that loaded no limits: the first creates them, the second changes nothing', async () => {
    await db.pool.query('delete from public.spend_limits where organization_id = $1', [ACME]);
    expect((await loadLimits(owner)).spend_limits_by_pk).toBeNull();
    const none: SpendLimitsInput = { daily_limit_credits: null, monthly_limit_credits: null, per_call_limit_credits: null };
    expect(await saveLimits(owner, null, { ...none, daily_limit_credits: '100' })).toBe(true);
    expect(await saveLimits(admin, null, { ...none, monthly_limit_credits: '5000' })).toBe(false);
    expect(await limitsRow()).toEqual({ daily_limit_credits: '100.000', monthly_limit_credits: null, per_call_limit_credits: null });
  });
});

describe('what the billing page holds a spend limit against', () => {
  it('is what reserve_credits counts: consumed in the UTC day (or month) plus what open reservations hold', async () => {
    await db.pool.query(
      `insert into public.spend_limits (organization_id, daily_limit_credits) values ($1, 50)
       on conflict (organization_id) do update set daily_limit_credits = 50, monthly_limit_credits = null, per_call_limit_credits = null`,
      [GLOBEX],
    );
    // One instant for every call and for the page's day and month, so a UTC midnight between
    // them cannot move the spending to another day.
    const now = new Date();
    const spent = (
      await db.pool.query<{ id: string }>(`select id::text from public.reserve_credits($1, 5, 'limits-page-spent', p_now => $2)`, [
        GLOBEX,
        now,
      ])
    ).rows[0]!.id;
    await db.pool.query('select public.settle_reservation($1, 5, p_now => $2)', [spent, now]);
    await db.pool.query(`select public.reserve_credits($1, 30, 'limits-page-open', p_now => $2)`, [GLOBEX, now]);

    const page = await loadLimits(globexOwner, GLOBEX, now);
    const consumed = page.consumedToday[0]?.spend_day_credits;
    const held = await loadHeld(globexOwner, GLOBEX);
    expect({ consumed, held, month: page.consumedThisMonth[0]?.spend_month_credits }).toEqual({
      consumed: '5.000',
      held: '30.000',
      month: '5.000',
    });

    // A reserve of 25 is refused, counting exactly that: 35 used or held today.
    const refusal = await db.pool
      .query(`select public.reserve_credits($1, 25, 'limits-page-refused', p_now => $2)`, [GLOBEX, now])
      .catch((e: Error) => e);
    expect(String(refusal)).toContain('(35.000 used or held today)');
  });
});
