import { computed, type Ref } from 'vue';
import {
  CreateSpendLimitsDocument,
  SpendLimitsDocument,
  type SpendLimitsInput,
  type SpendLimitsRow,
  UpdateSpendLimitsDocument,
} from '../graphql/settings.ts';
import { useUtcDayClock, utcDay, utcMonthStart } from '../lib/dates.ts';
import { addCredits, basisPoints } from '../lib/decimal.ts';
import { type AppError, appError } from '../lib/errors.ts';
import { type SaveOutcome, useGqlQuery, useRefetchOn, useSettingsSave } from '../lib/graphql-vue.ts';
import { spendLimitsSave } from '../lib/settings-save.ts';
import { firstError, spendLimitErrors } from '../lib/settings-validation.ts';
import { useSessionStore } from '../stores/session.ts';
import { useCreditBalance } from './useCreditBalance.ts';

export interface UseSpendLimitsOptions {
  /**
   * Ask the consumed counters again whenever the shared balance moves, so that "used" and "held"
   * describe the same moment: the billing page's figures. A page that reads only the limits (the
   * playground's per-call check) turns it off, and a run costs it no queries. @default true
   */
  followUsage?: boolean;
  /** The clock (which UTC day and month the usage counts). @default () => new Date() */
  now?: () => Date;
}

export interface SpendLimitUsage {
  key: 'daily' | 'monthly' | 'per_call';
  label: string;
  limit: string | null;
  /** Consumed in the limit's period (null for per call, which has no period). */
  used: string | null;
  /** Held now by open reservations, which the limit counts as well until they settle (null for per call). */
  held: string | null;
  /** Consumed plus held, as basis points of the limit (what the limit holds a reserve against); null
   * without a limit or a period. */
  usedBasisPoints: number | null;
}

export interface UseSpendLimitsReturn {
  limits: Readonly<Ref<SpendLimitsRow | null>>;
  usage: Readonly<Ref<SpendLimitUsage[]>>;
  /** Validates, then saves what changed onto the row as loaded (see useSettingsSave). */
  save: (input: SpendLimitsInput) => Promise<SaveOutcome>;
  saving: Readonly<Ref<boolean>>;
  saveError: Readonly<Ref<AppError | null>>;
  /** The limits and the consumed counters are being asked (the first time, or for a new day). */
  loading: Readonly<Ref<boolean>>;
  /** What is held is not known yet: the shared balance has not answered its first time. */
  balanceLoading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

/** The first of the form's refusals (lib/settings-validation.ts, which the form shows at each field):
 * each limit more than zero and at most 1,000,000,000 credits, the daily one no higher than the monthly. */
function validate(input: SpendLimitsInput): AppError | null {
  const message = firstError(spendLimitErrors(input));
  return message ? appError('FORM_INVALID', message) : null;
}

export function useSpendLimits(options: UseSpendLimitsOptions = {}): UseSpendLimitsReturn {
  const { now = () => new Date(), followUsage = true } = options;
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
  const limits = computed(() => query.data.value?.spend_limits_by_pk ?? null);
  const form = useSettingsSave({
    validate,
    plan: (input: SpendLimitsInput) => spendLimitsSave(limits.value, input),
    create: CreateSpendLimitsDocument,
    update: UpdateSpendLimitsDocument,
    created: (data) => data.insert_spend_limits_one !== null,
    updated: (data) => data.update_spend_limits?.affected_rows ?? 0,
    reload: async () => (await query.refetch())?.spend_limits_by_pk?.updated_at ?? null,
  });

  // What is held comes from the balance the whole app shares (one subscription while live, one
  // poll while not: the header's widget has it open already), not from a query of its own. When the
  // balance row moves (a run reserved or settled), the consumed counters are asked again, so that
  // "used" and "held" describe the same moment (a settle moves credits from one to the other). The
  // whole row (`changes`), not only what is held: a reserve and its settle between two updates of the
  // live balance leave the held credits as they were, while the available credits (and the used) moved.
  const balance = useCreditBalance();
  const held = computed(() => balance.balance.value?.reserved_credits ?? null);
  if (followUsage) useRefetchOn(balance.changes, query.refetch);

  const usage = computed<SpendLimitUsage[]>(() => {
    const data = query.data.value;
    // No counter row for the day (or month): nothing consumed in it yet, as reserve_credits counts.
    const today = data?.consumedToday[0]?.spend_day_credits ?? '0';
    const month = data?.consumedThisMonth[0]?.spend_month_credits ?? '0';
    const holding = held.value ?? '0';
    const row = limits.value;
    const entry = (key: SpendLimitUsage['key'], label: string, limit: string | null, used: string | null): SpendLimitUsage => ({
      key,
      label,
      limit,
      used,
      held: used === null ? null : holding,
      usedBasisPoints: limit !== null && used !== null ? basisPoints(addCredits(used, holding), limit) : null,
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
    balanceLoading: balance.loading,
    error: query.error,
  };
}
