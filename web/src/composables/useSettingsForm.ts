import { computed, type Ref, ref } from 'vue';
import type { SaveOutcome } from '../lib/graphql-vue.ts';

export interface UseSettingsFormOptions<TInput, TKey extends string> {
  /** The form's values as the save takes them. */
  input: () => TInput;
  /** Each refused field's message (lib/settings-validation.ts). */
  errorsOf: (input: TInput) => Partial<Record<TKey, string>>;
  /** The fields in their order on screen, each with the element that takes focus when it is refused. */
  fields: ReadonlyArray<readonly [TKey, () => HTMLElement | null | undefined]>;
  save: (input: TInput) => Promise<SaveOutcome>;
  saving: Readonly<Ref<boolean>>;
}

/**
 * A settings form's submit, shared by the spend limits and auto top-up forms. Every field is checked
 * at once before anything is sent: when one is refused, the first refused field on screen takes
 * focus and each field's message (`errors`) then follows what is typed, until the form sets
 * `checking` back (when its row loads again); otherwise the values are saved and `outcome` says how
 * that ended. A submit while a save is under way does nothing.
 */
export function useSettingsForm<TInput, TKey extends string>(options: UseSettingsFormOptions<TInput, TKey>) {
  const outcome = ref<SaveOutcome | null>(null);
  const checking = ref(false);
  const errors = computed<Partial<Record<TKey, string>>>(() => (checking.value ? options.errorsOf(options.input()) : {}));

  async function submit() {
    if (options.saving.value) return;
    outcome.value = null;
    const values = options.input();
    const refused = options.errorsOf(values);
    const first = options.fields.find(([key]) => refused[key] !== undefined);
    if (first) {
      checking.value = true;
      first[1]()?.focus();
      return;
    }
    checking.value = false;
    outcome.value = await options.save(values);
  }

  return { outcome, checking, errors, submit };
}
