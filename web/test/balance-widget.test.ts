import { Observable } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import CreditsBalanceWidget from '../src/components/credits/CreditsBalanceWidget.vue';
import type { FixtureResult } from '../src/preview/fixtureLink.ts';
import { balance, subscription } from '../src/preview/fixtures.ts';
import { callsOf, createHarness, NOW, settle } from './support/harness.ts';

const noAllowance = () => {
  const row = subscription('pro');
  return { ...row, plan: { ...row.plan, monthly_allowance_credits: '0.000' } };
};

const withBalance = (row: ReturnType<typeof balance>) => ({
  CreditBalance: () => ({ data: { organization_credit_balances: [row] } }),
  CreditBalanceLive: () => new Observable<FixtureResult>((o) => o.next({ data: { organization_credit_balances: [row] } })),
});

afterEach(() => {
  vi.useRealTimers();
});

describe('CreditsBalanceWidget', () => {
  it('shows a skeleton while the balance is loading', async () => {
    const h = createHarness({ handlers: { CreditBalance: () => new Promise(() => {}), CreditBalanceLive: () => new Promise(() => {}) } });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    expect(wrapper.find('[aria-label="Loading balance"]').exists()).toBe(true);
    expect(wrapper.find('[data-test="available"]').exists()).toBe(false);
  });

  it('says the balance is unavailable when the query fails', async () => {
    const failed = () => ({ errors: [{ message: 'boom', extensions: { code: 'unexpected' } }] });
    const h = createHarness({ handlers: { CreditBalance: failed, CreditBalanceLive: failed } });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    expect(wrapper.text()).toContain('Balance unavailable');
  });

  it('shows available credits, and apart in the dropdown allowance, purchased, reserved and the next expiry', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    expect(wrapper.get('[data-test="available"]').text()).toBe('1,737.5');
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    expect(wrapper.get('[data-test="balance-trigger"]').attributes('aria-expanded')).toBe('true');
    expect(wrapper.get('[data-test="allowance"]').text()).toBe('1,250 / 2,000');
    expect(wrapper.get('[data-test="purchased"]').text()).toBe('500');
    expect(wrapper.get('[data-test="reserved"]').text()).toBe('12.5');
    expect(wrapper.get('[data-test="next-expiry"]').text()).toBe('1,250 on 1 Dec 2026');
  });

  it('computes the burn rate over the last 7 UTC days and the days the available credits last', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    // 262.5 credits over 7 days = 37.5 a day; 1,737.5 / 37.5 = 46.3 → 46 whole days.
    expect(wrapper.get('[data-test="burn-rate"]').text()).toBe('37.5 / day');
    expect(wrapper.get('[data-test="days-left"]').text()).toBe('46 days');
    expect(callsOf(h.calls, 'BurnRate')[0]?.variables.since).toBe('2026-11-15');
  });

  it('says there is no recent use instead of dividing by zero', async () => {
    const h = createHarness({
      handlers: { BurnRate: () => ({ data: { organization_usage_daily_aggregate: { aggregate: { sum: { credits_consumed: null } } } } }) },
    });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    expect(wrapper.get('[data-test="days-left"]').text()).toBe('No recent use');
  });

  it.each([
    ['401.000', 'ok'], // 79.95 % used
    ['400.000', 'warning'], // 80 %
    ['1.000', 'warning'], // 99.95 %
    ['0.000', 'exhausted'], // 100 %
  ])('with %s of 2,000 allowance credits left the bar is %s', async (remaining, level) => {
    const h = createHarness({ handlers: withBalance(balance({ allowance_remaining_credits: remaining })) });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    expect(wrapper.get('[role="meter"]').attributes('data-level')).toBe(level);
    expect(wrapper.get('[role="meter"]').classes()).toContain(`bar--${level}`);
  });

  it.each([
    // remaining, fill (what is left), words
    ['2000.000', '100%', '100', '2,000 of 2,000 monthly allowance credits left', '100% left'],
    ['1250.000', '62.5%', '63', '1,250 of 2,000 monthly allowance credits left', '63% left'],
    ['1.000', '0.05%', '0', '1 of 2,000 monthly allowance credits left', '1% left'],
    ['0.000', '0%', '0', '0 of 2,000 monthly allowance credits left', '0% left'],
  ])('reads as what is left of the allowance: with %s left it is filled %s and says so', async (remaining, fill, now, words, caption) => {
    const h = createHarness({ handlers: withBalance(balance({ allowance_remaining_credits: remaining })) });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    const meter = wrapper.get('[role="meter"]');
    expect(meter.attributes('data-reads')).toBe('left');
    expect(meter.get('.bar-fill').attributes('style')).toContain(`width: ${fill}`);
    expect(meter.attributes('aria-valuenow')).toBe(now);
    expect(meter.attributes('aria-label')).toBe('Monthly allowance left');
    expect(meter.attributes('aria-valuetext')).toBe(words);
    expect(meter.attributes('title')).toBe(words);
    expect(wrapper.get('[data-test="allowance-left-caption"]').text()).toBe(caption);
    // Inside the button the meter's role is not announced: its words are part of the button's name.
    expect(wrapper.get('[data-test="balance-trigger"]').text()).toContain(`${words}.`);
  });

  it('shows no allowance meter for a plan without a monthly allowance', async () => {
    const h = createHarness({
      handlers: { CurrentPlan: () => ({ data: { organization_subscriptions_by_pk: noAllowance() } }) },
    });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    expect(wrapper.get('[data-test="available"]').text()).toBe('1,737.5');
    expect(wrapper.find('[role="meter"]').exists()).toBe(false);
  });

  it('hides the buy button from members and shows it to owners', async () => {
    for (const [role, visible] of [
      ['member', false],
      ['owner', true],
    ] as const) {
      const h = createHarness({ role });
      const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
      await settle();
      await wrapper.get('[data-test="balance-trigger"]').trigger('click');
      expect(wrapper.find('[data-test="widget-top-up"]').exists()).toBe(visible);
    }
  });

  it('closes the dropdown with Escape', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    await wrapper.trigger('keydown', { key: 'Escape' });
    expect(wrapper.find('[role="region"]').exists()).toBe(false);
  });

  it('closes the dropdown when keyboard focus leaves it, not while it moves inside', async () => {
    const h = createHarness();
    const outside = document.createElement('button');
    document.body.append(outside);
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    const buy = wrapper.get('[data-test="widget-top-up"]');
    await wrapper.get('[data-test="balance-trigger"]').trigger('focusout', { relatedTarget: buy.element });
    expect(wrapper.find('[role="region"]').exists()).toBe(true);
    await buy.trigger('focusout', { relatedTarget: outside });
    expect(wrapper.find('[role="region"]').exists()).toBe(false);
    outside.remove();
  });

  it.each([
    ['13687.500', '365 days'], // 365 × 37.5
    ['13725.000', 'More than a year'], // 366 × 37.5
  ])('with %s available at 37.5 a day says %s', async (available, words) => {
    const h = createHarness({ handlers: withBalance(balance({ available_credits: available })) });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    expect(wrapper.get('[data-test="days-left"]').text()).toBe(words);
  });

  it('gives the burn rate to the thousandth, as credits are, and says a count of days past a year as more than a year', async () => {
    const h = createHarness({
      handlers: {
        BurnRate: () => ({ data: { organization_usage_daily_aggregate: { aggregate: { sum: { credits_consumed: '0.300' } } } } }),
      },
    });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    // 0.3 / 7 = 0.043 a day; 1,737.5 / 0.043 = 40,406 whole days, not a number anyone can use.
    expect(wrapper.get('[data-test="burn-rate"]').text()).toBe('0.043 / day');
    expect(wrapper.get('[data-test="days-left"]').text()).toBe('More than a year');
  });
});

describe('live balance with polling fallback', () => {
  it('does not poll while the subscription socket is up', async () => {
    vi.useFakeTimers();
    const h = createHarness({ socketStatus: 'connected' });
    h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    const before = callsOf(h.calls, 'CreditBalance').length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(callsOf(h.calls, 'CreditBalance').length).toBe(before);
    expect(callsOf(h.calls, 'CreditBalanceLive').length).toBe(1);
  });

  it('polls over HTTP while the socket is down and stops when it is back', async () => {
    vi.useFakeTimers();
    let available = '100.000';
    const h = createHarness({
      socketStatus: 'down',
      handlers: {
        CreditBalance: () => ({ data: { organization_credit_balances: [balance({ available_credits: available })] } }),
        CurrentPlan: () => ({ data: { organization_subscriptions_by_pk: subscription('pro') } }),
      },
    });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    const first = callsOf(h.calls, 'CreditBalance').length;
    available = '90.000';
    await vi.advanceTimersByTimeAsync(15_000);
    await settle();
    expect(callsOf(h.calls, 'CreditBalance').length).toBeGreaterThan(first);
    expect(wrapper.get('[data-test="available"]').text()).toBe('90');

    h.connection.socketStatus.value = 'connected';
    await settle();
    const afterReconnect = callsOf(h.calls, 'CreditBalance').length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(callsOf(h.calls, 'CreditBalance').length).toBe(afterReconnect);
  });
});
