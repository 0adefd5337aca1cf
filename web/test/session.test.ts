import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryHistory } from 'vue-router';
import AppOrgSwitcher from '../src/components/app/AppOrgSwitcher.vue';
import { readHasuraClaims } from '../src/lib/jwt.ts';
import SignInPage from '../src/pages/SignInPage.vue';
import { demoPerson, fakeToken, ORG_ID, OTHER_ORG_ID, USER_ID } from '../src/preview/fixtures.ts';
import { createAppRouter } from '../src/router.ts';
import { useSessionStore } from '../src/stores/session.ts';
import { fakeDevApi } from './support/dev-api.ts';
import { createHarness, settle } from './support/harness.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('dev sign-in and org switching', () => {
  it('lists the demo people with their orgs and signs in with a token for the chosen org', async () => {
    const requests = fakeDevApi();
    const h = createHarness({ signedIn: false });
    const wrapper = h.mountApp(SignInPage);
    await settle();
    const person = wrapper.get('[data-test="person"]');
    expect(person.text()).toContain('Olivia Owner');
    await person.findAll('button')[1]!.trigger('click');
    await settle();
    const session = useSessionStore(h.pinia);
    expect(requests.at(-1)).toEqual({ url: 'http://api.test/dev/token', body: { userId: USER_ID, orgId: OTHER_ORG_ID } });
    expect(session.orgId).toBe(OTHER_ORG_ID);
    expect(session.currentOrg?.orgName).toBe('Globex Labs');
    expect(JSON.parse(localStorage.getItem('org-credits.session')!).token).toBe(session.token);
  });

  it('says so when the dev sign-in is off (production mode)', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('{"message":"not found"}', { status: 404 })),
    );
    const h = createHarness({ signedIn: false });
    const wrapper = h.mountApp(SignInPage);
    await settle();
    expect(wrapper.get('[data-test="dev-unavailable"]').text()).toContain('HTTP 404');
  });

  it('switching org gets a new token for that org and refetches everything on screen', async () => {
    fakeDevApi();
    const h = createHarness({ signedIn: false });
    const reset = vi.spyOn(h.connection, 'reset');
    const wrapper = h.mountApp(AppOrgSwitcher);
    const session = useSessionStore(h.pinia);
    await session.signInAs(demoPerson, ORG_ID);
    await settle();
    // A name too long for the narrow select ends in an ellipsis there; its tooltip has all of it.
    expect(wrapper.get('[data-test="org-switcher"]').attributes('title')).toBe(session.currentOrg?.orgName);
    // Picking the org only picks it; "Switch" switches.
    await wrapper.get('[data-test="org-switcher"]').setValue(OTHER_ORG_ID);
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(readHasuraClaims(session.token!).orgId).toBe(OTHER_ORG_ID);
    expect(wrapper.get('[data-test="org-switcher"]').attributes('title')).toBe(session.currentOrg?.orgName);
    expect(reset).toHaveBeenCalledTimes(2);
  });

  it('follows another tab: signed out there, this tab goes to the sign-in page and drops the token; switched org there, it takes the new one', async () => {
    const h = createHarness({ signedIn: true });
    const router = createAppRouter(h.pinia, createMemoryHistory());
    await router.push('/billing');
    const session = useSessionStore(h.pinia);
    const before = session.token;
    expect(before).not.toBeNull();
    // The other tab switches org: it writes the new session.
    const switched = fakeToken(USER_ID, OTHER_ORG_ID);
    localStorage.setItem('org-credits.session', JSON.stringify({ token: switched, person: demoPerson }));
    window.dispatchEvent(new StorageEvent('storage', { key: 'org-credits.session' }));
    await settle();
    expect(session.token).toBe(switched);
    expect(session.orgId).toBe(OTHER_ORG_ID);
    expect(router.currentRoute.value.fullPath).toBe('/billing');
    // The other tab signs out.
    localStorage.removeItem('org-credits.session');
    window.dispatchEvent(new StorageEvent('storage', { key: 'org-credits.session' }));
    await settle();
    expect(session.token).toBeNull();
    expect(router.currentRoute.value.fullPath).toBe('/sign-in?next=/billing');
    // The other tab signs in again: this one leaves the sign-in page for where it was going.
    const back = fakeToken(USER_ID, ORG_ID);
    localStorage.setItem('org-credits.session', JSON.stringify({ token: back, person: demoPerson }));
    window.dispatchEvent(new StorageEvent('storage', { key: 'org-credits.session' }));
    await settle();
    expect(session.token).toBe(back);
    expect(router.currentRoute.value.fullPath).toBe('/billing');
  });

  it('sends a signed-out visitor to the sign-in page, keeping where they were going', async () => {
    const h = createHarness({ signedIn: false });
    const router = createAppRouter(h.pinia, createMemoryHistory());
    await router.push('/billing');
    expect(router.currentRoute.value.fullPath).toBe('/sign-in?next=/billing');
  });
});
