import { Observable } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import BillingAutoTopUp from '../src/components/billing/BillingAutoTopUp.vue';
import BillingNotifications from '../src/components/billing/BillingNotifications.vue';
import BillingSpendLimits from '../src/components/billing/BillingSpendLimits.vue';
import type { NotificationRow } from '../src/graphql/notifications.ts';
import { formatDate } from '../src/lib/format.ts';
import BillingPage from '../src/pages/BillingPage.vue';
import type { FixtureResult } from '../src/preview/fixtureLink.ts';
import {
  autoTopUp,
  balance,
  defaultHandlers,
  notifications,
  ORG_ID,
  PLAN_IDS,
  packages,
  plan,
  spendLimits,
  spendLimitsData,
  subscription,
  USER_ID,
  upgradePreview,
} from '../src/preview/fixtures.ts';
import { callsOf, createHarness, NOW, settle } from './support/harness.ts';

describe('BillingPage by role', () => {
  it('shows an owner the plans side by side with upgrade now, downgrade at period end, and the settings forms', async () => {
    const h = createHarness({ role: 'owner' });
    const wrapper = h.mountApp(BillingPage);
    await settle();
    expect(wrapper.findAll('article[data-test^="plan-"]').map((p) => p.get('h3').text())).toEqual(['Free', 'Pro', 'Team']);
    expect(wrapper.get('[data-test="plan-team"] [data-test="plan-price"]').text()).toBe('£99.00');
    expect(wrapper.get('[data-test="choose-team"]').text()).toBe('Upgrade now');
    expect(wrapper.get('[data-test="choose-free"]').text()).toBe('Downgrade at period end');
    expect(wrapper.find('[data-test="choose-pro"]').exists()).toBe(false);
    expect(wrapper.find('[data-test="auto-top-up-form"]').exists()).toBe(true);
    expect(wrapper.find('[data-test="limits-form"]').exists()).toBe(true);
  });

  it('lets a member see the plans and settings but not change them', async () => {
    const h = createHarness({ role: 'member' });
    const wrapper = h.mountApp(BillingPage);
    await settle();
    expect(wrapper.findAll('article[data-test^="plan-"]')).toHaveLength(3);
    expect(wrapper.findAll('[data-test^="choose-"]')).toHaveLength(0);
    expect(wrapper.find('[data-test="auto-top-up-form"]').exists()).toBe(false);
    expect(wrapper.find('[data-test="auto-top-up-readonly"]').exists()).toBe(true);
    expect(wrapper.find('[data-test="limits-form"]').exists()).toBe(false);
    expect(wrapper.get('[data-test="member-note"]').text()).toContain('Only owners and admins');
  });

  it('tells an owner nothing about who may change things while their role loads, and offers no member view meanwhile', async () => {
    let answer: (r: FixtureResult) => void = () => {};
    const membership = defaultHandlers(NOW, 'owner').CurrentMembership!;
    const h = createHarness({ handlers: { CurrentMembership: () => new Promise<FixtureResult>((resolve) => (answer = resolve)) } });
    const wrapper = h.mountApp(BillingPage);
    await settle();
    expect(wrapper.find('[data-test="member-note"]').exists()).toBe(false);
    expect(wrapper.text()).not.toContain('Only owners and admins');
    expect(wrapper.find('[data-test="role-loading"] .skeleton').exists()).toBe(true);
    // Neither a member's read-only facts nor an owner's forms: the size of what comes, while busy.
    expect(wrapper.find('[data-test="auto-top-up-readonly"]').exists()).toBe(false);
    expect(wrapper.find('[data-test="auto-top-up-loading"]').attributes('aria-busy')).toBe('true');
    expect(wrapper.find('[data-test="limits-loading"]').exists()).toBe(true);
    expect(wrapper.findAll('[data-test="plans-loading"] .skeleton')).toHaveLength(3);

    answer(membership({}) as FixtureResult);
    await settle();
    expect(wrapper.find('[data-test="role-loading"]').exists()).toBe(false);
    expect(wrapper.find('[data-test="member-note"]').exists()).toBe(false);
    expect(wrapper.text()).toContain('Your plan, automatic top-ups and the limits');
    expect(wrapper.find('[data-test="auto-top-up-form"]').exists()).toBe(true);
    expect(wrapper.find('[data-test="limits-form"]').exists()).toBe(true);
    expect(wrapper.findAll('[data-test^="choose-"]')).toHaveLength(2);
    expect(wrapper.findAll('.skeleton')).toHaveLength(0);
  });

  it('shows a pending downgrade with its date and cancels it', async () => {
    const { capabilities: _c, ...free } = plan('free');
    const h = createHarness({
      handlers: {
        CurrentPlan: () => ({
          data: {
            organization_subscriptions_by_pk: subscription('pro', { pending_plan: free, pending_change_at: '2026-12-01T00:00:00Z' }),
          },
        }),
        CancelPlanChange: () => ({
          data: { cancelPlanChange: { status: 'canceled', checkoutUrl: null, effectiveAt: null, planId: null } },
        }),
      },
    });
    const wrapper = h.mountApp(BillingPage);
    await settle();
    expect(wrapper.get('[data-test="pending-change"]').text()).toContain('Moving to Free on 1 Dec 2026.');
    expect(wrapper.get('[data-test="choose-free"]').attributes('disabled')).toBeDefined();
    await wrapper.get('[data-test="cancel-change"]').trigger('click');
    await settle();
    expect(callsOf(h.calls, 'CancelPlanChange')).toHaveLength(1);
    expect(wrapper.text()).toContain('The pending change is canceled.');
  });

  it("shows the API's refusal of a plan change in words, with the next step, and its message only under Details", async () => {
    const message =
      'only owners and admins can manage billing; user 2bcb5e7a-0c1f-4b7e-9d1a-3f0e8c2a6445 is a member of 5bc7d2f4-6a3e-4c1b-8e9f-0a1b2c3d18c5';
    const h = createHarness({ handlers: { ChangePlan: () => ({ errors: [{ message, extensions: { code: 'FORBIDDEN' } }] }) } });
    const wrapper = h.mountApp(BillingPage);
    await settle();
    await wrapper.get('[data-test="choose-team"]').trigger('click');
    await wrapper.get('[data-test="confirm-team"]').trigger('click');
    await settle();
    const error = wrapper.get('[data-test="plan-error"]');
    expect(error.get('[data-test="plan-error-words"]').text()).toBe(
      'You are not allowed to do this in this organization. Ask an owner or admin of your organization.',
    );
    expect(error.get('details').text()).toContain(message);
  });

  it('says a declined upgrade was a payment problem, keeping the card’s words under Details', async () => {
    const message = 'the upgrade to Team was not applied: Your card was declined.';
    const h = createHarness({
      handlers: { ChangePlan: () => ({ errors: [{ message, extensions: { code: 'PAYMENT_PROVIDER_ERROR' } }] }) },
    });
    const wrapper = h.mountApp(BillingPage);
    await settle();
    await wrapper.get('[data-test="choose-team"]').trigger('click');
    await wrapper.get('[data-test="confirm-team"]').trigger('click');
    await settle();
    const error = wrapper.get('[data-test="plan-error"]');
    expect(error.get('[data-test="plan-error-words"]').text()).toBe(
      'The payment provider could not complete this. Try again later; if it keeps failing, contact support.',
    );
    expect(error.get('details').text()).toContain(message);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('asks to confirm a plan change, saying what will happen, and changes nothing on Cancel', async () => {
    // 21 Nov 12:00 in the period 1 Nov – 1 Dec: 9.5 of its 30 days are left.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
    const h = createHarness({
      handlers: {
        ChangePlan: () => ({ data: { changePlan: { status: 'upgraded', checkoutUrl: null, effectiveAt: null, planId: null } } }),
      },
    });
    const wrapper = h.mountApp(BillingPage);
    document.body.append(wrapper.element);
    await settle();
    const end = formatDate(subscription('pro').current_period_end);

    await wrapper.get('[data-test="choose-team"]').trigger('click');
    await settle();
    // What changePlan does: the plan now, Stripe's prorated invoice now (Stripe's own figure, which
    // the api previews: £22.18, where this page would estimate about £22.17), the allowance's
    // difference (10,000 − 2,000) granted now.
    expect(wrapper.get('[data-test="plan-team"] [data-test="confirm-text"]').text()).toBe(
      'Team starts now. Stripe will charge your card £22.18 now, the difference between Pro and Team for the rest of this period ' +
        "(to 1 Dec 2026), and you get Team's 8,000 extra credits for this period at once. After that, Team costs £99.00 a month. " +
        'If the payment fails, nothing changes.',
    );
    expect(callsOf(h.calls, 'PreviewPlanChange').map((c) => c.variables)).toEqual([{ planId: PLAN_IDS.team, orgId: ORG_ID }]);
    expect(document.activeElement?.getAttribute('data-test')).toBe('confirm-team');
    expect(callsOf(h.calls, 'ChangePlan')).toHaveLength(0);
    await wrapper.get('[data-test="cancel-confirm-team"]').trigger('click');
    await settle();
    expect(wrapper.find('[data-test="confirm-team"]').exists()).toBe(false);
    expect(document.activeElement?.getAttribute('data-test')).toBe('choose-team');

    await wrapper.get('[data-test="choose-free"]').trigger('click');
    await settle();
    // No charge now, nothing to ask Stripe.
    expect(callsOf(h.calls, 'PreviewPlanChange')).toHaveLength(1);
    // A move to the lower plan at the period's end, not a cancellation.
    expect(wrapper.get('[data-test="plan-free"] [data-test="confirm-text"]').text()).toBe(
      `You move to Free when this period ends, on ${end}, and pay nothing from then on. You keep Pro until then.`,
    );
    expect(wrapper.get('[data-test="plan-free"] [data-test="confirm-text"]').text()).not.toMatch(/subscription ends|cancel/i);
    await wrapper.get('[data-test="cancel-confirm-free"]').trigger('click');

    await wrapper.get('[data-test="choose-team"]').trigger('click');
    await wrapper.get('[data-test="confirm-team"]').trigger('click');
    await settle();
    expect(callsOf(h.calls, 'ChangePlan')).toHaveLength(1);
    expect(callsOf(h.calls, 'ChangePlan')[0]?.variables).toEqual({ planId: PLAN_IDS.team });
    // The button is gone: focus is on what happened, not on <body>.
    expect(document.activeElement?.getAttribute('data-test')).toBe('plan-result');
    wrapper.unmount();
  });

  it("says this page's estimate, with 'about', while Stripe's figure loads and when it cannot be had", async () => {
    // 21 Nov 12:00 in the period 1 Nov – 1 Dec: 9.5 of its 30 days are left, £70.00 × 9.5 / 30.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
    const answers: Array<(r: FixtureResult) => void> = [];
    const h = createHarness({
      handlers: { PreviewPlanChange: () => new Promise<FixtureResult>((resolve) => answers.push(resolve)) },
    });
    const wrapper = h.mountApp(BillingPage);
    await settle();
    const text = () => wrapper.get('[data-test="plan-team"] [data-test="confirm-text"]').text();
    const estimate =
      'Team starts now. Stripe charges your card about £22.17 now, the difference between Pro and Team for the rest of this period ' +
      "(to 1 Dec 2026), and you get Team's 8,000 extra credits for this period at once. After that, Team costs £99.00 a month. " +
      'If the payment fails, nothing changes.';
    const exact = (amountDueMinor: string, creditsGrantedNow: string) => ({
      data: { previewPlanChange: upgradePreview(PLAN_IDS.team, NOW, amountDueMinor, creditsGrantedNow) },
    });

    await wrapper.get('[data-test="choose-team"]').trigger('click');
    await settle();
    expect(text()).toBe(estimate);
    // Closed before the answer: an answer for an earlier opening is not shown in the next one.
    await wrapper.get('[data-test="cancel-confirm-team"]').trigger('click');
    answers[0]!(exact('9999', '8000.000'));
    await settle();
    await wrapper.get('[data-test="choose-team"]').trigger('click');
    await settle();
    expect(text()).toBe(estimate);
    // Stripe's figure, and the credits the api would grant, once they come.
    answers[1]!(exact('2216', '7500.000'));
    await settle();
    expect(text()).toBe(
      'Team starts now. Stripe will charge your card £22.16 now, the difference between Pro and Team for the rest of this period ' +
        "(to 1 Dec 2026), and you get Team's 7,500 extra credits for this period at once. After that, Team costs £99.00 a month. " +
        'If the payment fails, nothing changes.',
    );
    // Nothing due now (account credit, or the local test payments): said so, not "£0.00".
    await wrapper.get('[data-test="cancel-confirm-team"]').trigger('click');
    await wrapper.get('[data-test="choose-team"]').trigger('click');
    answers[2]!(exact('0', '7500.000'));
    await settle();
    expect(text()).toBe(
      'Team starts now. Nothing is charged to your card now for the difference between Pro and Team for the rest of this period ' +
        "(to 1 Dec 2026), and you get Team's 7,500 extra credits for this period at once. After that, Team costs £99.00 a month. " +
        'If the payment fails, nothing changes.',
    );
    // The preview refused or failed: the estimate stays.
    await wrapper.get('[data-test="cancel-confirm-team"]').trigger('click');
    await wrapper.get('[data-test="choose-team"]').trigger('click');
    answers[3]!({ errors: [{ message: 'Stripe could not preview the upgrade', extensions: { code: 'PAYMENT_PROVIDER_ERROR' } }] });
    await settle();
    expect(text()).toBe(estimate);
    expect(wrapper.find('[data-test="plan-error"]').exists()).toBe(false);
    expect(callsOf(h.calls, 'PreviewPlanChange')).toHaveLength(4);
  });

  it('says a downgrade to a paid plan happens at the period end, and moves focus to the pending change', async () => {
    let sub = subscription('team');
    const { capabilities: _c, ...pro } = plan('pro');
    const h = createHarness({
      handlers: {
        CurrentPlan: () => ({ data: { organization_subscriptions_by_pk: sub } }),
        ChangePlan: () => {
          sub = subscription('team', { pending_plan: pro, pending_change_at: sub.current_period_end });
          return { data: { changePlan: { status: 'scheduled', checkoutUrl: null, effectiveAt: sub.current_period_end, planId: pro.id } } };
        },
        CancelPlanChange: () => {
          sub = subscription('team');
          return { data: { cancelPlanChange: { status: 'canceled', checkoutUrl: null, effectiveAt: null, planId: null } } };
        },
      },
    });
    const wrapper = h.mountApp(BillingPage);
    document.body.append(wrapper.element);
    await settle();
    await wrapper.get('[data-test="choose-pro"]').trigger('click');
    expect(wrapper.get('[data-test="plan-pro"] [data-test="confirm-text"]').text()).toBe(
      `You move to Pro when this period ends, on ${formatDate(sub.current_period_end)}, and pay £29.00 a month from then on. You keep Team until then.`,
    );
    await wrapper.get('[data-test="confirm-pro"]').trigger('click');
    await settle();
    const focused = document.activeElement?.getAttribute('data-test');
    expect(['pending-change', 'plan-result']).toContain(focused);
    await settle();
    expect(wrapper.get('[data-test="pending-change"]').text()).toContain('Moving to Pro');
    await wrapper.get('[data-test="cancel-change"]').trigger('click');
    await settle();
    expect(document.activeElement?.getAttribute('data-test')).toBe('plan-result');
    expect(document.activeElement?.textContent).toContain('The pending change is canceled.');
    wrapper.unmount();
  });

  it('says an upgrade from the Free plan is paid on Stripe first, and starts once paid', async () => {
    const h = createHarness({ handlers: { CurrentPlan: () => ({ data: { organization_subscriptions_by_pk: subscription('free') } }) } });
    const wrapper = h.mountApp(BillingPage);
    await settle();
    await wrapper.get('[data-test="choose-pro"]').trigger('click');
    await settle();
    expect(wrapper.get('[data-test="plan-pro"] [data-test="confirm-text"]').text()).toBe(
      "You pay £29.00 a month on Stripe's secure page. Pro starts once the payment clears, with its 2,000 credits a month.",
    );
    expect(callsOf(h.calls, 'PreviewPlanChange')).toHaveLength(0);
  });

  it('marks included and missing quality levels with a sign, not colour alone', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingPage);
    await settle();
    const free = wrapper.get('[data-test="plan-free"]');
    expect(free.get('[data-test="level-fast"] .mark').text()).toBe('✓');
    expect(free.get('[data-test="level-premium"] .mark').text()).toBe('✕');
  });
});

describe('BillingSpendLimits', () => {
  it('shows usage against the daily and monthly limits', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    const text = (sel: string) => wrapper.get(sel).text().replace(/\s+/g, ' ');
    expect(text('[data-test="limit-daily"]')).toContain('84.25 credits used + 12.5 held · limit 100 credits');
    expect(wrapper.get('[data-test="limit-daily"] [role="meter"]').attributes('data-level')).toBe('warning');
    expect(text('[data-test="limit-monthly"]')).toContain('750 credits used + 12.5 held · limit 2,500 credits');
    expect(wrapper.get('[data-test="limit-per_call"]').text()).toContain('no limit');
    expect(callsOf(h.calls, 'SpendLimits')[0]?.variables).toMatchObject({ today: '2026-11-21', monthStart: '2026-11-01' });
  });

  it('stays a placeholder until the shared balance says what is held, instead of counting nothing held', async () => {
    let answer: (r: FixtureResult) => void = () => {};
    const h = createHarness({
      handlers: {
        CreditBalance: () => new Promise<FixtureResult>((resolve) => (answer = resolve)),
        CreditBalanceLive: () => new Observable<FixtureResult>(() => {}),
      },
    });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    expect(callsOf(h.calls, 'SpendLimits')).toHaveLength(1);
    expect(wrapper.get('[data-test="limits-loading"]').attributes('aria-busy')).toBe('true');
    expect(wrapper.find('[data-test="limit-daily"]').exists()).toBe(false);

    answer({ data: { organization_credit_balances: [balance()] } });
    await settle();
    expect(wrapper.find('[data-test="limits-loading"]').exists()).toBe(false);
    expect(wrapper.get('[data-test="limit-daily"]').text().replace(/\s+/g, ' ')).toContain('84.25 credits used + 12.5 held');
  });

  /** The message at a field of the form, which the input names as its description. */
  function fieldError(wrapper: ReturnType<ReturnType<typeof createHarness>['mountApp']>, field: 'daily' | 'monthly' | 'call') {
    const input = wrapper.get(`[data-test="limit-input-${field}"]`);
    const message = wrapper.find(`[data-test="limit-error-${field}"]`);
    if (!message.exists()) {
      expect(input.attributes('aria-invalid')).toBeUndefined();
      return null;
    }
    expect(input.attributes('aria-invalid')).toBe('true');
    expect(input.attributes('aria-describedby')).toBe(message.attributes('id'));
    return message.text();
  }

  it('refuses a zero or malformed limit before sending anything, at its field', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    const inputs = wrapper.findAll('[data-test="limits-form"] input');
    await inputs[0]!.setValue('0');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(fieldError(wrapper, 'daily')).toContain('must be more than zero');
    await inputs[0]!.setValue('1.2345');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(fieldError(wrapper, 'daily')).toContain('at most three decimals');
    expect(wrapper.find('[data-test="limits-error"]').exists()).toBe(false);
    expect(callsOf(h.calls, 'UpdateSpendLimits')).toHaveLength(0);
  });

  it('reports every bad field at once, each at its own field, and clears each as it is mended', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    document.body.append(wrapper.element);
    await settle();
    await wrapper.get('[data-test="limit-input-daily"]').setValue('-5');
    await wrapper.get('[data-test="limit-input-monthly"]').setValue('1.23456');
    await wrapper.get('[data-test="limit-input-call"]').setValue('12abc');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(fieldError(wrapper, 'daily')).toBe('The daily limit must be more than zero, or empty for none.');
    expect(fieldError(wrapper, 'monthly')).toBe('The monthly limit must be a number of credits with at most three decimals.');
    expect(fieldError(wrapper, 'call')).toBe('The per call limit must be a number of credits with at most three decimals.');
    // Not a paragraph at the bottom of the form: the server's refusals only go there.
    expect(wrapper.find('[data-test="limits-error"]').exists()).toBe(false);
    expect(document.activeElement?.getAttribute('data-test')).toBe('limit-input-daily');
    expect(callsOf(h.calls, 'UpdateSpendLimits')).toHaveLength(0);

    await wrapper.get('[data-test="limit-input-daily"]').setValue('5');
    expect(fieldError(wrapper, 'daily')).toBeNull();
    expect(fieldError(wrapper, 'monthly')).not.toBeNull();
    wrapper.unmount();
  });

  it('marks stored limits that break the daily-monthly rule as soon as they load (saved before the server refused them)', async () => {
    const h = createHarness({
      handlers: {
        SpendLimits: () => ({
          data: spendLimitsData({ limits: spendLimits({ daily_limit_credits: '500.000', monthly_limit_credits: '100.000' }) }),
        }),
      },
    });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    expect(fieldError(wrapper, 'daily')).toBe(
      'The daily limit (500 credits) is above the monthly limit (100), so it could never be reached. ' +
        'Make it no more than the monthly limit, or empty for none.',
    );
    expect(callsOf(h.calls, 'UpdateSpendLimits')).toHaveLength(0);
    // Mended as it is typed.
    await wrapper.get('[data-test="limit-input-daily"]').setValue('100');
    expect(fieldError(wrapper, 'daily')).toBeNull();
  });

  it('does not mark stored limits that keep the rules', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    expect(fieldError(wrapper, 'daily')).toBeNull();
    expect(fieldError(wrapper, 'monthly')).toBeNull();
    expect(fieldError(wrapper, 'call')).toBeNull();
  });

  it('refuses a daily limit above the monthly one, which could never be reached, saying so at the daily field', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    await wrapper.get('[data-test="limit-input-daily"]').setValue('100');
    await wrapper.get('[data-test="limit-input-monthly"]').setValue('50');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(fieldError(wrapper, 'daily')).toBe(
      'The daily limit (100 credits) is above the monthly limit (50), so it could never be reached. ' +
        'Make it no more than the monthly limit, or empty for none.',
    );
    expect(fieldError(wrapper, 'monthly')).toBeNull();
    expect(wrapper.text()).not.toContain('Saved.');
    expect(callsOf(h.calls, 'UpdateSpendLimits')).toHaveLength(0);
    // Equal is a limit the day can reach.
    await wrapper.get('[data-test="limit-input-daily"]').setValue('50');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(fieldError(wrapper, 'daily')).toBeNull();
    expect(callsOf(h.calls, 'UpdateSpendLimits')).toHaveLength(1);
  });

  it('saves limits as decimal strings, an empty field meaning no limit', async () => {
    const h = createHarness({
      handlers: {
        UpdateSpendLimits: (v) => ({
          data: {
            update_spend_limits: {
              affected_rows: 1,
              returning: [{ ...spendLimits(), updated_at: NOW.toISOString(), ...(v.changes as object) }],
            },
          },
        }),
      },
    });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    const inputs = wrapper.findAll('[data-test="limits-form"] input');
    await inputs[0]!.setValue('150.5');
    await inputs[1]!.setValue('');
    await inputs[2]!.setValue('25');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateSpendLimits')[0]?.variables).toEqual({
      orgId: ORG_ID,
      loadedAt: spendLimits().updated_at,
      changes: { daily_limit_credits: '150.5', monthly_limit_credits: null, per_call_limit_credits: '25' },
    });
  });

  it('holds each limit to the server’s bound of 1,000,000,000 credits, saying so in words', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    const inputs = wrapper.findAll('[data-test="limits-form"] input');
    await inputs[1]!.setValue('99999999999999999');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(fieldError(wrapper, 'monthly')).toBe('The monthly limit can be at most 1,000,000,000 credits, or empty for none.');
    await inputs[1]!.setValue('1000000000.001');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(fieldError(wrapper, 'monthly')).toContain('at most 1,000,000,000 credits');
    expect(callsOf(h.calls, 'UpdateSpendLimits')).toHaveLength(0);
    await inputs[1]!.setValue('1000000000');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateSpendLimits')).toHaveLength(1);
  });

  it('shows a refusal of the server in words, not its raw message', async () => {
    const h = createHarness({
      handlers: {
        UpdateSpendLimits: () => ({
          errors: [
            { message: 'Check constraint violation. insert/update check constraint failed', extensions: { code: 'permission-error' } },
          ],
        }),
      },
    });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    await wrapper.findAll('[data-test="limits-form"] input')[2]!.setValue('5');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    const text = wrapper.get('[data-test="limits-error"]').text();
    expect(text).toContain('The server did not accept these values');
    expect(text).not.toContain('Check constraint');
  });

  it('says the server behind the form failed, and to retry, not "http exception when calling webhook"', async () => {
    const h = createHarness({
      handlers: {
        UpdateSpendLimits: () => ({
          errors: [{ message: 'http exception when calling webhook', extensions: { path: '$', code: 'unexpected' } }],
        }),
      },
    });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    await wrapper.findAll('[data-test="limits-form"] input')[2]!.setValue('5');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(wrapper.get('[data-test="limits-error"]').text()).toBe(
      'The server could not complete this: a service behind it did not answer, or failed. Retry.',
    );
  });
});

describe('BillingAutoTopUp', () => {
  it('holds the threshold to 1,000,000,000 credits and shows the server’s refusals in words', async () => {
    const h = createHarness({
      handlers: {
        UpdateAutoTopUpSettings: () => ({
          errors: [
            { message: 'Check constraint violation. insert/update check constraint failed', extensions: { code: 'permission-error' } },
          ],
        }),
      },
    });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('input[inputmode="decimal"]').setValue('99999999999999999');
    await form.trigger('submit');
    await settle();
    expect(form.get('[data-test="threshold-error"]').text()).toBe('The threshold can be at most 1,000,000,000 credits.');
    await form.get('[data-test="monthly-max"]').setValue('101');
    await form.get('input[inputmode="decimal"]').setValue('100');
    await form.trigger('submit');
    await settle();
    expect(form.get('[data-test="monthly-max-error"]').text()).toContain('from 1 to 100');
    expect(form.find('[role="alert"]').exists()).toBe(false);
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings')).toHaveLength(0);
    await form.get('[data-test="monthly-max"]').setValue('100');
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings')).toHaveLength(1);
    expect(form.get('[role="alert"]').text()).not.toContain('Check constraint');
    expect(form.get('[role="alert"]').text()).toContain('The server did not accept these values');
  });

  it('will not turn auto top-up on without a pack, saying so at the pack', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    await wrapper.get('[data-test="auto-top-up-form"] input[type="checkbox"]').setValue(true);
    await wrapper.get('[data-test="auto-top-up-form"]').trigger('submit');
    await settle();
    const select = wrapper.get('[data-test="pack-select"]');
    expect(wrapper.get('[data-test="pack-error"]').text()).toBe('Choose the pack to buy when the balance runs low.');
    expect(select.attributes('aria-invalid')).toBe('true');
    expect(select.attributes('aria-describedby')).toBe(wrapper.get('[data-test="pack-error"]').attributes('id'));
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings')).toHaveLength(0);
  });

  it('says every bad field at once, each at its own field and alike: "12abc" as an empty threshold is', async () => {
    const h = createHarness({ handlers: { AutoTopUpSettings: () => ({ data: { auto_topup_settings_by_pk: null } }) } });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    document.body.append(wrapper.element);
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('input[type="checkbox"]').setValue(true);
    await form.get('[data-test="threshold"]').setValue('12abc');
    await form.get('[data-test="monthly-max"]').setValue('500');
    await form.trigger('submit');
    await settle();
    const at = (field: string, error: string) => {
      const input = form.get(`[data-test="${field}"]`);
      const message = form.get(`[data-test="${error}"]`);
      expect(input.attributes('aria-invalid')).toBe('true');
      expect(input.attributes('aria-describedby')).toBe(message.attributes('id'));
      expect(message.classes()).toEqual(['field-error']);
      return message.text();
    };
    expect(at('threshold', 'threshold-error')).toBe('The threshold must be a number of credits with at most three decimals.');
    expect(at('pack-select', 'pack-error')).toBe('Choose the pack to buy when the balance runs low.');
    expect(at('monthly-max', 'monthly-max-error')).toContain('from 1 to 100');
    expect(form.find('[data-test="auto-top-up-error"]').exists()).toBe(false);
    expect(document.activeElement?.getAttribute('data-test')).toBe('threshold');

    await form.get('[data-test="threshold"]').setValue('');
    expect(at('threshold', 'threshold-error')).toBe('Enter a threshold above 0: a pack is bought when available credits fall below it.');
    expect(callsOf(h.calls, 'CreateAutoTopUpSettings')).toHaveLength(0);
    wrapper.unmount();
  });

  it('names each pack once in the list: a name that is only its credits is not said again', async () => {
    const list = [
      { ...packages()[0]!, name: '500 credits', credits: '500.000', price_minor: '1000' },
      { ...packages()[1]!, name: 'Growth pack', credits: '2000.000', price_minor: '1800' },
    ];
    const h = createHarness({ handlers: { TopUpPackages: () => ({ data: { topup_packages: list } }) } });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    expect(wrapper.findAll('[data-test="pack-option"]').map((o) => o.text())).toEqual([
      '500 credits for £10.00',
      'Growth pack — 2,000 credits for £18.00',
    ]);
  });

  it('says why auto top-up was turned off, in the words the server wrote', async () => {
    const reason = 'Turned off after two payments in a row failed (last: Your card was declined.)';
    const h = createHarness({
      handlers: { AutoTopUpSettings: () => ({ data: { auto_topup_settings_by_pk: autoTopUp({ disabled_reason: reason }) } }) },
    });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    expect(wrapper.get('[data-test="disabled-reason"]').text()).toBe(`${reason}.`);
    expect(wrapper.text()).not.toContain('Turned off: Turned off');
  });
});

describe('BillingNotifications', () => {
  it('marks every unread notification read in one request', async () => {
    const h = createHarness({
      handlers: {
        MarkNotificationsRead: (v) => ({
          data: { update_notifications: { affected_rows: 1, returning: (v.ids as string[]).map((id) => ({ id, read_at: v.readAt })) } },
        }),
      },
    });
    const wrapper = h.mountApp(BillingNotifications);
    await settle();
    expect(wrapper.findAll('[data-test="notification"]')).toHaveLength(2);
    const button = wrapper.get('[data-test="mark-all-read"]');
    expect(button.text()).toBe('Mark all read (1)');
    await button.trigger('click');
    await settle();
    expect(callsOf(h.calls, 'MarkNotificationsRead')[0]?.variables.ids).toEqual(['dddddddd-0000-4000-8000-000000000001']);
  });

  // One of the org's (user_id null), one of the signed-in member's own, one about a failed payment
  // that links to buying credits; all unread.
  const mixed = (): NotificationRow[] => {
    const [orgWide] = notifications();
    return [
      { ...orgWide!, id: 'dddddddd-0000-4000-8000-000000000011', user_id: null },
      { ...orgWide!, id: 'dddddddd-0000-4000-8000-000000000012', user_id: USER_ID, title: 'Your run finished' },
      {
        ...orgWide!,
        id: 'dddddddd-0000-4000-8000-000000000013',
        user_id: USER_ID,
        kind: 'payment_failed',
        title: 'Payment failed',
        action_url: '/credits?topup=buy',
      },
    ];
  };
  const markReadHandler = {
    MarkNotificationsRead: (v: Record<string, unknown>) => ({
      data: { update_notifications: { affected_rows: 1, returning: (v.ids as string[]).map((id) => ({ id, read_at: v.readAt })) } },
    }),
  };

  it("lets a member mark only their own read, counting only those, while they see the org's", async () => {
    const h = createHarness({
      role: 'member',
      handlers: { ...markReadHandler, Notifications: () => ({ data: { notifications: mixed() } }) },
    });
    const wrapper = h.mountApp(BillingNotifications);
    await settle();
    expect(wrapper.findAll('[data-test="notification"]')).toHaveLength(3);
    expect(wrapper.findAll('[data-test="mark-read"]').map((b) => b.attributes('data-id'))).toEqual([
      'dddddddd-0000-4000-8000-000000000012',
      'dddddddd-0000-4000-8000-000000000013',
    ]);
    await wrapper.get('[data-test="mark-all-read"]').trigger('click');
    await settle();
    expect(callsOf(h.calls, 'MarkNotificationsRead')[0]?.variables.ids).toEqual([
      'dddddddd-0000-4000-8000-000000000012',
      'dddddddd-0000-4000-8000-000000000013',
    ]);
  });

  it("lets an owner mark the org's read too", async () => {
    const h = createHarness({ handlers: { Notifications: () => ({ data: { notifications: mixed() } }) } });
    const wrapper = h.mountApp(BillingNotifications);
    await settle();
    expect(wrapper.findAll('[data-test="mark-read"]')).toHaveLength(3);
    expect(wrapper.get('[data-test="mark-all-read"]').text()).toBe('Mark all read (3)');
  });

  it('gives a member no "Open" to a purchase they cannot make, and an owner one', async () => {
    for (const [role, hrefs] of [
      ['member', []],
      ['owner', ['/credits?topup=buy']],
    ] as const) {
      const h = createHarness({ role, handlers: { Notifications: () => ({ data: { notifications: mixed() } }) } });
      const wrapper = h.mountApp(BillingNotifications);
      await settle();
      expect(wrapper.findAll('[data-test="open-link"]').map((a) => a.attributes('href'))).toEqual(hrefs);
    }
  });

  it('moves focus to the next notification after "Mark read", and to the heading after the last', async () => {
    let rows = mixed();
    const h = createHarness({
      handlers: {
        Notifications: () => ({ data: { notifications: rows } }),
        MarkNotificationsRead: (v) => {
          const ids = v.ids as string[];
          rows = rows.map((n) => (ids.includes(n.id) ? { ...n, read_at: v.readAt as string } : n));
          return markReadHandler.MarkNotificationsRead(v);
        },
      },
    });
    const wrapper = h.mountApp(BillingNotifications, {});
    document.body.append(wrapper.element);
    await settle();
    const button = (id: string) => wrapper.get(`[data-test="mark-read"][data-id="${id}"]`);
    await button('dddddddd-0000-4000-8000-000000000012').trigger('click');
    await settle();
    expect(document.activeElement?.getAttribute('data-id')).toBe('dddddddd-0000-4000-8000-000000000013');
    await button('dddddddd-0000-4000-8000-000000000013').trigger('click');
    await settle();
    expect(document.activeElement?.getAttribute('data-id')).toBe('dddddddd-0000-4000-8000-000000000011');
    await button('dddddddd-0000-4000-8000-000000000011').trigger('click');
    await settle();
    expect(document.activeElement?.id).toBe('notes-title');
    wrapper.unmount();
  });

  it('gives "Open", "Mark read" and "Mark all read" one style, a button of 32 px', async () => {
    const h = createHarness({ handlers: { Notifications: () => ({ data: { notifications: mixed() } }) } });
    const wrapper = h.mountApp(BillingNotifications);
    await settle();
    const actions = [
      wrapper.get('[data-test="mark-all-read"]'),
      ...wrapper.findAll('[data-test="open-link"]'),
      ...wrapper.findAll('[data-test="mark-read"]'),
    ];
    expect(actions.length).toBeGreaterThan(3);
    for (const action of actions) expect(action.classes()).toEqual(['btn', 'btn-small']);
  });

  it('has an empty state', async () => {
    const h = createHarness({ handlers: { Notifications: () => ({ data: { notifications: [] } }) } });
    const wrapper = h.mountApp(BillingNotifications);
    await settle();
    expect(wrapper.text()).toContain("You're all caught up");
  });
});
