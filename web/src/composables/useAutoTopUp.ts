import { computed, type Ref } from 'vue';
import {
  AutoTopUpSettingsDocument,
  type AutoTopUpSettingsInput,
  type AutoTopUpSettingsRow,
  SaveAutoTopUpSettingsDocument,
} from '../graphql/settings.ts';
import { MAX_SETTING_CREDITS, MAX_SETTING_WHOLE_CREDITS, parseCredits } from '../lib/decimal.ts';
import { type AppError, appError } from '../lib/errors.ts';
import { formatCredits } from '../lib/format.ts';
import { useGqlQuery, useValidatedSave } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export type UseAutoTopUpOptions = Record<string, never>;

export interface UseAutoTopUpReturn {
  settings: Readonly<Ref<AutoTopUpSettingsRow | null>>;
  /** Validates then saves; resolves true when saved. */
  save: (input: AutoTopUpSettingsInput) => Promise<boolean>;
  saving: Readonly<Ref<boolean>>;
  saveError: Readonly<Ref<AppError | null>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

const wholeIn = (value: number, min: number, max: number) => Number.isInteger(value) && value >= min && value <= max;

/** The bounds the server's permission check holds the settings to: a threshold from 0 to
 * 1,000,000,000 credits, 1 to 100 top-ups a month, a cooldown of at most 30 days (43,200 minutes)
 * and a monthly spend cap of 1 to 10,000,000 minor units. */
function validate(input: AutoTopUpSettingsInput): AppError | null {
  if (input.enabled && !input.package_id) return appError('INVALID_INPUT', 'Choose the pack to buy when the balance runs low.');
  try {
    const threshold = parseCredits(input.threshold_credits);
    if (threshold < 0n) return appError('INVALID_INPUT', 'The threshold cannot be negative.');
    if (threshold > MAX_SETTING_CREDITS) {
      return appError('INVALID_INPUT', `The threshold can be at most ${formatCredits(MAX_SETTING_WHOLE_CREDITS)} credits.`);
    }
  } catch {
    return appError('INVALID_INPUT', 'The threshold must be a number of credits with at most three decimals.');
  }
  const max = input.monthly_max_count;
  if (max !== null && max !== undefined && !wholeIn(max, 1, 100)) {
    return appError('INVALID_INPUT', 'The number of top-ups a month must be a whole number from 1 to 100, or empty for no limit.');
  }
  if (input.cooldown_minutes !== undefined && !wholeIn(input.cooldown_minutes, 0, 43_200)) {
    return appError('INVALID_INPUT', 'The pause between top-ups must be a whole number of minutes from 0 to 43,200 (30 days).');
  }
  const cap = input.monthly_max_minor;
  if (cap !== null && cap !== undefined && !(/^\d{1,9}$/.test(cap) && wholeIn(Number(cap), 1, 10_000_000))) {
    return appError(
      'INVALID_INPUT',
      'The most to spend a month must be from 1 to 10,000,000 in the smallest unit of the currency, or empty for no limit.',
    );
  }
  return null;
}

export function useAutoTopUp(_options: UseAutoTopUpOptions = {}): UseAutoTopUpReturn {
  const session = useSessionStore();
  const query = useGqlQuery(AutoTopUpSettingsDocument, () => ({ orgId: session.orgId ?? '' }), { enabled: () => session.signedIn });
  const form = useValidatedSave(SaveAutoTopUpSettingsDocument, validate, (data) => data.insert_auto_topup_settings_one !== null);
  return {
    settings: computed(() => query.data.value?.auto_topup_settings_by_pk ?? null),
    ...form,
    loading: query.loading,
    error: query.error,
  };
}
