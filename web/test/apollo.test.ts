// The real client over HTTP: the fake is the engine's answer, at fetch.
import { gql } from '@apollo/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGraphqlConnection } from '../src/lib/apollo.ts';
import { toAppError } from '../src/lib/errors.ts';

const Query = gql`
  query Ping {
    organizations {
      id
    }
  }
`;

function fakeEngine(answer: unknown, status = 200) {
  const seen: Array<{ url: string; headers: Headers; body: { operationName: string } }> = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      seen.push({ url, headers: new Headers(init.headers), body: JSON.parse(String(init.body)) });
      return new Response(JSON.stringify(answer), { status, headers: { 'content-type': 'application/json' } });
    }),
  );
  return seen;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('createGraphqlConnection', () => {
  it('sends the current JWT as a bearer token on HTTP requests', async () => {
    const seen = fakeEngine({ data: { organizations: [{ __typename: 'organizations', id: 'o1' }] } });
    let token = 'first.token.value';
    const { client } = createGraphqlConnection({
      httpUrl: 'http://engine.test/v1/graphql',
      wsUrl: 'ws://engine.test/v1/graphql',
      getToken: () => token,
    });
    await client.query({ query: Query, fetchPolicy: 'network-only' });
    token = 'second.token.value';
    await client.query({ query: Query, fetchPolicy: 'network-only' });
    expect(seen.map((s) => [s.url, s.headers.get('authorization'), s.body.operationName])).toEqual([
      ['http://engine.test/v1/graphql', 'Bearer first.token.value', 'Ping'],
      ['http://engine.test/v1/graphql', 'Bearer second.token.value', 'Ping'],
    ]);
  });

  it('asks to sign in again when the engine refuses the token', async () => {
    fakeEngine({ errors: [{ message: 'Could not verify JWT: JWTExpired', extensions: { code: 'invalid-jwt', path: '$' } }] });
    const onAuthError = vi.fn();
    const { client } = createGraphqlConnection({
      httpUrl: 'http://engine.test/v1/graphql',
      wsUrl: 'ws://engine.test/v1/graphql',
      getToken: () => 'expired',
      onAuthError,
    });
    const error = await client.query({ query: Query }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(onAuthError).toHaveBeenCalledTimes(1);
    expect(onAuthError).toHaveBeenCalledWith('expired'); // the token the refused request carried
    expect(toAppError(error)).toMatchObject({ code: 'invalid-jwt', action: 'sign_in' });
  });

  it('does not sign out on other errors', async () => {
    fakeEngine({ errors: [{ message: 'field "x" not found', extensions: { code: 'validation-failed', path: '$' } }] });
    const onAuthError = vi.fn();
    const { client } = createGraphqlConnection({
      httpUrl: 'http://engine.test/v1/graphql',
      wsUrl: 'ws://e',
      getToken: () => 't',
      onAuthError,
    });
    await client.query({ query: Query }).catch(() => null);
    expect(onAuthError).not.toHaveBeenCalled();
  });
});
