// The outgoing notification adapters: a webhook receives each stored notification as JSON; a
// failing adapter is logged and never undoes what caused the notification.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type StoredNotification, sendAll, webhookSender } from '../../src/notifications/index.ts';

const received: { path: string; body: unknown }[] = [];
let answer = 204;
const hook = createServer((req, res) => {
  let text = '';
  req.on('data', (chunk) => {
    text += chunk;
  });
  req.on('end', () => {
    received.push({ path: req.url ?? '', body: JSON.parse(text) });
    res.writeHead(answer).end();
  });
});
await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/notify`;
afterAll(() => new Promise<void>((resolve) => hook.close(() => resolve())));

const notification = (id: string, readAt: Date | null = null): StoredNotification => ({
  id,
  organization_id: '0a000000-0000-4000-8000-000000000001',
  user_id: null,
  kind: 'usage_threshold',
  title: '80% of this period’s allowance used',
  body: '400.000 of 500.000 allowance credits used since 2026-11-01.',
  action_url: '/credits',
  dedupe_key: `usage:2026-11-01:80:${id}`,
  read_at: readAt,
  created_at: new Date('2026-11-22T10:15:00.000Z'),
});

describe('notification adapters', () => {
  it('POSTs each unread notification to the webhook as JSON, and skips the ones stored as already read', async () => {
    received.length = 0;
    await sendAll(webhookSender(hookUrl), [notification('n1'), notification('n2', new Date())]);
    expect(received).toEqual([
      {
        path: '/notify',
        body: expect.objectContaining({
          id: 'n1',
          organizationId: '0a000000-0000-4000-8000-000000000001',
          kind: 'usage_threshold',
          actionUrl: '/credits',
        }),
      },
    ]);
  });

  it('logs a failing send and carries on with the next one', async () => {
    received.length = 0;
    answer = 500;
    const errors: string[] = [];
    await sendAll(webhookSender(hookUrl), [notification('n3'), notification('n4')], { error: (message: string) => errors.push(message) });
    answer = 204;
    expect(received.map((r) => (r.body as { id: string }).id)).toEqual(['n3', 'n4']);
    expect(errors).toEqual(['[notify] could not send notification n3', '[notify] could not send notification n4']);
  });
});
