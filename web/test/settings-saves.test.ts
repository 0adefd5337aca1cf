// The billing settings forms send only what the person changed, onto the row as they loaded it, and
// say so when the row changed meanwhile (a page older than the row used to undo what was written
// since: the api turning auto top-up off after a dispute, another admin's limit); auto top-up cannot
// be turned on without a threshold above 0 (an empty one saved as 0: "On", never buying); and the
// spend limits show what the limit counts: consumed plus held.
import { gql } from '@apollo/client';
import { Observable } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import BillingAutoTopUp from '../src/components/billing/BillingAutoTopUp.vue';
import BillingSpendLimits from '../src/components/billing/BillingSpendLimits.vue';
import type { AutoTopUpSettingsRow, SpendLimitsRow } from '../src/graphql/settings.ts';
import type { FixtureResult } from '../src/preview/fixtureLink.ts';
import { autoTopUp, balance, ORG_ID, packages, spendLimits, spendLimitsData } from '../src/preview/fixtures.ts';
import { callsOf, createHarness, NOW, settle } from './support/harness.ts';

const PACK = packages()[0]!.id;
const CHANGED_MEANWHILE = 'These settings were changed meanwhile; here are the current ones.';

describe('auto top-up: what a save sends', () => {
  const loaded = autoTopUp({ enabled: true, threshold_credits: '100.000', package_id: PACK, monthly_max_count: null });

  it('sends only the changed threshold, guarded by the row’s updated_at as loaded', async () => {
    const h = createHarness({
      handlers: {
        AutoTopUpSettings: () => ({ data: { auto_topup_settings_by_pk: loaded } }),
        UpdateAutoTopUpSettings: (v) => ({
          data: {
            update_auto_topup_settings: {
              affected_rows: 1,
              returning: [{ ...loaded, ...(v.changes as object), threshold_credits: '150.000', updated_at: NOW.toISOString() }],
            },
          },
        }),
      },
    });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('input[inputmode="decimal"]').setValue('150');
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings').map((c) => c.variables)).toEqual([
      { orgId: ORG_ID, loadedAt: loaded.updated_at, changes: { threshold_credits: '150' } },
    ]);
    expect(form.get('[role="status"]').text()).toBe('Saved.');
  });

  it('changes nothing when the row changed meanwhile: says so and shows the current settings', async () => {
    // The api turned auto top-up off after a dispute while this page was open.
    const reason = 'Turned off because a payment was disputed (dp_1); turn it on again once that is settled';
    let row: AutoTopUpSettingsRow = loaded;
    const h = createHarness({
      handlers: {
        AutoTopUpSettings: () => ({ data: { auto_topup_settings_by_pk: row } }),
        UpdateAutoTopUpSettings: () => ({ data: { update_auto_topup_settings: { affected_rows: 0, returning: [] } } }),
      },
    });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    row = autoTopUp({
      ...loaded,
      enabled: false,
      consecutive_failures: 2,
      disabled_reason: reason,
      updated_at: '2026-11-21T11:59:00.123456+00:00',
    });
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('input[inputmode="decimal"]').setValue('150');
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings')).toHaveLength(1);
    expect(callsOf(h.calls, 'AutoTopUpSettings').length).toBeGreaterThanOrEqual(2);
    expect(form.get('[role="alert"]').text()).toBe(CHANGED_MEANWHILE);
    expect(wrapper.get('[data-test="disabled-reason"]').text()).toBe(`${reason}.`);
    expect((form.get('input[type="checkbox"]').element as HTMLInputElement).checked).toBe(false);
    expect((form.get('input[inputmode="decimal"]').element as HTMLInputElement).value).toBe('100');
    expect(wrapper.text()).not.toContain('Saved.');
  });

  it('says nothing was saved, not "changed meanwhile", when the row is as loaded but no row matched', async () => {
    const h = createHarness({
      handlers: {
        AutoTopUpSettings: () => ({ data: { auto_topup_settings_by_pk: loaded } }),
        UpdateAutoTopUpSettings: () => ({ data: { update_auto_topup_settings: { affected_rows: 0, returning: [] } } }),
      },
    });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('[data-test="monthly-max"]').setValue('2');
    await form.trigger('submit');
    await settle();
    expect(form.get('[role="alert"]').text()).toContain('Nothing was saved');
  });

  it('creates the row when none was loaded, and says so when someone created it meanwhile', async () => {
    let row: AutoTopUpSettingsRow | null = null;
    const h = createHarness({
      handlers: {
        AutoTopUpSettings: () => ({ data: { auto_topup_settings_by_pk: row } }),
        CreateAutoTopUpSettings: () => ({ data: { insert_auto_topup_settings_one: null } }),
      },
    });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    row = autoTopUp({ enabled: true, threshold_credits: '300.000', package_id: PACK, updated_at: '2026-11-21T11:59:00Z' });
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('input[type="checkbox"]').setValue(true);
    await form.get('input[inputmode="decimal"]').setValue('50');
    await form.get('select').setValue(PACK);
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'CreateAutoTopUpSettings').map((c) => c.variables)).toEqual([
      { object: { enabled: true, threshold_credits: '50', package_id: PACK, monthly_max_count: null } },
    ]);
    expect(form.get('[role="alert"]').text()).toBe(CHANGED_MEANWHILE);
    expect((form.get('input[inputmode="decimal"]').element as HTMLInputElement).value).toBe('300');
  });

  it('sends nothing when nothing changed, and says so', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings')).toHaveLength(0);
    expect(form.get('[role="status"]').text()).toBe('Nothing to save: no setting was changed.');
  });
});

describe('auto top-up: the threshold', () => {
  it('will not turn auto top-up on with an empty threshold (it saved as 0), saying so at the field', async () => {
    const h = createHarness({ handlers: { AutoTopUpSettings: () => ({ data: { auto_topup_settings_by_pk: null } }) } });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('input[type="checkbox"]').setValue(true);
    await form.get('select').setValue(PACK);
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'CreateAutoTopUpSettings')).toHaveLength(0);
    const input = form.get('input[inputmode="decimal"]');
    const message = form.get('[data-test="threshold-error"]');
    expect(message.text()).toBe('Enter a threshold above 0: a pack is bought when available credits fall below it.');
    expect(input.attributes('aria-invalid')).toBe('true');
    expect(input.attributes('aria-describedby')).toBe(message.attributes('id'));
    expect(wrapper.text()).not.toContain('Saved.');

    await input.setValue('0');
    await form.trigger('submit');
    await settle();
    expect(form.find('[data-test="threshold-error"]').exists()).toBe(true);
    expect(callsOf(h.calls, 'CreateAutoTopUpSettings')).toHaveLength(0);

    await input.setValue('25');
    expect(form.find('[data-test="threshold-error"]').exists()).toBe(false);
  });

  it('keeps an auto top-up that is on with a threshold of 0 from being saved until the threshold is above 0', async () => {
    const h = createHarness({
      handlers: {
        AutoTopUpSettings: () => ({
          data: { auto_topup_settings_by_pk: autoTopUp({ enabled: true, threshold_credits: '0.000', package_id: PACK }) },
        }),
      },
    });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    expect(wrapper.get('[data-test="zero-threshold"]').text()).toContain('never buys');
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('[data-test="monthly-max"]').setValue('5');
    await form.trigger('submit');
    await settle();
    expect(form.get('[data-test="threshold-error"]').text()).toContain('above 0');
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings')).toHaveLength(0);
  });

  it('leaves an empty threshold out when auto top-up stays off, instead of sending 0', async () => {
    const h = createHarness({
      handlers: {
        AutoTopUpSettings: () => ({ data: { auto_topup_settings_by_pk: null } }),
        CreateAutoTopUpSettings: (v) => ({
          data: { insert_auto_topup_settings_one: autoTopUp({ ...(v.object as object), threshold_credits: '0.000' }) },
        }),
      },
    });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('[data-test="monthly-max"]').setValue('2');
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'CreateAutoTopUpSettings')[0]?.variables).toEqual({
      object: { enabled: false, package_id: null, monthly_max_count: 2 },
    });
  });
});

describe('spend limits: what a save sends', () => {
  it('sends only the changed limit, and changes nothing when another admin wrote the row meanwhile', async () => {
    // The owner set a daily limit of 100 after this admin's page loaded the row without one.
    let row: SpendLimitsRow = spendLimits({ daily_limit_credits: null, monthly_limit_credits: null });
    const loadedAt = row.updated_at;
    const h = createHarness({
      handlers: {
        SpendLimits: () => ({ data: spendLimitsData({ limits: row }) }),
        UpdateSpendLimits: () => ({ data: { update_spend_limits: { affected_rows: 0, returning: [] } } }),
      },
    });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    row = spendLimits({ daily_limit_credits: '100.000', monthly_limit_credits: null, updated_at: '2026-11-21T11:59:00.5+00:00' });
    const inputs = wrapper.findAll('[data-test="limits-form"] input');
    await inputs[1]!.setValue('5000');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateSpendLimits').map((c) => c.variables)).toEqual([
      { orgId: ORG_ID, loadedAt, changes: { monthly_limit_credits: '5000' } },
    ]);
    expect(wrapper.get('[data-test="limits-error"]').text()).toBe(CHANGED_MEANWHILE);
    expect((inputs[0]!.element as HTMLInputElement).value).toBe('100');
    expect((inputs[1]!.element as HTMLInputElement).value).toBe('');
  });

  it('creates the limits when the org had none', async () => {
    const h = createHarness({
      handlers: {
        SpendLimits: () => ({ data: spendLimitsData({ limits: null }) }),
        CreateSpendLimits: (v) => ({ data: { insert_spend_limits_one: spendLimits(v.object as Partial<SpendLimitsRow>) } }),
      },
    });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    await wrapper.findAll('[data-test="limits-form"] input')[0]!.setValue('50');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'CreateSpendLimits').map((c) => c.variables)).toEqual([
      { object: { daily_limit_credits: '50', monthly_limit_credits: null, per_call_limit_credits: null } },
    ]);
    expect(wrapper.get('[data-test="limits-form"] [role="status"]').text()).toBe('Saved.');
  });
});

describe('spend limits: what the limit counts', () => {
  it('shows what open reservations hold beside what was consumed, as the limit counts both', async () => {
    // A 30-credit hold is open and nothing is consumed yet today: a reserve of 25 against a daily
    // limit of 50 is refused ("30.000 used or held today"), so the page must not say 0 of 50. What
    // is held is the shared balance's reserved_credits.
    const holding = { data: { organization_credit_balances: [balance({ reserved_credits: '30.000' })] } };
    const h = createHarness({
      handlers: {
        SpendLimits: () => ({
          data: spendLimitsData({
            limits: spendLimits({ daily_limit_credits: '50.000', monthly_limit_credits: null }),
            consumedToday: null,
            consumedThisMonth: '10.000',
          }),
        }),
        CreditBalance: () => holding,
        CreditBalanceLive: () => new Observable<FixtureResult>((o) => o.next(holding)),
      },
    });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    const text = (sel: string) => wrapper.get(sel).text().replace(/\s+/g, ' ');
    expect(text('[data-test="limit-daily"]')).toContain('0 credits used + 30 held · limit 50 credits');
    expect(wrapper.get('[data-test="limit-daily"] [role="meter"]').attributes('aria-valuenow')).toBe('60');
    expect(wrapper.get('[data-test="limit-daily"] [role="meter"]').attributes('aria-label')).toBe('Daily limit used or held');
    expect(text('[data-test="limit-monthly"]')).toContain('10 credits used + 30 held · no limit');
    expect(wrapper.get('[data-test="held-note"]').text()).toContain('runs in progress');
    expect(callsOf(h.calls, 'SpendLimits')[0]?.variables).toEqual({ orgId: ORG_ID, today: '2026-11-21', monthStart: '2026-11-01' });
  });

  it('asks the consumed counters again when what is held moves (a run reserved or settled), so both describe one moment', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    const before = callsOf(h.calls, 'SpendLimits').length;
    // Someone is typing a new limit meanwhile: the refetch leaves it alone.
    await wrapper.findAll('[data-test="limits-form"] input')[0]!.setValue('150');
    // The balance moves in the cache (as a poll of the shared balance writes it): a run now holds 1 credit.
    const cache = h.connection.client.cache;
    cache.writeFragment({
      id: cache.identify({ __typename: 'organization_credit_balances', organization_id: ORG_ID }),
      fragment: gql`
        fragment HeldNow on organization_credit_balances {
          reserved_credits
        }
      `,
      data: { __typename: 'organization_credit_balances', reserved_credits: '1.000' },
    });
    await vi.waitFor(() => expect(callsOf(h.calls, 'SpendLimits').length).toBeGreaterThan(before));
    await settle();
    expect(wrapper.get('[data-test="limit-daily"]').text().replace(/\s+/g, ' ')).toContain(
      '84.25 credits used + 1 held · limit 100 credits',
    );
    expect((wrapper.findAll('[data-test="limits-form"] input')[0]!.element as HTMLInputElement).value).toBe('150');
  });
});
