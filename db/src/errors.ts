// The ledger's error codes: SQL raises each with its own SQLSTATE (class OC), the code's name in
// HINT and a JSON object in DETAIL. Callers map a pg error to a stable code with ledgerErrorFromPg.

export const LEDGER_ERROR_CODES = {
  OC001: 'INSUFFICIENT_CREDITS',
  OC002: 'RATE_LIMITED',
  OC003: 'SPEND_LIMIT_EXCEEDED',
  OC004: 'CAPABILITY_NOT_IN_PLAN',
  OC005: 'QUALITY_NOT_IN_PLAN',
  OC006: 'RESERVATION_ALREADY_RESOLVED',
  OC007: 'RESERVATION_NOT_FOUND',
  OC008: 'INVALID_INPUT',
  OC009: 'ORGANIZATION_NOT_FOUND',
  OC010: 'IDEMPOTENCY_CONFLICT',
} as const;

export type LedgerSqlState = keyof typeof LEDGER_ERROR_CODES;
export type LedgerErrorCode = (typeof LEDGER_ERROR_CODES)[LedgerSqlState];

export interface LedgerError {
  code: LedgerErrorCode;
  /** The SQL message, naming the ids involved. */
  message: string;
  /** The numbers behind the error (amounts are decimal strings), from the error's DETAIL. */
  detail: Record<string, unknown>;
}

function isLedgerSqlState(value: unknown): value is LedgerSqlState {
  return typeof value === 'string' && Object.hasOwn(LEDGER_ERROR_CODES, value);
}

/** The ledger error behind a pg error, or undefined when it is not one of ours. */
export function ledgerErrorFromPg(error: unknown): LedgerError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message, detail } = error as { code?: unknown; message?: unknown; detail?: unknown };
  if (!isLedgerSqlState(code)) return undefined;
  let parsed: Record<string, unknown> = {};
  if (typeof detail === 'string' && detail.length > 0) {
    try {
      const value: unknown = JSON.parse(detail);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) parsed = value as Record<string, unknown>;
    } catch {
      parsed = {};
    }
  }
  return { code: LEDGER_ERROR_CODES[code], message: typeof message === 'string' ? message : '', detail: parsed };
}
