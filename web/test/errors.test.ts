// Every code the web can receive, as the engine answers it (the api's codes come through Hasura's
// action errors, Hasura's own with their path), through the real client over HTTP: the words a
// person reads and the next step offered, never the server's raw message or an id.
import { gql } from '@apollo/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGraphqlConnection } from '../src/lib/apollo.ts';
import { type AppError, appError, describeError, describeFix, toAppError } from '../src/lib/errors.ts';

const Query = gql`
  query Ping {
    organizations {
      id
    }
  }
`;

const USER = '2bcb5e7a-0c1f-4b7e-9d1a-3f0e8c2a6445';
const ORG = '5bc7d2f4-6a3e-4c1b-8e9f-0a1b2c3d18c5';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** The AppError the app makes of the engine's answer to one request. */
async function answered(body: unknown, status = 200): Promise<AppError> {
  vi.stubGlobal(
    'fetch',
    vi.fn(async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })),
  );
  const { client } = createGraphqlConnection({ httpUrl: 'http://engine.test/v1/graphql', wsUrl: 'ws://e', getToken: () => 't' });
  const error = await client.query({ query: Query, fetchPolicy: 'network-only' }).then(
    () => null,
    (e: unknown) => e,
  );
  return toAppError(error);
}

/** Hasura's answer with one error: its own codes carry a path, an action's extensions come as the api wrote them. */
function engineError(message: string, extensions: Record<string, unknown>) {
  return { errors: [{ message, extensions }] };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('describeError and describeFix, for each code the engine answers', () => {
  it.each([
    [
      'unexpected: the api behind Hasura is down',
      engineError('http exception when calling webhook', { path: '$', code: 'unexpected' }),
      'The server could not complete this: a service behind it did not answer, or failed.',
      'Retry',
    ],
    [
      'unexpected: the api failed (its 500)',
      engineError('internal error', { path: '$', code: 'unexpected' }),
      'The server could not complete this: a service behind it did not answer, or failed.',
      'Retry',
    ],
    [
      'FORBIDDEN',
      engineError(`only owners and admins can manage billing; user ${USER} is a member of ${ORG}`, { code: 'FORBIDDEN' }),
      'You are not allowed to do this in this organization.',
      'Ask an owner or admin of your organization',
    ],
    [
      'IDEMPOTENCY_CONFLICT',
      engineError(`a playground run with idempotency key ${USER} has already started; use a new key`, { code: 'IDEMPOTENCY_CONFLICT' }),
      'This was already submitted, so it was not done a second time; the first may still be running.',
      'Reload the page',
    ],
    [
      'INVALID_INPUT',
      engineError(`no top-up package ${ORG} is on sale`, { code: 'INVALID_INPUT' }),
      'The server did not accept this: a value is not valid, or something chosen is no longer offered.',
      'Check what you entered, or reload the page for the current choices',
    ],
    [
      'PAYMENT_PROVIDER_ERROR',
      engineError('the upgrade to Team was not applied: Your card was declined.', { code: 'PAYMENT_PROVIDER_ERROR' }),
      'The payment provider could not complete this.',
      'Try again later; if it keeps failing, contact support',
    ],
    [
      'PRORATION_DATE_STALE',
      engineError('prorationDate 2026-11-21T11:00:00.000Z is more than 30 minutes old: preview the change again and confirm its figure', {
        code: 'PRORATION_DATE_STALE',
      }),
      'The amount shown to confirm is out of date, so nothing was charged.',
      'Reload the page',
    ],
    [
      'ORGANIZATION_NOT_FOUND',
      engineError(`org ${ORG} does not exist`, { code: 'ORGANIZATION_NOT_FOUND' }),
      'Your organization could not be found. It may have been deleted.',
      'Sign in again',
    ],
    [
      'RESERVATION_NOT_FOUND',
      engineError(`reservation ${USER} does not exist in organization ${ORG}`, { code: 'RESERVATION_NOT_FOUND' }),
      'The credits held for this run could not be found.',
      'Reload the page',
    ],
    [
      'UNAUTHORIZED',
      engineError('the session names no organization (x-hasura-org-id)', { code: 'UNAUTHORIZED' }),
      'Your session has expired or is not valid.',
      'Sign in again',
    ],
    [
      'NOT_FOUND',
      engineError('no action named runPlayground', { code: 'NOT_FOUND' }),
      'The server does not know this request. This page may be out of date.',
      'Reload the page',
    ],
    ['INTERNAL_ERROR', engineError('internal error', { code: 'INTERNAL_ERROR' }), 'The server failed while doing this.', 'Retry'],
    [
      'PAYLOAD_TOO_LARGE',
      engineError("the request body is larger than this route's limit of 1048576 bytes", { code: 'PAYLOAD_TOO_LARGE' }),
      'What was sent is too large for the server to take.',
      'Check what you entered, or reload the page for the current choices',
    ],
    [
      'parse-failed',
      engineError('The value 3.0e9 lies outside the bounds or is not an integer. Maybe it is a float, or is there integer overflow?', {
        path: '$.selectionSet.update_auto_topup_settings.args._set.monthly_max_count',
        code: 'parse-failed',
      }),
      'The server could not read this request: a value is not in a form it takes, or this page is out of date.',
      'Reload the page',
    ],
    [
      'validation-failed',
      engineError("field 'x' not found in type: 'query_root'", { path: '$.selectionSet.x', code: 'validation-failed' }),
      'The server could not read this request. This page may be out of date.',
      'Reload the page',
    ],
    [
      'not-found',
      engineError('resource does not exist', { path: '$', code: 'not-found' }),
      'The server does not know this request. This page may be out of date.',
      'Reload the page',
    ],
    [
      'access-denied',
      engineError('Your requested role is not in allowed roles', { path: '$', code: 'access-denied' }),
      'Your session does not give access to this.',
      'Sign in again',
    ],
    [
      'invalid-jwt',
      engineError('Could not verify JWT: JWTExpired', { path: '$', code: 'invalid-jwt' }),
      'Your session has expired or is not valid.',
      'Sign in again',
    ],
    [
      'invalid-headers',
      engineError('Malformed Authorization header', { path: '$', code: 'invalid-headers' }),
      'Your session has expired or is not valid.',
      'Sign in again',
    ],
    [
      'jwt-invalid-claims',
      engineError('x-hasura-org-id: not a uuid', { path: '$', code: 'jwt-invalid-claims' }),
      'Your session has expired or is not valid.',
      'Sign in again',
    ],
    [
      'data-exception',
      engineError('invalid input syntax for type numeric: "1e"', { path: '$', code: 'data-exception' }),
      'A number is too large or not valid.',
      'Check what you entered, or reload the page for the current choices',
    ],
    [
      'constraint-violation',
      engineError('Check constraint violation. new row for relation "spend_limits" violates check constraint', {
        path: '$',
        code: 'constraint-violation',
      }),
      'The server did not accept these values: one is outside what it allows.',
      'Check what you entered, or reload the page for the current choices',
    ],
    [
      'permission-error',
      engineError('check constraint of an insert/update permission has failed', { path: '$.selectionSet', code: 'permission-error' }),
      'The server did not accept these values: one is outside what it allows, or you may not change this.',
      'Check what you entered, or reload the page for the current choices',
    ],
    [
      'AI_PROVIDER_ERROR',
      engineError('the AI provider did not answer', { code: 'AI_PROVIDER_ERROR' }),
      'The AI model did not answer. Nothing was charged.',
      'Retry',
    ],
    [
      'a code the app does not know',
      engineError('the query is not supported', { path: '$', code: 'not-supported' }),
      'Something went wrong on the server.',
      'Try again later; if it keeps failing, contact support',
    ],
  ])('%s: plain words and a next step', async (_name, body, words, fix) => {
    const error = await answered(body);
    expect(describeError(error)).toBe(words);
    expect(describeFix(error)).toBe(fix);
  });

  it('never puts the server’s message, nor an id in it, in the words or the next step', async () => {
    const error = await answered(
      engineError(`only owners and admins can manage billing; user ${USER} is a member of ${ORG}`, { code: 'FORBIDDEN' }),
    );
    expect(error.message).toMatch(UUID);
    expect(describeError(error)).not.toMatch(UUID);
    expect(describeFix(error)).not.toMatch(UUID);
    const unknown = await answered(engineError(`org ${ORG} is walled off`, { code: 'SOMETHING_NEW' }));
    expect(describeError(unknown)).toBe('Something went wrong on the server.');
  });

  it('says the server could not be reached, with Retry, when the request never gets an answer', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        throw new TypeError('Failed to fetch');
      }),
    );
    const { client } = createGraphqlConnection({ httpUrl: 'http://engine.test/v1/graphql', wsUrl: 'ws://e', getToken: () => 't' });
    const error = toAppError(await client.query({ query: Query }).catch((e: unknown) => e));
    expect(describeError(error)).toBe('The server could not be reached, or it failed.');
    expect(describeFix(error)).toBe('Retry');
  });

  it('keeps the api’s own action over the code’s', () => {
    const error = appError('SPEND_LIMIT_EXCEEDED', 'passes its per-call limit', { action: 'raise_limit' });
    expect(describeFix(error)).toBe('Review spend limits');
  });

  it('shows the app’s own messages (a form’s check, a save that changed nothing) as they are, with no next step', () => {
    for (const code of ['FORM_INVALID', 'SETTINGS_CHANGED', 'SETTINGS_NOT_SAVED']) {
      const error = appError(code, 'The daily limit must be more than zero, or empty for none.');
      expect(describeError(error)).toBe('The daily limit must be more than zero, or empty for none.');
      expect(describeFix(error)).toBeNull();
    }
  });
});
