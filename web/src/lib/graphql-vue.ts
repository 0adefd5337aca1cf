// A thin Vue layer over Apollo Client 4 (@vue/apollo-composable only supports Apollo Client 3):
// reactive variables, readonly refs, and every subscription closed when the scope is disposed.
import type { OperationVariables, TypedDocumentNode } from '@apollo/client';
import {
  computed,
  type MaybeRefOrGetter,
  onScopeDispose,
  type Ref,
  readonly,
  ref,
  shallowRef,
  toValue,
  type WatchSource,
  watch,
} from 'vue';
import { useGraphqlConnection } from './apollo.ts';
import { type AppError, appError, isCancellation, toAppError } from './errors.ts';
import type { SettingsSave } from './settings-save.ts';

export interface UseGqlQueryOptions {
  /** Skip the query while false (e.g. before the session knows its org). @default true */
  enabled?: MaybeRefOrGetter<boolean>;
  /** Poll every n ms (0 = no polling). @default 0 */
  pollInterval?: number;
  /** @default 'cache-and-network' */
  fetchPolicy?: 'cache-first' | 'cache-and-network' | 'network-only' | 'no-cache';
  /** Keep partial data when some fields fail (e.g. one estimate of three). @default 'none' */
  errorPolicy?: 'none' | 'all';
}

export interface UseGqlQueryReturn<TData> {
  data: Readonly<Ref<TData | undefined>>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
  /** Asks the server again; resolves with its answer (undefined when the query is off or failed). */
  refetch: () => Promise<TData | undefined>;
  startPolling: (ms: number) => void;
  stopPolling: () => void;
}

/** The restart of every query on screen whose last answer was an error (see retryFailedQueries). */
const failing = new Set<() => void>();

/** "Try again": each query on screen that failed asks once more. */
export function retryFailedQueries(): void {
  for (const restart of [...failing]) restart();
}

export function useGqlQuery<TData, TVariables extends OperationVariables>(
  query: TypedDocumentNode<TData, TVariables>,
  variables: MaybeRefOrGetter<TVariables>,
  options: UseGqlQueryOptions = {},
): UseGqlQueryReturn<TData> {
  const { client } = useGraphqlConnection();
  const data = shallowRef<TData | undefined>();
  const loading = ref(false);
  const error = shallowRef<AppError | null>(null);
  let observable: ReturnType<typeof client.watchQuery<TData, TVariables>> | null = null;
  let subscription: { unsubscribe: () => void } | null = null;
  let pollInterval = options.pollInterval ?? 0;

  /** A failure of the query (not one the app called off: the query is asked again at once). */
  const failed = (e: unknown) => {
    if (isCancellation(e)) return;
    error.value = toAppError(e);
    loading.value = false;
  };

  const stop = () => {
    subscription?.unsubscribe();
    subscription = null;
    observable = null;
  };

  const start = (vars: TVariables) => {
    stop();
    loading.value = true;
    observable = client.watchQuery<TData, TVariables>({
      query,
      variables: vars,
      fetchPolicy: options.fetchPolicy ?? 'cache-and-network',
      errorPolicy: options.errorPolicy ?? 'none',
      notifyOnNetworkStatusChange: false,
      ...(pollInterval ? { pollInterval } : {}),
    } as Parameters<typeof client.watchQuery<TData, TVariables>>[0]);
    subscription = observable.subscribe({
      next: (result) => {
        // Called off by the app (the store reset on a sign-in or an org switch, new variables): the
        // query is asked again at once, so nothing failed and nothing is said.
        if (result.error && isCancellation(result.error)) return;
        if (result.data !== undefined) data.value = result.data as TData;
        error.value = result.error ? toAppError(result.error) : null;
        loading.value = result.loading;
      },
      error: failed,
    });
  };

  watch(
    () => [toValue(options.enabled ?? true), JSON.stringify(toValue(variables))] as const,
    ([enabled], previous) => {
      if (!enabled) {
        stop();
        loading.value = false;
        return;
      }
      if (previous?.[0] && observable) {
        // Same query, new variables: keep the old data on screen while the new arrives.
        loading.value = true;
        void observable.setVariables(toValue(variables)).catch(failed);
        return;
      }
      start(toValue(variables));
    },
    { immediate: true },
  );

  const restart = () => {
    if (toValue(options.enabled ?? true)) start(toValue(variables));
  };
  watch(error, (failed) => {
    if (failed) failing.add(restart);
    else failing.delete(restart);
  });
  onScopeDispose(() => {
    failing.delete(restart);
    stop();
  });

  return {
    data: readonly(data) as Readonly<Ref<TData | undefined>>,
    loading: readonly(loading),
    error: readonly(error) as Readonly<Ref<AppError | null>>,
    refetch: async () => {
      if (!observable) return undefined;
      try {
        const result = await observable.refetch();
        return (result.data as TData | undefined) ?? undefined;
      } catch (e) {
        if (!isCancellation(e)) error.value = toAppError(e);
        return undefined;
      }
    },
    startPolling: (ms) => {
      pollInterval = ms;
      observable?.startPolling(ms);
    },
    stopPolling: () => {
      pollInterval = 0;
      observable?.stopPolling();
    },
  };
}

/** How long a refetch after a change waits for more changes: a burst of runs costs one request. */
export const REFETCH_ON_CHANGE_DELAY_MS = 500;

/**
 * Calls `refetch` `delayMs` after `source` changes (not when it gets its first value). Changes that
 * come while a refetch waits are answered by that refetch: a burst of changes (runs reserving and
 * settling one after another) costs at most one request per `delayMs`, and the last change is always
 * followed by one. For what a live value implies: the balance moved, so the grants and the usage did too.
 */
export function useRefetchOn(source: WatchSource<unknown>, refetch: () => unknown, delayMs = REFETCH_ON_CHANGE_DELAY_MS): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  watch(source, (now, before) => {
    if (before === undefined || now === before || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void refetch();
    }, delayMs);
  });
  onScopeDispose(() => clearTimeout(timer));
}

export interface UseGqlSubscriptionOptions {
  /** @default true */
  enabled?: MaybeRefOrGetter<boolean>;
}

export interface UseGqlSubscriptionReturn<TData> {
  data: Readonly<Ref<TData | undefined>>;
  error: Readonly<Ref<AppError | null>>;
  /**
   * True while the subscription is open and its last result was not an error. An error result on an
   * open subscription (the engine's statement failed: Postgres restarting) makes it false until the
   * next data on it; an ended subscription, until `restart`.
   */
  active: Readonly<Ref<boolean>>;
  /** True while the subscription is open, also after an error result: the engine keeps it and answers again by itself. */
  open: Readonly<Ref<boolean>>;
  /** Opens it again after a failure (e.g. when the socket is back). */
  restart: () => void;
}

export function useGqlSubscription<TData, TVariables extends OperationVariables>(
  document: TypedDocumentNode<TData, TVariables>,
  variables: MaybeRefOrGetter<TVariables>,
  options: UseGqlSubscriptionOptions = {},
): UseGqlSubscriptionReturn<TData> {
  const { client } = useGraphqlConnection();
  const data = shallowRef<TData | undefined>();
  const error = shallowRef<AppError | null>(null);
  const active = ref(false);
  const open = ref(false);
  let subscription: { unsubscribe: () => void } | null = null;

  const stop = () => {
    subscription?.unsubscribe();
    subscription = null;
    active.value = false;
    open.value = false;
  };

  const start = () => {
    stop();
    if (!toValue(options.enabled ?? true)) return;
    active.value = true;
    open.value = true;
    subscription = client
      .subscribe<TData, TVariables>({ query: document, variables: toValue(variables) } as Parameters<
        typeof client.subscribe<TData, TVariables>
      >[0])
      .subscribe({
        // A result with errors comes two ways: a `next` whose payload has errors (a statement that
        // failed while the subscription runs), after which the engine keeps the subscription and
        // answers again; or the end of the operation (a graphql-ws `error` message, a socket closed
        // for good), which Apollo passes on as a result with the error followed by `complete`.
        next: (result) => {
          if (result.error) {
            error.value = toAppError(result.error);
            active.value = false;
            return;
          }
          error.value = null;
          if (result.data !== undefined) data.value = result.data as TData;
          // Data again on the same subscription after an error result: it is answering again.
          active.value = open.value;
        },
        error: (e: unknown) => {
          error.value = toAppError(e);
          active.value = false;
          open.value = false;
        },
        complete: () => {
          active.value = false;
          open.value = false;
        },
      });
  };

  watch(() => [toValue(options.enabled ?? true), JSON.stringify(toValue(variables))], start, { immediate: true });
  onScopeDispose(stop);

  return {
    data: readonly(data) as Readonly<Ref<TData | undefined>>,
    error: readonly(error) as Readonly<Ref<AppError | null>>,
    active: readonly(active),
    open: readonly(open),
    restart: start,
  };
}

export interface UseGqlMutationReturn<TData, TVariables> {
  /** Runs the mutation; resolves with its data, or rejects with an AppError (also in `error`). */
  mutate: (variables: TVariables) => Promise<TData>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
  reset: () => void;
}

export function useGqlMutation<TData, TVariables extends OperationVariables>(
  document: TypedDocumentNode<TData, TVariables>,
  options: { refetchQueries?: string[] } = {},
): UseGqlMutationReturn<TData, TVariables> {
  const { client } = useGraphqlConnection();
  const loading = ref(false);
  const error = shallowRef<AppError | null>(null);
  return {
    mutate: async (variables) => {
      loading.value = true;
      error.value = null;
      // Only the named queries on screen: Apollo warns about each name it has no query for.
      const onScreen = new Set([...client.getObservableQueries('active')].map((q) => q.queryName));
      const refetchQueries = options.refetchQueries?.filter((name) => onScreen.has(name)) ?? [];
      try {
        const result = await client.mutate<TData, TVariables>({
          mutation: document,
          variables,
          ...(refetchQueries.length ? { refetchQueries } : {}),
        } as Parameters<typeof client.mutate<TData, TVariables>>[0]);
        if (result.data === undefined || result.data === null) throw new Error('The server returned no data.');
        return result.data as TData;
      } catch (e) {
        const appErr = toAppError(e);
        error.value = appErr;
        throw appErr;
      } finally {
        loading.value = false;
      }
    },
    loading: readonly(loading),
    error: readonly(error) as Readonly<Ref<AppError | null>>,
    reset: () => {
      error.value = null;
    },
  };
}

/** How a settings save ended: saved, nothing to save, or refused (the reason is in `saveError`). */
export type SaveOutcome = 'saved' | 'unchanged' | 'refused';

export const SETTINGS_CHANGED_MEANWHILE = 'These settings were changed meanwhile; here are the current ones.';
export const SETTINGS_NOT_SAVED =
  'Nothing was saved: the server changed nothing. You may no longer be allowed to change these settings; reload the page to check.';

export interface UseSettingsSaveOptions<TInput, TChanges, TCreate, TUpdate> {
  /** The form's values refused without a round trip (null: valid). */
  validate: (input: TInput) => AppError | null;
  /** What to send for the form's values over the row loaded (see lib/settings-save.ts). */
  plan: (input: TInput) => SettingsSave<TChanges>;
  /** Creates the row; answers null when one exists already (on_conflict with no update columns). */
  create: TypedDocumentNode<TCreate, { object: TChanges }>;
  /** Changes the row only while its updated_at is the one loaded. */
  update: TypedDocumentNode<TUpdate, { orgId: string; loadedAt: string; changes: TChanges }>;
  /** Whether the create answered a new row. */
  created: (data: TCreate) => boolean;
  /** How many rows the update changed. */
  updated: (data: TUpdate) => number;
  /** Loads the row again (the form shows it); resolves with its updated_at, null without a row. */
  reload: () => Promise<string | null>;
}

export interface UseSettingsSaveReturn<TInput> {
  /** Validates, then saves only what changed, onto the row as loaded. */
  save: (input: TInput) => Promise<SaveOutcome>;
  saving: Readonly<Ref<boolean>>;
  /** The validation's refusal, the server's, or why nothing was changed (the row changed meanwhile). */
  saveError: Readonly<Ref<AppError | null>>;
}

/**
 * A settings form's save: `validate` first (its refusal is shown without a round trip); then only
 * the changed columns, as an update guarded by the row's updated_at as loaded, or a create when no
 * row was loaded. When that changes nothing, because someone wrote the row meanwhile, the row is
 * loaded again and the refusal says so: a page older than the row never undoes what was written since.
 */
export function useSettingsSave<TInput, TChanges, TCreate, TUpdate>(
  options: UseSettingsSaveOptions<TInput, TChanges, TCreate, TUpdate>,
): UseSettingsSaveReturn<TInput> {
  const create = useGqlMutation(options.create);
  const update = useGqlMutation(options.update);
  const refusal = shallowRef<AppError | null>(null);
  const busy = ref(false);
  const changedMeanwhile = () => appError('SETTINGS_CHANGED', SETTINGS_CHANGED_MEANWHILE);
  return {
    save: async (input) => {
      create.reset();
      update.reset();
      refusal.value = options.validate(input);
      if (refusal.value) return 'refused';
      const plan = options.plan(input);
      if (plan.kind === 'unchanged') return 'unchanged';
      busy.value = true;
      try {
        if (plan.kind === 'create') {
          const made = options.created(await create.mutate({ object: plan.object }));
          // The page's query learns of the row either way (its by_pk answer was null).
          await options.reload();
          if (made) return 'saved';
          refusal.value = changedMeanwhile();
          return 'refused';
        }
        const changed = options.updated(await update.mutate({ orgId: plan.orgId, loadedAt: plan.loadedAt, changes: plan.changes }));
        if (changed > 0) return 'saved';
        const current = await options.reload();
        refusal.value = current === plan.loadedAt ? appError('SETTINGS_NOT_SAVED', SETTINGS_NOT_SAVED) : changedMeanwhile();
        return 'refused';
      } catch {
        // The server's refusal is in the mutation's error.
        return 'refused';
      } finally {
        busy.value = false;
      }
    },
    saving: readonly(busy),
    saveError: computed(() => refusal.value ?? create.error.value ?? update.error.value),
  };
}

/** Runs a one-off query (e.g. an estimate on demand) and returns its data or throws an AppError. */
export function useGqlClient() {
  return useGraphqlConnection().client;
}
