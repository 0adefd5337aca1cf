// One shape for every failure the UI shows: the API's stable code, its message, and what the
// person can do about it (the `action` the api puts in `extensions`, else the code's own).
import { CombinedGraphQLErrors, ServerError } from '@apollo/client';

/**
 * The next step a person can take. The api names `top_up`, `upgrade`, `wait` and `raise_limit`; the
 * others come from the code: `retry` (the server failed), `reload` (this page is out of date or
 * was already sent), `sign_in` (the session is not accepted), `ask_admin` (only owners and admins
 * may), `check_input` (a value was refused), `contact_support` (nothing the person can change).
 */
export type FixAction =
  | 'top_up'
  | 'upgrade'
  | 'wait'
  | 'raise_limit'
  | 'sign_in'
  | 'retry'
  | 'reload'
  | 'ask_admin'
  | 'check_input'
  | 'contact_support'
  | null;

export interface AppError {
  code: string;
  message: string;
  action: FixAction;
  retryAfterSeconds: number | null;
  requiredPlan: string | null;
}

/**
 * The codes the app makes itself (a form's check before sending, a save that changed nothing): their
 * message is already written for a person and is shown as it is.
 */
export const APP_CODES: ReadonlySet<string> = new Set(['FORM_INVALID', 'SETTINGS_CHANGED', 'SETTINGS_NOT_SAVED']);

const ACTION_BY_CODE: Record<string, FixAction> = {
  INSUFFICIENT_CREDITS: 'top_up',
  RATE_LIMITED: 'wait',
  // SPEND_LIMIT_EXCEEDED: the api names the action (raise_limit for the per-call limit, wait for
  // the daily and monthly ones); without one, the refusal still links to the limits.
  SPEND_LIMIT_EXCEEDED: null,
  CAPABILITY_NOT_IN_PLAN: 'upgrade',
  QUALITY_NOT_IN_PLAN: 'upgrade',
  // The run is over; its words say to run it again.
  RESERVATION_ALREADY_RESOLVED: null,
  AI_PROVIDER_ERROR: 'retry',
  RESERVATION_NOT_FOUND: 'reload',
  // Each playground run has a key of its own (usePlaygroundRun), so a conflict is the same request
  // arriving twice: the first is running or done. Running it again under a new key would run the
  // model, and charge, a second time; the page is reloaded to see what became of it instead.
  IDEMPOTENCY_CONFLICT: 'reload',
  INVALID_INPUT: 'check_input',
  PAYLOAD_TOO_LARGE: 'check_input',
  ORGANIZATION_NOT_FOUND: 'sign_in',
  FORBIDDEN: 'ask_admin',
  UNAUTHORIZED: 'sign_in',
  NOT_FOUND: 'reload',
  PAYMENT_PROVIDER_ERROR: 'contact_support',
  // The plan cards ask again with a new figure (BillingPlans); anywhere else, a new page has one.
  PRORATION_DATE_STALE: 'reload',
  NETWORK_ERROR: 'retry',
  INTERNAL_ERROR: 'retry',
  // Hasura's codes (the engine answers with the same).
  unexpected: 'retry',
  'invalid-jwt': 'sign_in',
  'invalid-headers': 'sign_in',
  'jwt-invalid-claims': 'sign_in',
  'jwt-missing-role-claims': 'sign_in',
  'access-denied': 'sign_in',
  'validation-failed': 'reload',
  'parse-failed': 'reload',
  'not-found': 'reload',
  'data-exception': 'check_input',
  'constraint-violation': 'check_input',
  'permission-error': 'check_input',
};

function asString(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function asInt(value: unknown): number | null {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return null;
}

export function appError(code: string, message: string, extensions: Record<string, unknown> = {}): AppError {
  const action = (asString(extensions.action) as FixAction) ?? defaultAction(code);
  return {
    code,
    message,
    action,
    retryAfterSeconds: asInt(extensions.retry_after_seconds ?? extensions.retryAfterSeconds),
    requiredPlan: asString(extensions.required_plan ?? extensions.requiredPlan),
  };
}

/** The code's own next step: none for the app's codes, support for a code the app does not know. */
function defaultAction(code: string): FixAction {
  if (Object.hasOwn(ACTION_BY_CODE, code)) return ACTION_BY_CODE[code] ?? null;
  return APP_CODES.has(code) ? null : 'contact_support';
}

/**
 * A request the app called off itself, not a failure to show: a query unsubscribed or asked again
 * while it was on its way (AbortError), or one cut off by the store's reset after a sign-in, an org
 * switch or a sign-out (Apollo's "Store reset while query was in flight" and "QueryManager stopped
 * while query was in flight", numbered 96 and 94 in the builds, whose message is then only a link
 * naming that number). Its query is asked again, with the new session, at once.
 */
export function isCancellation(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { name, message } = error as { name?: unknown; message?: unknown };
  if (name === 'AbortError') return true;
  if (name !== 'Invariant Violation' || typeof message !== 'string') return false;
  if (/(Store reset|QueryManager stopped) while query was in flight/.test(message)) return true;
  const encoded = /go\.apollo\.dev\/c\/err#(.+)$/.exec(message)?.[1];
  if (!encoded) return false;
  try {
    const detail = JSON.parse(decodeURIComponent(encoded)) as { message?: unknown };
    return detail.message === 94 || detail.message === 96;
  } catch {
    return false;
  }
}

/** Any thrown value or Apollo error to an AppError. */
export function toAppError(error: unknown): AppError {
  if (CombinedGraphQLErrors.is(error)) {
    const first = error.errors[0];
    const extensions = (first?.extensions ?? {}) as Record<string, unknown>;
    return appError(asString(extensions.code) ?? 'GRAPHQL_ERROR', first?.message ?? error.message, extensions);
  }
  if (ServerError.is(error)) {
    return appError(error.statusCode === 401 ? 'UNAUTHORIZED' : 'NETWORK_ERROR', `The server answered ${error.statusCode}.`);
  }
  if (error instanceof Error) return appError('NETWORK_ERROR', error.message || 'The request failed.');
  return appError('UNKNOWN', 'Something went wrong.');
}

/** Words for the button or hint that fixes an error. */
export function describeFix(error: AppError): string | null {
  switch (error.action) {
    case 'top_up':
      return 'Buy more credits';
    case 'upgrade':
      return error.requiredPlan ? `Upgrade to ${capitalize(error.requiredPlan)}` : 'Upgrade your plan';
    case 'wait':
      return error.retryAfterSeconds !== null ? `Try again in ${formatWait(error.retryAfterSeconds)}` : 'Try again later';
    case 'raise_limit':
      return 'Review spend limits';
    case 'sign_in':
      return 'Sign in again';
    case 'retry':
      return 'Retry';
    case 'reload':
      return 'Reload the page';
    case 'ask_admin':
      return 'Ask an owner or admin of your organization';
    case 'check_input':
      return 'Check what you entered, or reload the page for the current choices';
    case 'contact_support':
      return 'Try again later; if it keeps failing, contact support';
    default:
      return null;
  }
}

/**
 * What happened, in words, for every code the web can receive. The server's own message may hold ids
 * and terms of the code (a user's and an org's UUID, "webhook"), so it is shown only under Details.
 */
const WORDS_BY_CODE: Record<string, string> = {
  INSUFFICIENT_CREDITS: 'Your organization does not have enough credits for this.',
  RATE_LIMITED: 'Your plan allows only so many runs of this in an hour and in a day, and they are used up.',
  SPEND_LIMIT_EXCEEDED: 'This would go past one of the spend limits your organization set.',
  CAPABILITY_NOT_IN_PLAN: 'Your plan does not include this.',
  QUALITY_NOT_IN_PLAN: 'Your plan does not offer this quality level here.',
  AI_PROVIDER_ERROR: 'The AI model did not answer. Nothing was charged.',
  RESERVATION_ALREADY_RESOLVED: 'This run is already over. Run it again for a new one.',
  RESERVATION_NOT_FOUND: 'The credits held for this run could not be found.',
  IDEMPOTENCY_CONFLICT: 'This was already submitted, so it was not done a second time; the first may still be running.',
  INVALID_INPUT: 'The server did not accept this: a value is not valid, or something chosen is no longer offered.',
  PAYLOAD_TOO_LARGE: 'What was sent is too large for the server to take.',
  ORGANIZATION_NOT_FOUND: 'Your organization could not be found. It may have been deleted.',
  FORBIDDEN: 'You are not allowed to do this in this organization.',
  UNAUTHORIZED: 'Your session has expired or is not valid.',
  NOT_FOUND: 'The server does not know this request. This page may be out of date.',
  PAYMENT_PROVIDER_ERROR: 'The payment provider could not complete this.',
  PRORATION_DATE_STALE: 'The amount shown to confirm is out of date, so nothing was charged.',
  NETWORK_ERROR: 'The server could not be reached, or it failed.',
  INTERNAL_ERROR: 'The server failed while doing this.',
  // Hasura's answer when the api behind it is down or fails ("http exception when calling webhook",
  // "internal error") and for a database error it does not name.
  unexpected: 'The server could not complete this: a service behind it did not answer, or failed.',
  'invalid-jwt': 'Your session has expired or is not valid.',
  'invalid-headers': 'Your session has expired or is not valid.',
  'jwt-invalid-claims': 'Your session has expired or is not valid.',
  'jwt-missing-role-claims': 'Your session has expired or is not valid.',
  'access-denied': 'Your session does not give access to this.',
  'validation-failed': 'The server could not read this request. This page may be out of date.',
  'parse-failed': 'The server could not read this request: a value is not in a form it takes, or this page is out of date.',
  'not-found': 'The server does not know this request. This page may be out of date.',
  'data-exception': 'A number is too large or not valid.',
  // Hasura's answer when a permission's check refuses the row (a value out of the allowed bounds).
  'permission-error': 'The server did not accept these values: one is outside what it allows, or you may not change this.',
  'constraint-violation': 'The server did not accept these values: one is outside what it allows.',
};

/** For a code of the server the app has no words for. */
export const UNKNOWN_ERROR_WORDS = 'Something went wrong on the server.';

/** The error for a person: the app's own message for its codes, words for every other code. */
export function describeError(error: AppError): string {
  // A per-call limit below the run's hold: the api answers action raise_limit (daily and monthly
  // limits answer wait), and waiting never lets the run through.
  if (error.code === 'SPEND_LIMIT_EXCEEDED' && error.action === 'raise_limit') {
    return "This run could cost more than your organization's per-call spend limit allows, so waiting will not help.";
  }
  if (APP_CODES.has(error.code)) return error.message;
  return WORDS_BY_CODE[error.code] ?? UNKNOWN_ERROR_WORDS;
}

export function formatWait(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.ceil((seconds % 3600) / 60);
  return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
}

export function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
