import { computed, type MaybeRefOrGetter, type Ref, toValue } from 'vue';
import { type CreditEstimate, CreditEstimateDocument } from '../graphql/ai.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UseCreditEstimateOptions {
  /** @default null (no estimate) */
  capability?: MaybeRefOrGetter<string | null>;
  /** @default null (no estimate) */
  qualityLevel?: MaybeRefOrGetter<string | null>;
  /** Tokens in the prompt; the capability's typical input when null. @default null */
  inputTokens?: MaybeRefOrGetter<number | null>;
}

export interface UseCreditEstimateReturn {
  estimate: Readonly<Ref<CreditEstimate | null>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

export function useCreditEstimate(options: UseCreditEstimateOptions = {}): UseCreditEstimateReturn {
  const session = useSessionStore();
  const query = useGqlQuery(
    CreditEstimateDocument,
    () => ({
      capability: toValue(options.capability) ?? '',
      qualityLevel: toValue(options.qualityLevel) ?? '',
      inputTokens: toValue(options.inputTokens) ?? null,
    }),
    { enabled: () => session.signedIn && !!toValue(options.capability) && !!toValue(options.qualityLevel), fetchPolicy: 'cache-first' },
  );
  return {
    estimate: computed(() => query.data.value?.estimateCredits ?? null),
    loading: query.loading,
    error: query.error,
  };
}
