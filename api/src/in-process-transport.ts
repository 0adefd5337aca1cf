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

/**
 * The reserve acts as the session (a member is checked to be one, and the hold records who); the
 * settle and the release of that hold act for its org as a service does. The call was authorized
 * when its hold was made, and it has run (or failed) since: a member removed from the org meanwhile
 * must not make it free, which a settle checking the membership again did (FORBIDDEN, the hold
 * then expired uncharged).
 */
export function createInProcessTransport(ctx: ActionContext): CreditsTransport {
  const forOrg = (orgId: string): ActionContext => {
    // The handlers take the org from the session; a different org here would be a bug of ours.
    if (orgId !== ctx.session.orgId) throw new AppError('FORBIDDEN', `this session acts for ${ctx.session.orgId}, not ${orgId}`);
    return ctx;
  };
  const forHoldOf = (orgId: string): ActionContext => ({ ...forOrg(orgId), session: { role: 'service', userId: null, orgId } });
  return {
    reserve: (orgId, request) => reserveCredits.handler(forOrg(orgId), parsed(reserveCredits.input, request, 'reserveCredits input')),
    settle: (orgId, reservationId, usage) =>
      settleCredits.handler(forHoldOf(orgId), parsed(settleCredits.input, { reservationId, usage }, 'settleCredits input')),
    release: (orgId, reservationId, reason) =>
      releaseCredits.handler(
        forHoldOf(orgId),
        parsed(releaseCredits.input, { reservationId, reason: reason ?? null }, 'releaseCredits input'),
      ),
  };
}
