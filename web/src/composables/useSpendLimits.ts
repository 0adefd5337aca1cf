import { computed, type Ref } from 'vue';
import { SaveSpendLimitsDocument, SpendLimitsDocument, type SpendLimitsInput, type SpendLimitsRow } from '../graphql/settings.ts';
import { useUtcDayClock, utcDay, utcMonthStart } from '../lib/dates.ts';
import { basisPoints, MAX_SETTING_CREDITS, MAX_SETTING_WHOLE_CREDITS, parseCredits } from '../lib/decimal.ts';
import { type AppError, appError } from '../lib/errors.ts';
import { formatCredits } from '../lib/format.ts';
import { useGqlQuery, useValidatedSave } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UseSpendLimitsOptions {
  /** The clock (which UTC day and month the usage counts). @default () => new Date() */
  now?: () => Date;
}

export interface SpendLimitUsage {
  key: 'daily' | 'monthly' | 'per_call';
  label: string;
  limit: string | null;
  /** Used in the limit's period (null for per call, which has no period). */
  used: string | null;
  /** Used as basis points of the limit; null without a limit or a period. */
  usedBasisPoints: number | null;
}

export interface UseSpendLimitsReturn {
  limits: Readonly<Ref<SpendLimitsRow | null>>;
  usage: Readonly<Ref<SpendLimitUsage[]>>;
  save: (input: SpendLimitsInput) => Promise<boolean>;
  saving: Readonly<Ref<boolean>>;
  saveError: Readonly<Ref<AppError | null>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

const LIMIT_NAMES: Record<keyof SpendLimitsInput, string> = {
  daily_limit_credits: 'daily limit',
  monthly_limit_credits: 'monthly limit',
  per_call_limit_credits: 'per call limit',
};

/** The bounds the server's permission check holds each limit to: more than zero, at most 1,000,000,000 credits. */
function validate(input: SpendLimitsInput): AppError | null {
  for (const key of Object.keys(LIMIT_NAMES) as Array<keyof SpendLimitsInput>) {
    const value = input[key];
    const name = LIMIT_NAMES[key];
    if (value === null || value === undefined) continue;
    try {
      const credits = parseCredits(value);
      if (credits <= 0n) return appError('INVALID_INPUT', `The ${name} must be more than zero, or empty for none.`);
      if (credits > MAX_SETTING_CREDITS) {
        return appError(
          'INVALID_INPUT',
          `The ${name} can be at most ${formatCredits(MAX_SETTING_WHOLE_CREDITS)} credits, or empty for none.`,
        );
      }
    } catch {
      return appError('INVALID_INPUT', `The ${name} must be a number of credits with at most three decimals.`);
    }
  }
  return null;
}

export function useSpendLimits(options: UseSpendLimitsOptions = {}): UseSpendLimitsReturn {
  const { now = () => new Date() } = options;
  const session = useSessionStore();
  const clock = useUtcDayClock(now);
  const query = useGqlQuery(
    SpendLimitsDocument,
    () => {
      const date = clock.value;
      return { orgId: session.orgId ?? '', today: utcDay(date), monthStart: utcMonthStart(date) };
    },
    { enabled: () => session.signedIn },
  );
  const form = useValidatedSave(SaveSpendLimitsDocument, validate, (data) => data.insert_spend_limits_one !== null, {
    refetchQueries: ['SpendLimits'],
  });
  const limits = computed(() => query.data.value?.spend_limits_by_pk ?? null);

  const usage = computed<SpendLimitUsage[]>(() => {
    const data = query.data.value;
    const today = data?.today.aggregate?.sum?.credits_consumed ?? '0';
    const month = data?.month.aggregate?.sum?.credits_consumed ?? '0';
    const row = limits.value;
    const entry = (key: SpendLimitUsage['key'], label: string, limit: string | null, used: string | null): SpendLimitUsage => ({
      key,
      label,
      limit,
      used,
      usedBasisPoints: limit !== null && used !== null ? basisPoints(used, limit) : null,
    });
    return [
      entry('daily', 'Daily', row?.daily_limit_credits ?? null, today),
      entry('monthly', 'Monthly', row?.monthly_limit_credits ?? null, month),
      entry('per_call', 'Per call', row?.per_call_limit_credits ?? null, null),
    ];
  });

  return {
    limits,
    usage,
    ...form,
    loading: query.loading,
    error: query.error,
  };
}
