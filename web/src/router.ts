import type { Pinia } from 'pinia';
import { createRouter, createWebHistory, type Router, type RouterHistory } from 'vue-router';
import { SESSION_STORAGE_KEY, useSessionStore } from './stores/session.ts';

/** Every page is its own chunk; the initial bundle holds the shell only. */
export function createAppRouter(pinia: Pinia, history: RouterHistory = createWebHistory()): Router {
  const router = createRouter({
    history,
    routes: [
      { path: '/sign-in', name: 'sign-in', component: () => import('./pages/SignInPage.vue'), meta: { public: true } },
      { path: '/', name: 'playground', component: () => import('./pages/PlaygroundPage.vue') },
      { path: '/credits', name: 'credits', component: () => import('./pages/CreditsPage.vue') },
      { path: '/billing', name: 'billing', component: () => import('./pages/BillingPage.vue') },
      { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue') },
    ],
    scrollBehavior: (to) => (to.hash ? { el: to.hash, behavior: 'smooth' } : { top: 0 }),
  });
  router.beforeEach((to) => {
    const session = useSessionStore(pinia);
    if (!to.meta.public && !session.signedIn) return { path: '/sign-in', query: to.fullPath === '/' ? {} : { next: to.fullPath } };
    return true;
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
