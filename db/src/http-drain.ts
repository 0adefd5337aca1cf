// Graceful stop of an HTTP server, shared by the api and the engine: no new connections, requests
// in flight finish (their connections close after the answer), then what is left is cut.
import type { Server, ServerResponse } from 'node:http';

export interface HttpDrain {
  /**
   * Counts a request in flight until the `done` it returns is called: when its handler is finished,
   * which may be after its client hung up. During a drain its answer closes its connection.
   */
  begin(res: ServerResponse): () => void;
  /** Whether {@link HttpDrain.drain} has begun. */
  readonly draining: boolean;
  /**
   * Stops accepting connections and closes the idle ones, lets requests in flight finish for up to
   * `timeoutMs`, then cuts the connections left and gives their handlers up to `graceMs` more to
   * call `done` (an AI call aborted by the cut still releases its hold). Resolves once the server is
   * closed: whether everything finished in time, how many were cut, how many were still running.
   */
  drain(timeoutMs: number, graceMs?: number): Promise<{ finished: boolean; cut: number; left: number }>;
}

export function createHttpDrain(server: Server): HttpDrain {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let idle: (() => void) | null = null;
  const waitIdle = (ms: number) =>
    new Promise<boolean>((resolve) => {
      if (inFlight.size === 0) return resolve(true);
      const timer = setTimeout(() => resolve(false), ms);
      idle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  return {
    begin(res) {
      inFlight.add(res);
      // A request on a keep-alive connection opened before the drain: answered, then it closes.
      if (draining) res.setHeader('connection', 'close');
      return () => {
        if (!inFlight.delete(res) || !draining) return;
        // The connection of the request just answered is idle once its answer is flushed.
        setImmediate(() => server.closeIdleConnections());
        if (inFlight.size === 0) idle?.();
      };
    },
    get draining() {
      return draining;
    },
    async drain(timeoutMs, graceMs = 0) {
      draining = true;
      // Answers not started yet close their keep-alive connection after them.
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
      const closed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
      server.closeIdleConnections();
      const finished = await waitIdle(timeoutMs);
      const cut = inFlight.size;
      server.closeAllConnections();
      if (!finished && graceMs > 0) await waitIdle(graceMs);
      await closed;
      return { finished, cut, left: inFlight.size };
    },
  };
}
