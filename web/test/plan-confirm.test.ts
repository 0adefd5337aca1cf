// An upgrade's confirmation charges what it showed: Confirm sends the preview's prorationDate with
// changePlan, and when the api refuses it as out of date (PRORATION_DATE_STALE: the page was left
// open) the confirmation opens again with a new preview, says why, and waits for the new figure
// before it can be confirmed; nothing is charged in between and no failure is shown.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import BillingPage from '../src/pages/BillingPage.vue';
import type { FixtureResult } from '../src/preview/fixtureLink.ts';
import { PLAN_IDS, upgradePreview } from '../src/preview/fixtures.ts';
import { callsOf, createHarness, NOW, settle } from './support/harness.ts';

/** previewPlanChange's answer for the upgrade to Team: Stripe's figure and the second it was prorated at. */
const teamPreview = (amountDueMinor: string, prorationDate: Date): FixtureResult => ({
  data: { previewPlanChange: upgradePreview(PLAN_IDS.team, prorationDate, amountDueMinor) },
});
const upgraded: FixtureResult = {
  data: { changePlan: { __typename: 'PlanChangeResult', status: 'upgraded', checkoutUrl: null, effectiveAt: null, planId: PLAN_IDS.team } },
};
const stale: FixtureResult = {
  errors: [
    {
      message: 'prorationDate 2026-11-21T11:00:00.000Z is more than 30 minutes old: preview the change again and confirm its figure',
      extensions: { code: 'PRORATION_DATE_STALE' },
    },
  ],
};

beforeEach(() => {
  // 21 Nov 12:00 in the period 1 Nov – 1 Dec (the page's estimate: about £22.17).
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('confirming an upgrade', () => {
  it("sends the preview's prorationDate with Stripe's figure, and none with the page's estimate", async () => {
    const h = createHarness({ handlers: { ChangePlan: () => upgraded } });
    const wrapper = h.mountApp(BillingPage);
    await settle();
    await wrapper.get('[data-test="choose-team"]').trigger('click');
    await settle();
    expect(wrapper.get('[data-test="plan-team"] [data-test="confirm-text"]').text()).toContain('Stripe will charge your card £22.18 now');
    await wrapper.get('[data-test="confirm-team"]').trigger('click');
    await settle();
    expect(callsOf(h.calls, 'ChangePlan').map((c) => c.variables)).toEqual([{ planId: PLAN_IDS.team, prorationDate: NOW.toISOString() }]);
    expect(wrapper.get('[data-test="plan-result"]').text()).toBe('Upgraded. The new allowance is yours now.');

    // Confirmed while the preview had not come (the estimate, "about"): Stripe prorates when it gets the update.
    const slow = createHarness({ handlers: { ChangePlan: () => upgraded, PreviewPlanChange: () => new Promise<FixtureResult>(() => {}) } });
    const page = slow.mountApp(BillingPage);
    await settle();
    await page.get('[data-test="choose-team"]').trigger('click');
    expect(page.get('[data-test="plan-team"] [data-test="confirm-text"]').text()).toContain('about £22.17');
    await page.get('[data-test="confirm-team"]').trigger('click');
    await settle();
    expect(callsOf(slow.calls, 'ChangePlan').map((c) => c.variables)).toEqual([{ planId: PLAN_IDS.team }]);
  });

  it('refused as out of date: asks for a new figure, shows it and asks again, charging nothing meanwhile', async () => {
    const previews: Array<(r: FixtureResult) => void> = [];
    const changes: FixtureResult[] = [stale, upgraded];
    const h = createHarness({
      handlers: {
        PreviewPlanChange: () => new Promise<FixtureResult>((resolve) => previews.push(resolve)),
        ChangePlan: () => changes.shift()!,
      },
    });
    const wrapper = h.mountApp(BillingPage);
    document.body.append(wrapper.element);
    await settle();
    const text = () => wrapper.get('[data-test="plan-team"] [data-test="confirm-text"]').text();
    const confirmButton = () => wrapper.get('[data-test="confirm-team"]');

    // The confirmation is opened, and left open for an hour before Confirm.
    await wrapper.get('[data-test="choose-team"]').trigger('click');
    const openedAt = new Date(NOW.getTime() - 3_600_000);
    previews[0]!(teamPreview('2218', openedAt));
    await settle();
    expect(text()).toContain('Stripe will charge your card £22.18 now');
    await confirmButton().trigger('click');
    await settle();
    expect(callsOf(h.calls, 'ChangePlan').map((c) => c.variables)).toEqual([
      { planId: PLAN_IDS.team, prorationDate: openedAt.toISOString() },
    ]);

    // Refused, nothing done: no failure shown, the confirmation again, a new preview asked for, and
    // Confirm (which has the focus, described by why it is asked again) waits for its answer.
    expect(wrapper.find('[data-test="plan-error"]').exists()).toBe(false);
    expect(wrapper.find('[data-test="plan-result"]').exists()).toBe(false);
    expect(callsOf(h.calls, 'PreviewPlanChange')).toHaveLength(2);
    const note = wrapper.get('[data-test="plan-team"] [data-test="confirm-out-of-date"]');
    expect(note.text()).toBe(
      'The amount shown before is out of date (over half an hour old, or from before this billing period), so nothing was charged. ' +
        'Getting the amount now…',
    );
    expect(text()).toContain('about £22.17');
    expect(confirmButton().attributes('aria-disabled')).toBe('true');
    expect(document.activeElement?.getAttribute('data-test')).toBe('confirm-team');
    expect(confirmButton().attributes('aria-describedby')?.split(' ')).toContain(note.attributes('id'));
    await confirmButton().trigger('click');
    await settle();
    expect(callsOf(h.calls, 'ChangePlan')).toHaveLength(1);

    // The figure now, and Confirm charges that one.
    previews[1]!(teamPreview('2216', NOW));
    await settle();
    expect(text()).toContain('Stripe will charge your card £22.16 now');
    expect(wrapper.get('[data-test="plan-team"] [data-test="confirm-out-of-date"]').text()).toContain(
      'Here is the amount now: confirm again to upgrade.',
    );
    expect(confirmButton().attributes('aria-disabled')).toBeUndefined();
    await confirmButton().trigger('click');
    await settle();
    expect(callsOf(h.calls, 'ChangePlan').map((c) => c.variables)).toEqual([
      { planId: PLAN_IDS.team, prorationDate: openedAt.toISOString() },
      { planId: PLAN_IDS.team, prorationDate: NOW.toISOString() },
    ]);
    expect(wrapper.get('[data-test="plan-result"]').text()).toBe('Upgraded. The new allowance is yours now.');

    // Opened afresh later, it says nothing of the earlier refusal.
    await wrapper.get('[data-test="choose-free"]').trigger('click');
    expect(wrapper.find('[data-test="confirm-out-of-date"]').exists()).toBe(false);
    wrapper.unmount();
  });
});
