// What every action handler gets: the session, the database, the AI provider and the clock.
// Handlers know nothing of Express: the same handler serves HTTP and the in-process transport.
import type pg from 'pg';
import type { z } from 'zod';
import type { AIProvider } from '../ai/index.ts';
import type { Payments } from '../payments/index.ts';
import type { Session } from '../session.ts';

export interface ActionContext {
  session: Session;
  db: pg.Pool;
  ai: AIProvider;
  clock: () => Date;
  /** The payment provider and settings (part 2's actions); absent where payments are not configured. */
  payments?: Payments;
  /** Aborted when the caller (Hasura) stops waiting for the answer; absent in-process and in tests. */
  signal?: AbortSignal;
}

export interface ActionDefinition<S extends z.ZodType = z.ZodType, O = unknown> {
  input: S;
  // Method syntax on purpose: the action table holds handlers of different inputs, each called
  // only with what its own schema parsed.
  handler(ctx: ActionContext, input: z.output<S>): Promise<O>;
}

export function defineAction<S extends z.ZodType, O>(input: S, handler: (ctx: ActionContext, input: z.output<S>) => Promise<O>) {
  return { input, handler } satisfies ActionDefinition<S, O>;
}
