// What the app does when the engine refuses a token: the session is over, sign in again.
import type { Pinia } from 'pinia';
import type { Router } from 'vue-router';
import { useSessionStore } from '../stores/session.ts';

/**
 * The connection's `onAuthError`: signs out and sends the person to sign in, keeping where they
 * were; only when the refused token is still the session's. A request sent with an older token and
 * refused after a newer session was stored (signed in again, here or in another tab) leaves it be.
 */
export function signOutOnAuthError(pinia: Pinia, router: Router): (refused: string | null) => void {
  return (refused) => {
    const session = useSessionStore(pinia);
    if (!session.token || refused !== session.token) return;
    // Where the person is, from the address bar: before the first page has loaded, the
    // router's current route is still its start location "/".
    const next = `${window.location.pathname}${window.location.search}`;
    void session.signOut().then(() => router.push({ path: '/sign-in', query: { next } }));
  };
}
