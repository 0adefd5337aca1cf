import { computed, type MaybeRefOrGetter, type Ref, toValue } from 'vue';
import { type LevelCostsData, LevelCostsDocument } from '../graphql/ai.ts';
import { CurrentPlanDocument, PlanCatalogDocument, type PlanDetail } from '../graphql/plans.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UseQualityLevelsOptions {
  /** The capability whose levels to list; null lists nothing. @default null */
  capability?: MaybeRefOrGetter<string | null>;
}

export interface PlanRef {
  code: string;
  name: string;
}

export interface QualityLevelOption {
  code: string;
  name: string;
  description: string | null;
  /** The org's plan offers this level for the capability. */
  available: boolean;
  modelId: string | null;
  modelDisplayName: string | null;
  /** The typical cost of one run; null when unknown. */
  typicalCredits: string | null;
  /** The capability costs the same every run at this level (priced per call), so the cost is exact. */
  exactCost: boolean;
  /** For a locked level: the smallest plan that has it (null if no plan does). */
  requiredPlan: PlanRef | null;
}

export interface CapabilityOption {
  code: string;
  name: string;
  description: string | null;
  pricingMode: 'per_call' | 'per_token';
  available: boolean;
  requiredPlan: PlanRef | null;
}

export interface UseQualityLevelsReturn {
  capabilities: Readonly<Ref<CapabilityOption[]>>;
  levels: Readonly<Ref<QualityLevelOption[]>>;
  currentPlan: Readonly<Ref<PlanRef | null>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

function smallestPlan(plans: PlanDetail[], has: (plan: PlanDetail) => boolean): PlanRef | null {
  const found = [...plans].sort((a, b) => a.rank - b.rank).find(has);
  return found ? { code: found.code, name: found.name } : null;
}

export function useQualityLevels(options: UseQualityLevelsOptions = {}): UseQualityLevelsReturn {
  const session = useSessionStore();
  const catalog = useGqlQuery(PlanCatalogDocument, {}, { enabled: () => session.signedIn, fetchPolicy: 'cache-first' });
  const plan = useGqlQuery(CurrentPlanDocument, () => ({ orgId: session.orgId ?? '' }), {
    enabled: () => session.signedIn,
    fetchPolicy: 'cache-first',
  });
  const currentPlanId = computed(() => plan.data.value?.organization_subscriptions_by_pk?.plan.id ?? null);
  const currentPlanDetail = computed(() => catalog.data.value?.plans.find((p) => p.id === currentPlanId.value) ?? null);
  /** Whether the org's plan offers `level` for the chosen capability. */
  const planOffers = (level: string) =>
    !!currentPlanDetail.value?.capabilities
      .find((pc) => pc.capability_code === toValue(options.capability))
      ?.quality_levels.some((q) => q.quality_level_code === level);
  const costs = useGqlQuery(
    LevelCostsDocument,
    () => ({
      capability: toValue(options.capability) ?? '',
      fast: planOffers('fast'),
      enhanced: planOffers('enhanced'),
      premium: planOffers('premium'),
    }),
    {
      enabled: () => session.signedIn && !!toValue(options.capability) && currentPlanDetail.value !== null,
      errorPolicy: 'all',
    },
  );

  const capabilities = computed<CapabilityOption[]>(() => {
    const data = catalog.data.value;
    if (!data) return [];
    return data.ai_capabilities.map((c) => {
      const available = !!currentPlanDetail.value?.capabilities.some((pc) => pc.capability_code === c.code);
      return {
        code: c.code,
        name: c.name,
        description: c.description,
        // The column is text with a check constraint allowing exactly these two values.
        pricingMode: c.pricing_mode === 'per_token' ? 'per_token' : 'per_call',
        available,
        requiredPlan: available ? null : smallestPlan(data.plans, (p) => p.capabilities.some((pc) => pc.capability_code === c.code)),
      };
    });
  });

  const levels = computed<QualityLevelOption[]>(() => {
    const data = catalog.data.value;
    const capability = toValue(options.capability);
    if (!data || !capability) return [];
    const costData = costs.data.value as LevelCostsData | undefined;
    return data.quality_levels.map((level) => {
      const offers = (p: PlanDetail) =>
        p.capabilities.find((pc) => pc.capability_code === capability)?.quality_levels.find((q) => q.quality_level_code === level.code) ??
        null;
      const own = currentPlanDetail.value ? offers(currentPlanDetail.value) : null;
      const requiredPlan = own ? null : smallestPlan(data.plans, (p) => offers(p) !== null);
      const servingPlan = own ? currentPlanDetail.value : data.plans.find((p) => p.code === requiredPlan?.code);
      const serving = servingPlan ? offers(servingPlan) : null;
      const cost = costData ? costData[level.code as keyof LevelCostsData] : null;
      return {
        code: level.code,
        name: level.name,
        description: level.description,
        available: own !== null,
        modelId: serving?.model_id ?? null,
        modelDisplayName: serving?.model.display_name ?? null,
        typicalCredits: cost?.typicalCredits ?? null,
        exactCost: cost?.pricingMode === 'per_call',
        requiredPlan,
      };
    });
  });

  return {
    capabilities,
    levels,
    currentPlan: computed(() =>
      currentPlanDetail.value ? { code: currentPlanDetail.value.code, name: currentPlanDetail.value.name } : null,
    ),
    loading: computed(() => catalog.loading.value || plan.loading.value),
    error: computed(() => catalog.error.value ?? plan.error.value),
  };
}
