// Mounts a component of the app as it runs: real stores, real router, real Apollo client and
// cache; only the network is replaced, by the fixture link answering each operation by name.
import { flushPromises, mount, type VueWrapper } from '@vue/test-utils';
import { createPinia, type Pinia } from 'pinia';
import type { Component } from 'vue';
import { createMemoryHistory, createRouter, type Router } from 'vue-router';
import type { SocketStatus } from '../../src/lib/apollo.ts';
import { GRAPHQL_CONNECTION } from '../../src/lib/apollo.ts';
import { APP_CONFIG } from '../../src/lib/app-config.ts';
import { createFixtureConnection, type FixtureCall, type FixtureHandler } from '../../src/preview/fixtureLink.ts';
import { defaultHandlers, fakeToken, ORG_ID, USER_ID } from '../../src/preview/fixtures.ts';

export const NOW = new Date('2026-11-21T12:00:00Z');

export interface HarnessOptions {
  role?: 'owner' | 'admin' | 'member';
  handlers?: Record<string, FixtureHandler>;
  socketStatus?: SocketStatus;
  signedIn?: boolean;
}

export interface Harness {
  connection: ReturnType<typeof createFixtureConnection>;
  calls: FixtureCall[];
  pinia: Pinia;
  router: Router;
  mountApp: (component: Component, props?: Record<string, unknown>, options?: MountAppOptions) => VueWrapper;
}

export interface MountAppOptions {
  /** Mounted into the document (for focus, which only an attached element can take). */
  attachTo?: Element;
  /** Another router than the harness's (e.g. the app's own, createAppRouter). */
  router?: Router;
  /** Teleports for real (to <body>, where the test then looks), instead of rendering in place. */
  teleport?: boolean;
}

const Blank = { render: () => null };

export function createHarness(options: HarnessOptions = {}): Harness {
  localStorage.clear();
  if (options.signedIn !== false) {
    localStorage.setItem('org-credits.session', JSON.stringify({ token: fakeToken(USER_ID, ORG_ID), person: null }));
  }
  const calls: FixtureCall[] = [];
  const connection = createFixtureConnection(
    { ...defaultHandlers(NOW, options.role ?? 'owner'), ...options.handlers },
    {
      calls,
      socketStatus: options.socketStatus ?? 'connected',
    },
  );
  const pinia = createPinia();
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', component: Blank },
      { path: '/billing', component: Blank },
      { path: '/credits', component: Blank },
      { path: '/sign-in', component: Blank },
    ],
  });
  return {
    connection,
    calls,
    pinia,
    router,
    mountApp: (component, props = {}, mountOptions = {}) =>
      mount(component as never, {
        props: props as never,
        ...(mountOptions.attachTo ? { attachTo: mountOptions.attachTo } : {}),
        global: {
          plugins: [pinia, mountOptions.router ?? router],
          provide: {
            [GRAPHQL_CONNECTION as symbol]: connection,
            [APP_CONFIG as symbol]: {
              graphqlHttpUrl: 'http://engine.test/v1/graphql',
              graphqlWsUrl: 'ws://engine.test/v1/graphql',
              apiUrl: 'http://api.test',
            },
          },
          stubs: { teleport: !mountOptions.teleport },
        },
      }),
  };
}

/** Lets every pending answer of the fixture link reach the components. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await flushPromises();
}

export function callsOf(calls: FixtureCall[], name: string): FixtureCall[] {
  return calls.filter((c) => c.operationName === name);
}
