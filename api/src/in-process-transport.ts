// The client's transport for the api itself: the credit actions called in-process, through the
// same handlers (and the same input schemas) that serve Hasura, acting for the org in the session.
import type { CreditsTransport } from '@org-credits/client';
import type { z } from 'zod';
import type { ActionContext } from './actions/context.ts';
import releaseCredits from './actions/releaseCredits.ts';
import reserveCredits from './actions/reserveCredits.ts';
import settleCredits from './actions/settleCredits.ts';
import { AppError, invalidInputFromZod } from './errors.ts';

/** The action's input, or INVALID_INPUT as the action answers it over HTTP (what withCredits reads). */
function parsed<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInputFromZod(result.error, what);
  return result.data;
}

export function createInProcessTransport(ctx: ActionContext): CreditsTransport {
  const forOrg = (orgId: string): ActionContext => {
    // The handlers take the org from the session; a different org here would be a bug of ours.
    if (orgId !== ctx.session.orgId) throw new AppError('FORBIDDEN', `this session acts for ${ctx.session.orgId}, not ${orgId}`);
    return ctx;
  };
  return {
    reserve: (orgId, request) => reserveCredits.handler(forOrg(orgId), parsed(reserveCredits.input, request, 'reserveCredits input')),
    settle: (orgId, reservationId, usage) =>
      settleCredits.handler(forOrg(orgId), parsed(settleCredits.input, { reservationId, usage }, 'settleCredits input')),
    release: (orgId, reservationId, reason) =>
      releaseCredits.handler(
        forOrg(orgId),
        parsed(releaseCredits.input, { reservationId, reason: reason ?? null }, 'releaseCredits input'),
      ),
  };
}
