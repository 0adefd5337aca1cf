// What follows the live balance, and what is said while it is not live: the "Live" words, the plan
// behind the allowance bar, the credits page's grants, usage and burn rate, the billing page's spend
// limit usage, and a top-up waiting for its credits while the socket is down.
import { gql } from '@apollo/client';
import { Observable, Subject } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import BillingSpendLimits from '../src/components/billing/BillingSpendLimits.vue';
import CreditsBalanceWidget from '../src/components/credits/CreditsBalanceWidget.vue';
import CreditsGrantsList from '../src/components/credits/CreditsGrantsList.vue';
import CreditsTopUpModal from '../src/components/credits/CreditsTopUpModal.vue';
import CreditsUsageChart from '../src/components/credits/CreditsUsageChart.vue';
import type { SocketStatus } from '../src/lib/apollo.ts';
import type { FixtureResult } from '../src/preview/fixtureLink.ts';
import { balance, grants, ORG_ID, subscription } from '../src/preview/fixtures.ts';
import { useTopUpStore } from '../src/stores/topUp.ts';
import { callsOf, createHarness, NOW, settle } from './support/harness.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** The live balance as a subject the test pushes rows into (the first row is the current one). */
function liveBalance(first = balance()) {
  const rows = new Subject<FixtureResult>();
  let current = first;
  return {
    handlers: {
      CreditBalance: () => ({ data: { organization_credit_balances: [current] } }),
      CreditBalanceLive: () =>
        new Observable<FixtureResult>((o) => {
          o.next({ data: { organization_credit_balances: [current] } });
          return rows.subscribe(o);
        }),
    },
    push(row: ReturnType<typeof balance>) {
      current = row;
      rows.next({ data: { organization_credit_balances: [row] } });
    },
  };
}

async function openWidget(status: SocketStatus) {
  vi.useFakeTimers();
  const h = createHarness({ socketStatus: status });
  const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
  await settle();
  await wrapper.get('[data-test="balance-trigger"]').trigger('click');
  return { h, wrapper };
}

describe('the live words of the balance widget', () => {
  it('says "Live" over a connected socket', async () => {
    const { wrapper } = await openWidget('connected');
    expect(wrapper.get('[role="region"] .live').text()).toBe('Live');
  });

  it('says how often it refreshes while the socket reconnects: every 15 seconds, as it does', async () => {
    const { h, wrapper } = await openWidget('down');
    expect(wrapper.get('[role="region"] .live').text()).toBe('Not live: refreshing every 15 seconds while live updates reconnect.');
    const before = callsOf(h.calls, 'CreditBalance').length;
    await vi.advanceTimersByTimeAsync(15_000);
    expect(callsOf(h.calls, 'CreditBalance').length).toBe(before + 1);
  });

  it('asks for the balance at once when live updates stop (the socket went quiet before it was found dead)', async () => {
    const { h, wrapper } = await openWidget('connected');
    const before = callsOf(h.calls, 'CreditBalance').length;
    h.connection.socketStatus.value = 'down';
    await settle();
    expect(callsOf(h.calls, 'CreditBalance').length).toBe(before + 1);
    expect(wrapper.get('[role="region"] .live').text()).not.toContain('Live');
  });

  it('is not live, and polls, while the socket has not connected yet (a handshake that does not complete)', async () => {
    const { h, wrapper } = await openWidget('connecting');
    expect(wrapper.get('[role="region"] .live').text()).not.toContain('Live');
    const before = callsOf(h.calls, 'CreditBalance').length;
    await vi.advanceTimersByTimeAsync(15_000);
    expect(callsOf(h.calls, 'CreditBalance').length).toBe(before + 1);
    h.connection.socketStatus.value = 'connected';
    await settle();
    expect(wrapper.get('[role="region"] .live').text()).toBe('Live');
  });

  it('does not say it reconnects while the socket is being opened, not lost (the first connection, or after a close the app made)', async () => {
    const { h, wrapper } = await openWidget('connecting');
    expect(wrapper.get('[role="region"] .live').text()).toBe('Not live: refreshing every 15 seconds while live updates connect.');
    h.connection.socketStatus.value = 'down';
    await settle();
    expect(wrapper.get('[role="region"] .live').text()).toBe('Not live: refreshing every 15 seconds while live updates reconnect.');
  });

  it('does not say it reconnects when the engine closed the socket for good', async () => {
    const { wrapper } = await openWidget('stopped');
    expect(wrapper.get('[role="region"] .live').text()).toBe(
      'Not live: refreshing every 15 seconds. Reload the page to restart live updates.',
    );
  });
});

describe('the plan behind the allowance bar', () => {
  it.each([
    [
      'an upgrade made in another tab (the allowance left goes up)',
      balance({ allowance_remaining_credits: '80.000', next_expiry_at: '2026-12-01T00:00:00Z' }),
      balance({ allowance_remaining_credits: '1980.000', next_expiry_at: '2026-12-01T00:00:00Z' }),
      '1,980 / 2,000',
    ],
    [
      'a renewal onto another plan (the period end moves)',
      balance({ allowance_remaining_credits: '80.000', next_expiry_at: '2026-12-01T00:00:00Z' }),
      balance({ allowance_remaining_credits: '20.000', next_expiry_at: '2027-01-01T00:00:00Z' }),
      '20 / 2,000',
    ],
  ])('is asked again after %s', async (_name, before, after, words) => {
    let plan: 'free' | 'pro' = 'free';
    const live = liveBalance(before);
    const h = createHarness({
      handlers: { ...live.handlers, CurrentPlan: () => ({ data: { organization_subscriptions_by_pk: subscription(plan) } }) },
    });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    expect(wrapper.get('[data-test="allowance"]').text()).toBe('80 / 100');
    plan = 'pro';
    live.push(after);
    await settle();
    expect(callsOf(h.calls, 'CurrentPlan')).toHaveLength(2);
    expect(wrapper.get('[data-test="allowance"]').text()).toBe(words);
  });

  it('is not asked again when a run only uses credits', async () => {
    const live = liveBalance(balance({ allowance_remaining_credits: '1250.000' }));
    const h = createHarness({ handlers: live.handlers });
    h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    live.push(balance({ allowance_remaining_credits: '1240.000', available_credits: '1727.500' }));
    await settle();
    expect(callsOf(h.calls, 'CurrentPlan')).toHaveLength(1);
  });
});

describe('the credits page after a run', () => {
  it('asks for the grants again when the balance moves, and shows what is left', async () => {
    vi.useFakeTimers();
    let remaining = '1250.000';
    const live = liveBalance();
    const h = createHarness({
      handlers: {
        ...live.handlers,
        Grants: () => ({
          data: { organization_active_grants: grants().map((g, i) => (i === 0 ? { ...g, remaining_credits: remaining } : g)) },
        }),
      },
    });
    const wrapper = h.mountApp(CreditsGrantsList);
    await settle();
    expect(wrapper.findAll('[data-test="grant"]')[0]!.text()).toContain('1,250 of 2,000');
    remaining = '1240.000';
    live.push(balance({ allowance_remaining_credits: '1240.000', available_credits: '1727.500' }));
    await vi.advanceTimersByTimeAsync(500);
    await settle();
    expect(callsOf(h.calls, 'Grants')).toHaveLength(2);
    expect(wrapper.findAll('[data-test="grant"]')[0]!.text()).toContain('1,240 of 2,000');
  });

  it('asks once for a burst of runs, not once per run', async () => {
    vi.useFakeTimers();
    const live = liveBalance();
    const h = createHarness({ handlers: live.handlers });
    h.mountApp(CreditsGrantsList);
    await settle();
    for (let i = 1; i <= 5; i++) {
      live.push(balance({ available_credits: `${1737 - i}.500` }));
      await vi.advanceTimersByTimeAsync(50);
    }
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(callsOf(h.calls, 'Grants')).toHaveLength(2);
  });

  it('asks for the usage chart again when the balance moves', async () => {
    vi.useFakeTimers();
    const live = liveBalance();
    const h = createHarness({ handlers: live.handlers });
    h.mountApp(CreditsUsageChart, { now: () => NOW });
    await settle();
    expect(callsOf(h.calls, 'UsageDaily')).toHaveLength(1);
    live.push(balance({ available_credits: '1730.000' }));
    await vi.advanceTimersByTimeAsync(500);
    await settle();
    expect(callsOf(h.calls, 'UsageDaily')).toHaveLength(2);
  });

  it('asks for the burn rate again when the balance moves, and shows the new rate', async () => {
    vi.useFakeTimers();
    let consumed = '262.500';
    const live = liveBalance();
    const h = createHarness({
      handlers: {
        ...live.handlers,
        BurnRate: () => ({ data: { organization_usage_daily_aggregate: { aggregate: { sum: { credits_consumed: consumed } } } } }),
      },
    });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    expect(wrapper.get('[data-test="burn-rate"]').text()).toBe('37.5 / day');
    consumed = '269.500';
    live.push(balance({ available_credits: '1730.500' }));
    await vi.advanceTimersByTimeAsync(500);
    await settle();
    expect(callsOf(h.calls, 'BurnRate')).toHaveLength(2);
    expect(wrapper.get('[data-test="burn-rate"]').text()).toBe('38.5 / day');
  });
});

describe('the spend limits after a run', () => {
  it('asks the consumed counters again when the balance moved while what is held did not (a reserve and its settle between two updates)', async () => {
    vi.useFakeTimers();
    const h = createHarness();
    h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    expect(callsOf(h.calls, 'SpendLimits')).toHaveLength(1);
    const cache = h.connection.client.cache;
    cache.writeFragment({
      id: cache.identify({ __typename: 'organization_credit_balances', organization_id: ORG_ID }),
      fragment: gql`
        fragment AfterRun on organization_credit_balances {
          reserved_credits
          available_credits
        }
      `,
      data: { __typename: 'organization_credit_balances', reserved_credits: '12.500', available_credits: '1727.500' },
    });
    await vi.advanceTimersByTimeAsync(500);
    await settle();
    expect(callsOf(h.calls, 'SpendLimits')).toHaveLength(2);
  });
});

describe('a top-up waiting for its credits', () => {
  const row = { __typename: 'topup_purchases', id: 'pu1', credits: '2000.000', price_minor: '1800', currency: 'GBP' };

  it.each([
    ['the socket is down', 'down' as const, 3_000],
    ['its live update does not come', 'connected' as const, 10_000],
  ])('asks for the purchase over HTTP while %s, and says the credits were added', async (_name, status, wait) => {
    vi.useFakeTimers();
    let paid = false;
    const h = createHarness({
      socketStatus: status,
      handlers: {
        // Nothing comes over the socket.
        TopUpPurchase: () => new Observable<FixtureResult>(() => {}),
        TopUpPurchaseStatus: () => ({
          data: {
            topup_purchases_by_pk: paid ? { ...row, status: 'paid', grant_id: 'g1' } : { ...row, status: 'pending', grant_id: null },
          },
        }),
      },
    });
    const wrapper = h.mountApp(CreditsTopUpModal);
    useTopUpStore(h.pinia).showReturn('success', 'pu1');
    await settle();
    expect(wrapper.find('[data-test="topup-pending"]').exists()).toBe(true);
    paid = true;
    await vi.advanceTimersByTimeAsync(wait);
    await settle();
    expect(wrapper.get('[data-test="topup-succeeded"]').text()).toContain('2,000 credits added.');
    expect(callsOf(h.calls, 'TopUpPurchaseStatus')[0]?.variables).toEqual({ id: 'pu1' });
    // Once the credits are there, it stops asking.
    const asked = callsOf(h.calls, 'TopUpPurchaseStatus').length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(callsOf(h.calls, 'TopUpPurchaseStatus')).toHaveLength(asked);
  });
});
