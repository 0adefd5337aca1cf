// runPlayground(capability, qualityLevel, prompt, idempotencyKey): the web app's playground. One AI
// call through the client's `withCredits` — reserve, run the AI provider, settle with the tokens it
// really used, release if it fails — exactly as another service would do it.
import { createCreditsClient } from '@org-credits/client';
import { z } from 'zod';
import { countTokens, requireAIProvider } from '../ai/index.ts';
import { AppError } from '../errors.ts';
import { createInProcessTransport } from '../in-process-transport.ts';
import { checkTokens, findOffer } from '../pricing.ts';
import { requireOrgActor } from '../session.ts';
import { type ActionContext, defineAction } from './context.ts';
import { code } from './inputs.ts';

export const input = z.object({
  capability: code('capability'),
  qualityLevel: code('qualityLevel'),
  prompt: z.string().min(1, 'prompt must not be empty').max(64_000, 'prompt is longer than 64,000 characters'),
  idempotencyKey: z.string().min(1, 'idempotencyKey must not be empty').max(255, 'idempotencyKey is longer than 255 characters'),
});

export interface PlaygroundRun {
  reservationId: string;
  output: string;
  modelId: string;
  inputTokens: number;
  outputTokens: number;
  chargedCredits: string;
  availableCredits: string;
}

export async function runPlayground(ctx: ActionContext, args: z.output<typeof input>): Promise<PlaygroundRun> {
  const actor = await requireOrgActor(ctx.db, ctx.session);
  requireAIProvider(ctx.ai);
  const offer = await findOffer(ctx.db, actor.orgId, args.capability, args.qualityLevel);
  const promptTokens = countTokens(args.prompt);
  checkTokens(offer, { inputTokens: promptTokens });
  // One run per idempotency key, claimed before the reserve: copies of the request sent at once would
  // each get the same open hold and run the model, charged once (and a copy whose run failed would
  // release the hold of the one still running).
  const claimed = await ctx.db.query(
    `insert into ledger.playground_runs (organization_id, idempotency_key, started_at) values ($1, $2, $3)
     on conflict do nothing returning 1`,
    [actor.orgId, args.idempotencyKey, ctx.clock()],
  );
  if (!claimed.rows.length) {
    throw new AppError(
      'IDEMPOTENCY_CONFLICT',
      `a playground run with idempotency key ${args.idempotencyKey} has already started; use a new key`,
    );
  }
  const credits = createCreditsClient({ transport: createInProcessTransport(ctx), retries: 0 });
  const { hold, settlement, result } = await credits.withCredits(
    {
      orgId: actor.orgId,
      capability: args.capability,
      qualityLevel: args.qualityLevel,
      estimate: { inputTokens: promptTokens },
      idempotencyKey: args.idempotencyKey,
    },
    async (held) => {
      const completion = await ctx.ai.complete({
        modelId: held.modelId,
        providerModelName: offer.providerModelName,
        qualityLevel: offer.qualityLevel,
        capability: offer.capability,
        prompt: args.prompt,
        maxOutputTokens: offer.pricing.pricing_mode === 'per_call' ? 300 : offer.limits.maxOutputTokens,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      const usage =
        offer.pricing.pricing_mode === 'per_call'
          ? { calls: 1 }
          : { inputTokens: completion.inputTokens, outputTokens: completion.outputTokens };
      return { usage, result: completion };
    },
  );
  const completion = result!;
  return {
    reservationId: hold.reservationId,
    output: completion.text,
    modelId: hold.modelId,
    inputTokens: completion.inputTokens,
    outputTokens: completion.outputTokens,
    chargedCredits: settlement.chargedCredits,
    availableCredits: settlement.availableCredits,
  };
}

export default defineAction(input, runPlayground);
