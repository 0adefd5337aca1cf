import { computed, type EffectScope, effectScope, getCurrentScope, onScopeDispose, type Ref, shallowRef, watch } from 'vue';
import { CreditBalanceQueryDocument, type CreditBalanceRow, CreditBalanceSubscriptionDocument } from '../graphql/balance.ts';
import { CurrentPlanDocument } from '../graphql/plans.ts';
import { type GraphqlConnection, useGraphqlConnection } from '../lib/apollo.ts';
import { basisPoints, compareCredits, isBelowPercent, isPositive, subtractCredits } from '../lib/decimal.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlQuery, useGqlSubscription } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';

export interface UseCreditBalanceOptions {
  /** How often to poll over HTTP while the subscription socket is down, in ms. @default 15000 */
  pollInterval?: number;
  /** Below this share of the monthly allowance, the balance counts as low. @default 20 */
  lowBalancePercent?: number;
}

export type AllowanceLevel = 'ok' | 'warning' | 'exhausted';

/** Why the balance is not live: the socket is being opened (`connecting`: the first connection, or
 * after a close the app made), it was lost and is coming back (`reconnecting`), the socket is
 * connected but the subscription is not answering (`recovering`: its last result was an error, as
 * when a statement failed while Postgres restarted, and the engine answers it again by itself; or
 * the engine ended it, as Hasura refuses to start one while Postgres does not answer, and it is
 * started again after a while), or the engine closed the socket for good (`stopped`: a reload, or a
 * new sign-in, is needed). */
export type NotLiveReason = 'connecting' | 'reconnecting' | 'recovering' | 'stopped';

export interface UseCreditBalanceReturn {
  /** The latest balance row (live or polled); null before the first answer. */
  balance: Readonly<Ref<CreditBalanceRow | null>>;
  /** A new value whenever the balance row changes (undefined before the first answer): what views
   * that ask again when the balance moves watch (their `refreshOn`). */
  changes: Readonly<Ref<string | undefined>>;
  /** The plan's monthly allowance, for the bar. */
  allowanceCredits: Readonly<Ref<string | null>>;
  /** Allowance used this period. */
  allowanceUsedCredits: Readonly<Ref<string | null>>;
  /** Allowance used, in basis points of the allowance (8000 = 80 %). */
  allowanceUsedBasisPoints: Readonly<Ref<number>>;
  /** `warning` from 80 % of the allowance used, `exhausted` at 100 %. */
  level: Readonly<Ref<AllowanceLevel>>;
  /** Available is under `lowBalancePercent` % of the allowance (or nothing is left at all). */
  isLow: Readonly<Ref<boolean>>;
  /** True while updates arrive over the socket (it is connected and answering); false while polling. */
  live: Readonly<Ref<boolean>>;
  /** Null while live. */
  notLiveReason: Readonly<Ref<NotLiveReason | null>>;
  /** How often the balance is asked over HTTP while not live, in ms. */
  pollInterval: number;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

/** What every view of the balance on a page shares: one subscription while live, one poll while not. */
interface BalanceSource {
  latest: Readonly<Ref<CreditBalanceRow | null>>;
  changes: Readonly<Ref<string | undefined>>;
  allowanceCredits: Readonly<Ref<string | null>>;
  live: Readonly<Ref<boolean>>;
  notLiveReason: Readonly<Ref<NotLiveReason | null>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

interface SharedSource {
  source: BalanceSource;
  scope: EffectScope;
  users: number;
}

/** A subscription refused again and again is started again at most every 2^3 poll intervals. */
const MAX_RESTART_DOUBLINGS = 3;

/** The open sources, by connection (one app, one session) and poll interval. */
const sources = new WeakMap<GraphqlConnection, Map<number, SharedSource>>();

function createBalanceSource(pollInterval: number): BalanceSource {
  const session = useSessionStore();
  const { socketStatus } = useGraphqlConnection();
  const variables = () => ({ orgId: session.orgId ?? '' });
  const enabled = () => session.signedIn;

  const subscription = useGqlSubscription(CreditBalanceSubscriptionDocument, variables, { enabled });
  const query = useGqlQuery(CreditBalanceQueryDocument, variables, { enabled });
  const plan = useGqlQuery(CurrentPlanDocument, variables, { enabled, fetchPolicy: 'cache-first' });

  // Live only over a socket that is connected: while it connects, is down or stopped (or stalled,
  // which the connection notices and reports as down), the balance is polled.
  const live = computed(() => subscription.active.value && socketStatus.value === 'connected');
  const notLiveReason = computed<NotLiveReason | null>(() => {
    if (live.value) return null;
    // An error result on a subscription that is still open (its next data makes it live again), or
    // a subscription the engine ended (started again below).
    if (socketStatus.value === 'connected') return 'recovering';
    if (socketStatus.value === 'stopped') return 'stopped';
    return socketStatus.value === 'connecting' ? 'connecting' : 'reconnecting';
  });
  const latest = shallowRef<CreditBalanceRow | null>(null);
  /** Starts of the subscription the engine refused in a row. */
  let refusals = 0;
  // Another org: its row is not the previous org's, nor a change of it (the views that follow the
  // balance ask for the new org's rows by themselves).
  watch(
    () => session.orgId,
    () => {
      latest.value = null;
    },
  );
  watch(
    () => subscription.data.value,
    (data) => {
      if (data) latest.value = data.organization_credit_balances[0] ?? null;
      // Data on the subscription ends a run of refused starts (see the restart below).
      refusals = 0;
    },
  );
  watch(
    () => query.data.value,
    (data) => {
      if (data) latest.value = data.organization_credit_balances[0] ?? null;
    },
    { immediate: true },
  );

  // Fall back to polling while the socket is down; reopen the subscription when it is back. When
  // live updates stop, the balance is asked at once: the socket may have been silent for a while
  // before it was found dead, and what it last said may be old.
  watch(
    live,
    (isLive, wasLive) => {
      if (isLive) query.stopPolling();
      else {
        query.startPolling(pollInterval);
        if (wasLive) void query.refetch();
      }
    },
    { immediate: true },
  );
  watch(socketStatus, (status) => {
    if (status === 'connected' && !subscription.active.value) subscription.restart();
  });
  // A subscription the engine ended (a graphql-ws `error` message) is started again after a while.
  // Hasura checks a new subscription's variables and statement in a transaction before it starts
  // it, so while Postgres does not answer it refuses the start, and a later start succeeds. (With
  // the app's only subscription ended, graphql-ws closes the socket, and the start opens a new one.)
  // Each refusal in a row doubles the wait, from the poll interval up to eight times it; data on the
  // subscription ends the run. A socket the engine closed for good is not tried again.
  let restartTimer: ReturnType<typeof setTimeout> | undefined;
  const ended = computed(() => enabled() && socketStatus.value !== 'stopped' && !subscription.open.value);
  watch(ended, (isEnded) => {
    clearTimeout(restartTimer);
    if (!isEnded) return;
    const wait = pollInterval * 2 ** Math.min(refusals, MAX_RESTART_DOUBLINGS);
    refusals++;
    restartTimer = setTimeout(() => {
      if (ended.value) subscription.restart();
    }, wait);
  });
  onScopeDispose(() => clearTimeout(restartTimer));

  const allowanceCredits = computed(() => plan.data.value?.organization_subscriptions_by_pk?.plan.monthly_allowance_credits ?? null);

  // The plan is loaded once (cache-first), but it can change elsewhere: another tab, the monthly
  // renewal, a downgrade at the period end. Each lands in the balance as a new allowance grant:
  // the allowance left goes up, or the next expiry (the period end) moves. Then the plan is asked again,
  // so that "left / allowance" and the bar describe the same plan.
  watch(latest, (row, previous) => {
    if (!row || !previous) return;
    const allowanceUp = compareCredits(row.allowance_remaining_credits, previous.allowance_remaining_credits) > 0;
    const periodMoved = row.next_expiry_at !== previous.next_expiry_at;
    if (allowanceUp || periodMoved) void plan.refetch();
  });

  return {
    latest,
    changes: computed(() => (latest.value ? JSON.stringify(latest.value) : undefined)),
    allowanceCredits,
    live,
    notLiveReason,
    loading: computed(() => latest.value === null && (query.loading.value || subscription.active.value) && !query.error.value),
    error: computed(() => (latest.value ? null : (query.error.value ?? null))),
  };
}

/**
 * The balance source of this app for `pollInterval`: made for its first user, kept while any is
 * mounted, stopped with the last (its subscription closed, its poll ended). A user outside any
 * effect scope (no component, no effectScope) keeps it for good.
 */
function useBalanceSource(pollInterval: number): BalanceSource {
  const connection = useGraphqlConnection();
  let byInterval = sources.get(connection);
  if (!byInterval) {
    byInterval = new Map();
    sources.set(connection, byInterval);
  }
  let shared = byInterval.get(pollInterval);
  if (!shared) {
    // Detached: it outlives the component that happened to be first.
    const scope = effectScope(true);
    const source = scope.run(() => createBalanceSource(pollInterval));
    if (!source) throw new Error('the balance source could not be made');
    shared = { source, scope, users: 0 };
    byInterval.set(pollInterval, shared);
  }
  const current = shared;
  const intervals = byInterval;
  current.users++;
  if (getCurrentScope()) {
    onScopeDispose(() => {
      current.users--;
      if (current.users > 0) return;
      current.scope.stop();
      if (intervals.get(pollInterval) === current) intervals.delete(pollInterval);
    });
  }
  return current.source;
}

/**
 * The organization's balance, live over the socket or polled while it is not. Every user in one
 * app shares one source (one subscription, one poll): the header's widget, the low-balance banner
 * and each section of the credits page do not each ask for it.
 */
export function useCreditBalance(options: UseCreditBalanceOptions = {}): UseCreditBalanceReturn {
  const { pollInterval = 15_000, lowBalancePercent = 20 } = options;
  const { latest, changes, allowanceCredits, live, notLiveReason, loading, error } = useBalanceSource(pollInterval);

  const allowanceUsedCredits = computed(() => {
    if (!latest.value || allowanceCredits.value === null) return null;
    return subtractCredits(allowanceCredits.value, latest.value.allowance_remaining_credits);
  });
  const allowanceUsedBasisPoints = computed(() => Math.min(10000, basisPoints(allowanceUsedCredits.value, allowanceCredits.value)));
  const level = computed<AllowanceLevel>(() => {
    if (allowanceCredits.value !== null && isPositive(allowanceCredits.value) && allowanceUsedBasisPoints.value >= 10000)
      return 'exhausted';
    return allowanceUsedBasisPoints.value >= 8000 ? 'warning' : 'ok';
  });
  const isLow = computed(() => {
    const row = latest.value;
    if (!row) return false;
    if (!isPositive(row.available_credits)) return true;
    if (allowanceCredits.value === null || !isPositive(allowanceCredits.value)) return false;
    return isBelowPercent(row.available_credits, allowanceCredits.value, BigInt(lowBalancePercent));
  });

  return {
    balance: latest,
    changes,
    allowanceCredits,
    allowanceUsedCredits,
    allowanceUsedBasisPoints,
    level,
    isLow,
    live,
    notLiveReason,
    pollInterval,
    loading,
    error,
  };
}
