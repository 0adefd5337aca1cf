// What people met in the dashboard and no longer do: a monthly cap that could not be saved, another
// org's auto top-up settings left in the form, "Try again" that did nothing, raw server messages,
// a `javascript:` link in a notification, no word on returning from a plan's checkout, and an
// expired token taken for a session.
import { describe, expect, it } from 'vitest';
import AiRefusal from '../src/components/ai/AiRefusal.vue';
import BillingAutoTopUp from '../src/components/billing/BillingAutoTopUp.vue';
import BillingNotifications from '../src/components/billing/BillingNotifications.vue';
import BillingPlans from '../src/components/billing/BillingPlans.vue';
import CreditsGrantsList from '../src/components/credits/CreditsGrantsList.vue';
import { appError } from '../src/lib/errors.ts';
import { autoTopUp, fakeToken, notifications, ORG_ID, OTHER_ORG_ID, packages, USER_ID } from '../src/preview/fixtures.ts';
import { useSessionStore } from '../src/stores/session.ts';
import { callsOf, createHarness, settle } from './support/harness.ts';

const PACK = packages()[0]!.id;

describe('auto top-up form', () => {
  it('saves a monthly cap typed into its field', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('input[type="checkbox"]').setValue(true);
    await form.get('select').setValue(PACK);
    await form.get('[data-test="monthly-max"]').setValue('4');
    await form.trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings').at(-1)?.variables).toMatchObject({ changes: { monthly_max_count: 4 } });
  });

  it('refuses a cap that is not a whole number of top-ups, saying so', async () => {
    const h = createHarness();
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    const form = wrapper.get('[data-test="auto-top-up-form"]');
    await form.get('[data-test="monthly-max"]').setValue('2.5');
    await form.trigger('submit');
    await settle();
    expect(wrapper.text()).toContain('The number of top-ups a month must be a whole number from 1 to 100,');
    expect(callsOf(h.calls, 'UpdateAutoTopUpSettings')).toHaveLength(0);
  });

  it('starts empty for an org without settings, not with the previous org’s', async () => {
    const h = createHarness({
      handlers: {
        AutoTopUpSettings: (v) => ({
          data: {
            auto_topup_settings_by_pk:
              v.orgId === ORG_ID ? autoTopUp({ enabled: true, threshold_credits: '100.000', package_id: PACK }) : null,
          },
        }),
      },
    });
    const wrapper = h.mountApp(BillingAutoTopUp, { canManage: true });
    await settle();
    const form = () => wrapper.get('[data-test="auto-top-up-form"]');
    expect((form().get('input[type="checkbox"]').element as HTMLInputElement).checked).toBe(true);
    useSessionStore(h.pinia).token = fakeToken(USER_ID, OTHER_ORG_ID);
    await settle();
    expect((form().get('input[type="checkbox"]').element as HTMLInputElement).checked).toBe(false);
    expect((form().get('select').element as HTMLSelectElement).value).toBe('');
  });
});

describe('"Try again"', () => {
  it('asks the failed query once more and shows what it answers', async () => {
    let fail = true;
    const h = createHarness({
      handlers: {
        Grants: () =>
          fail
            ? { errors: [{ message: 'The server answered 500.', extensions: { code: 'NETWORK_ERROR' } }] }
            : { data: { organization_active_grants: [] } },
      },
    });
    const wrapper = h.mountApp(CreditsGrantsList);
    await settle();
    expect(wrapper.text()).toContain('The server could not be reached, or it failed.');
    const before = callsOf(h.calls, 'Grants').length;
    fail = false;
    await wrapper.get('[data-test="retry"]').trigger('click');
    await settle();
    expect(callsOf(h.calls, 'Grants').length).toBe(before + 1);
    expect(wrapper.find('[data-test="retry"]').exists()).toBe(false);
  });
});

describe('a page that could not be loaded', () => {
  it.each([
    ['validation-failed', "field 'x' not found in type: 'query_root'", 'Reload the page.'],
    ['invalid-jwt', 'Could not verify JWT: JWTExpired', 'Sign in again.'],
    ['access-denied', 'Your requested role is not in allowed roles', 'Sign in again.'],
  ])('says what to do about %s beside "Try again", the message under Details', async (code, message, fix) => {
    const h = createHarness({ handlers: { Grants: () => ({ errors: [{ message, extensions: { path: '$', code } }] }) } });
    const wrapper = h.mountApp(CreditsGrantsList);
    await settle();
    expect(wrapper.get('[data-test="error-fix"]').text()).toBe(fix);
    expect(wrapper.get('[data-test="error-words"]').text()).not.toContain(message);
    expect(wrapper.get('[role="alert"] details').text()).toContain(message);
  });

  it('offers no hint but "Try again" when the server failed', async () => {
    const h = createHarness({
      handlers: {
        Grants: () => ({ errors: [{ message: 'http exception when calling webhook', extensions: { path: '$', code: 'unexpected' } }] }),
      },
    });
    const wrapper = h.mountApp(CreditsGrantsList);
    await settle();
    expect(wrapper.get('[data-test="error-words"]').text()).toBe(
      'The server could not complete this: a service behind it did not answer, or failed.',
    );
    expect(wrapper.find('[data-test="error-fix"]').exists()).toBe(false);
    expect(wrapper.find('[data-test="retry"]').exists()).toBe(true);
  });
});

describe('a refusal', () => {
  it('says what happened in words, with the server’s message under Details', () => {
    const h = createHarness();
    const message = 'reserving 0.388 for org 0a000000-0000-4000-8000-000000000001 passes its daily limit of 0.500';
    const wrapper = h.mountApp(AiRefusal, { error: appError('SPEND_LIMIT_EXCEEDED', message), canManage: true });
    expect(wrapper.get('[data-test="refusal-words"]').text()).toBe('This would go past one of the spend limits your organization set.');
    expect(wrapper.get('details').text()).toContain(message);
  });
});

describe('notification links', () => {
  it('opens only web addresses and paths of the app', async () => {
    const rows = notifications().map((n, i) => ({
      ...n,
      action_url: ['javascript:alert(document.cookie)', 'https://credits.example.com/credits?topup=buy'][i] ?? null,
    }));
    rows.push({ ...rows[0]!, id: 'dddddddd-0000-4000-8000-000000000009', action_url: '/billing#limits' });
    // A browser reads `/\host` as `//host`: another site, not a path of the app (it was linked).
    rows.push({ ...rows[0]!, id: 'dddddddd-0000-4000-8000-00000000000a', action_url: '/\\evil.example/credits' });
    rows.push({ ...rows[0]!, id: 'dddddddd-0000-4000-8000-00000000000b', action_url: '//evil.example/credits' });
    const h = createHarness({ handlers: { Notifications: () => ({ data: { notifications: rows } }) } });
    const wrapper = h.mountApp(BillingNotifications);
    await settle();
    expect(wrapper.findAll('[data-test="open-link"]').map((a) => a.attributes('href'))).toEqual([
      'https://credits.example.com/credits?topup=buy',
      '/billing#limits',
    ]);
  });
});

describe("back from a plan's checkout", () => {
  it.each([
    ['canceled', 'Checkout canceled. Your plan did not change.'],
    ['success', 'Payment received. The new plan applies as soon as Stripe confirms it'],
  ])('?plan=%s says so once and leaves the address', async (outcome, words) => {
    const h = createHarness();
    await h.router.push(`/billing?plan=${outcome}`);
    const wrapper = h.mountApp(BillingPlans, { canManage: true });
    await settle();
    expect(wrapper.get('[data-test="plan-return"]').text()).toContain(words);
    expect(h.router.currentRoute.value.query).toEqual({});
  });
});

describe('the session', () => {
  it('takes an expired token for no session, and refuses to sign in with one', async () => {
    const h = createHarness({ signedIn: false });
    h.mountApp(CreditsGrantsList);
    const session = useSessionStore(h.pinia);
    const enc = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const expired = `${enc({ alg: 'none' })}.${enc({
      exp: Math.floor(Date.now() / 1000) - 60,
      'https://hasura.io/jwt/claims': { 'x-hasura-user-id': USER_ID, 'x-hasura-org-id': ORG_ID },
    })}.x`;
    session.token = expired;
    expect(session.signedIn).toBe(false);
    await expect(session.signInWithToken(expired)).rejects.toThrow('That token has expired.');
    const noOrg = `${enc({ alg: 'none' })}.${enc({ 'https://hasura.io/jwt/claims': { 'x-hasura-user-id': USER_ID } })}.x`;
    await expect(session.signInWithToken(noOrg)).rejects.toThrow('That token names no user and organization');
  });
});
