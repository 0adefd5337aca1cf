// The client's transport for the api itself: the credit actions called in-process, through the
// same handlers (and the same input schemas) that serve Hasura, acting for the org in the session.
import type { CreditsTransport } from '@org-credits/client';
import type { ActionContext } from './actions/context.ts';
import releaseCredits from './actions/releaseCredits.ts';
import reserveCredits from './actions/reserveCredits.ts';
import settleCredits from './actions/settleCredits.ts';
import { AppError } from './errors.ts';

export function createInProcessTransport(ctx: ActionContext): CreditsTransport {
  const forOrg = (orgId: string): ActionContext => {
    // The handlers take the org from the session; a different org here would be a bug of ours.
    if (orgId !== ctx.session.orgId) throw new AppError('FORBIDDEN', `this session acts for ${ctx.session.orgId}, not ${orgId}`);
    return ctx;
  };
  return {
    reserve: (orgId, request) => reserveCredits.handler(forOrg(orgId), reserveCredits.input.parse(request)),
    settle: (orgId, reservationId, usage) => settleCredits.handler(forOrg(orgId), settleCredits.input.parse({ reservationId, usage })),
    release: (orgId, reservationId, reason) =>
      releaseCredits.handler(forOrg(orgId), releaseCredits.input.parse({ reservationId, reason: reason ?? null })),
  };
}
