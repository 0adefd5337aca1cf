// One shape for every failure the UI shows: the API's stable code, its message, and what the
// person can do about it (the `action` the api puts in `extensions`).
import { CombinedGraphQLErrors, ServerError } from '@apollo/client';

export type FixAction = 'top_up' | 'upgrade' | 'wait' | 'raise_limit' | 'sign_in' | 'retry' | null;

export interface AppError {
  code: string;
  message: string;
  action: FixAction;
  retryAfterSeconds: number | null;
  requiredPlan: string | null;
}

const ACTION_BY_CODE: Record<string, FixAction> = {
  INSUFFICIENT_CREDITS: 'top_up',
  RATE_LIMITED: 'wait',
  // SPEND_LIMIT_EXCEEDED: the api names the action (raise_limit for the per-call limit, wait for
  // the daily and monthly ones); without one, the refusal still links to the limits.
  CAPABILITY_NOT_IN_PLAN: 'upgrade',
  QUALITY_NOT_IN_PLAN: 'upgrade',
  UNAUTHORIZED: 'sign_in',
  'invalid-jwt': 'sign_in',
  NETWORK_ERROR: 'retry',
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
  const action = (asString(extensions.action) as FixAction) ?? ACTION_BY_CODE[code] ?? null;
  return {
    code,
    message,
    action,
    retryAfterSeconds: asInt(extensions.retry_after_seconds ?? extensions.retryAfterSeconds),
    requiredPlan: asString(extensions.required_plan ?? extensions.requiredPlan),
  };
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
    default:
      return null;
  }
}

/** What happened, in words, for the codes a person meets (for other codes the server's message is shown). */
const WORDS_BY_CODE: Record<string, string> = {
  INSUFFICIENT_CREDITS: 'Your organization does not have enough credits for this.',
  RATE_LIMITED: 'Your plan allows only so many runs of this in an hour and in a day, and they are used up.',
  SPEND_LIMIT_EXCEEDED: 'This would go past one of the spend limits your organization set.',
  CAPABILITY_NOT_IN_PLAN: 'Your plan does not include this.',
  QUALITY_NOT_IN_PLAN: 'Your plan does not offer this quality level here.',
  AI_PROVIDER_ERROR: 'The AI model did not answer. Nothing was charged.',
  RESERVATION_ALREADY_RESOLVED: 'This run is already over. Run it again for a new one.',
  NETWORK_ERROR: 'The server could not be reached, or it failed.',
  'data-exception': 'A number is too large or not valid.',
  // Hasura's answer when a permission's check refuses the row (a value out of the allowed bounds).
  'permission-error': 'The server did not accept these values: one is outside what it allows, or you may not change this.',
  'constraint-violation': 'The server did not accept these values: one is outside what it allows.',
};

/** The error for a person: words for the codes they meet, the server's own message otherwise. */
export function describeError(error: AppError): string {
  // A per-call limit below the run's hold: the api answers action raise_limit (daily and monthly
  // limits answer wait), and waiting never lets the run through.
  if (error.code === 'SPEND_LIMIT_EXCEEDED' && error.action === 'raise_limit') {
    return "This run could cost more than your organization's per-call spend limit allows, so waiting will not help.";
  }
  return WORDS_BY_CODE[error.code] ?? error.message;
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
