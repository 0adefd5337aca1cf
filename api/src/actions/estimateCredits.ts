// estimateCredits(capability, qualityLevel, inputTokens?, outputTokens?): minimum, typical and
// maximum credits of one call on the org's plan's model, each with a sentence for people, and the
// parts they are made of (model, base cost, prices per 1,000 tokens, tokens assumed) as fields.
import { z } from 'zod';
import { type Estimate, estimate, findOffer } from '../pricing.ts';
import { requireOrgActor } from '../session.ts';
import { type ActionContext, defineAction } from './context.ts';
import { code, tokenCount } from './inputs.ts';

export const input = z.object({
  capability: code('capability'),
  qualityLevel: code('qualityLevel'),
  inputTokens: tokenCount.nullish(),
  outputTokens: tokenCount.nullish(),
});

/** The CreditEstimate output type (hasura/metadata/actions.graphql): the offer, the figures and what they are made of. */
export interface CreditEstimate extends Estimate {
  capability: string;
  qualityLevel: string;
  modelId: string;
  pricingMode: string;
}

export async function estimateCredits(ctx: ActionContext, args: z.output<typeof input>): Promise<CreditEstimate> {
  const actor = await requireOrgActor(ctx.db, ctx.session);
  const offer = await findOffer(ctx.db, actor.orgId, args.capability, args.qualityLevel);
  return {
    capability: offer.capability,
    qualityLevel: offer.qualityLevel,
    modelId: offer.modelId,
    pricingMode: offer.pricing.pricing_mode,
    ...estimate(offer, { inputTokens: args.inputTokens, outputTokens: args.outputTokens }),
  };
}

export default defineAction(input, estimateCredits);
