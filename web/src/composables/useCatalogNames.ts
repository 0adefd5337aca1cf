import { computed, type Ref } from 'vue';
import { PlanCatalogDocument } from '../graphql/plans.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export type UseCatalogNamesOptions = Record<string, never>;

export interface UseCatalogNamesReturn {
  /** The capability's name from the catalogue ("Summarization" for `summarization`); the code
   * itself while the catalogue is loading or for a capability it does not list. */
  capabilityName: (code: string) => string;
  /** The model's display name ("Claude Haiku 4.5" for `anthropic/claude-haiku-4-5`), or the id. */
  modelName: (id: string) => string;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

/** Names people read for the codes the server stores, from the plan catalogue the playground
 * already loads (the same query, so Apollo answers it from its cache). */
export function useCatalogNames(_options: UseCatalogNamesOptions = {}): UseCatalogNamesReturn {
  const session = useSessionStore();
  const catalog = useGqlQuery(PlanCatalogDocument, {}, { enabled: () => session.signedIn, fetchPolicy: 'cache-first' });
  const capabilities = computed(() => new Map((catalog.data.value?.ai_capabilities ?? []).map((c) => [c.code, c.name])));
  const models = computed(() => {
    const map = new Map<string, string>();
    for (const plan of catalog.data.value?.plans ?? []) {
      for (const pc of plan.capabilities) for (const q of pc.quality_levels) map.set(q.model.id, q.model.display_name);
    }
    return map;
  });
  return {
    capabilityName: (code) => capabilities.value.get(code) ?? code,
    modelName: (id) => models.value.get(id) ?? id,
    loading: catalog.loading,
    error: catalog.error,
  };
}
