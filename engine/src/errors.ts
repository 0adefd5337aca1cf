// Hasura's error shape: `{ message, extensions: { path, code } }` for GraphQL, and
// `{ error, path, code }` for the metadata API and the old `/v1alpha1` endpoint.

export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly path = '$',
    readonly status = 400,
    readonly internal?: unknown,
  ) {
    super(message);
  }
}

/**
 * Errors raised while an operation ran (a statement, an action's handler) rather than before it (parsing,
 * validation, planning): Hasura's postExecErr vs preExecErr, which the older WebSocket protocol sends
 * differently (`data` vs `error`).
 */
const executionErrors = new WeakSet<object>();

export async function duringExecution<T>(run: Promise<T>): Promise<T> {
  try {
    return await run;
  } catch (error) {
    if (error && typeof error === 'object') executionErrors.add(error);
    throw error;
  }
}

export const isExecutionError = (error: unknown): boolean => !!error && typeof error === 'object' && executionErrors.has(error);

export const validation = (message: string, path = '$') => new EngineError('validation-failed', message, path);
export const notFound = (message: string, path = '$') => new EngineError('not-found', message, path);
export const permissionError = (message: string, path = '$') => new EngineError('permission-error', message, path);
export const notSupported = (message: string, path = '$') => new EngineError('not-supported', message, path);

export interface GraphqlError {
  message: string;
  extensions: { path: string; code: string; internal?: unknown };
}

export function toGraphqlError(error: EngineError, devMode: boolean): GraphqlError {
  const extensions: GraphqlError['extensions'] = { path: error.path, code: error.code };
  if (devMode && error.internal !== undefined) extensions.internal = error.internal;
  return { message: error.message, extensions };
}

interface PgErrorLike {
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
  constraint?: string;
  schema?: string;
  table?: string;
  column?: string;
}

/** Maps a Postgres error as Hasura does: class 22 data, class 23 constraints, the rest unexpected. */
export function fromPgError(error: PgErrorLike, path: string, statement?: string): EngineError {
  const code = error.code ?? '';
  const internal = {
    statement,
    error: { status_code: code, message: error.message, description: error.detail ?? null, hint: error.hint ?? null },
  };
  if (code.startsWith('22')) return new EngineError('data-exception', error.message, path, 400, internal);
  if (code === '23505') return new EngineError('constraint-violation', `Uniqueness violation. ${error.message}`, path, 400, internal);
  if (code === '23503') return new EngineError('constraint-violation', `Foreign key violation. ${error.message}`, path, 400, internal);
  if (code === '23502') return new EngineError('constraint-violation', `Not-NULL violation. ${error.message}`, path, 400, internal);
  if (code === '23514') return new EngineError('constraint-violation', `Check constraint violation. ${error.message}`, path, 400, internal);
  if (code === '23P01') return new EngineError('constraint-violation', `Exclusion violation. ${error.message}`, path, 400, internal);
  if (code.startsWith('23'))
    return new EngineError('constraint-violation', `Integrity constraint violation. ${error.message}`, path, 400, internal);
  if (code === '42501') return new EngineError('permission-error', error.message, path, 400, internal);
  if (code === '40001') return new EngineError('unexpected', `serialization failure: ${error.message}`, path, 400, internal);
  return new EngineError('unexpected', 'database query error', path, 500, internal);
}
