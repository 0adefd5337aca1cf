import { vi } from 'vitest';
import { demoPerson, fakeToken } from '../../src/preview/fixtures.ts';
import type { DevPerson } from '../../src/stores/session.ts';

/**
 * The api's dev sign-in endpoints, faked at the HTTP edge: `/dev/people` lists `people`, and
 * `/dev/token` answers a token for the asked user and org. Returns the requests, in order. The
 * caller's `afterEach` undoes the stub (`vi.unstubAllGlobals`).
 */
export function fakeDevApi(people: DevPerson[] = [demoPerson]) {
  const requests: Array<{ url: string; body: unknown }> = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      const body = init?.body ? JSON.parse(String(init.body)) : null;
      requests.push({ url, body });
      if (url === 'http://api.test/dev/people') return new Response(JSON.stringify(people), { status: 200 });
      if (url === 'http://api.test/dev/token')
        return new Response(JSON.stringify({ token: fakeToken(body.userId, body.orgId) }), { status: 200 });
      return new Response('not found', { status: 404 });
    }),
  );
  return requests;
}
