// A WebSocket for graphql-ws that the test drives: it opens when told, answers as the engine does
// (connection_ack to connection_init, pong to ping) while `answering`, and, like a socket over a dead
// network, never reports the close it is asked for: only the engine's close (`serverClose`) arrives.

export interface FakeMessage {
  type: string;
  id?: string;
  payload?: unknown;
}

export class FakeSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  /** Every socket made since the last `reset`, oldest first. */
  static all: FakeSocket[] = [];
  /** Called for each new socket (e.g. to fail it at once, as an unreachable server does). */
  static onCreate: ((socket: FakeSocket) => void) | null = null;

  static reset(): void {
    FakeSocket.all = [];
    FakeSocket.onCreate = null;
  }

  static latest(): FakeSocket {
    const socket = FakeSocket.all.at(-1);
    if (!socket) throw new Error('no socket was made');
    return socket;
  }

  readonly createdAt = Date.now();
  readyState = FakeSocket.CONNECTING;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** What the client sent, parsed. */
  sent: FakeMessage[] = [];
  /** The close the client asked for, if any. */
  closedWith: { code: number | undefined; reason: string | undefined } | null = null;
  /** Whether the engine answers (ack, pong, the subscription's first result). */
  answering = true;

  constructor(
    readonly url: string,
    readonly protocol: string,
  ) {
    FakeSocket.all.push(this);
    FakeSocket.onCreate?.(this);
  }

  send(data: string): void {
    if (this.readyState !== FakeSocket.OPEN) throw new Error('send on a socket that is not open');
    const message = JSON.parse(data) as FakeMessage;
    this.sent.push(message);
    if (!this.answering) return;
    if (message.type === 'connection_init') queueMicrotask(() => this.receive({ type: 'connection_ack' }));
    if (message.type === 'ping') queueMicrotask(() => this.receive({ type: 'pong' }));
  }

  close(code?: number, reason?: string): void {
    // As a browser's: a second close of a closing socket does nothing.
    if (this.readyState === FakeSocket.CLOSING || this.readyState === FakeSocket.CLOSED) return;
    this.closedWith = { code, reason };
    this.readyState = FakeSocket.CLOSING;
  }

  /** The handshake completes. */
  open(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }

  receive(message: FakeMessage): void {
    if (this.readyState === FakeSocket.OPEN) this.onmessage?.({ data: JSON.stringify(message) });
  }

  /** The engine closes the connection (or the network fails it: 1006). */
  serverClose(code: number, reason = ''): void {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }

  sentOf(type: string): FakeMessage[] {
    return this.sent.filter((m) => m.type === type);
  }
}
