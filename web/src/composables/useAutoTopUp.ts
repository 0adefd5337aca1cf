import { computed, type Ref } from 'vue';
import {
  AutoTopUpSettingsDocument,
  type AutoTopUpSettingsInput,
  type AutoTopUpSettingsRow,
  CreateAutoTopUpSettingsDocument,
  UpdateAutoTopUpSettingsDocument,
} from '../graphql/settings.ts';
import { type AppError, appError } from '../lib/errors.ts';
import { type SaveOutcome, useGqlQuery, useSettingsSave } from '../lib/graphql-vue.ts';
import { autoTopUpSave } from '../lib/settings-save.ts';
import { autoTopUpErrors, firstError } from '../lib/settings-validation.ts';
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

/** The first of the form's refusals (lib/settings-validation.ts, which the form shows at each field). */
function validate(input: AutoTopUpSettingsInput): AppError | null {
  const message = firstError(autoTopUpErrors(input));
  return message ? appError('FORM_INVALID', message) : null;
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
