// An error result on an open subscription, as the engine (and Hasura) sends one when a poll's
// statement fails (Postgres restarting): a `next` whose payload has `errors`, then data again on the
// same subscription, over a socket that stays connected. Through the app's own layers: the real
// Apollo client, GraphQLWsLink and graphql-ws over a fake WebSocket, the shared balance source and
// the header's widget; HTTP answered by the preview's fixtures.
import { gql } from '@apollo/client';
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryHistory, createRouter } from 'vue-router';
import CreditsBalanceWidget from '../src/components/credits/CreditsBalanceWidget.vue';
import { createGraphqlConnection, GRAPHQL_CONNECTION } from '../src/lib/apollo.ts';
import { APP_CONFIG } from '../src/lib/app-config.ts';
import type { FixtureResult } from '../src/preview/fixtureLink.ts';
import { balance, defaultHandlers, fakeToken, ORG_ID, USER_ID } from '../src/preview/fixtures.ts';
import { FakeSocket } from './support/fake-socket.ts';
import { NOW } from './support/harness.ts';

const Live = gql`
  subscription Live {
    organizations {
      id
    }
  }
`;

/** What the engine sends when a poll's statement fails (Postgres restarting). */
const databaseError = { errors: [{ message: 'database query error', extensions: { path: '$', code: 'unexpected' } }] };

const disposers: Array<() => void> = [];
/** The operations asked over HTTP, by name. */
let httpCalls: string[] = [];

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
  vi.stubGlobal('WebSocket', FakeSocket);
  httpCalls = [];
  const handlers = defaultHandlers(NOW, 'owner');
  vi.stubGlobal(
    'fetch',
    vi.fn(async (_url: string, init: RequestInit) => {
      const body = JSON.parse(String(init.body)) as { operationName: string; variables: Record<string, unknown> };
      httpCalls.push(body.operationName);
      const answer = (await handlers[body.operationName]?.(body.variables ?? {})) as FixtureResult | undefined;
      return new Response(JSON.stringify(answer ?? { errors: [{ message: 'no fixture', extensions: { code: 'NO_FIXTURE' } }] }), {
        headers: { 'content-type': 'application/json' },
      });
    }),
  );
});

afterEach(() => {
  for (const dispose of disposers.splice(0)) dispose();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function connection() {
  const made = createGraphqlConnection({
    httpUrl: 'http://engine.test/v1/graphql',
    wsUrl: 'ws://engine.test/v1/graphql',
    getToken: () => fakeToken(USER_ID, ORG_ID),
    random: () => 0,
  });
  disposers.push(() => made.dispose?.());
  return made;
}

/** Opens the newest socket (the fake engine acknowledges it) and answers its subscription's id. */
async function openSocket() {
  const socket = FakeSocket.latest();
  socket.open();
  await vi.advanceTimersByTimeAsync(0);
  const id = socket.sentOf('subscribe')[0]?.id;
  if (!id) throw new Error('nothing subscribed');
  return { socket, id };
}

describe('an error result on an open subscription, through Apollo', () => {
  it('comes as a result with an error and does not end the subscription; its next data comes on it', async () => {
    const { client } = connection();
    const seen: string[] = [];
    const subscription = client.subscribe({ query: Live }).subscribe({
      next: (result) => seen.push(result.error ? 'error' : `data ${JSON.stringify(result.data)}`),
      error: () => seen.push('observable error'),
      complete: () => seen.push('complete'),
    });
    disposers.push(() => subscription.unsubscribe());
    await vi.advanceTimersByTimeAsync(0);
    const { socket, id } = await openSocket();
    socket.receive({ type: 'next', id, payload: databaseError });
    await vi.advanceTimersByTimeAsync(0);
    socket.receive({ type: 'next', id, payload: { data: { organizations: [{ __typename: 'organizations', id: ORG_ID }] } } });
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(['error', `data {"organizations":[{"__typename":"organizations","id":"${ORG_ID}"}]}`]);
    expect(socket.sentOf('complete')).toEqual([]);
  });

  it('an `error` message (graphql-transport-ws: the operation is over) comes as a result with an error, then the end', async () => {
    const { client } = connection();
    const seen: string[] = [];
    const subscription = client.subscribe({ query: Live }).subscribe({
      next: (result) => seen.push(result.error ? 'error' : 'data'),
      error: () => seen.push('observable error'),
      complete: () => seen.push('complete'),
    });
    disposers.push(() => subscription.unsubscribe());
    await vi.advanceTimersByTimeAsync(0);
    const { socket, id } = await openSocket();
    socket.receive({ type: 'error', id, payload: databaseError.errors });
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(['error', 'complete']);
  });
});

/** The header's widget over the real connection, live, its panel open. */
async function liveWidget() {
  localStorage.clear();
  localStorage.setItem('org-credits.session', JSON.stringify({ token: fakeToken(USER_ID, ORG_ID), person: null }));
  const graphql = connection();
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/', component: { render: () => null } }] });
  const wrapper = mount(CreditsBalanceWidget, {
    props: { now: () => NOW },
    global: {
      plugins: [createPinia(), router],
      provide: {
        [GRAPHQL_CONNECTION as symbol]: graphql,
        [APP_CONFIG as symbol]: {
          graphqlHttpUrl: 'http://engine.test/v1/graphql',
          graphqlWsUrl: 'ws://engine.test/v1/graphql',
          apiUrl: 'http://api.test',
        },
      },
    },
  });
  disposers.push(() => wrapper.unmount());
  await vi.advanceTimersByTimeAsync(0);
  const { socket, id } = await openSocket();
  socket.receive({ type: 'next', id, payload: row('1700.000') });
  await flushPromises();
  await wrapper.get('[data-test="balance-trigger"]').trigger('click');
  const words = () => wrapper.get('[data-test="live-status"]').text();
  expect(graphql.socketStatus.value).toBe('connected');
  expect(words()).toBe('Live');
  return { graphql, wrapper, socket, id, words };
}

const row = (available: string) => ({ data: { organization_credit_balances: [balance({ available_credits: available })] } });
const balanceAsked = () => httpCalls.filter((name) => name === 'CreditBalance').length;

describe('the live balance after an error result', () => {
  it('polls while the subscription answers errors, and is live again at its next data, without a reload or a reconnect', async () => {
    const { graphql, wrapper, socket, id, words } = await liveWidget();

    // The statement fails: not live, the balance is asked at once and then polled.
    const asked = balanceAsked();
    socket.receive({ type: 'next', id, payload: databaseError });
    await flushPromises();
    // Before: "Reload the page to restart live updates", and polling until the socket reconnected.
    expect(words()).toBe('Not live: refreshing every 15 seconds until live updates answer again.');
    expect(balanceAsked()).toBe(asked + 1);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(balanceAsked()).toBe(asked + 2);

    // The database is back: the same subscription answers again, live, and the poll ends.
    socket.receive({ type: 'next', id, payload: row('1690.000') });
    await flushPromises();
    expect(words()).toBe('Live');
    expect(wrapper.get('[data-test="available"]').text()).toBe('1,690');
    expect(graphql.socketStatus.value).toBe('connected');
    expect(FakeSocket.all).toHaveLength(1);
    expect(socket.sentOf('subscribe')).toHaveLength(1);
    const polled = balanceAsked();
    await vi.advanceTimersByTimeAsync(45_000);
    expect(balanceAsked()).toBe(polled);
  });

  it('starts the subscription again after the engine ended it, waiting longer after each refusal', async () => {
    // Hasura checks a new subscription in a transaction before it starts it, so while Postgres does
    // not answer, a start (or a restart) is refused with an `error` message.
    const { graphql, wrapper, socket, id, words } = await liveWidget();
    /** Every subscribe sent, on whichever socket (graphql-ws closes one left with no subscription). */
    const subscribes = () => FakeSocket.all.flatMap((s) => s.sentOf('subscribe').map((m) => ({ socket: s, id: m.id })));
    /** Opens the newest socket if it is still connecting; the engine acknowledges it. */
    const openLatest = async () => {
      const latest = FakeSocket.latest();
      if (latest.readyState === FakeSocket.CONNECTING) latest.open();
      await vi.advanceTimersByTimeAsync(0);
    };
    socket.receive({ type: 'error', id, payload: databaseError.errors });
    await flushPromises();
    // Before: "Reload the page to restart live updates", and polling until the page was reloaded.
    expect(words()).toBe('Not live: refreshing every 15 seconds until live updates answer again.');
    const asked = balanceAsked();

    // One poll interval later: the balance was polled and the subscription is asked again (on a new
    // socket: graphql-ws closed the one left with no subscription).
    await vi.advanceTimersByTimeAsync(15_000);
    await openLatest();
    expect(balanceAsked()).toBe(asked + 1);
    expect(subscribes()).toHaveLength(2);
    expect(FakeSocket.all).toHaveLength(2);

    // Refused again: the next start waits twice as long.
    const second = subscribes()[1]!;
    second.socket.receive({ type: 'error', id: second.id, payload: databaseError.errors });
    await flushPromises();
    expect(words()).not.toBe('Live');
    await vi.advanceTimersByTimeAsync(15_000);
    await openLatest();
    expect(subscribes()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(15_000);
    await openLatest();
    expect(subscribes()).toHaveLength(3);

    // Postgres answers: the third start gets data, live again, and nothing more is asked.
    const third = subscribes()[2]!;
    third.socket.receive({ type: 'next', id: third.id, payload: row('1680.000') });
    await flushPromises();
    expect(words()).toBe('Live');
    expect(wrapper.get('[data-test="available"]').text()).toBe('1,680');
    expect(graphql.socketStatus.value).toBe('connected');
    const polled = balanceAsked();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(balanceAsked()).toBe(polled);
    expect(subscribes()).toHaveLength(3);

    // The run of refusals is over: a later refusal waits one poll interval again.
    third.socket.receive({ type: 'error', id: third.id, payload: databaseError.errors });
    await flushPromises();
    await vi.advanceTimersByTimeAsync(15_000);
    await openLatest();
    expect(subscribes()).toHaveLength(4);
  });
});
