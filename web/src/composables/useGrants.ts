import { computed, type Ref } from 'vue';
import { type GrantRow, GrantsDocument } from '../graphql/ledger.ts';
import { basisPoints } from '../lib/decimal.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export type UseGrantsOptions = Record<string, never>;

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

export function useGrants(_options: UseGrantsOptions = {}): UseGrantsReturn {
  const session = useSessionStore();
  const query = useGqlQuery(GrantsDocument, () => ({ orgId: session.orgId ?? '' }), { enabled: () => session.signedIn });
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
