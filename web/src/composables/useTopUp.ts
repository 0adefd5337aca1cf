import { computed, type MaybeRefOrGetter, type Ref, toValue, watch } from 'vue';
import {
  CreateTopUpCheckoutDocument,
  type TopUpPackage,
  TopUpPackagesDocument,
  TopUpPurchaseDocument,
  TopUpPurchaseStatusDocument,
} from '../graphql/topup.ts';
import { useGraphqlConnection } from '../lib/apollo.ts';
import type { AppError } from '../lib/errors.ts';
import { pricePerCreditDecimals, pricePerCreditMicros } from '../lib/format.ts';
import { useGqlMutation, useGqlQuery, useGqlSubscription } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UseTopUpOptions {
  /** The purchase to follow after checkout returns. @default null */
  purchaseId?: MaybeRefOrGetter<string | null>;
  /** Sends the browser to the checkout page. @default (url) => window.location.assign(url) */
  navigate?: (url: string) => void;
  /** How often to ask for a waiting purchase over HTTP while the socket is not live, in ms. @default 3000 */
  pollInterval?: number;
  /** The same while it is live, in case its update does not come. @default 10000 */
  livePollInterval?: number;
}

export interface TopUpPackView extends TopUpPackage {
  /** Price of one credit in millionths of the currency's major unit. */
  pricePerCreditMicros: bigint;
  /** The lowest price per credit of the packs in its currency (prices in different currencies are never compared). */
  bestValue: boolean;
  /** How many decimals its price per credit shows: as many as the most precise of its currency's
   * packs needs, so that the prices compared side by side show alike ("£0.0200" beside "£0.0179"). */
  perCreditDecimals: number;
}

/** Where a returning purchase stands: credits landed, still waiting for the webhook, or not paid. */
export type PurchaseState = 'idle' | 'pending' | 'succeeded' | 'failed' | 'canceled';

export interface UseTopUpReturn {
  packages: Readonly<Ref<TopUpPackView[]>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
  /** Creates a Stripe checkout for the pack and goes there. */
  checkout: (packageId: string) => Promise<void>;
  checkingOut: Readonly<Ref<boolean>>;
  checkoutError: Readonly<Ref<AppError | null>>;
  purchaseState: Readonly<Ref<PurchaseState>>;
  purchasedCredits: Readonly<Ref<string | null>>;
}

export function useTopUp(options: UseTopUpOptions = {}): UseTopUpReturn {
  const { navigate = (url: string) => window.location.assign(url), pollInterval = 3_000, livePollInterval = 10_000 } = options;
  const session = useSessionStore();
  const { socketStatus } = useGraphqlConnection();
  const query = useGqlQuery(TopUpPackagesDocument, {}, { enabled: () => session.signedIn, fetchPolicy: 'cache-first' });
  const mutation = useGqlMutation(CreateTopUpCheckoutDocument);
  const following = () => session.signedIn && !!toValue(options.purchaseId);
  const purchaseVariables = () => ({ id: toValue(options.purchaseId) ?? '' });
  // The purchase, live; and over HTTP, for when the socket is down or stalled (the credits land
  // while no update can come), or has just opened after the return from checkout.
  const purchase = useGqlSubscription(TopUpPurchaseDocument, purchaseVariables, { enabled: following });
  const polled = useGqlQuery(TopUpPurchaseStatusDocument, purchaseVariables, { enabled: following, fetchPolicy: 'network-only' });
  const purchaseLive = computed(() => purchase.active.value && socketStatus.value === 'connected');

  const packages = computed<TopUpPackView[]>(() => {
    const rows = query.data.value?.topup_packages ?? [];
    const priced = rows.map((p) => ({
      ...p,
      pricePerCreditMicros: pricePerCreditMicros(p.price_minor, p.credits, p.currency),
      bestValue: false,
      perCreditDecimals: pricePerCreditDecimals(p.price_minor, p.credits, p.currency),
    }));
    // Per credit, a pack is only compared with the packs of its own currency (pence with yen means
    // nothing): its prices per credit show with one precision, and each currency with two or more
    // packs can have its own best value (a pack alone in its currency is never marked).
    const byCurrency = new Map<string, typeof priced>();
    for (const p of priced) {
      const code = p.currency.toUpperCase();
      const group = byCurrency.get(code);
      if (group) group.push(p);
      else byCurrency.set(code, [p]);
    }
    for (const group of byCurrency.values()) {
      const decimals = Math.max(...group.map((p) => p.perCreditDecimals));
      for (const p of group) p.perCreditDecimals = decimals;
      if (group.length < 2) continue;
      // BigInt: no Math.min/max; sort a copy of the prices instead.
      const prices = group.map((p) => p.pricePerCreditMicros).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const best = prices[0]!;
      // Only a real saving earns the mark: when every pack costs the same per credit, none is best.
      if (best < prices[prices.length - 1]!) for (const p of group) p.bestValue = p.pricePerCreditMicros === best;
    }
    return priced;
  });

  // What either answer says; the first that says the purchase ended wins (the other may be older).
  const rows = computed(() =>
    [purchase.data.value?.topup_purchases_by_pk, polled.data.value?.topup_purchases_by_pk].filter((row) => !!row),
  );
  const purchaseState = computed<PurchaseState>(() => {
    if (!toValue(options.purchaseId)) return 'idle';
    if (rows.value.some((row) => row.status === 'paid' && row.grant_id)) return 'succeeded';
    if (rows.value.some((row) => row.status === 'failed')) return 'failed';
    if (rows.value.some((row) => row.status === 'canceled')) return 'canceled';
    return 'pending';
  });
  watch(
    [purchaseState, purchaseLive],
    ([state, live]) => {
      if (state === 'pending') polled.startPolling(live ? livePollInterval : pollInterval);
      else polled.stopPolling();
    },
    { immediate: true },
  );

  return {
    packages,
    loading: query.loading,
    error: query.error,
    checkout: async (packageId) => {
      try {
        const data = await mutation.mutate({ packageId });
        if (data.createTopUpCheckout) navigate(data.createTopUpCheckout.checkoutUrl);
      } catch {
        // The error is in checkoutError for the modal to show.
      }
    },
    checkingOut: mutation.loading,
    checkoutError: mutation.error,
    purchaseState,
    purchasedCredits: computed(() => rows.value[0]?.credits ?? null),
  };
}
