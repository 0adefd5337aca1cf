import type { Pinia } from 'pinia';
import { createRouter, createWebHistory, type Router, type RouterHistory } from 'vue-router';
import { useSessionStore } from './stores/session.ts';

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
  return router;
}
