// A refused token ends the session, but only the session that sent it: a request that went out
// with an older token and is refused after a newer session was stored (signed in again here or in
// another tab) does not sign that newer session out.
import { gql } from '@apollo/client';
import { createPinia } from 'pinia';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from 'vue';
import { createMemoryHistory, createRouter } from 'vue-router';
import { createGraphqlConnection, GRAPHQL_CONNECTION } from '../src/lib/apollo.ts';
import { signOutOnAuthError } from '../src/lib/auth-error.ts';
import { fakeToken, ORG_ID, OTHER_ORG_ID, USER_ID } from '../src/preview/fixtures.ts';
import { SESSION_STORAGE_KEY, useSessionStore } from '../src/stores/session.ts';

const Query = gql`
  query Ping {
    organizations {
      id
    }
  }
`;

const Run = gql`
  mutation Run {
    run {
      ok
    }
  }
`;

const refused = { errors: [{ message: 'Could not verify JWT: JWTExpired', extensions: { code: 'invalid-jwt', path: '$' } }] };

/** The engine at fetch: each request waits until the test answers it. */
function slowEngine() {
  const pending: Array<{ token: string | null; answer: (body: unknown) => void }> = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(
      (_url: string, init: RequestInit) =>
        new Promise<Response>((resolve) => {
          pending.push({
            token: new Headers(init.headers).get('authorization'),
            answer: (body) => resolve(new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } })),
          });
        }),
    ),
  );
  return pending;
}

/** The app's wiring (main.ts): the real connection, the session store and the sign-out on a refused token. */
async function app(token: string) {
  localStorage.clear();
  localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify({ token, person: null }));
  const pinia = createPinia();
  const router = createRouter({
    history: createMemoryHistory(),
    routes: ['/', '/credits', '/sign-in'].map((path) => ({ path, component: { render: () => null } })),
  });
  await router.push('/credits');
  const vue = createApp({});
  vue.use(pinia);
  const connection = createGraphqlConnection({
    httpUrl: 'http://engine.test/v1/graphql',
    wsUrl: 'ws://engine.test/v1/graphql',
    getToken: () => useSessionStore(pinia).token,
    onAuthError: signOutOnAuthError(pinia, router),
  });
  vue.provide(GRAPHQL_CONNECTION, connection);
  const session = vue.runWithContext(() => useSessionStore(pinia));
  return { connection, session, router };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('a refused token', () => {
  it.each([
    ['signed in again in this tab', async (session: ReturnType<typeof useSessionStore>, token: string) => session.signInWithToken(token)],
    [
      'another tab stored it (this tab follows)',
      async (session: ReturnType<typeof useSessionStore>, token: string) => {
        localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify({ token, person: null }));
        await session.followStored();
      },
    ],
  ])('does not sign out a newer session (%s) when a mutation sent with the older token is refused', async (_name, store) => {
    const pending = slowEngine();
    const older = fakeToken(USER_ID, ORG_ID);
    const { connection, session, router } = await app(older);
    // A mutation in flight (a playground run may take a minute): the store's reset does not cancel it.
    const request = connection.client.mutate({ mutation: Run }).catch(() => null);
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    expect(pending[0]!.token).toBe(`Bearer ${older}`);

    const newer = fakeToken(USER_ID, OTHER_ORG_ID);
    await store(session, newer);
    expect(session.token).toBe(newer);
    pending[0]!.answer(refused);
    await request;
    await new Promise((resolve) => setTimeout(resolve, 0));

    expect(session.token).toBe(newer);
    expect(JSON.parse(localStorage.getItem(SESSION_STORAGE_KEY) ?? 'null')?.token).toBe(newer);
    expect(router.currentRoute.value.path).toBe('/credits');
  });

  it('signs out when the token refused is the current one', async () => {
    const pending = slowEngine();
    const { connection, session, router } = await app(fakeToken(USER_ID, ORG_ID));
    const request = connection.client.query({ query: Query, fetchPolicy: 'network-only' }).catch(() => null);
    await vi.waitFor(() => expect(pending).toHaveLength(1));
    pending[0]!.answer(refused);
    await request;
    await vi.waitFor(() => expect(router.currentRoute.value.path).toBe('/sign-in'));
    expect(session.token).toBeNull();
    expect(localStorage.getItem(SESSION_STORAGE_KEY)).toBeNull();
  });
});
