// One error type for the whole service, the table of codes (the SQL codes one-to-one, plus the
// service's own), and the one error middleware that answers in Hasura's action error shape.
import { ledgerErrorFromPg } from '@org-credits/db/errors';
import type { ErrorRequestHandler } from 'express';
import { ZodError } from 'zod';

/** What the person can do about an error (`raise_limit`: a per-call spend limit, which waiting never passes). */
export type UserAction = 'upgrade' | 'top_up' | 'wait' | 'raise_limit';

interface CodeInfo {
  status: number;
  action?: UserAction;
  /** The SQLSTATE the ledger raises it with (class `OC`), for the codes that come from SQL. */
  sqlstate?: string;
}

/** Every code the service answers with; the `OC…` ones match docs/data-model.md one-to-one. */
export const ERROR_CODES = {
  INSUFFICIENT_CREDITS: { status: 402, action: 'top_up', sqlstate: 'OC001' },
  RATE_LIMITED: { status: 429, action: 'wait', sqlstate: 'OC002' },
  SPEND_LIMIT_EXCEEDED: { status: 402, action: 'wait', sqlstate: 'OC003' },
  CAPABILITY_NOT_IN_PLAN: { status: 403, action: 'upgrade', sqlstate: 'OC004' },
  QUALITY_NOT_IN_PLAN: { status: 403, action: 'upgrade', sqlstate: 'OC005' },
  RESERVATION_ALREADY_RESOLVED: { status: 409, sqlstate: 'OC006' },
  RESERVATION_NOT_FOUND: { status: 404, sqlstate: 'OC007' },
  INVALID_INPUT: { status: 400, sqlstate: 'OC008' },
  ORGANIZATION_NOT_FOUND: { status: 404, sqlstate: 'OC009' },
  IDEMPOTENCY_CONFLICT: { status: 409, sqlstate: 'OC010' },
  UNAUTHORIZED: { status: 401 },
  FORBIDDEN: { status: 403 },
  NOT_FOUND: { status: 404 },
  PAYMENT_PROVIDER_ERROR: { status: 400 },
  /**
   * changePlan's `prorationDate` (the time of the preview the person confirmed) no longer stands:
   * older than PRORATION_DATE_MAX_AGE_MS (actions/changePlan.ts), or outside the subscription's
   * current period. Nothing was done; preview the change again and confirm its figure.
   */
  PRORATION_DATE_STALE: { status: 409 },
  AI_PROVIDER_ERROR: { status: 400 },
  /** A request body over its route's limit (body parsers' 413); the body is read off and dropped. */
  PAYLOAD_TOO_LARGE: { status: 413 },
  /** A body in an encoding or charset the route does not read (body parsers' 415). */
  UNSUPPORTED_MEDIA_TYPE: { status: 415 },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AppErrorDetails {
  retryAfterSeconds?: number;
  requiredPlan?: string;
  /** Overrides the code's default user action. */
  action?: UserAction;
  /** The numbers behind the error (from the SQL DETAIL), for logs and for checks. */
  detail?: Record<string, unknown>;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: AppErrorDetails;

  constructor(code: ErrorCode, message: string, details: AppErrorDetails = {}) {
    super(message);
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = details;
  }

  get action(): UserAction | undefined {
    const info: CodeInfo = ERROR_CODES[this.code];
    return this.details.action ?? info.action;
  }

  /** Hasura's action error body. */
  toBody(): { message: string; extensions: Record<string, unknown> } {
    const extensions: Record<string, unknown> = { code: this.code };
    if (this.action) extensions.action = this.action;
    if (this.details.retryAfterSeconds !== undefined) extensions.retry_after_seconds = this.details.retryAfterSeconds;
    if (this.details.requiredPlan !== undefined) extensions.required_plan = this.details.requiredPlan;
    // Which reservation, and what became of it: `settled` (charged: an answer was lost, do not run
    // the call again) or `released`/`expired` (never charged). Hasura passes an action's
    // extensions through as they are.
    if (this.code === 'RESERVATION_ALREADY_RESOLVED') {
      const { reservation_id: reservationId, status } = this.details.detail ?? {};
      if (typeof reservationId === 'string') extensions.reservation_id = reservationId;
      if (typeof status === 'string') extensions.status = status;
    }
    return { message: this.message, extensions };
  }
}

/**
 * The `AppError` for an error raised by a ledger function (SQLSTATE class `OC`, read by the
 * ledger's own `ledgerErrorFromPg`), or undefined for any other error. The DETAIL JSON carries
 * the numbers: `retry_after_seconds`, `required_plan_code`, ….
 */
export function appErrorFromPg(error: unknown): AppError | undefined {
  const ledgerError = ledgerErrorFromPg(error);
  if (!ledgerError) {
    // Bad values that Postgres itself rejects (a malformed uuid, a number out of range) are the
    // caller's mistake too.
    const code = (error as { code?: unknown } | null)?.code;
    // 22021: a NUL character in a string (GraphQL strings may carry \u0000; Postgres text cannot).
    if (code === '22P02' || code === '22003' || code === '22021') return new AppError('INVALID_INPUT', String((error as Error).message));
    return undefined;
  }
  const { detail } = ledgerError;
  const retry = detail.retry_after_seconds;
  const plan = detail.required_plan_code ?? detail.required_plan;
  return new AppError(ledgerError.code, ledgerError.message, {
    detail,
    ...(typeof retry === 'number' || typeof retry === 'string' ? { retryAfterSeconds: Math.max(0, Math.ceil(Number(retry))) } : {}),
    ...(typeof plan === 'string' ? { requiredPlan: plan } : {}),
    // A call over the per-call limit is refused however long one waits: the limit must change.
    ...(ledgerError.code === 'SPEND_LIMIT_EXCEEDED' && detail.limit === 'per_call' ? { action: 'raise_limit' as const } : {}),
  });
}

/** Runs a database call, turning ledger errors into `AppError`s. */
export async function ledger<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw appErrorFromPg(error) ?? error;
  }
}

export function invalidInputFromZod(error: ZodError, what: string): AppError {
  const problems = error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : what}: ${issue.message}`);
  return new AppError('INVALID_INPUT', `invalid ${what}: ${problems.join('; ')}`);
}

export interface ErrorLogger {
  error(message: string, error: unknown): void;
}

/** The last middleware: every error becomes Hasura's shape; a stack trace never leaves the process. */
export function errorMiddleware(logger: ErrorLogger): ErrorRequestHandler {
  return (error: unknown, _req, res, _next) => {
    let appError: AppError | undefined;
    if (error instanceof AppError) appError = error;
    else if (error instanceof ZodError) appError = invalidInputFromZod(error, 'request');
    else appError = appErrorFromPg(error);
    if (!appError && isBodyParserError(error, 413)) {
      const limit = (error as { limit?: unknown }).limit;
      appError = new AppError(
        'PAYLOAD_TOO_LARGE',
        typeof limit === 'number'
          ? `the request body is larger than this route's limit of ${limit} bytes`
          : 'the request body is too large',
      );
    }
    // An encoding (Content-Encoding) or charset the body parser does not read: the client's mistake.
    if (!appError && isBodyParserError(error, 415))
      appError = new AppError('UNSUPPORTED_MEDIA_TYPE', `the request body cannot be read: ${error.message}`);
    if (!appError && isBodyParserError(error, 400))
      appError = new AppError('INVALID_INPUT', `the request body is not valid JSON: ${error.message}`);
    if (appError) {
      res.status(appError.status).json(appError.toBody());
      return;
    }
    logger.error('unexpected error', error);
    res.status(500).json({ message: 'internal error', extensions: { code: 'INTERNAL_ERROR' } });
  };
}

function isBodyParserError(error: unknown, status: number): error is Error & { type: string } {
  return (
    error instanceof Error && typeof (error as { type?: unknown }).type === 'string' && (error as { status?: number }).status === status
  );
}
