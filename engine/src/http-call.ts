// The engine's outgoing calls, to action handlers and to event and cron webhooks (a POST, or the GET
// a webhook's redirect may turn it into): node:http over keep-alive agents (connections stay open
// between calls, as Hasura's HTTP manager keeps them; a fetch call costs several times the CPU).
// Callers read the answer's raw headers their own way.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 100 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 100 }) };

export interface HttpCallAnswer {
  status: number;
  /** Node's `rawHeaders`: name, value, name, value… as received. */
  rawHeaders: string[];
  body: string;
}

export interface HttpCallOptions {
  /** POST (the default), or GET: then no body is sent. */
  method?: 'POST' | 'GET';
  /** Aborts the call (a timeout, a shutdown); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Destroys the call with `Response timeout` when no answer came in time. */
  timeoutMs?: number;
  /**
   * Sends once more on a new connection when a kept-alive one the other side had just closed fails
   * before any answer (ECONNRESET on a reused socket), as Node's docs advise for requests that may
   * be repeated.
   */
  retryStaleConnection?: boolean;
}

/** URLs, parsed once per text. */
const parsedUrls = new Map<string, URL>();
export function parseUrl(text: string): URL {
  let url = parsedUrls.get(text);
  if (!url) {
    url = new URL(text);
    if (parsedUrls.size > 1000) parsedUrls.clear();
    parsedUrls.set(text, url);
  }
  return url;
}

export function httpCall(url: URL, headers: Record<string, string>, body: string, options: HttpCallOptions = {}): Promise<HttpCallAnswer> {
  const { method = 'POST', signal, timeoutMs, retryStaleConnection = false } = options;
  const sent = method === 'POST' ? body : undefined;
  return new Promise((resolve, reject) => {
    const https = url.protocol === 'https:';
    const req = (https ? httpsRequest : httpRequest)(
      url,
      {
        method,
        agent: https ? agents.https : agents.http,
        headers: sent === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(sent)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error('Response timeout')));
    if (signal) {
      const onAbort = () => {
        const reason = signal.reason instanceof Error ? signal.reason : new Error('aborted');
        req.destroy(reason);
        reject(reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => signal.removeEventListener('abort', onAbort));
    }
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (retryStaleConnection && req.reusedSocket && error.code === 'ECONNRESET' && !signal?.aborted) {
        httpCall(url, headers, body, { ...options, retryStaleConnection: false }).then(resolve, reject);
      } else reject(error);
    });
    req.end(sent);
  });
}
