// Every view of the balance on a page (the header's widget, the low-balance banner, the credits
// page's chart, grants and history, the billing page's spend limits) shares one source: one
// subscription while live, one poll while not, opened for the first view and closed with the last.
import { Observable, Subject } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineComponent, ref, h as render } from 'vue';
import CreditsBalanceWidget from '../src/components/credits/CreditsBalanceWidget.vue';
import CreditsGrantsList from '../src/components/credits/CreditsGrantsList.vue';
import CreditsHistoryTable from '../src/components/credits/CreditsHistoryTable.vue';
import CreditsLowBalanceBanner from '../src/components/credits/CreditsLowBalanceBanner.vue';
import CreditsUsageChart from '../src/components/credits/CreditsUsageChart.vue';
import type { SocketStatus } from '../src/lib/apollo.ts';
import BillingPage from '../src/pages/BillingPage.vue';
import type { FixtureCall, FixtureResult } from '../src/preview/fixtureLink.ts';
import { balance, fakeToken, ORG_ID, OTHER_ORG_ID, USER_ID } from '../src/preview/fixtures.ts';
import { useSessionStore } from '../src/stores/session.ts';
import { callsOf, createHarness, NOW, settle } from './support/harness.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** The credits page as it is on screen, each view shown while `shown` is true. */
const Page = defineComponent({
  props: { shown: { type: Boolean, default: true } },
  setup(props) {
    return () =>
      props.shown
        ? render('div', [
            render(CreditsBalanceWidget, { now: () => NOW }),
            render(CreditsLowBalanceBanner),
            render(CreditsUsageChart, { now: () => NOW }),
            render(CreditsGrantsList),
            render(CreditsHistoryTable),
          ])
        : null;
  },
});

/** The live balance, counting the subscriptions open at the engine. */
function countedLive() {
  const open = ref(0);
  const orgs: unknown[] = [];
  return {
    open,
    orgs,
    handlers: {
      CreditBalanceLive: (variables: Record<string, unknown>) =>
        new Observable<FixtureResult>((o) => {
          open.value++;
          orgs.push(variables.orgId);
          o.next({ data: { organization_credit_balances: [balance({ organization_id: String(variables.orgId) })] } });
          return () => {
            open.value--;
          };
        }),
    },
  };
}

async function mountPage(status: SocketStatus) {
  vi.useFakeTimers();
  const live = countedLive();
  const h = createHarness({ socketStatus: status, handlers: live.handlers });
  const wrapper = h.mountApp(Page);
  await settle();
  return { h, wrapper, live };
}

describe('the balance shared by the views of a page', () => {
  it('is asked once every 15 s while not live, however many views show it', async () => {
    const { h } = await mountPage('down');
    const before = callsOf(h.calls, 'CreditBalance').length;
    expect(before).toBe(1);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(callsOf(h.calls, 'CreditBalance').length).toBe(before + 1);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(callsOf(h.calls, 'CreditBalance').length).toBe(before + 3);
  });

  it('is one subscription while live, and no poll', async () => {
    const { h, live } = await mountPage('connected');
    expect(callsOf(h.calls, 'CreditBalanceLive')).toHaveLength(1);
    expect(live.open.value).toBe(1);
    const asked = callsOf(h.calls, 'CreditBalance').length;
    expect(asked).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(callsOf(h.calls, 'CreditBalance')).toHaveLength(asked);
  });

  it('stops when the last view goes, and starts again for the next', async () => {
    const { h, wrapper, live } = await mountPage('down');
    await wrapper.setProps({ shown: false });
    await settle();
    expect(live.open.value).toBe(0);
    const asked = callsOf(h.calls, 'CreditBalance').length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(callsOf(h.calls, 'CreditBalance')).toHaveLength(asked);

    await wrapper.setProps({ shown: true });
    await settle();
    expect(live.open.value).toBe(1);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(callsOf(h.calls, 'CreditBalance')).toHaveLength(asked + 2); // at mount, then one poll
    wrapper.unmount();
    await settle();
    expect(live.open.value).toBe(0);
  });

  it('follows an org switch with one subscription and one poll, for the new org only', async () => {
    const { h, live } = await mountPage('connected');
    const session = useSessionStore(h.pinia);
    session.token = fakeToken(USER_ID, OTHER_ORG_ID);
    await settle();
    expect(live.open.value).toBe(1);
    expect(live.orgs).toEqual([ORG_ID, OTHER_ORG_ID]);
    h.connection.socketStatus.value = 'down';
    await settle();
    const asked = callsOf(h.calls, 'CreditBalance').length;
    await vi.advanceTimersByTimeAsync(15_000);
    const polls = callsOf(h.calls, 'CreditBalance').slice(asked);
    expect(polls.map((c) => c.variables.orgId)).toEqual([OTHER_ORG_ID]);
  });
});

/** The billing page as the app shows it: below the header's balance widget. */
const Billing = defineComponent({
  setup() {
    return () => render('div', [render(CreditsBalanceWidget, { now: () => NOW }), render(BillingPage)]);
  },
});

/** The operations that read the balance (organization_credit_balances), by name, sorted. */
const balanceReads = (calls: FixtureCall[]) =>
  calls
    .filter((c) => c.fields.includes('organization_credit_balances'))
    .map((c) => c.operationName)
    .sort();

/** The balance over HTTP and live, the live one pushed by the test; counts the open subscriptions. */
function movingBalance() {
  const rows = new Subject<FixtureResult>();
  const open = ref(0);
  let current = balance();
  return {
    open,
    handlers: {
      CreditBalance: () => ({ data: { organization_credit_balances: [current] } }),
      CreditBalanceLive: () =>
        new Observable<FixtureResult>((o) => {
          open.value++;
          o.next({ data: { organization_credit_balances: [current] } });
          const sub = rows.subscribe(o);
          return () => {
            open.value--;
            sub.unsubscribe();
          };
        }),
    },
    /** A run holds 2 credits more. */
    move(live: boolean) {
      current = balance({ reserved_credits: '14.500', available_credits: '1735.500' });
      if (live) rows.next({ data: { organization_credit_balances: [current] } });
    },
  };
}

describe('the billing page and its spend limits', () => {
  const dailyText = (wrapper: ReturnType<ReturnType<typeof createHarness>['mountApp']>) =>
    wrapper.get('[data-test="limit-daily"]').text().replace(/\s+/g, ' ');

  it('reads the balance through the shared source only, live: one subscription, and no second ask when it moves', async () => {
    vi.useFakeTimers();
    const source = movingBalance();
    const h = createHarness({ socketStatus: 'connected', handlers: source.handlers });
    const wrapper = h.mountApp(Billing);
    await settle();
    expect(source.open.value).toBe(1);
    expect(balanceReads(h.calls)).toEqual(['CreditBalance', 'CreditBalanceLive']);
    expect(dailyText(wrapper)).toContain('84.25 credits used + 12.5 held · limit 100 credits');

    source.move(true);
    await vi.advanceTimersByTimeAsync(500);
    await settle();
    // The consumed counters are asked again, without the balance; what is held is the live row's.
    expect(callsOf(h.calls, 'SpendLimits')).toHaveLength(2);
    expect(callsOf(h.calls, 'SpendLimits')[1]!.fields).not.toContain('organization_credit_balances');
    expect(balanceReads(h.calls)).toEqual(['CreditBalance', 'CreditBalanceLive']);
    expect(dailyText(wrapper)).toContain('84.25 credits used + 14.5 held · limit 100 credits');
    expect(source.open.value).toBe(1);
  });

  it('while not live, asks for the balance once every 15 s, and the counters without it when it moved', async () => {
    vi.useFakeTimers();
    const source = movingBalance();
    const h = createHarness({ socketStatus: 'down', handlers: source.handlers });
    const wrapper = h.mountApp(Billing);
    await settle();
    const polls = () => balanceReads(h.calls).filter((name) => name === 'CreditBalance').length;
    expect(polls()).toBe(1);
    expect(balanceReads(h.calls).filter((name) => name !== 'CreditBalance' && name !== 'CreditBalanceLive')).toEqual([]);

    source.move(false);
    await vi.advanceTimersByTimeAsync(15_000);
    await vi.advanceTimersByTimeAsync(500);
    await settle();
    expect(polls()).toBe(2);
    expect(callsOf(h.calls, 'SpendLimits')).toHaveLength(2);
    expect(balanceReads(h.calls).filter((name) => name !== 'CreditBalance' && name !== 'CreditBalanceLive')).toEqual([]);
    expect(dailyText(wrapper)).toContain('84.25 credits used + 14.5 held · limit 100 credits');
  });
});
