import { describe, expect, it } from 'vitest';
import { defineComponent, h as render } from 'vue';
import CreditsGrantsList from '../src/components/credits/CreditsGrantsList.vue';
import CreditsHistoryTable from '../src/components/credits/CreditsHistoryTable.vue';
import CreditsUsageChart from '../src/components/credits/CreditsUsageChart.vue';
import { type UseUsageBreakdownReturn, useUsageBreakdown } from '../src/composables/useUsageBreakdown.ts';
import { ledger } from '../src/preview/fixtures.ts';
import { callsOf, createHarness, NOW, settle } from './support/harness.ts';

describe('CreditsHistoryTable', () => {
  it('lists ledger entries newest first with signed, formatted amounts', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsHistoryTable, { pageSize: 25 });
    await settle();
    const rows = wrapper.findAll('[data-test="history-row"]');
    expect(rows).toHaveLength(25);
    expect(rows[0]!.text()).toContain('-3');
    expect(rows[3]!.text()).toContain('+500');
    expect(wrapper.get('[data-test="history-total"]').text()).toBe('60 entries');
  });

  it('shows each column of amounts with one rule for decimals, so the figures line up', async () => {
    // The audit's page: "1,949.69" under "1,949.373", "+500" beside "-0.317".
    const rows = [
      ['-0.317', '1949.373'],
      ['-0.205', '1949.690'],
      ['50.000', '1950.000'],
    ].map(([amount, after], i) => ({ ...ledger(1)[0]!, id: `e${i}`, amount_credits: amount!, balance_after_credits: after! }));
    const h = createHarness({
      handlers: {
        CreditHistory: () => ({
          data: { credit_ledger_entries: rows, credit_ledger_entries_aggregate: { aggregate: { count: rows.length } } },
        }),
      },
    });
    const wrapper = h.mountApp(CreditsHistoryTable, { pageSize: 25 });
    await settle();
    const cells = (selector: string) => wrapper.findAll(`[data-test="history-row"] ${selector}`).map((c) => c.text());
    expect(cells('td.credits')).toEqual(['-0.317', '-0.205', '+50.000']);
    expect(cells('td.after')).toEqual(['1,949.373', '1,949.690', '1,950.000']);
    // Right-aligned, in tabular figures.
    for (const cell of wrapper.findAll('[data-test="history-row"] td.credits, [data-test="history-row"] td.after')) {
      expect(cell.classes()).toEqual(expect.arrayContaining(['amount', 'num']));
    }
  });

  it('pages with offset and filters by type and UTC date range', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsHistoryTable, { pageSize: 25 });
    await settle();
    await wrapper.get('[data-test="next-page"]').trigger('click');
    await settle();
    expect(callsOf(h.calls, 'CreditHistory').at(-1)?.variables).toMatchObject({ limit: 25, offset: 25 });

    await wrapper.get('[data-test="filter-type"]').setValue('consume');
    await wrapper.get('[data-test="filter-from"]').setValue('2026-11-01');
    await wrapper.get('[data-test="filter-to"]').setValue('2026-11-20');
    await settle();
    expect(callsOf(h.calls, 'CreditHistory').at(-1)?.variables).toEqual({
      where: {
        organization_id: { _eq: '11111111-1111-4111-8111-111111111111' },
        entry_type: { _in: ['consume'] },
        created_at: { _gte: '2026-11-01T00:00:00Z', _lt: '2026-11-21T00:00:00Z' },
      },
      limit: 25,
      offset: 0,
      countLimit: 2001,
    });
  });

  it('counts no further than 1,000 entries past the page, and says "more than" while there are more', async () => {
    // A busy org's year: counting all of it on each page was the page's slowest part.
    const all = 5000;
    const h = createHarness({
      handlers: {
        CreditHistory: (v) => ({
          data: {
            credit_ledger_entries: ledger(25),
            credit_ledger_entries_aggregate: { aggregate: { count: Math.min(all, Number(v.countLimit)) } },
          },
        }),
      },
    });
    const wrapper = h.mountApp(CreditsHistoryTable, { pageSize: 25 });
    await settle();
    expect(callsOf(h.calls, 'CreditHistory').at(-1)?.variables).toMatchObject({ offset: 0, countLimit: 2001 });
    expect(wrapper.get('[data-test="history-total"]').text()).toBe('More than 2,000 entries');
    expect(wrapper.text()).toContain('Page 1 of more than 80');
    // Pages within the counted stretch keep the count's limit; past 1,000 entries it moves on.
    for (let i = 0; i < 40; i++) {
      await wrapper.get('[data-test="next-page"]').trigger('click');
      await settle();
    }
    expect(callsOf(h.calls, 'CreditHistory').at(-1)?.variables).toMatchObject({ offset: 1000, countLimit: 3001 });
    expect(callsOf(h.calls, 'CreditHistory').at(-2)?.variables).toMatchObject({ offset: 975, countLimit: 2001 });
    expect(wrapper.get('[data-test="history-total"]').text()).toBe('More than 3,000 entries');
    expect(wrapper.get('[data-test="next-page"]').attributes('disabled')).toBeUndefined();
  });

  it('pages to the last entry of a history the count reaches', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsHistoryTable, { pageSize: 25 });
    await settle();
    expect(wrapper.text()).toContain('Page 1 of 3');
    await wrapper.get('[data-test="next-page"]').trigger('click');
    await wrapper.get('[data-test="next-page"]').trigger('click');
    await settle();
    expect(wrapper.get('[data-test="next-page"]').attributes('disabled')).toBeDefined();
  });

  it('has an empty state and an error state', async () => {
    const empty = createHarness({
      handlers: {
        CreditHistory: () => ({ data: { credit_ledger_entries: [], credit_ledger_entries_aggregate: { aggregate: { count: 0 } } } }),
      },
    });
    const w1 = empty.mountApp(CreditsHistoryTable);
    await settle();
    expect(w1.text()).toContain('Nothing here yet');

    const failing = createHarness({
      handlers: { CreditHistory: () => ({ errors: [{ message: 'field not found', extensions: { code: 'validation-failed' } }] }) },
    });
    const w2 = failing.mountApp(CreditsHistoryTable);
    await settle();
    expect(w2.get('[role="alert"]').text()).toContain('field not found');
    // No "0 entries" beside the error, and no code in the words.
    expect(w2.find('[data-test="history-total"]').exists()).toBe(false);
    expect(w2.get('[data-test="error-words"]').text()).not.toContain('validation-failed');
    expect(w2.get('[role="alert"] details').text()).toContain('validation-failed');
  });

  it('says "1 entry", not "1 entries"', async () => {
    const h = createHarness({
      handlers: {
        CreditHistory: () => ({ data: { credit_ledger_entries: ledger(1), credit_ledger_entries_aggregate: { aggregate: { count: 1 } } } }),
      },
    });
    const wrapper = h.mountApp(CreditsHistoryTable);
    await settle();
    expect(wrapper.get('[data-test="history-total"]').text()).toBe('1 entry');
  });

  it('describes a use of credits by the capability’s name, not its code', async () => {
    const rows = ledger(3).map((e, i) => ({
      ...e,
      entry_type: 'consume' as const,
      description: ['summarization', 'question_suggestions', 'unknown_thing'][i]!,
    }));
    const h = createHarness({
      handlers: {
        CreditHistory: () => ({ data: { credit_ledger_entries: rows, credit_ledger_entries_aggregate: { aggregate: { count: 3 } } } }),
      },
    });
    const wrapper = h.mountApp(CreditsHistoryTable);
    await settle();
    expect(wrapper.findAll('[data-test="history-description"]').map((d) => d.text())).toEqual([
      'Summarization',
      'Question suggestions',
      'unknown_thing',
    ]);
  });

  it('makes the scrolling table a labelled region reachable by keyboard', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsHistoryTable);
    await settle();
    const region = wrapper.get('[data-test="history-scroll"]');
    expect(region.attributes()).toMatchObject({ tabindex: '0', role: 'region', 'aria-label': 'Credits history entries' });
  });

  it('says when no entries match the filters, and clears them', async () => {
    const h = createHarness({
      handlers: {
        CreditHistory: (v) => {
          const where = v.where as { entry_type?: unknown };
          const rows = where.entry_type ? [] : ledger(2);
          return { data: { credit_ledger_entries: rows, credit_ledger_entries_aggregate: { aggregate: { count: rows.length } } } };
        },
      },
    });
    const wrapper = h.mountApp(CreditsHistoryTable);
    await settle();
    await wrapper.get('[data-test="filter-type"]').setValue('expire');
    await settle();
    expect(wrapper.text()).toContain('No entries match these filters');
    expect(wrapper.text()).not.toContain('Nothing here yet');
    await wrapper.get('[data-test="clear-filters"]').trigger('click');
    await settle();
    expect(wrapper.findAll('[data-test="history-row"]')).toHaveLength(2);
    expect((wrapper.get('[data-test="filter-type"]').element as HTMLSelectElement).value).toBe('');
  });

  it('refuses a From date after the To date, saying so, and asks nothing for it', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsHistoryTable);
    await settle();
    await wrapper.get('[data-test="filter-from"]').setValue('2026-11-20');
    await wrapper.get('[data-test="filter-to"]').setValue('2026-11-01');
    await settle();
    expect(wrapper.get('[data-test="range-error"]').text()).toContain('The From date is after the To date');
    expect(wrapper.find('[data-test="history-row"]').exists()).toBe(false);
    const asked = callsOf(h.calls, 'CreditHistory').map((c) => (c.variables.where as { created_at?: { _lt?: string } }).created_at?._lt);
    expect(asked).not.toContain('2026-11-02T00:00:00Z');
  });
});

describe('CreditsGrantsList', () => {
  it('shows what remains of each grant and when it expires', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsGrantsList);
    await settle();
    const grants = wrapper.findAll('[data-test="grant"]');
    expect(grants[0]!.text()).toContain('1,250 of 2,000');
    expect(grants[0]!.get('[data-test="grant-expiry"]').text()).toBe('Expires 1 Dec 2026');
    expect(grants[1]!.text()).toContain('487.5 of 500');
  });

  it('names a grant without a description by its source, and shows a source it does not know as it is', async () => {
    const grant = (id: string, source: string, rank: string) => ({
      __typename: 'organization_active_grants',
      id,
      source,
      amount_credits: '10.000',
      used_credits: '0.000',
      remaining_credits: '10.000',
      burn_rank: rank,
      effective_at: '2026-11-01T00:00:00Z',
      expires_at: null,
      description: null,
      created_at: '2026-11-01T00:00:00Z',
    });
    const h = createHarness({
      handlers: {
        Grants: () => ({
          data: { organization_active_grants: [grant('g-1', 'promotion', '1'), grant('g-2', 'partner_credit', '2')] },
        }),
      },
    });
    const wrapper = h.mountApp(CreditsGrantsList);
    await settle();
    const heads = wrapper.findAll('[data-test="grant"] .grant-head .strong').map((e) => e.text());
    expect(heads).toEqual(['Promotion', 'partner_credit']);
  });
});

describe('useUsageBreakdown', () => {
  it('sums 30 UTC days exactly, by capability and by quality level', async () => {
    const rows = [
      { day: '2026-11-21', capability_code: 'summarization', quality_level_code: 'enhanced', calls: 2, credits_consumed: '0.100' },
      { day: '2026-11-21', capability_code: 'summarization', quality_level_code: 'fast', calls: 1, credits_consumed: '0.200' },
      { day: '2026-10-23', capability_code: 'image_captioning', quality_level_code: 'fast', calls: 4, credits_consumed: '6.000' },
      // Outside the window (31 days back): ignored.
      { day: '2026-10-22', capability_code: 'image_captioning', quality_level_code: 'fast', calls: 9, credits_consumed: '99.000' },
    ];
    const h = createHarness({ handlers: { UsageDaily: () => ({ data: { organization_usage_daily: rows } }) } });
    let result: UseUsageBreakdownReturn | null = null;
    h.mountApp(
      defineComponent({
        setup() {
          result = useUsageBreakdown({ now: () => NOW });
          return () => render('div');
        },
      }),
    );
    await settle();
    const r = result!;
    expect(r.days.value).toHaveLength(30);
    expect(r.days.value[0]).toBe('2026-10-23');
    expect(r.days.value.at(-1)).toBe('2026-11-21');
    expect(r.byCapability.value.map((s) => [s.name, s.totalCredits, s.calls])).toEqual([
      ['Image captioning', '6.000', 4],
      ['Summarization', '0.300', 3],
    ]);
    expect(r.byQualityLevel.value.map((s) => [s.code, s.totalCredits])).toEqual([
      ['fast', '6.200'],
      ['enhanced', '0.100'],
    ]);
    expect(r.byCapability.value[1]!.credits.at(-1)).toBe('0.300');
    expect(r.totalCredits.value).toBe('6.300');
    expect(callsOf(h.calls, 'UsageDaily')[0]?.variables.since).toBe('2026-10-23');
  });

  it('counts usage of calls that named no capability or level as a series of its own, "Not specified"', async () => {
    // organization_usage_daily's capability_code and quality_level_code are nullable (a call may name neither).
    const rows = [
      { day: '2026-11-21', capability_code: null, quality_level_code: null, calls: 3, credits_consumed: '1.500' },
      { day: '2026-11-20', capability_code: 'summarization', quality_level_code: null, calls: 1, credits_consumed: '0.250' },
    ];
    const h = createHarness({ handlers: { UsageDaily: () => ({ data: { organization_usage_daily: rows } }) } });
    let result: UseUsageBreakdownReturn | null = null;
    h.mountApp(
      defineComponent({
        setup() {
          result = useUsageBreakdown({ now: () => NOW });
          return () => render('div');
        },
      }),
    );
    await settle();
    const r = result!;
    expect(r.byCapability.value.map((s) => [s.name, s.totalCredits, s.calls])).toEqual([
      ['Not specified', '1.500', 3],
      ['Summarization', '0.250', 1],
    ]);
    expect(r.byQualityLevel.value.map((s) => [s.name, s.totalCredits, s.calls])).toEqual([['Not specified', '1.750', 4]]);
    expect(r.totalCredits.value).toBe('1.750');
  });
});

describe('CreditsUsageChart', () => {
  it('says there is no usage yet instead of drawing an empty chart', async () => {
    const h = createHarness({ handlers: { UsageDaily: () => ({ data: { organization_usage_daily: [] } }) } });
    const wrapper = h.mountApp(CreditsUsageChart, { now: () => NOW });
    await settle();
    expect(wrapper.text()).toContain('No usage yet');
    expect(wrapper.find('.chart').exists()).toBe(false);
  });

  it('shows the error when usage cannot be loaded', async () => {
    const h = createHarness({
      handlers: { UsageDaily: () => ({ errors: [{ message: 'database unavailable', extensions: { code: 'unexpected' } }] }) },
    });
    const wrapper = h.mountApp(CreditsUsageChart, { now: () => NOW });
    await settle();
    expect(wrapper.get('[role="alert"]').text()).toContain('database unavailable');
    expect(wrapper.find('[data-test="usage-totals"]').exists()).toBe(false);
    expect(wrapper.text()).not.toContain('0 credits');
  });

  it('lists totals per capability, and per quality level when switched', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsUsageChart, { now: () => NOW });
    await settle();
    const rows = () => wrapper.findAll('table[aria-label="Usage totals"] tbody tr').map((r) => r.findAll('td').map((d) => d.text()));
    expect(rows().map((r) => r[0])).toEqual(['Summarization', 'Question suggestions', 'Image captioning']);
    await wrapper.findAll('.segmented button')[1]!.trigger('click');
    expect(rows().map((r) => r[0])).toEqual(['Enhanced', 'Fast']);
    expect(wrapper.findAll('.segmented button')[1]!.attributes('aria-pressed')).toBe('true');
  });
});
