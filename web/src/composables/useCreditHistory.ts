import { computed, type Ref, ref, type WatchSource, watch } from 'vue';
import { CreditHistoryDocument, type LedgerEntry, type LedgerEntryFilter, type LedgerEntryType } from '../graphql/ledger.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UseCreditHistoryOptions {
  /** Rows per page. @default 25 */
  pageSize?: number;
  /**
   * Refetch the page whenever this changes — for example the live balance, so that a top-up or a
   * run that lands while the page is open shows up in the history without a reload.
   * @default undefined (no refetching)
   */
  refreshOn?: WatchSource<unknown>;
}

export interface UseCreditHistoryReturn {
  entries: Readonly<Ref<LedgerEntry[]>>;
  /** The entries matching the filters; when `more`, there are more than this. */
  total: Readonly<Ref<number>>;
  /** The count stopped before the last entry: `total` is a lower bound, and pages go on past `pageCount`. */
  more: Readonly<Ref<boolean>>;
  /** Zero-based. */
  page: Readonly<Ref<number>>;
  pageCount: Readonly<Ref<number>>;
  setPage: (page: number) => void;
  /** Filters (writable): the entry types to show (empty = all) and a UTC date range (YYYY-MM-DD, inclusive). */
  types: Ref<LedgerEntryType[]>;
  from: Ref<string | null>;
  to: Ref<string | null>;
  /** Why the date range cannot be asked for (From after To); null when it can. Nothing is fetched meanwhile. */
  rangeError: Readonly<Ref<string | null>>;
  /** Any filter is set. */
  filtered: Readonly<Ref<boolean>>;
  clearFilters: () => void;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

/** How far past the page's first entry the count goes, at least. */
const COUNT_AHEAD = 1000;

function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

export function useCreditHistory(options: UseCreditHistoryOptions = {}): UseCreditHistoryReturn {
  const { pageSize = 25, refreshOn } = options;
  const session = useSessionStore();
  const page = ref(0);
  const types = ref<LedgerEntryType[]>([]);
  const from = ref<string | null>(null);
  const to = ref<string | null>(null);

  watch(
    [types, from, to],
    () => {
      page.value = 0;
    },
    { deep: true },
  );

  const where = computed<LedgerEntryFilter>(() => {
    const filter: LedgerEntryFilter = { organization_id: { _eq: session.orgId ?? '' } };
    if (types.value.length) filter.entry_type = { _in: [...types.value] };
    if (from.value || to.value) {
      filter.created_at = {};
      if (from.value) filter.created_at._gte = `${from.value}T00:00:00Z`;
      if (to.value) filter.created_at._lt = `${nextDay(to.value)}T00:00:00Z`;
    }
    return filter;
  });

  const rangeError = computed(() =>
    from.value && to.value && from.value > to.value
      ? 'The From date is after the To date: choose a From date on or before the To date.'
      : null,
  );
  // The count goes at least COUNT_AHEAD entries past the page's first (the pager's next 40 pages),
  // without counting a busy org's whole year on every page. It moves in steps of COUNT_AHEAD, so
  // the limit, and the total shown while the next page loads, stay put from page to page.
  const countLimit = () => (Math.floor((page.value * pageSize) / COUNT_AHEAD) + 2) * COUNT_AHEAD + 1;
  const query = useGqlQuery(
    CreditHistoryDocument,
    () => ({ where: where.value, limit: pageSize, offset: page.value * pageSize, countLimit: countLimit() }),
    { enabled: () => session.signedIn && rangeError.value === null },
  );
  if (refreshOn) {
    watch(refreshOn, (now, before) => {
      if (before !== undefined && now !== before) void query.refetch();
    });
  }
  const counted = computed(() => query.data.value?.credit_ledger_entries_aggregate.aggregate?.count ?? 0);
  // Counted up to the limit the answer was asked with: that many means more exist.
  const askedLimit = computed(() => (query.data.value ? countLimit() : Number.POSITIVE_INFINITY));
  const more = computed(() => counted.value >= askedLimit.value);
  const total = computed(() => (more.value ? askedLimit.value - 1 : counted.value));
  const pageCount = computed(() => Math.max(1, Math.ceil(total.value / pageSize)));

  return {
    entries: computed(() => query.data.value?.credit_ledger_entries ?? []),
    total,
    more,
    page: computed(() => page.value),
    pageCount,
    setPage: (next) => {
      page.value = Math.max(0, more.value ? next : Math.min(next, pageCount.value - 1));
    },
    types,
    from,
    to,
    rangeError,
    filtered: computed(() => types.value.length > 0 || !!from.value || !!to.value),
    clearFilters: () => {
      types.value = [];
      from.value = null;
      to.value = null;
    },
    loading: query.loading,
    error: query.error,
  };
}
