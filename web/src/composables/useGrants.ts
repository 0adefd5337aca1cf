import { computed, type Ref, type WatchSource } from 'vue';
import { type GrantRow, GrantsDocument } from '../graphql/ledger.ts';
import { basisPoints } from '../lib/decimal.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery, useRefetchOn } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UseGrantsOptions {
  /**
   * Refetch the grants (shortly) after this changes — the live balance, so that a run, a top-up or an
   * expiry that lands while the page is open shows in what each grant has left. @default undefined
   */
  refreshOn?: WatchSource<unknown>;
}

export interface GrantView extends GrantRow {
  /** What remains, in basis points of the grant. */
  remainingBasisPoints: number;
}

export interface UseGrantsReturn {
  /** Grants that still hold credits, the soonest to expire first. */
  grants: Readonly<Ref<GrantView[]>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

export function useGrants(options: UseGrantsOptions = {}): UseGrantsReturn {
  const session = useSessionStore();
  const query = useGqlQuery(GrantsDocument, () => ({ orgId: session.orgId ?? '' }), { enabled: () => session.signedIn });
  if (options.refreshOn) useRefetchOn(options.refreshOn, query.refetch);
  return {
    grants: computed(() =>
      (query.data.value?.organization_active_grants ?? []).map((g) => ({
        ...g,
        remainingBasisPoints: basisPoints(g.remaining_credits, g.amount_credits),
      })),
    ),
    loading: query.loading,
    error: query.error,
  };
}
