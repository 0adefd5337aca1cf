import { computed, type Ref, shallowRef } from 'vue';
import {
  CancelPlanChangeDocument,
  ChangePlanDocument,
  CurrentPlanDocument,
  PlanCatalogDocument,
  type PlanChangePreview,
  type PlanChangeResult,
  type PlanDetail,
  PreviewPlanChangeDocument,
  type SubscriptionRow,
} from '../graphql/plans.ts';
import { useGraphqlConnection } from '../lib/apollo.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlMutation, useGqlQuery } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UsePlanOptions {
  /** Sends the browser to a Stripe checkout when an upgrade needs a payment method. @default (url) => window.location.assign(url) */
  navigate?: (url: string) => void;
}

export type PlanDirection = 'current' | 'upgrade' | 'downgrade';

/**
 * changePlan's answer when the figure a confirmation showed is too old to be charged (the api's
 * PRORATION_DATE_STALE: its preview over half an hour old, or from before this billing period).
 * Nothing was done: the confirmation asks for a new preview and asks the person again.
 */
export const PREVIEW_OUT_OF_DATE = 'preview_out_of_date';

export interface UsePlanReturn {
  subscription: Readonly<Ref<SubscriptionRow | null>>;
  /** Every offered plan, smallest first. */
  plans: Readonly<Ref<PlanDetail[]>>;
  /** Whether moving to a plan is an upgrade (now) or a downgrade (at the period end). */
  directionOf: (plan: PlanDetail) => PlanDirection;
  /** What changing to the plan would do now (what Stripe charges at once), changing nothing; null when it fails. */
  previewChange: (planId: string) => Promise<PlanChangePreview | null>;
  /**
   * Changes the plan; `prorationDate` is the preview's whose figure the person confirmed (an upgrade
   * is then charged exactly that). PREVIEW_OUT_OF_DATE when that preview is too old (nothing done,
   * no error shown); null when it fails (the reason in `changeError`).
   */
  changePlan: (planId: string, prorationDate?: string | null) => Promise<PlanChangeResult | typeof PREVIEW_OUT_OF_DATE | null>;
  cancelPendingChange: () => Promise<PlanChangeResult | null>;
  changing: Readonly<Ref<boolean>>;
  changeError: Readonly<Ref<AppError | null>>;
  lastResult: Readonly<Ref<PlanChangeResult | null>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

export function usePlan(options: UsePlanOptions = {}): UsePlanReturn {
  const { navigate = (url: string) => window.location.assign(url) } = options;
  const session = useSessionStore();
  const { client } = useGraphqlConnection();
  const current = useGqlQuery(CurrentPlanDocument, () => ({ orgId: session.orgId ?? '' }), { enabled: () => session.signedIn });
  const catalog = useGqlQuery(PlanCatalogDocument, {}, { enabled: () => session.signedIn, fetchPolicy: 'cache-first' });
  const refetch = { refetchQueries: ['CurrentPlan', 'CreditBalance'] };
  const change = useGqlMutation(ChangePlanDocument, refetch);
  const cancel = useGqlMutation(CancelPlanChangeDocument, refetch);
  const lastResult = shallowRef<PlanChangeResult | null>(null);
  const subscription = computed(() => current.data.value?.organization_subscriptions_by_pk ?? null);

  return {
    subscription,
    plans: computed(() => [...(catalog.data.value?.plans ?? [])].sort((a, b) => a.rank - b.rank)),
    directionOf: (plan) => {
      const rank = subscription.value?.plan.rank;
      if (rank === undefined || plan.id === subscription.value?.plan.id) return 'current';
      return plan.rank > rank ? 'upgrade' : 'downgrade';
    },
    previewChange: async (planId) => {
      try {
        // Never from the cache: the answer depends on the moment (Stripe prorates by the second).
        const result = await client.query({
          query: PreviewPlanChangeDocument,
          variables: { planId, orgId: session.orgId },
          fetchPolicy: 'no-cache',
        });
        return result.data?.previewPlanChange ?? null;
      } catch {
        return null;
      }
    },
    changePlan: async (planId, prorationDate = null) => {
      try {
        const result = (await change.mutate({ planId, ...(prorationDate ? { prorationDate } : {}) })).changePlan;
        lastResult.value = result;
        if (result?.status === 'checkout_required' && result.checkoutUrl) navigate(result.checkoutUrl);
        return result;
      } catch (error) {
        // Not a failure to show: the confirmation shows the figure now and asks again.
        if ((error as AppError).code === 'PRORATION_DATE_STALE') {
          change.reset();
          return PREVIEW_OUT_OF_DATE;
        }
        return null;
      }
    },
    cancelPendingChange: async () => {
      try {
        const result = (await cancel.mutate({})).cancelPlanChange;
        lastResult.value = result;
        return result;
      } catch {
        return null;
      }
    },
    changing: computed(() => change.loading.value || cancel.loading.value),
    changeError: computed(() => change.error.value ?? cancel.error.value),
    lastResult,
    loading: computed(() => current.loading.value || catalog.loading.value),
    error: computed(() => current.error.value ?? catalog.error.value),
  };
}
