import { computed, type Ref } from 'vue';
import {
  AutoTopUpSettingsDocument,
  type AutoTopUpSettingsInput,
  type AutoTopUpSettingsRow,
  SaveAutoTopUpSettingsDocument,
} from '../graphql/settings.ts';
import { MAX_CREDITS, parseCredits } from '../lib/decimal.ts';
import { type AppError, appError } from '../lib/errors.ts';
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

function validate(input: AutoTopUpSettingsInput): AppError | null {
  if (input.enabled && !input.package_id) return appError('INVALID_INPUT', 'Choose the pack to buy when the balance runs low.');
  try {
    const threshold = parseCredits(input.threshold_credits);
    if (threshold < 0n) return appError('INVALID_INPUT', 'The threshold cannot be negative.');
    if (threshold > MAX_CREDITS) return appError('INVALID_INPUT', 'The threshold is too large.');
  } catch {
    return appError('INVALID_INPUT', 'The threshold must be a number of credits with at most three decimals.');
  }
  const max = input.monthly_max_count;
  if (max !== null && max !== undefined && (!Number.isInteger(max) || max < 1 || max > 1000)) {
    return appError('INVALID_INPUT', 'The number of top-ups a month must be a whole number from 1 to 1,000, or empty for no limit.');
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
