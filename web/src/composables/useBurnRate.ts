import { computed, type Ref, type WatchSource } from 'vue';
import { BurnRateDocument } from '../graphql/balance.ts';
import { useUtcDayClock, utcDayMinus } from '../lib/dates.ts';
import { divideCredits, wholeQuotient } from '../lib/decimal.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery, useRefetchOn } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UseBurnRateOptions {
  /** The window, in UTC days including today. @default 7 */
  days?: number;
  /** The clock. @default () => new Date() */
  now?: () => Date;
  /** The credits available now, to say how many days they last. @default null */
  available?: Ref<string | null>;
  /** Refetch the usage (shortly) after this changes — the live balance, so that runs count in the rate. @default undefined */
  refreshOn?: WatchSource<unknown>;
}

export interface UseBurnRateReturn {
  /** Credits consumed per day, averaged over the window. */
  creditsPerDay: Readonly<Ref<string | null>>;
  /** Whole days the available credits last at that rate; null when nothing is being used. */
  daysLeft: Readonly<Ref<number | null>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

export function useBurnRate(options: UseBurnRateOptions = {}): UseBurnRateReturn {
  const { days = 7, now = () => new Date() } = options;
  const session = useSessionStore();
  const clock = useUtcDayClock(now);
  const query = useGqlQuery(BurnRateDocument, () => ({ orgId: session.orgId ?? '', since: utcDayMinus(clock.value, days - 1) }), {
    enabled: () => session.signedIn,
  });
  if (options.refreshOn) useRefetchOn(options.refreshOn, query.refetch);
  const creditsPerDay = computed(() => {
    const data = query.data.value;
    if (!data) return null;
    return divideCredits(data.organization_usage_daily_aggregate.aggregate?.sum?.credits_consumed ?? '0', BigInt(days));
  });
  const daysLeft = computed(() => {
    const available = options.available?.value ?? null;
    if (available === null || creditsPerDay.value === null) return null;
    const q = wholeQuotient(available, creditsPerDay.value);
    return q === null ? null : Number(q);
  });
  return { creditsPerDay, daysLeft, loading: query.loading, error: query.error };
}
