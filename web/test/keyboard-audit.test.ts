// What a keyboard-only audit in Chromium found, and what people using a keyboard or a screen reader
// now get: focus that stays on a busy button or goes somewhere sensible (never to <body>), pages
// that say they changed (title, focus on the heading), an org switch only when asked for and said
// aloud, no false alarms from queries the switch called off, live regions that exist before their
// words, less motion on request, and buttons named for what they act on.
import { Observable } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import VChart from 'vue-echarts';
import { createMemoryHistory, type RouteLocationNormalized } from 'vue-router';
import App from '../src/App.vue';
import AiPlayground from '../src/components/ai/AiPlayground.vue';
import AppOrgSwitcher from '../src/components/app/AppOrgSwitcher.vue';
import BillingAutoTopUp from '../src/components/billing/BillingAutoTopUp.vue';
import BillingNotifications from '../src/components/billing/BillingNotifications.vue';
import BillingSpendLimits from '../src/components/billing/BillingSpendLimits.vue';
import CreditsBalanceWidget from '../src/components/credits/CreditsBalanceWidget.vue';
import CreditsGrantsList from '../src/components/credits/CreditsGrantsList.vue';
import CreditsHistoryTable from '../src/components/credits/CreditsHistoryTable.vue';
import CreditsTopUpModal from '../src/components/credits/CreditsTopUpModal.vue';
import CreditsUsageChart from '../src/components/credits/CreditsUsageChart.vue';
import { isCancellation } from '../src/lib/errors.ts';
import SignInPage from '../src/pages/SignInPage.vue';
import type { FixtureResult } from '../src/preview/fixtureLink.ts';
import { demoPerson, ledger, ORG_ID, OTHER_ORG_ID, packages, spendLimits } from '../src/preview/fixtures.ts';
import { createAppRouter } from '../src/router.ts';
import { type DevPerson, useSessionStore } from '../src/stores/session.ts';
import { useTopUpStore } from '../src/stores/topUp.ts';
import { fakeDevApi } from './support/dev-api.ts';
import { callsOf, createHarness, NOW, settle } from './support/harness.ts';

const never = () => new Promise<FixtureResult>(() => {});

function stubReducedMotion(reduce: boolean) {
  vi.stubGlobal(
    'matchMedia',
    vi.fn((query: string) => ({
      matches: reduce && query.includes('prefers-reduced-motion: reduce'),
      media: query,
      addEventListener: () => {},
      removeEventListener: () => {},
    })),
  );
}

/** A fresh element in the document to mount into: only an attached element can take focus. */
function host(): HTMLElement {
  const el = document.createElement('div');
  document.body.append(el);
  return el;
}

afterEach(() => {
  vi.unstubAllGlobals();
  document.body.innerHTML = '';
});

describe('a busy button keeps the focus', () => {
  it('Run stays focusable while it runs (aria-disabled), says "Running…" in a status there before, and runs once', async () => {
    const h = createHarness({ handlers: { RunPlayground: never } });
    const wrapper = h.mountApp(AiPlayground, {}, { attachTo: host() });
    await settle();
    const status = wrapper.get('[data-test="run-status"]');
    expect(status.attributes('role')).toBe('status');
    expect(status.text()).toBe('');
    await wrapper.get('[data-test="prompt"]').setValue('Quarterly report');
    const run = wrapper.get('[data-test="run"]');
    (run.element as HTMLButtonElement).focus();
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(run.attributes('disabled')).toBeUndefined();
    expect(run.attributes('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(run.element);
    expect(wrapper.get('[data-test="run-status"]').element).toBe(status.element);
    expect(status.text()).toBe('Running…');
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'RunPlayground')).toHaveLength(1);
  });

  it('"Save auto top-up" stays focusable while saving and saves once', async () => {
    const h = createHarness({ handlers: { UpdateAutoTopUpSettings: never, CreateAutoTopUpSettings: never } });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true }, { attachTo: host() });
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('input[type="checkbox"]').setValue(true);
    await form.get('input[inputmode="decimal"]').setValue('150');
    await form.get('select').setValue(packages()[0]!.id);
    const save = wrapper.get('[data-test="auto-top-up-save"]');
    (save.element as HTMLButtonElement).focus();
    await form.trigger('submit');
    await settle();
    expect(save.text()).toBe('Saving…');
    expect(save.attributes('disabled')).toBeUndefined();
    expect(save.attributes('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(save.element);
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings').length + callsOf(h.calls, 'CreateAutoTopUpSettings').length).toBe(1);
  });

  it('"Save limits" stays focusable while saving and saves once', async () => {
    const h = createHarness({ handlers: { UpdateSpendLimits: never, CreateSpendLimits: never } });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW }, { attachTo: host() });
    await settle();
    const form = wrapper.get('[data-test="limits-form"]');
    await wrapper.get('[data-test="limit-input-daily"]').setValue('42');
    const save = wrapper.get('[data-test="limits-save"]');
    (save.element as HTMLButtonElement).focus();
    await form.trigger('submit');
    await settle();
    expect(save.attributes('disabled')).toBeUndefined();
    expect(save.attributes('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(save.element);
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateSpendLimits').length + callsOf(h.calls, 'CreateSpendLimits').length).toBe(1);
  });

  it('moves focus from Next to Previous when Next reaches the last page and is disabled', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsHistoryTable, { pageSize: 25 }, { attachTo: host() });
    await settle();
    const next = () => wrapper.get('[data-test="next-page"]');
    for (let i = 0; i < 2; i++) {
      (next().element as HTMLButtonElement).focus();
      await next().trigger('click');
      await settle();
    }
    expect(next().attributes('disabled')).toBeDefined();
    expect(document.activeElement).toBe(wrapper.get('[data-test="previous-page"]').element);
  });
});

describe('the top-up modal gives focus back somewhere', () => {
  it.each([
    ['Escape', async (dialog: HTMLElement) => dialog.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }))],
    ['Close', async (dialog: HTMLElement) => dialog.querySelector<HTMLButtonElement>('button[aria-label="Close"]')!.click()],
  ])('back from checkout (focus was on <body>), %s puts it on the balance in the header', async (_name, close) => {
    const balance = document.createElement('button');
    balance.dataset.test = 'balance-trigger';
    document.body.append(balance);
    const h = createHarness();
    const wrapper = h.mountApp(CreditsTopUpModal, {}, { attachTo: host() });
    (document.activeElement as HTMLElement | null)?.blur();
    useTopUpStore(h.pinia).showReturn('canceled', null);
    await settle();
    await close(wrapper.get('[role="dialog"]').element as HTMLElement);
    await settle();
    expect(useTopUpStore(h.pinia).open).toBe(false);
    expect(document.activeElement).toBe(balance);
  });

  it('keeps focus in the dialog when "Choose a pack" replaces the view its button was in', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsTopUpModal, {}, { attachTo: host() });
    useTopUpStore(h.pinia).showReturn('canceled', null);
    await settle();
    const choose = wrapper.findAll('button').find((b) => b.text() === 'Choose a pack')!;
    (choose.element as HTMLButtonElement).focus();
    (choose.element as HTMLButtonElement).click();
    await settle();
    expect(wrapper.find('[data-test="topup-canceled"]').exists()).toBe(false);
    expect(document.activeElement).toBe(wrapper.get('[role="dialog"]').element);
  });

  it("without a balance button, on the page's heading", async () => {
    const main = document.createElement('main');
    main.innerHTML = '<h1 tabindex="-1">Credits</h1>';
    document.body.append(main);
    const h = createHarness();
    h.mountApp(CreditsTopUpModal, {}, { attachTo: host() });
    useTopUpStore(h.pinia).showReturn('canceled', null);
    await settle();
    useTopUpStore(h.pinia).close();
    await settle();
    expect(document.activeElement).toBe(main.querySelector('h1'));
  });
});

describe('a new page says so', () => {
  async function mountAppShell(signedIn = true) {
    fakeDevApi();
    const h = createHarness({ signedIn });
    const router = createAppRouter(h.pinia, createMemoryHistory());
    // Installed first, as main.ts does: the session store is made within the app (its config).
    const wrapper = h.mountApp(App, {}, { attachTo: host(), router });
    await router.isReady();
    await settle();
    return { h, router, wrapper };
  }

  it('titles each page, and moves focus to its heading, or to the target of a link with a hash', async () => {
    const { router } = await mountAppShell();
    expect(document.title).toBe('Playground · org-credits');
    await router.push('/billing');
    await settle();
    expect(document.title).toBe('Billing · org-credits');
    expect(document.activeElement?.tagName).toBe('H1');
    expect(document.activeElement?.textContent).toBe('Billing');
    await router.push('/credits');
    await settle();
    expect(document.title).toBe('Credits · org-credits');
    expect(document.activeElement?.textContent).toBe('Credits');
    await router.push('/billing#limits');
    await settle();
    expect(document.activeElement?.id).toBe('limits');
    await router.push('/nowhere');
    await settle();
    expect(document.title).toBe('Page not found · org-credits');
    expect(document.activeElement?.textContent).toBe('Page not found');
  });

  it('does not move focus when only the query changes (?topup=… read and dropped)', async () => {
    const { router, wrapper } = await mountAppShell();
    const brand = wrapper.get('a.brand').element as HTMLElement;
    brand.focus();
    await router.replace({ path: '/', query: { x: '1' } });
    await settle();
    expect(document.activeElement).toBe(brand);
  });

  it('after sign-out and after sign-in, puts focus on the new page’s heading', async () => {
    const { router } = await mountAppShell();
    document.querySelector<HTMLButtonElement>('button[aria-label="Sign out"]')!.click();
    await settle();
    expect(router.currentRoute.value.path).toBe('/sign-in');
    expect(document.title).toBe('Sign in · org-credits');
    expect(document.activeElement?.textContent).toBe('Sign in');
    const person = await vi.waitFor(() => {
      const button = document.querySelector<HTMLButtonElement>('[data-test="person"] button');
      if (!button) throw new Error('the demo people are not listed yet');
      return button;
    });
    person.click();
    await settle();
    expect(router.currentRoute.value.path).toBe('/');
    expect(document.activeElement?.textContent).toBe('AI playground');
  });

  it('the skip link moves focus into the content', async () => {
    const { wrapper } = await mountAppShell();
    const main = wrapper.get('#main');
    expect(main.attributes('tabindex')).toBe('-1');
    await wrapper.get('[data-test="skip-link"]').trigger('click');
    expect(document.activeElement).toBe(main.element);
  });
});

describe('switching org', () => {
  async function mountSwitcher() {
    const requests = fakeDevApi();
    const h = createHarness({ signedIn: false });
    const wrapper = h.mountApp(AppOrgSwitcher, {}, { attachTo: host() });
    const session = useSessionStore(h.pinia);
    await session.signInAs(demoPerson, ORG_ID);
    await settle();
    return { h, requests, session, wrapper };
  }

  it('an arrow key on the select only picks: "Switch" switches, and says so in a status there before', async () => {
    const { requests, session, wrapper } = await mountSwitcher();
    const status = wrapper.get('[data-test="org-announcement"]');
    expect(status.attributes('role')).toBe('status');
    expect(status.text()).toBe('');
    const tokens = () => requests.filter((r) => r.url.endsWith('/dev/token')).length;
    const before = tokens();
    await wrapper.get('[data-test="org-switcher"]').setValue(OTHER_ORG_ID);
    await settle();
    expect(tokens()).toBe(before);
    expect(session.orgId).toBe(ORG_ID);
    await wrapper.get('[data-test="org-switch"]').trigger('click');
    await settle();
    expect(tokens()).toBe(before + 1);
    expect(session.orgId).toBe(OTHER_ORG_ID);
    expect(wrapper.get('[data-test="org-announcement"]').element).toBe(status.element);
    expect(status.text()).toBe('Now viewing Globex Labs');
    expect(wrapper.find('[role="alert"]').exists()).toBe(false);
  });

  it('shows no error for a query the reset called off while it was on its way, and asks it again', async () => {
    let answer = never;
    const h = createHarness({ handlers: { Grants: () => answer() } });
    const wrapper = h.mountApp(CreditsGrantsList);
    await settle();
    // The store is reset (a switch of org) while the grants are still being asked for.
    void h.connection.reset();
    await settle();
    expect(wrapper.find('[role="alert"]').exists()).toBe(false);
    expect(wrapper.text()).not.toContain('could not be reached');
    expect(callsOf(h.calls, 'Grants')).toHaveLength(2);
    answer = async () => ({ data: { organization_active_grants: [] } });
  });

  it('the reset does not fail when a query it asks again is called off (its section leaves the screen)', async () => {
    const h = createHarness({ handlers: { Grants: never } });
    const wrapper = h.mountApp(CreditsGrantsList);
    await settle();
    const reset = h.connection.reset();
    await settle();
    wrapper.unmount();
    await expect(reset).resolves.toBeUndefined();
  });

  it('tells a cancellation from a failure', () => {
    expect(isCancellation(new DOMException('The operation was aborted.', 'AbortError'))).toBe(true);
    expect(isCancellation(new DOMException('The server did not answer within 15 seconds.', 'TimeoutError'))).toBe(false);
    expect(isCancellation(new TypeError('Failed to fetch'))).toBe(false);
    const invariant = (message: string) => Object.assign(new Error(message), { name: 'Invariant Violation' });
    const built = (code: number) =>
      `An error occurred! For more details, see the full error text at https://go.apollo.dev/c/err#${encodeURIComponent(
        JSON.stringify({ version: '4.3.8', message: code, args: [] }),
      )}`;
    expect(isCancellation(invariant(built(96)))).toBe(true);
    expect(isCancellation(invariant(built(94)))).toBe(true);
    expect(isCancellation(invariant(built(91)))).toBe(false);
    expect(isCancellation(invariant('Store reset while query was in flight (not completed in link chain)'))).toBe(true);
  });
});

describe('live regions there before their words', () => {
  it('says the balance went from Live to not live, in the open panel', async () => {
    const h = createHarness({ socketStatus: 'connected' });
    const wrapper = h.mountApp(CreditsBalanceWidget, { now: () => NOW });
    await settle();
    await wrapper.get('[data-test="balance-trigger"]').trigger('click');
    const status = wrapper.get('[data-test="live-status"]');
    expect(status.attributes('role')).toBe('status');
    expect(status.text()).toBe('Live');
    h.connection.socketStatus.value = 'down';
    await settle();
    expect(wrapper.get('[data-test="live-status"]').element).toBe(status.element);
    expect(status.text()).toContain('Not live');
  });

  it("says the history's total after filtering, and its page", async () => {
    // Three entries are grants.
    const h = createHarness({
      handlers: {
        CreditHistory: (v) => {
          const all = JSON.stringify(v.where).includes('grant') ? ledger(3) : ledger(60);
          const offset = Number(v.offset ?? 0);
          return {
            data: {
              credit_ledger_entries: all.slice(offset, offset + Number(v.limit)),
              credit_ledger_entries_aggregate: { aggregate: { count: all.length } },
            },
          };
        },
      },
    });
    const wrapper = h.mountApp(CreditsHistoryTable, { pageSize: 25 });
    await settle();
    const total = wrapper.get('[data-test="history-status"]');
    expect(total.attributes('role')).toBe('status');
    expect(total.text()).toBe('60 entries');
    const page = wrapper.get('[data-test="page-status"]');
    expect(page.attributes('role')).toBe('status');
    expect(page.text()).toBe('Page 1 of 3');
    await wrapper.get('[data-test="next-page"]').trigger('click');
    await settle();
    expect(wrapper.get('[data-test="page-status"]').element).toBe(page.element);
    expect(page.text()).toBe('Page 2 of 3');
    await wrapper.get('[data-test="filter-type"]').setValue('grant');
    await settle();
    expect(wrapper.get('[data-test="history-status"]').element).toBe(total.element);
    expect(total.text()).toBe('3 entries');
  });

  it('says a refused date range in a region that was there before', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(CreditsHistoryTable);
    await settle();
    const region = wrapper.get('[data-test="range-status"]');
    expect(region.attributes('aria-live')).toBe('assertive');
    expect(region.text()).toBe('');
    await wrapper.get('[data-test="filter-from"]').setValue('2026-11-20');
    await wrapper.get('[data-test="filter-to"]').setValue('2026-11-01');
    await settle();
    expect(wrapper.get('[data-test="range-status"]').element).toBe(region.element);
    expect(region.text()).toContain('The From date is after the To date');
  });

  it('says "Saved." in a status that was there before the save', async () => {
    const h = createHarness({
      handlers: {
        UpdateSpendLimits: () => ({
          data: { update_spend_limits: { affected_rows: 1, returning: [spendLimits({ daily_limit_credits: '42.000' })] } },
        }),
        CreateSpendLimits: () => ({ data: { insert_spend_limits_one: spendLimits({ daily_limit_credits: '42.000' }) } }),
      },
    });
    const wrapper = h.mountApp(BillingSpendLimits, { canManage: true, now: () => NOW });
    await settle();
    const status = wrapper.get('[data-test="limits-status"]');
    expect(status.attributes('role')).toBe('status');
    expect(status.text()).toBe('');
    await wrapper.get('[data-test="limit-input-daily"]').setValue('42');
    await wrapper.get('[data-test="limits-form"]').trigger('submit');
    await settle();
    expect(wrapper.get('[data-test="limits-status"]').element).toBe(status.element);
    expect(status.text()).toBe('Saved.');
  });

  it('says "credits added" in the status that said they were being added', async () => {
    let paid = false;
    const row = { __typename: 'topup_purchases', id: 'pu1', credits: '2000.000', price_minor: '1800', currency: 'GBP' };
    const h = createHarness({
      handlers: {
        // Nothing comes over the socket: the purchase is asked for over HTTP.
        TopUpPurchase: () => new Observable<FixtureResult>(() => {}),
        TopUpPurchaseStatus: () => ({
          data: {
            topup_purchases_by_pk: paid ? { ...row, status: 'paid', grant_id: 'g1' } : { ...row, status: 'pending', grant_id: null },
          },
        }),
      },
      socketStatus: 'down',
    });
    vi.useFakeTimers();
    try {
      // Teleported for real: the test stub of <Teleport> renders its content anew on each change.
      h.mountApp(CreditsTopUpModal, {}, { attachTo: host(), teleport: true });
      useTopUpStore(h.pinia).showReturn('success', 'pu1');
      await settle();
      const status = document.querySelector('[data-test="topup-status"]')!;
      expect(status.getAttribute('role')).toBe('status');
      expect(status.textContent).toContain('adding your credits');
      paid = true;
      await vi.advanceTimersByTimeAsync(3_000);
      await settle();
      expect(document.querySelector('[data-test="topup-status"]')).toBe(status);
      expect(status.textContent).toContain('2,000 credits added.');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('less motion when asked for', () => {
  it('scrolls to a hash at once, not smoothly', async () => {
    const h = createHarness();
    const router = createAppRouter(h.pinia, createMemoryHistory());
    const scroll = router.options.scrollBehavior!;
    const to = { hash: '#plans' } as RouteLocationNormalized;
    stubReducedMotion(false);
    expect(await scroll(to, to, null)).toEqual({ el: '#plans', behavior: 'smooth' });
    stubReducedMotion(true);
    expect(await scroll(to, to, null)).toEqual({ el: '#plans', behavior: 'auto' });
  });

  it.each([
    [false, true],
    [true, false],
  ])('animates the usage chart only without the setting (reduce: %s)', async (reduce, animation) => {
    stubReducedMotion(reduce);
    const h = createHarness();
    const wrapper = h.mountApp(CreditsUsageChart, { now: () => NOW });
    await settle();
    expect((wrapper.findComponent(VChart).props('option') as { animation: boolean }).animation).toBe(animation);
  });
});

describe('names that say what each button acts on', () => {
  it('names the person on each sign-in button: two members of one org are two different buttons', async () => {
    const bob: DevPerson = { ...demoPerson, userId: 'u2', email: 'bob@acme.test', displayName: 'Bob Member', orgs: [demoPerson.orgs[0]!] };
    const alice: DevPerson = { ...demoPerson, orgs: [demoPerson.orgs[0]!] };
    fakeDevApi([alice, bob]);
    const h = createHarness({ signedIn: false });
    const wrapper = h.mountApp(SignInPage);
    await settle();
    const names = wrapper.findAll('[data-test="person"] button').map((b) => b.text().replace(/\s+/g, ' '));
    expect(names).toHaveLength(2);
    expect(names[0]).toContain('Acme Research');
    expect(names[0]).toContain('Olivia Owner');
    expect(names[1]).toContain('Bob Member');
    expect(new Set(names).size).toBe(2);
  });

  it('names the notification on its Open and Mark read, and says "unread" in words', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingNotifications);
    await settle();
    for (const note of wrapper.findAll('[data-test="notification"]')) {
      const title = note
        .get('.strong')
        .text()
        .replace(/^Unread: /, '');
      for (const button of note.findAll('[data-test="open-link"], [data-test="mark-read"]')) {
        expect(button.text()).toContain(title);
      }
      expect(note.classes().includes('note--unread')).toBe(note.get('.strong').text().startsWith('Unread: '));
    }
    expect(wrapper.findAll('[data-test="mark-read"]').length).toBeGreaterThan(0);
  });
});
