import { computed, type Ref } from 'vue';
import {
  AutoTopUpSettingsDocument,
  type AutoTopUpSettingsInput,
  type AutoTopUpSettingsRow,
  CreateAutoTopUpSettingsDocument,
  UpdateAutoTopUpSettingsDocument,
} from '../graphql/settings.ts';
import { isPositive, MAX_SETTING_CREDITS, MAX_SETTING_WHOLE_CREDITS, parseCredits } from '../lib/decimal.ts';
import { type AppError, appError } from '../lib/errors.ts';
import { formatCredits } from '../lib/format.ts';
import { type SaveOutcome, useGqlQuery, useSettingsSave } from '../lib/graphql-vue.ts';
import { autoTopUpSave } from '../lib/settings-save.ts';
import { useSessionStore } from '../stores/session.ts';

export type UseAutoTopUpOptions = Record<string, never>;

export interface UseAutoTopUpReturn {
  settings: Readonly<Ref<AutoTopUpSettingsRow | null>>;
  /** Validates, then saves what changed onto the row as loaded (see useSettingsSave). */
  save: (input: AutoTopUpSettingsInput) => Promise<SaveOutcome>;
  saving: Readonly<Ref<boolean>>;
  saveError: Readonly<Ref<AppError | null>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

const wholeIn = (value: number, min: number, max: number) => Number.isInteger(value) && value >= min && value <= max;

/** Auto top-up buys when available credits fall below the threshold, and spending stops at 0: on
 * with a threshold of 0 (or none, which saved as 0) it said "On" and never bought. */
export const THRESHOLD_ABOVE_ZERO = 'Enter a threshold above 0: a pack is bought when available credits fall below it.';

/** Whether the form's threshold, as typed, is one that auto top-up can be on with (a malformed one
 * is left to the validation's own words). */
export function thresholdAllowsOn(threshold: string): boolean {
  const typed = threshold.trim();
  if (!typed) return false;
  try {
    return isPositive(typed);
  } catch {
    return true;
  }
}

/** The bounds the server's permission check holds the settings to: a threshold from 0 to
 * 1,000,000,000 credits, 1 to 100 top-ups a month, a cooldown of at most 30 days (43,200 minutes)
 * and a monthly spend cap of 1 to 10,000,000 minor units; and, while on, a pack and a threshold above 0. */
function validate(input: AutoTopUpSettingsInput): AppError | null {
  if (input.enabled && !input.package_id) return appError('FORM_INVALID', 'Choose the pack to buy when the balance runs low.');
  if (input.enabled && !thresholdAllowsOn(input.threshold_credits)) return appError('FORM_INVALID', THRESHOLD_ABOVE_ZERO);
  try {
    const threshold = parseCredits(input.threshold_credits.trim());
    if (threshold < 0n) return appError('FORM_INVALID', 'The threshold cannot be negative.');
    if (threshold > MAX_SETTING_CREDITS) {
      return appError('FORM_INVALID', `The threshold can be at most ${formatCredits(MAX_SETTING_WHOLE_CREDITS)} credits.`);
    }
  } catch {
    return appError('FORM_INVALID', 'The threshold must be a number of credits with at most three decimals.');
  }
  const max = input.monthly_max_count;
  if (max !== null && max !== undefined && !wholeIn(max, 1, 100)) {
    return appError('FORM_INVALID', 'The number of top-ups a month must be a whole number from 1 to 100, or empty for no limit.');
  }
  if (input.cooldown_minutes !== undefined && !wholeIn(input.cooldown_minutes, 0, 43_200)) {
    return appError('FORM_INVALID', 'The pause between top-ups must be a whole number of minutes from 0 to 43,200 (30 days).');
  }
  const cap = input.monthly_max_minor;
  if (cap !== null && cap !== undefined && !(/^\d{1,9}$/.test(cap) && wholeIn(Number(cap), 1, 10_000_000))) {
    return appError(
      'FORM_INVALID',
      'The most to spend a month must be from 1 to 10,000,000 in the smallest unit of the currency, or empty for no limit.',
    );
  }
  return null;
}

export function useAutoTopUp(_options: UseAutoTopUpOptions = {}): UseAutoTopUpReturn {
  const session = useSessionStore();
  const query = useGqlQuery(AutoTopUpSettingsDocument, () => ({ orgId: session.orgId ?? '' }), { enabled: () => session.signedIn });
  const settings = computed(() => query.data.value?.auto_topup_settings_by_pk ?? null);
  const form = useSettingsSave({
    validate,
    plan: (input: AutoTopUpSettingsInput) => autoTopUpSave(settings.value, input),
    create: CreateAutoTopUpSettingsDocument,
    update: UpdateAutoTopUpSettingsDocument,
    created: (data) => data.insert_auto_topup_settings_one !== null,
    updated: (data) => data.update_auto_topup_settings?.affected_rows ?? 0,
    reload: async () => (await query.refetch())?.auto_topup_settings_by_pk?.updated_at ?? null,
  });
  return {
    settings,
    ...form,
    loading: query.loading,
    error: query.error,
  };
}
