import { computed, type Ref, type WatchSource } from 'vue';
import { UsageDailyDocument } from '../graphql/ledger.ts';
import { PlanCatalogDocument } from '../graphql/plans.ts';
import { lastUtcDays, useUtcDayClock, utcDayMinus } from '../lib/dates.ts';
import { formatThousandths, parseCredits } from '../lib/decimal.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery, useRefetchOn } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UseUsageBreakdownOptions {
  /** The window in UTC days, including today. @default 30 */
  days?: number;
  /** The clock. @default () => new Date() */
  now?: () => Date;
  /** Refetch the usage (shortly) after this changes — the live balance, so that runs show in the chart. @default undefined */
  refreshOn?: WatchSource<unknown>;
}

export interface UsageSeries {
  code: string;
  name: string;
  /** Credits consumed per day, aligned with `days`. */
  credits: string[];
  totalCredits: string;
  calls: number;
}

export interface UseUsageBreakdownReturn {
  days: Readonly<Ref<string[]>>;
  byCapability: Readonly<Ref<UsageSeries[]>>;
  byQualityLevel: Readonly<Ref<UsageSeries[]>>;
  totalCredits: Readonly<Ref<string>>;
  totalCalls: Readonly<Ref<number>>;
  empty: Readonly<Ref<boolean>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

export function useUsageBreakdown(options: UseUsageBreakdownOptions = {}): UseUsageBreakdownReturn {
  const { days: windowDays = 30, now = () => new Date() } = options;
  const session = useSessionStore();
  const start = useUtcDayClock(now);
  const days = computed(() => lastUtcDays(start.value, windowDays));
  const query = useGqlQuery(UsageDailyDocument, () => ({ orgId: session.orgId ?? '', since: utcDayMinus(start.value, windowDays - 1) }), {
    enabled: () => session.signedIn,
  });
  if (options.refreshOn) useRefetchOn(options.refreshOn, query.refetch);
  const catalog = useGqlQuery(PlanCatalogDocument, {}, { enabled: () => session.signedIn, fetchPolicy: 'cache-first' });

  function group(key: 'capability_code' | 'quality_level_code', names: Map<string, string>): UsageSeries[] {
    const rows = query.data.value?.organization_usage_daily ?? [];
    const index = new Map(days.value.map((d, i) => [d, i]));
    const series = new Map<string, { sums: bigint[]; calls: number }>();
    for (const row of rows) {
      const i = index.get(row.day);
      if (i === undefined) continue;
      // Usage of a call that named no capability or level has a null code: one series of its own.
      const code = row[key] ?? '';
      let entry = series.get(code);
      if (!entry) {
        entry = { sums: days.value.map(() => 0n), calls: 0 };
        series.set(code, entry);
      }
      entry.sums[i] = (entry.sums[i] ?? 0n) + parseCredits(row.credits_consumed);
      entry.calls += row.calls;
    }
    return [...series.entries()]
      .map(([code, { sums, calls }]) => ({
        code,
        name: names.get(code) ?? (code || 'Not specified'),
        credits: sums.map(formatThousandths),
        totalCredits: formatThousandths(sums.reduce((a, b) => a + b, 0n)),
        calls,
      }))
      .sort((a, b) => (parseCredits(b.totalCredits) > parseCredits(a.totalCredits) ? 1 : -1));
  }

  const capabilityNames = computed(() => new Map((catalog.data.value?.ai_capabilities ?? []).map((c) => [c.code, c.name])));
  const levelNames = computed(() => new Map((catalog.data.value?.quality_levels ?? []).map((q) => [q.code, q.name])));
  const byCapability = computed(() => group('capability_code', capabilityNames.value));
  const byQualityLevel = computed(() => group('quality_level_code', levelNames.value));
  const totalCredits = computed(() => formatThousandths(byCapability.value.reduce((sum, s) => sum + parseCredits(s.totalCredits), 0n)));
  const totalCalls = computed(() => byCapability.value.reduce((sum, s) => sum + s.calls, 0));

  return {
    days,
    byCapability,
    byQualityLevel,
    totalCredits,
    totalCalls,
    empty: computed(() => query.data.value !== undefined && byCapability.value.length === 0),
    loading: query.loading,
    error: query.error,
  };
}
