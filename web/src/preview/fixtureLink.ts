// The network edge for tests and the design preview: an ApolloLink that answers each operation
// by its name from a table of handlers, instead of sending it to the engine. Nothing of the app
// above the link is replaced.
import { ApolloClient, ApolloLink } from '@apollo/client';
import { GraphQLError, Kind } from 'graphql';
import { Observable } from 'rxjs';
import { ref } from 'vue';
import { createCache, type GraphqlConnection, resetStoreQuietly, type SocketStatus } from '../lib/apollo.ts';

export type FixtureResult =
  | { data: object }
  | { errors: Array<{ message: string; extensions?: Record<string, unknown> }>; data?: object | null };

/** Answers one operation: a result, a promise of one (never-resolving = still loading), or for
 * subscriptions an Observable of results. */
export type FixtureHandler = (variables: Record<string, unknown>) => FixtureResult | Promise<FixtureResult> | Observable<FixtureResult>;

export interface FixtureCall {
  operationName: string;
  variables: Record<string, unknown>;
  /** The schema's root fields it reads (their names, not their aliases): which tables it asks. */
  fields: string[];
}

export function createFixtureLink(handlers: Record<string, FixtureHandler>, calls: FixtureCall[] = []): ApolloLink {
  return new ApolloLink((operation) => {
    const name = operation.operationName ?? '';
    const fields = operation.query.definitions.flatMap((d) =>
      d.kind === Kind.OPERATION_DEFINITION ? d.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [s.name.value] : [])) : [],
    );
    calls.push({ operationName: name, variables: { ...operation.variables }, fields });
    const handler = handlers[name];
    return new Observable((observer) => {
      if (!handler) {
        observer.next({ errors: [new GraphQLError(`no fixture for operation ${name}`, { extensions: { code: 'NO_FIXTURE' } })] });
        observer.complete();
        return undefined;
      }
      const answer = handler(operation.variables);
      const toResult = (r: FixtureResult) =>
        'errors' in r
          ? { data: r.data ?? null, errors: r.errors.map((e) => new GraphQLError(e.message, { extensions: e.extensions ?? {} })) }
          : { data: r.data };
      if (answer instanceof Observable) {
        const sub = answer.subscribe({
          next: (r) => observer.next(toResult(r)),
          error: (e: unknown) => observer.error(e),
          complete: () => observer.complete(),
        });
        return () => sub.unsubscribe();
      }
      let closed = false;
      Promise.resolve(answer).then(
        (r) => {
          if (closed) return;
          observer.next(toResult(r));
          observer.complete();
        },
        (e: unknown) => {
          if (!closed) observer.error(e);
        },
      );
      return () => {
        closed = true;
      };
    });
  });
}

/** A GraphqlConnection over the fixture link, with a socket status the caller controls. */
export function createFixtureConnection(
  handlers: Record<string, FixtureHandler>,
  options: { calls?: FixtureCall[]; socketStatus?: SocketStatus } = {},
): GraphqlConnection & { calls: FixtureCall[] } {
  const calls = options.calls ?? [];
  const client = new ApolloClient({ link: createFixtureLink(handlers, calls), cache: createCache() });
  return {
    client,
    calls,
    socketStatus: ref<SocketStatus>(options.socketStatus ?? 'connected'),
    reset: () => resetStoreQuietly(client),
  };
}
