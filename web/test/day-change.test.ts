// A page left open over UTC midnight moves to the new day: the spend limits count today's usage
// from the new day, and the usage chart's 30 days end with it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import BillingSpendLimits from '../src/components/billing/BillingSpendLimits.vue';
import CreditsUsageChart from '../src/components/credits/CreditsUsageChart.vue';
import { callsOf, createHarness, settle } from './support/harness.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('at UTC midnight', () => {
  it('asks for the new day’s usage without a reload', async () => {
    vi.useFakeTimers({ now: new Date('2026-11-21T23:59:30Z'), toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = createHarness();
    h.mountApp(BillingSpendLimits, { canManage: true });
    h.mountApp(CreditsUsageChart);
    await settle();
    expect(callsOf(h.calls, 'SpendLimits').at(-1)?.variables).toMatchObject({ today: '2026-11-21', monthStart: '2026-11-01' });
    expect(callsOf(h.calls, 'UsageDaily').at(-1)?.variables).toMatchObject({ since: '2026-10-23' });
    await vi.advanceTimersByTimeAsync(60_000);
    await settle();
    expect(callsOf(h.calls, 'SpendLimits').at(-1)?.variables).toMatchObject({ today: '2026-11-22', monthStart: '2026-11-01' });
    expect(callsOf(h.calls, 'UsageDaily').at(-1)?.variables).toMatchObject({ since: '2026-10-24' });
  });
});
