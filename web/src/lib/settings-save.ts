// What a settings form sends: only the columns the person changed, and only onto the row as they
// loaded it. A form that saved its whole row undid whatever was written since the page loaded: the
// api turning auto top-up off after a dispute (and the reason it wrote), another admin's new limit.
// Pure, so that the engine tests (hasura/test/settings-saves.test.ts) send exactly what the app sends.
import type {
  AutoTopUpSettingsChanges,
  AutoTopUpSettingsInput,
  AutoTopUpSettingsRow,
  SpendLimitsChanges,
  SpendLimitsInput,
  SpendLimitsRow,
} from '../graphql/settings.ts';
import { compareCredits } from './decimal.ts';

/** How one save reaches the server. */
export type SettingsSave<TChanges> =
  /** Nothing differs from the row loaded: nothing to send. */
  | { kind: 'unchanged' }
  /** No row was loaded: create one (nothing happens when someone created it meanwhile). */
  | { kind: 'create'; object: TChanges }
  /** Change these columns of the loaded row, only while its updated_at is still `loadedAt`. */
  | { kind: 'update'; orgId: string; loadedAt: string; changes: TChanges };

/** Two amounts of credits are the same number ("150" and "150.000"); a malformed one differs from all. */
function sameCredits(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  try {
    return compareCredits(a, b) === 0;
  } catch {
    return false;
  }
}

const CREDIT_COLUMNS = new Set(['threshold_credits', 'daily_limit_credits', 'monthly_limit_credits', 'per_call_limit_credits']);

/** The columns of `wanted` whose value differs from the row's. */
function changedColumns<T extends object>(row: object, wanted: T): Partial<T> {
  const changes: Partial<T> = {};
  for (const [key, value] of Object.entries(wanted) as [keyof T & string, unknown][]) {
    const current: unknown = (row as Record<string, unknown>)[key];
    const same = CREDIT_COLUMNS.has(key) ? sameCredits(value as string | null, current as string | null) : value === (current ?? null);
    if (!same) changes[key] = value as T[keyof T & string];
  }
  return changes;
}

function plan<TRow extends { organization_id: string; updated_at: string }, TChanges extends object>(
  row: TRow | null,
  wanted: TChanges,
): SettingsSave<TChanges> {
  if (!row) return { kind: 'create', object: wanted };
  const changes = changedColumns(row, wanted) as TChanges;
  if (Object.keys(changes).length === 0) return { kind: 'unchanged' };
  return { kind: 'update', orgId: row.organization_id, loadedAt: row.updated_at, changes };
}

/**
 * The auto top-up save for the form's values over the row the page loaded (null: none). An empty
 * threshold is no value (the form refuses it while auto top-up is on); cooldown_minutes and
 * monthly_max_minor count only when given.
 */
export function autoTopUpSave(row: AutoTopUpSettingsRow | null, input: AutoTopUpSettingsInput): SettingsSave<AutoTopUpSettingsChanges> {
  const threshold = input.threshold_credits.trim();
  const wanted: AutoTopUpSettingsChanges = {
    enabled: input.enabled,
    ...(threshold ? { threshold_credits: threshold } : {}),
    package_id: input.package_id || null,
    monthly_max_count: input.monthly_max_count,
    ...(input.cooldown_minutes !== undefined ? { cooldown_minutes: input.cooldown_minutes } : {}),
    ...(input.monthly_max_minor !== undefined ? { monthly_max_minor: input.monthly_max_minor } : {}),
  };
  return plan(row, wanted);
}

/** The spend limits save for the form's values (null = no limit) over the row the page loaded (null: none). */
export function spendLimitsSave(row: SpendLimitsRow | null, input: SpendLimitsInput): SettingsSave<SpendLimitsChanges> {
  return plan(row, {
    daily_limit_credits: input.daily_limit_credits,
    monthly_limit_credits: input.monthly_limit_credits,
    per_call_limit_credits: input.per_call_limit_credits,
  });
}
