import { type Ref, readonly, shallowRef } from 'vue';
import { type PlaygroundRun, RunPlaygroundDocument } from '../graphql/ai.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlMutation } from '../lib/graphql-vue.ts';

export interface UsePlaygroundRunOptions {
  /** Makes the idempotency key of each run. @default () => crypto.randomUUID() */
  newKey?: () => string;
}

export interface UsePlaygroundRunReturn {
  /** Reserve → AI provider → settle, on the server. Resolves with the run or null on refusal. */
  run: (input: { capability: string; qualityLevel: string; prompt: string }) => Promise<PlaygroundRun | null>;
  result: Readonly<Ref<PlaygroundRun | null>>;
  running: Readonly<Ref<boolean>>;
  /** The refusal or failure, with the code and the action that fixes it. */
  error: Readonly<Ref<AppError | null>>;
}

export function usePlaygroundRun(options: UsePlaygroundRunOptions = {}): UsePlaygroundRunReturn {
  const { newKey = () => crypto.randomUUID() } = options;
  const mutation = useGqlMutation(RunPlaygroundDocument, { refetchQueries: ['CreditBalance', 'BurnRate', 'CreditHistory', 'UsageDaily'] });
  const result = shallowRef<PlaygroundRun | null>(null);
  return {
    run: async (input) => {
      result.value = null;
      try {
        const data = await mutation.mutate({ ...input, idempotencyKey: newKey() });
        result.value = data.runPlayground;
        return data.runPlayground;
      } catch {
        return null;
      }
    },
    result: readonly(result) as Readonly<Ref<PlaygroundRun | null>>,
    running: mutation.loading,
    error: mutation.error,
  };
}
