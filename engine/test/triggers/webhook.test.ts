// One webhook call (callWebhook) against real HTTP servers on 127.0.0.1: what is sent, what is
// recorded of the answer, keep-alive, timeouts, refused connections and redirects.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { callWebhook } from '../../src/triggers/webhook.ts';
import { closedPort } from './helpers.ts';

const servers: Server[] = [];
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  socket: unknown;
}

async function serve(handle: (seen: Seen, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        socket: req.socket,
      };
      seen.push(s);
      handle(s, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('callWebhook', () => {
  it('POSTs the body with the headers, and records the answer with its headers as fetch lists them', async () => {
    const hook = await serve((_s, res) => {
      res.writeHead(200, [
        ['Content-Type', 'application/json'],
        ['X-B', '1'],
        ['X-A', 'one'],
        ['x-a', 'two'],
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
      ] as unknown as Record<string, string>);
      res.end('{"ok":true}');
    });
    const outcome = await callWebhook(
      `${hook.url}/events/x`,
      '{"n":12345678901234567.125}',
      [{ name: 'X-Secret', value: 's', fromEnv: 'S' }],
      10,
    );
    expect(hook.seen[0]).toMatchObject({ method: 'POST', url: '/events/x', body: '{"n":12345678901234567.125}' });
    expect(hook.seen[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'x-secret': 's', 'content-length': '27' });
    expect(outcome).toMatchObject({ ok: true, interrupted: false, status: 200, error: null, retryAfterSeconds: null });
    const logged = JSON.parse(outcome.responseLog);
    expect(logged.data.body).toBe('{"ok":true}');
    expect(
      logged.data.headers.filter((h: { name: string }) => !['date', 'connection', 'keep-alive', 'transfer-encoding'].includes(h.name)),
    ).toEqual([
      { name: 'content-type', value: 'application/json' },
      { name: 'set-cookie', value: 'a=1' },
      { name: 'set-cookie', value: 'b=2' },
      { name: 'x-a', value: 'one, two' },
      { name: 'x-b', value: '1' },
    ]);
    // The payload is kept as text: every digit of the number stays.
    expect(outcome.requestLog).toBe(
      '{"payload":{"n":12345678901234567.125},"headers":[{"name":"X-Secret","value_from_env":"S"}],"version":"2"}',
    );
  });

  it('keeps the connection open between calls', async () => {
    const hook = await serve((_s, res) => res.end('{}'));
    await callWebhook(hook.url, '{}', [], 10);
    await callWebhook(hook.url, '{}', [], 10);
    expect(hook.seen).toHaveLength(2);
    expect(hook.seen[0]!.socket).toBe(hook.seen[1]!.socket);
  });

  it('records a failure status and Retry-After', async () => {
    const hook = await serve((_s, res) => {
      res.writeHead(503, { 'Retry-After': '120' });
      res.end('busy');
    });
    expect(await callWebhook(hook.url, '{}', [], 10)).toMatchObject({ ok: false, status: 503, error: 'http 503', retryAfterSeconds: 120 });
  });

  it('times out a webhook that does not answer, and a refused connection is a client error', async () => {
    const hook = await serve(() => undefined);
    const slow = await callWebhook(hook.url, '{}', [], 0.2);
    expect(slow).toMatchObject({ ok: false, interrupted: false, status: null, error: 'timeout after 0.2s' });
    expect(JSON.parse(slow.responseLog)).toEqual({ type: 'client_error', data: { message: 'timeout after 0.2s' }, version: '2' });
    const refused = await callWebhook(`http://127.0.0.1:${await closedPort()}`, '{}', [], 10);
    expect(refused).toMatchObject({ ok: false, status: null, error: 'ECONNREFUSED' });
  });

  it('is interrupted by shutdown', async () => {
    const hook = await serve(() => undefined);
    const shutdown = new AbortController();
    const call = callWebhook(hook.url, '{}', [], 10, shutdown.signal);
    setTimeout(() => shutdown.abort(new Error('engine shutting down')), 50);
    expect(await call).toMatchObject({ ok: false, interrupted: true, status: null, error: 'interrupted by shutdown' });
  });

  it('follows a redirect as fetch does: 307 again as a POST with the body, 302 as a GET', async () => {
    const hook = await serve((s, res) => {
      if (s.url === '/temporary') res.writeHead(307, { location: '/final' }).end();
      else if (s.url === '/found') res.writeHead(302, { location: '/final' }).end();
      else res.end(`${s.method} ${s.body}`);
    });
    const kept = await callWebhook(`${hook.url}/temporary`, '{"a":1}', [], 10);
    expect(kept).toMatchObject({ ok: true, status: 200 });
    expect(JSON.parse(kept.responseLog).data.body).toBe('POST {"a":1}');
    const changed = await callWebhook(`${hook.url}/found`, '{"a":1}', [], 10);
    expect(JSON.parse(changed.responseLog).data.body).toBe('GET ');
  });
});
