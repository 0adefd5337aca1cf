// The top-up modal is opened from the header, the banner, the playground and the credits page;
// this store is the one place that knows whether it is open and which purchase it waits for.
import { defineStore } from 'pinia';
import { ref } from 'vue';

export type TopUpReturn = 'success' | 'canceled';

export const useTopUpStore = defineStore('topUp', () => {
  const open = ref(false);
  /** Set when the person came back from checkout. */
  const returned = ref<{ outcome: TopUpReturn; purchaseId: string | null } | null>(null);

  function show() {
    returned.value = null;
    open.value = true;
  }

  function showReturn(outcome: TopUpReturn, purchaseId: string | null) {
    returned.value = { outcome, purchaseId };
    open.value = true;
  }

  function close() {
    open.value = false;
    returned.value = null;
  }

  return { open, returned, show, showReturn, close };
});
