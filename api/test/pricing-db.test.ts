// The hold and the charge are computed in SQL on the hot path (one round trip each) and in
// TypeScript for estimates: both must agree to the last 0.001, for every offer and any usage.
import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { creditsFor, type Pricing } from '../src/pricing.ts';
import { createOrg, startApi } from './helpers.ts';

const db = await useTestDatabase();
const api = await startApi(db);

const offers = [
  ['question_suggestions', 'fast'],
  ['question_suggestions', 'premium'],
  ['summarization', 'enhanced'],
  ['summarization', 'premium'],
  ['image_captioning', 'premium'],
] as const;

describe('hold and charge', () => {
  it('hold the estimate maximum and charge creditsFor of the usage, for any input and usage', async () => {
    const org = await createOrg(db.pool, { plan: 'team', credits: '1000000.000' });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...offers),
        fc.option(fc.nat({ max: 2000 }), { nil: undefined }),
        fc.nat({ max: 50_000 }),
        fc.nat({ max: 50_000 }),
        async ([capability, qualityLevel], inputTokens, usedIn, usedOut) => {
          const estimate = await api.action('estimateCredits', { capability, qualityLevel, inputTokens }, org.session);
          const reserved = await api.action(
            'reserveCredits',
            { capability, qualityLevel, inputTokens, idempotencyKey: randomUUID() },
            org.session,
          );
          expect(reserved.body.amountCredits).toBe(estimate.body.maximumCredits);
          const usage = estimate.body.pricingMode === 'per_call' ? { calls: 1 } : { inputTokens: usedIn, outputTokens: usedOut };
          const settled = await api.action('settleCredits', { reservationId: reserved.body.reservationId, usage }, org.session);
          const { rows } = await db.pool.query<{ pricing: Pricing }>('select pricing from public.credit_reservations where id = $1', [
            reserved.body.reservationId,
          ]);
          expect(settled.body.chargedCredits).toBe(creditsFor(rows[0]!.pricing, usedIn, usedOut));
        },
      ),
      { numRuns: 40 },
    );
  });
});
