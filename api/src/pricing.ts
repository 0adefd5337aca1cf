// What a capability at a quality level costs an org: the plan's model for it, that model's prices,
// and the estimates (minimum, typical, maximum) computed exactly from them.
import type pg from 'pg';
import {
  CREDIT_SCALE,
  ceilDiv,
  credits,
  decimalAt,
  displayDecimal,
  formatDecimal,
  groupThousands,
  maxBigInt,
  PRICE_SCALE,
  parseDecimal,
} from './decimal.ts';
import { AppError, ledger } from './errors.ts';

export type PricingMode = 'per_call' | 'per_token';

/** The prices in force for one capability × model; saved on a reservation as its `pricing`. */
export interface Pricing {
  pricing_mode: PricingMode;
  model_id: string;
  base_cost_credits: string;
  input_credits_per_1k_tokens: string;
  output_credits_per_1k_tokens: string;
}

export interface CapabilityLimits {
  typicalInputTokens: number;
  typicalOutputTokens: number;
  maxInputTokens: number;
  maxOutputTokens: number;
}

/** The plan's offer of a capability at a quality level to one org. */
export interface Offer {
  capability: string;
  qualityLevel: string;
  planId: string;
  planCode: string;
  modelId: string;
  modelDisplayName: string;
  providerModelName: string;
  provider: string;
  rateLimitPerHour: number | null;
  rateLimitPerDay: number | null;
  pricing: Pricing;
  limits: CapabilityLimits;
}

interface OfferRow {
  org_exists: boolean;
  capability_code: string | null;
  capability_active: boolean | null;
  pricing_mode: PricingMode | null;
  base_cost_credits: string | null;
  typical_input_tokens: number | null;
  typical_output_tokens: number | null;
  max_input_tokens: number | null;
  max_output_tokens: number | null;
  quality_exists: boolean;
  plan_id: string | null;
  plan_code: string | null;
  in_plan: boolean;
  rate_limit_per_hour: number | null;
  rate_limit_per_day: number | null;
  model_id: string | null;
  model_display_name: string | null;
  provider: string | null;
  model_name: string | null;
  input_credits_per_1k_tokens: string | null;
  output_credits_per_1k_tokens: string | null;
}

const OFFER_SQL = `
select exists (select 1 from public.organizations o where o.id = $1) as org_exists,
  c.code as capability_code, c.is_active as capability_active, c.pricing_mode, c.base_cost_credits::text,
  c.typical_input_tokens, c.typical_output_tokens, c.max_input_tokens, c.max_output_tokens,
  exists (select 1 from public.quality_levels q where q.code = $3) as quality_exists,
  s.plan_id, p.code as plan_code, pc.plan_id is not null as in_plan, pc.rate_limit_per_hour, pc.rate_limit_per_day,
  m.id as model_id, m.display_name as model_display_name, m.provider, m.model_name,
  m.input_credits_per_1k_tokens::text, m.output_credits_per_1k_tokens::text
from (select 1) as one
left join public.ai_capabilities c on c.code = $2
left join public.organization_subscriptions s on s.organization_id = $1
left join public.plans p on p.id = s.plan_id
left join public.plan_capabilities pc on pc.plan_id = s.plan_id and pc.capability_code = c.code
left join public.plan_capability_quality_levels pq on pq.plan_id = s.plan_id and pq.capability_code = c.code and pq.quality_level_code = $3
left join public.llm_models m on m.id = pq.model_id`;

/** The smallest plan on offer that includes the capability (at the quality level, when given). */
export async function requiredPlanCode(db: pg.Pool, capability: string, qualityLevel: string | null): Promise<string | undefined> {
  const { rows } = await db.query<{ code: string }>(
    `select p.code from public.plans p
     where p.is_active and exists (
       select 1 from public.plan_capability_quality_levels pq
       where pq.plan_id = p.id and pq.capability_code = $1 and ($2::text is null or pq.quality_level_code = $2))
     order by p.rank, p.version desc limit 1`,
    [capability, qualityLevel],
  );
  return rows[0]?.code;
}

/**
 * The org's plan's offer of `capability` at `qualityLevel`. Throws INVALID_INPUT for an unknown
 * capability or quality level, ORGANIZATION_NOT_FOUND, CAPABILITY_NOT_IN_PLAN and
 * QUALITY_NOT_IN_PLAN (with the smallest plan that has it).
 */
export async function findOffer(db: pg.Pool, orgId: string, capability: string, qualityLevel: string): Promise<Offer> {
  const { rows } = await ledger(() => db.query<OfferRow>(OFFER_SQL, [orgId, capability, qualityLevel]));
  const row = rows[0] as OfferRow;
  if (!row.org_exists) throw new AppError('ORGANIZATION_NOT_FOUND', `organization ${orgId} does not exist`);
  if (!row.capability_code || !row.capability_active) throw new AppError('INVALID_INPUT', `unknown capability "${capability}"`);
  if (!row.quality_exists) throw new AppError('INVALID_INPUT', `unknown quality level "${qualityLevel}"`);
  if (!row.in_plan) {
    const plan = await requiredPlanCode(db, capability, null);
    throw new AppError(
      'CAPABILITY_NOT_IN_PLAN',
      `the ${row.plan_code ?? 'current'} plan of organization ${orgId} does not include ${capability}`,
      plan ? { requiredPlan: plan } : {},
    );
  }
  if (!row.model_id) {
    const plan = await requiredPlanCode(db, capability, qualityLevel);
    throw new AppError(
      'QUALITY_NOT_IN_PLAN',
      `the ${row.plan_code} plan of organization ${orgId} does not offer ${capability} at ${qualityLevel} quality`,
      plan ? { requiredPlan: plan } : {},
    );
  }
  return {
    capability,
    qualityLevel,
    planId: row.plan_id as string,
    planCode: row.plan_code as string,
    modelId: row.model_id,
    modelDisplayName: row.model_display_name as string,
    providerModelName: row.model_name as string,
    provider: row.provider as string,
    rateLimitPerHour: row.rate_limit_per_hour,
    rateLimitPerDay: row.rate_limit_per_day,
    pricing: {
      pricing_mode: row.pricing_mode as PricingMode,
      model_id: row.model_id,
      base_cost_credits: row.base_cost_credits as string,
      input_credits_per_1k_tokens: row.input_credits_per_1k_tokens as string,
      output_credits_per_1k_tokens: row.output_credits_per_1k_tokens as string,
    },
    limits: {
      typicalInputTokens: row.typical_input_tokens as number,
      typicalOutputTokens: row.typical_output_tokens as number,
      maxInputTokens: row.max_input_tokens as number,
      maxOutputTokens: row.max_output_tokens as number,
    },
  };
}

/**
 * Credits for one call: per_call → the base cost; per_token → base + input/1000 × input price +
 * output/1000 × output price, computed exactly in units of 10^-9 credits and rounded UP once to
 * 0.001. Example: base 0.100, 400 in at 0.005/1k, 200 out at 0.020/1k → 0.100 + 0.002 + 0.004 = 0.106.
 */
export function creditsFor(pricing: Pricing, inputTokens: number, outputTokens: number): string {
  const base = parseDecimal(pricing.base_cost_credits, CREDIT_SCALE);
  if (pricing.pricing_mode === 'per_call') return formatDecimal(base, CREDIT_SCALE);
  const inPrice = parseDecimal(pricing.input_credits_per_1k_tokens, PRICE_SCALE);
  const outPrice = parseDecimal(pricing.output_credits_per_1k_tokens, PRICE_SCALE);
  // base (10^-3) → 10^-9: × 10^6. tokens/1000 × price (10^-6) → 10^-9: tokens × price.
  const nano = base * 1_000_000n + BigInt(inputTokens) * inPrice + BigInt(outputTokens) * outPrice;
  return formatDecimal(ceilDiv(nano, 1_000_000n), CREDIT_SCALE);
}

/**
 * Minimum, typical and maximum credits of one call, each with a sentence for people, and what they
 * are made of: the model, the prices (decimal strings at their scale, as stored) and the tokens each
 * figure assumes. Prices per 1,000 tokens and token counts are null for a capability priced per call.
 */
export interface Estimate {
  modelDisplayName: string;
  /** Credits every call costs whatever its size; for per_call, the whole price. Scale 3. */
  baseCredits: string;
  /** Credits per 1,000 input tokens, scale 6; null for per_call. */
  inputCreditsPer1kTokens: string | null;
  /** Credits per 1,000 output tokens, scale 6; null for per_call. */
  outputCreditsPer1kTokens: string | null;
  minimumCredits: string;
  minimumInputTokens: number | null;
  minimumOutputTokens: number | null;
  minimumExplanation: string;
  typicalCredits: string;
  typicalInputTokens: number | null;
  typicalOutputTokens: number | null;
  typicalExplanation: string;
  maximumCredits: string;
  maximumInputTokens: number | null;
  maximumOutputTokens: number | null;
  maximumExplanation: string;
}

export interface EstimateInput {
  inputTokens?: number | null | undefined;
  outputTokens?: number | null | undefined;
}

/** Refuses token counts that the capability cannot take. */
export function checkTokens(offer: Offer, input: EstimateInput): void {
  if (offer.pricing.pricing_mode === 'per_call') return;
  const { maxInputTokens, maxOutputTokens } = offer.limits;
  if (input.inputTokens != null && input.inputTokens > maxInputTokens) {
    throw new AppError('INVALID_INPUT', `inputTokens ${input.inputTokens} is over the ${maxInputTokens} tokens ${offer.capability} takes`);
  }
  if (input.outputTokens != null && input.outputTokens > maxOutputTokens) {
    throw new AppError(
      'INVALID_INPUT',
      `outputTokens ${input.outputTokens} is over the ${maxOutputTokens} tokens ${offer.capability} writes`,
    );
  }
}

/** "2,000" for 2000: a count for people to read. */
const count = (n: number) => groupThousands(String(n));
const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;
/** "0.1 credits" from "0.100", "1 credit" from "1.000000": exact, trailing zeros dropped. */
const creditsSaid = (value: string, scale: number) => {
  const text = displayDecimal(value, scale);
  return `${text} ${text === '1' ? 'credit' : 'credits'}`;
};

/** One figure's tokens, "(typical)" or the like after a count the caller did not give. */
interface Tokens {
  n: number;
  note?: string | undefined;
}
const said = (t: Tokens, word: string) => `${plural(t.n, word)}${t.note ? ` (${t.note})` : ''}`;
/** "400 input and 200 output tokens (typical)", or each count on its own when they differ in kind. */
function tokensSaid(input: Tokens, output: Tokens): string {
  if (input.note === output.note && output.n !== 1) {
    return `${count(input.n)} input and ${count(output.n)} output tokens${input.note ? ` (${input.note})` : ''}`;
  }
  return `${said(input, 'input token')} and ${said(output, 'output token')}`;
}

/**
 * Minimum, typical and maximum credits for one call, each with a sentence for people
 * ("0.1 credits a call, plus 0.005 credits per 1,000 input tokens and 0.02 per 1,000 output tokens
 * on GPT-4.1 nano, for 400 input and 200 output tokens (typical)") and the parts it is made of.
 * per_token: minimum = the given input (or 1 token) and 1 output token; typical = the given input
 * and output (or the capability's typical ones); maximum = the given input (or the typical one) and
 * the capability's maximum output. per_call: one exact price for all three.
 */
export function estimate(offer: Offer, input: EstimateInput = {}): Estimate {
  checkTokens(offer, input);
  const { pricing, limits } = offer;
  const model = offer.modelDisplayName;
  const baseCredits = credits(pricing.base_cost_credits);
  if (pricing.pricing_mode === 'per_call') {
    const price = creditsFor(pricing, 0, 0);
    const line = `${creditsSaid(price, CREDIT_SCALE)} a call on ${model}, whatever the input and output (priced per call)`;
    return {
      modelDisplayName: model,
      baseCredits,
      inputCreditsPer1kTokens: null,
      outputCreditsPer1kTokens: null,
      minimumCredits: price,
      minimumInputTokens: null,
      minimumOutputTokens: null,
      minimumExplanation: line,
      typicalCredits: price,
      typicalInputTokens: null,
      typicalOutputTokens: null,
      typicalExplanation: line,
      maximumCredits: price,
      maximumInputTokens: null,
      maximumOutputTokens: null,
      maximumExplanation: line,
    };
  }
  const perIn = decimalAt(pricing.input_credits_per_1k_tokens, PRICE_SCALE);
  const perOut = decimalAt(pricing.output_credits_per_1k_tokens, PRICE_SCALE);
  const prices = `${creditsSaid(baseCredits, CREDIT_SCALE)} a call, plus ${creditsSaid(perIn, PRICE_SCALE)} per 1,000 input tokens and ${displayDecimal(perOut, PRICE_SCALE)} per 1,000 output tokens on ${model}`;
  const given = input.inputTokens ?? undefined;
  const givenOut = input.outputTokens ?? undefined;
  const minIn: Tokens = given === undefined ? { n: 1, note: 'the least possible' } : { n: given };
  const typIn: Tokens = given === undefined ? { n: limits.typicalInputTokens, note: 'typical' } : { n: given };
  const typOut: Tokens = givenOut === undefined ? { n: limits.typicalOutputTokens, note: 'typical' } : { n: givenOut };
  const maxIn = typIn;
  const maxOut = limits.maxOutputTokens;
  return {
    modelDisplayName: model,
    baseCredits,
    inputCreditsPer1kTokens: perIn,
    outputCreditsPer1kTokens: perOut,
    minimumCredits: creditsFor(pricing, minIn.n, 1),
    minimumInputTokens: minIn.n,
    minimumOutputTokens: 1,
    minimumExplanation: `${prices}, for ${said(minIn, 'input token')} and a 1-token answer`,
    typicalCredits: creditsFor(pricing, typIn.n, typOut.n),
    typicalInputTokens: typIn.n,
    typicalOutputTokens: typOut.n,
    typicalExplanation: `${prices}, for ${tokensSaid(typIn, typOut)}`,
    maximumCredits: creditsFor(pricing, maxIn.n, maxOut),
    maximumInputTokens: maxIn.n,
    maximumOutputTokens: maxOut,
    maximumExplanation: `${prices}, for ${said(maxIn, 'input token')} and the longest answer (${plural(maxOut, 'output token')})`,
  };
}

/**
 * The credits a reservation holds: the estimate's maximum for the given input, raised (never
 * lowered) by the caller's own estimate.
 */
export function holdAmount(offer: Offer, inputTokens: number | null | undefined, estimatedCredits?: string | null): string {
  const server = parseDecimal(estimate(offer, { inputTokens }).maximumCredits, CREDIT_SCALE);
  const caller = estimatedCredits ? parseDecimal(estimatedCredits, CREDIT_SCALE) : 0n;
  return formatDecimal(maxBigInt(server, caller), CREDIT_SCALE);
}
