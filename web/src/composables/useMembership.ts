import { computed, type Ref } from 'vue';
import { CurrentMembershipDocument, type MembershipRole } from '../graphql/session.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export type UseMembershipOptions = Record<string, never>;

export interface UseMembershipReturn {
  /** The signed-in person's role in the current org, from the database (not from the token). */
  role: Readonly<Ref<MembershipRole | null>>;
  orgName: Readonly<Ref<string | null>>;
  /** Owners and admins buy credits, change the plan and the settings. */
  canManage: Readonly<Ref<boolean>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

export function useMembership(_options: UseMembershipOptions = {}): UseMembershipReturn {
  const session = useSessionStore();
  const query = useGqlQuery(CurrentMembershipDocument, () => ({ orgId: session.orgId ?? '', userId: session.userId ?? '' }), {
    enabled: () => session.signedIn,
    fetchPolicy: 'cache-first',
  });
  const row = computed(() => query.data.value?.organization_members_by_pk ?? null);
  const role = computed(() => {
    const value = row.value?.role;
    return value === 'owner' || value === 'admin' || value === 'member' ? value : null;
  });
  return {
    role,
    orgName: computed(() => row.value?.organization.name ?? session.currentOrg?.orgName ?? null),
    canManage: computed(() => role.value === 'owner' || role.value === 'admin'),
    loading: query.loading,
    error: query.error,
  };
}
