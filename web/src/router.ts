import type { Pinia } from 'pinia';
import { nextTick } from 'vue';
import { createRouter, createWebHistory, type RouteLocationNormalized, type Router, type RouterHistory, START_LOCATION } from 'vue-router';
import { prefersReducedMotion } from './lib/motion.ts';
import { SESSION_STORAGE_KEY, useSessionStore } from './stores/session.ts';

/** The app's name, after each page's in the tab's title. */
export const APP_TITLE = 'org-credits';

/** "Billing · org-credits": the page's own title first, so that tabs and history tell pages apart. */
export function pageTitle(route: RouteLocationNormalized): string {
  return typeof route.meta.title === 'string' ? `${route.meta.title} · ${APP_TITLE}` : APP_TITLE;
}

/**
 * After a navigation, focus goes where the new page starts for a keyboard or screen reader user, as
 * a page load would put it: the link's target for a hash (/billing#plans), else the page's h1.
 * Before, it stayed on the link that was pressed (or fell to <body> once that link was gone, after
 * a sign-in or a sign-out), and nothing said the page had changed.
 */
export function focusPageStart(hash: string): void {
  const byHash = hash.length > 1 ? document.getElementById(decodeURIComponent(hash.slice(1))) : null;
  const target = byHash ?? document.querySelector<HTMLElement>('main h1') ?? document.querySelector<HTMLElement>('h1');
  if (!target) return;
  // A section or a heading is not focusable by itself: -1 lets a script focus it, not the Tab key.
  if (!target.hasAttribute('tabindex') && target.tabIndex < 0) target.setAttribute('tabindex', '-1');
  // Scrolling is the router's (scrollBehavior): smooth, or not when less motion is asked for.
  target.focus({ preventScroll: true });
}

/** Every page is its own chunk; the initial bundle holds the shell only. */
export function createAppRouter(pinia: Pinia, history: RouterHistory = createWebHistory()): Router {
  const router = createRouter({
    history,
    routes: [
      {
        path: '/sign-in',
        name: 'sign-in',
        component: () => import('./pages/SignInPage.vue'),
        meta: { public: true, title: 'Sign in' },
      },
      { path: '/', name: 'playground', component: () => import('./pages/PlaygroundPage.vue'), meta: { title: 'Playground' } },
      { path: '/credits', name: 'credits', component: () => import('./pages/CreditsPage.vue'), meta: { title: 'Credits' } },
      { path: '/billing', name: 'billing', component: () => import('./pages/BillingPage.vue'), meta: { title: 'Billing' } },
      {
        path: '/:pathMatch(.*)*',
        name: 'not-found',
        component: () => import('./pages/NotFoundPage.vue'),
        meta: { title: 'Page not found' },
      },
    ],
    // No smooth scroll for people who ask their system for less motion.
    scrollBehavior: (to) => (to.hash ? { el: to.hash, behavior: prefersReducedMotion() ? 'auto' : 'smooth' } : { top: 0 }),
  });
  router.beforeEach((to) => {
    const session = useSessionStore(pinia);
    if (!to.meta.public && !session.signedIn) return { path: '/sign-in', query: to.fullPath === '/' ? {} : { next: to.fullPath } };
    return true;
  });
  router.afterEach((to, from, failure) => {
    if (failure) return;
    document.title = pageTitle(to);
    // The first page: the browser starts at the top, as for any page load. A change of the query
    // alone (?topup=… read and dropped) is no new page.
    if (from === START_LOCATION || (to.path === from.path && to.hash === from.hash)) return;
    // Once the new page is on screen.
    void nextTick().then(() => focusPageStart(to.hash));
  });
  // Another tab signed out, signed in as someone else or switched org (the tabs share the session
  // through localStorage): this one follows at once. Before, it went on sending the token the
  // person had signed out of, and showing what it showed.
  globalThis.addEventListener?.('storage', (event: StorageEvent) => {
    if (event.key !== null && event.key !== SESSION_STORAGE_KEY) return;
    const session = useSessionStore(pinia);
    void session.followStored().then((changed) => {
      const here = router.currentRoute.value;
      if (changed && !session.signedIn && !here.meta.public) {
        void router.replace({ path: '/sign-in', query: here.fullPath === '/' ? {} : { next: here.fullPath } });
      } else if (changed && session.signedIn && here.meta.public) {
        // Signed in there while this tab waited on the sign-in page: go where it was going.
        const next = typeof here.query.next === 'string' && here.query.next.startsWith('/') ? here.query.next : '/';
        void router.replace(next);
      }
    });
  });
  return router;
}
