// A raw WebSocket client for the subscription tests: speaks either protocol message by message and
// lets a test wait for the next message that matches (never for a fixed time).
import { WebSocket } from 'ws';

export interface WsMessage {
  type: string;
  id?: string;
  payload?: unknown;
}

export interface RawClient {
  socket: WebSocket;
  messages: WsMessage[];
  send(message: unknown): void;
  /**
   * The earliest message not yet taken that matches (already received, or the next to come). Messages
   * another call did not match stay for later calls: answers to different operations may arrive in
   * any order.
   */
  next(match?: (m: WsMessage) => boolean, timeoutMs?: number): Promise<WsMessage>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

export async function connect(url: string, protocol: 'graphql-transport-ws' | 'graphql-ws'): Promise<RawClient> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), protocol);
  const messages: WsMessage[] = [];
  const taken = new Set<number>();
  const untaken = () => messages.filter((_, i) => !taken.has(i));
  const waiters: (() => void)[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const w of waiters.splice(0)) w();
    }),
  );
  socket.on('message', (data) => {
    messages.push(JSON.parse(data.toString()) as WsMessage);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const client: RawClient = {
    socket,
    messages,
    closed,
    send: (message) => socket.send(JSON.stringify(message)),
    async next(match = () => true, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (let i = 0; i < messages.length; i++) {
          const m = messages[i] as WsMessage;
          if (!taken.has(i) && match(m)) {
            taken.add(i);
            return m;
          }
        }
        if (socket.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting; got ${JSON.stringify(untaken())}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching message; got ${JSON.stringify(untaken())}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    close: () => socket.close(),
  };
  return client;
}

/** Data of a `next` / `data` message. */
export function dataOf(m: WsMessage): Record<string, unknown> {
  return (m.payload as { data: Record<string, unknown> }).data;
}

/**
 * One subscription over graphql-transport-ws, by a client signing in with `init`: its first answer
 * (data, or the error it was refused with), then the socket is closed.
 */
export async function firstAnswer(
  url: string,
  init: Record<string, unknown>,
  payload: { query: string; variables?: Record<string, unknown> },
): Promise<WsMessage> {
  const c = await connect(url, 'graphql-transport-ws');
  try {
    c.send({ type: 'connection_init', payload: init });
    await c.next((m) => m.type === 'connection_ack');
    c.send({ type: 'subscribe', id: 's1', payload });
    return await c.next((m) => m.id === 's1');
  } finally {
    c.close();
  }
}
