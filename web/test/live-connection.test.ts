// The real client's subscription socket over a fake WebSocket, on fake timers: a socket that stalls
// without closing is noticed and replaced, reconnects come quickly after an outage, an expired
// token ends the session, and an HTTP request that is never answered ends in an error.
import { gql } from '@apollo/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CreateConnectionOptions, createGraphqlConnection, retryDelay } from '../src/lib/apollo.ts';
import { toAppError } from '../src/lib/errors.ts';
import { FakeSocket } from './support/fake-socket.ts';

const Live = gql`
  subscription Live {
    organizations {
      id
    }
  }
`;

const Query = gql`
  query Ping {
    organizations {
      id
    }
  }
`;

const Query2 = gql`
  subscription Live2 {
    organizations {
      name
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

const disposers: Array<() => void> = [];

/** A connection over fake sockets with one subscription open (the socket is lazy: it opens for it). */
async function connect(options: Partial<CreateConnectionOptions> = {}) {
  const connection = createGraphqlConnection({
    httpUrl: 'http://engine.test/v1/graphql',
    wsUrl: 'ws://engine.test/v1/graphql',
    getToken: () => 'a.token.value',
    random: () => 0,
    ...options,
  });
  const subscription = connection.client.subscribe({ query: Live }).subscribe({ next: () => {}, error: () => {} });
  disposers.push(() => {
    subscription.unsubscribe();
    connection.dispose?.();
  });
  await vi.advanceTimersByTimeAsync(0);
  return connection;
}

/** Opens the newest socket; the fake engine acknowledges it. */
async function openLatest() {
  const socket = FakeSocket.latest();
  socket.open();
  await vi.advanceTimersByTimeAsync(0);
  return socket;
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.reset();
  // graphql-ws takes the global WebSocket.
  vi.stubGlobal('WebSocket', FakeSocket);
});

afterEach(() => {
  for (const dispose of disposers.splice(0)) dispose();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('a socket that stalls without closing', () => {
  it('pings the engine, and drops the socket when no pong comes within 5 s (close 4408), then reconnects', async () => {
    // Silence alone would also end it; this is the ping's own timeout.
    const { socketStatus } = await connect({ silenceTimeout: 600_000 });
    const first = await openLatest();
    expect(socketStatus.value).toBe('connected');

    await vi.advanceTimersByTimeAsync(10_000);
    expect(first.sentOf('ping')).toHaveLength(1);
    expect(socketStatus.value).toBe('connected'); // answered

    first.answering = false; // frames stop: no pong, no close
    await vi.advanceTimersByTimeAsync(10_000);
    expect(first.sentOf('ping')).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(socketStatus.value).toBe('connected');
    await vi.advanceTimersByTimeAsync(1);
    expect(socketStatus.value).toBe('down');
    expect(first.closedWith?.code).toBe(4408);

    // The socket is dropped at once (its close handshake never completes), and a new one is opened.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeSocket.all).toHaveLength(2);
    await openLatest();
    expect(socketStatus.value).toBe('connected');
  });

  it('counts a socket without a word from the engine for 12 s as dead, while its pings kept coming before', async () => {
    const { socketStatus } = await connect({ keepAlive: 600_000 });
    const socket = await openLatest();
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(5_000);
      socket.receive({ type: 'ping', payload: { message: 'keepalive' } }); // the engine's keep-alive
    }
    expect(socketStatus.value).toBe('connected');
    await vi.advanceTimersByTimeAsync(11_999);
    expect(socketStatus.value).toBe('connected');
    await vi.advanceTimersByTimeAsync(1);
    expect(socketStatus.value).toBe('down');
  });

  it('gives up on a handshake that never completes after 12 s, and tries again', async () => {
    const { socketStatus } = await connect();
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(12_000);
    expect(socketStatus.value).toBe('down');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('is down as soon as the browser goes offline, and reconnects as soon as it is back online', async () => {
    const { socketStatus } = await connect({ random: () => 1 });
    const first = await openLatest();
    window.dispatchEvent(new Event('offline'));
    expect(socketStatus.value).toBe('down');
    expect(first.closedWith?.code).toBe(4408);
    await vi.advanceTimersByTimeAsync(100); // the first retry waits 1 s with this jitter
    expect(FakeSocket.all).toHaveLength(1);
    window.dispatchEvent(new Event('online'));
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all).toHaveLength(2);
    await openLatest();
    expect(socketStatus.value).toBe('connected');
  });

  it('checks the socket when the page is shown again: no pong within 5 s, and it is down', async () => {
    const { socketStatus } = await connect({ keepAlive: 600_000, silenceTimeout: 600_000 });
    const socket = await openLatest();
    socket.answering = false;
    document.dispatchEvent(new Event('visibilitychange'));
    expect(socket.sentOf('ping')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(socketStatus.value).toBe('down');
  });

  it('stays connected while the engine answers', async () => {
    const { socketStatus } = await connect();
    const socket = await openLatest();
    for (let i = 0; i < 24; i++) {
      await vi.advanceTimersByTimeAsync(5_000);
      socket.receive({ type: 'ping', payload: { message: 'keepalive' } });
    }
    expect(socketStatus.value).toBe('connected');
    expect(socket.sentOf('ping').length).toBeGreaterThan(5);
    expect(FakeSocket.all).toHaveLength(1);
  });
});

describe('reconnecting after an outage', () => {
  it('waits between attempts doubling from 1 s, with jitter, never more than 10 s', () => {
    expect([0, 1, 2, 3, 4, 5, 12, 40].map((n) => retryDelay(n, 10_000, () => 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000, 10_000,
    ]);
    expect([0, 1, 4, 40].map((n) => retryDelay(n, 10_000, () => 0))).toEqual([500, 1_000, 5_000, 5_000]);
  });

  it('tries again at least every 10 s however long the engine is unreachable', async () => {
    FakeSocket.onCreate = (socket) => queueMicrotask(() => socket.serverClose(1006));
    await connect({ random: () => 1 });
    await vi.advanceTimersByTimeAsync(120_000);
    const gaps = FakeSocket.all.slice(1).map((s, i) => s.createdAt - FakeSocket.all[i]!.createdAt);
    expect(gaps.slice(0, 6)).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(10_000);
  });

  it('says when it is connected again after the socket was lost (to retry what failed meanwhile), not at the first connect', async () => {
    const onReconnect = vi.fn();
    const { socketStatus } = await connect({ onReconnect });
    const first = await openLatest();
    expect(onReconnect).not.toHaveBeenCalled();
    first.serverClose(1006);
    expect(socketStatus.value).toBe('down');
    await vi.advanceTimersByTimeAsync(1_000);
    await openLatest();
    expect(socketStatus.value).toBe('connected');
    expect(onReconnect).toHaveBeenCalledTimes(1);
  });
});

describe('a close the client made', () => {
  it('is not a lost socket when the last subscription ends (normal closure, 1000), and the next connection is no reconnect', async () => {
    const onReconnect = vi.fn();
    const connection = createGraphqlConnection({
      httpUrl: 'http://engine.test/v1/graphql',
      wsUrl: 'ws://engine.test/v1/graphql',
      getToken: () => 'a.token.value',
      random: () => 0,
      onReconnect,
    });
    disposers.push(() => connection.dispose());
    const first = connection.client.subscribe({ query: Live }).subscribe({ next: () => {}, error: () => {} });
    await vi.advanceTimersByTimeAsync(0);
    const socket = await openLatest();
    expect(connection.socketStatus.value).toBe('connected');
    first.unsubscribe(); // sign-out: the last live view goes
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'Normal Closure' });
    socket.serverClose(1000, 'Normal Closure'); // the browser reports the close it was asked for
    expect(connection.socketStatus.value).not.toBe('down');
    const again = connection.client.subscribe({ query: Query2 }).subscribe({ next: () => {}, error: () => {} });
    disposers.push(() => again.unsubscribe());
    await vi.advanceTimersByTimeAsync(0);
    expect(connection.socketStatus.value).toBe('connecting');
    await openLatest();
    expect(connection.socketStatus.value).toBe('connected');
    expect(onReconnect).not.toHaveBeenCalled();
  });

  it('is not a lost socket when a new token reopens it (sign-in, org switch), and the next connection is no reconnect', async () => {
    const onReconnect = vi.fn();
    const connection = await connect({ onReconnect });
    await openLatest();
    await connection.reset();
    expect(connection.socketStatus.value).toBe('connecting');
    await vi.advanceTimersByTimeAsync(1_000);
    await openLatest();
    expect(connection.socketStatus.value).toBe('connected');
    expect(onReconnect).not.toHaveBeenCalled();
  });

  it('is not a lost socket when the connection is disposed', async () => {
    const connection = await connect();
    const socket = await openLatest();
    connection.dispose();
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'Normal Closure' });
    socket.serverClose(1000, 'Normal Closure');
    expect(connection.socketStatus.value).not.toBe('down');
  });

  it('a normal closure the engine made while live views remain is still a lost socket, reconnected', async () => {
    const onReconnect = vi.fn();
    const connection = await connect({ onReconnect });
    const socket = await openLatest();
    socket.serverClose(1000, 'Normal Closure');
    expect(connection.socketStatus.value).toBe('down');
    await vi.advanceTimersByTimeAsync(1_000);
    await openLatest();
    expect(connection.socketStatus.value).toBe('connected');
    expect(onReconnect).toHaveBeenCalledTimes(1);
  });

  it('a close the network made is still a lost socket', async () => {
    const connection = await connect();
    (await openLatest()).serverClose(1006);
    expect(connection.socketStatus.value).toBe('down');
  });
});

describe('an expired token', () => {
  it('ends the session (4400 is not retried) instead of saying it reconnects', async () => {
    const onAuthError = vi.fn();
    const { socketStatus } = await connect({ onAuthError });
    const socket = await openLatest();
    socket.serverClose(4400, 'Could not verify JWT: JWTExpired');
    expect(socketStatus.value).toBe('stopped');
    expect(onAuthError).toHaveBeenCalledTimes(1);
    expect(onAuthError).toHaveBeenCalledWith('a.token.value'); // the token the socket connected with
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('does not sign out on a close that is retried', async () => {
    const onAuthError = vi.fn();
    const { socketStatus } = await connect({ onAuthError });
    (await openLatest()).serverClose(1012, 'server shutting down');
    expect(socketStatus.value).toBe('down');
    expect(onAuthError).not.toHaveBeenCalled();
  });
});

describe('an HTTP request the engine never answers', () => {
  it('ends in a network error after 15 s, for "Try again", instead of loading for ever', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(
        (_url: string, init: RequestInit) =>
          new Promise((_resolve, reject) => {
            init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
          }),
      ),
    );
    const { client } = createGraphqlConnection({
      httpUrl: 'http://engine.test/v1/graphql',
      wsUrl: 'ws://engine.test/v1/graphql',
      getToken: () => 't',
    });
    let outcome: unknown = 'pending';
    void client.query({ query: Query, fetchPolicy: 'network-only' }).then(
      () => {
        outcome = 'answered';
      },
      (e: unknown) => {
        outcome = e;
      },
    );
    await vi.advanceTimersByTimeAsync(14_999);
    expect(outcome).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(toAppError(outcome)).toMatchObject({ code: 'NETWORK_ERROR', action: 'retry' });
    expect(toAppError(outcome).message).toContain('did not answer within 15 seconds');
  });

  it('retries what failed once live again after a close graphql-ws does not retry, when a new subscription reconnects', async () => {
    const onReconnect = vi.fn();
    const connection = await connect({ onReconnect });
    await openLatest();
    FakeSocket.latest().serverClose(4500, 'internal');
    await vi.advanceTimersByTimeAsync(0);
    expect(connection.socketStatus.value).toBe('stopped');
    const again = connection.client.subscribe({ query: Query2 }).subscribe({ next: () => {}, error: () => {} });
    disposers.push(() => again.unsubscribe());
    await vi.advanceTimersByTimeAsync(0);
    // Before: "connecting" overwrote "stopped", so the socket did not count as lost and nothing retried.
    await openLatest();
    expect(connection.socketStatus.value).toBe('connected');
    expect(onReconnect).toHaveBeenCalledTimes(1);
  });

  it('waits for a mutation as long as its action may take (a playground run: 60 s), and clears the timer once answered', async () => {
    // Before: 15 s for every request, so a slow run was charged while the page said it failed.
    let answer: (value: Response) => void = () => undefined;
    vi.stubGlobal(
      'fetch',
      vi.fn(
        (_url: string, init: RequestInit) =>
          new Promise<Response>((resolve, reject) => {
            answer = resolve;
            init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
          }),
      ),
    );
    const { client } = createGraphqlConnection({
      httpUrl: 'http://engine.test/v1/graphql',
      wsUrl: 'ws://engine.test/v1/graphql',
      getToken: () => 't',
    });
    let outcome: unknown = 'pending';
    void client.mutate({ mutation: Run }).then(
      (result) => {
        outcome = result.data;
      },
      (e: unknown) => {
        outcome = e;
      },
    );
    await vi.advanceTimersByTimeAsync(61_000);
    expect(outcome).toBe('pending');
    answer(new Response(JSON.stringify({ data: { run: { ok: true } } }), { headers: { 'content-type': 'application/json' } }));
    await vi.advanceTimersByTimeAsync(0);
    expect(outcome).toEqual({ run: { ok: true } });
    expect(vi.getTimerCount()).toBe(0);
  });
});
