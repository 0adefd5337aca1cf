// Words and numbers of the playground that lib/format.ts does not have: prices per 1,000 tokens
// (which can have more decimals than credits do), what an estimate is made of (the api's fields)
// put into the app's words, and what the input box asks for.
import type { CreditEstimate } from '../../graphql/ai.ts';
import { DEFAULT_LOCALE, formatInteger } from '../../lib/format.ts';

type Formattable = Parameters<Intl.NumberFormat['format']>[0];

/**
 * "0.005" from "0.005000", "0.1" from "0.100", "0.0025" from "0.002500": a price as it is, trailing
 * zeros trimmed, grouped; never rounded to the three decimals of an amount of credits.
 */
export function formatPrice(value: string, locale = DEFAULT_LOCALE): string {
  const text = value.trim();
  if (!/^-?\d+(\.\d+)?$/.test(text)) return text;
  const decimals = text.includes('.') ? text.split('.')[1]!.length : 0;
  return new Intl.NumberFormat(locale, { maximumFractionDigits: Math.min(20, decimals) }).format(text as Formattable);
}

/** What an estimate is made of, as the api gives it in fields (never read from its sentences). */
export type EstimateParts = Pick<
  CreditEstimate,
  | 'pricingMode'
  | 'modelDisplayName'
  | 'baseCredits'
  | 'inputCreditsPer1kTokens'
  | 'outputCreditsPer1kTokens'
  | 'typicalInputTokens'
  | 'typicalOutputTokens'
>;

export interface TokenPrices {
  model: string;
  /** Credits a run whatever its size. */
  base: string;
  /** Credits per 1,000 input tokens. */
  perThousandIn: string;
  /** Credits per 1,000 output tokens. */
  perThousandOut: string;
}

/** The prices of an estimate priced per token; null for one priced per call, or without its prices. */
export function tokenPricesOf(estimate: EstimateParts): TokenPrices | null {
  const { pricingMode, modelDisplayName, baseCredits, inputCreditsPer1kTokens, outputCreditsPer1kTokens } = estimate;
  if (pricingMode !== 'per_token' || inputCreditsPer1kTokens == null || outputCreditsPer1kTokens == null) return null;
  return { model: modelDisplayName, base: baseCredits, perThousandIn: inputCreditsPer1kTokens, perThousandOut: outputCreditsPer1kTokens };
}

/** "On GPT-4.1 nano: 0.1 credits a run, plus 0.005 credits per 1,000 input tokens and 0.02 credits per 1,000 output tokens." */
export function describeTokenPrices(prices: TokenPrices, locale = DEFAULT_LOCALE): string {
  const credits = (value: string) => `${formatPrice(value, locale)} ${formatPrice(value, locale) === '1' ? 'credit' : 'credits'}`;
  return `On ${prices.model}: ${credits(prices.base)} a run, plus ${credits(prices.perThousandIn)} per 1,000 input tokens and ${credits(prices.perThousandOut)} per 1,000 output tokens.`;
}

/** "1,480 input tokens and 200 output tokens": what the typical figure assumes; null when it assumes no tokens (per call). */
export function describeTypicalTokens(estimate: EstimateParts, locale = DEFAULT_LOCALE): string | null {
  const { typicalInputTokens: input, typicalOutputTokens: output } = estimate;
  if (input == null || output == null) return null;
  const tokens = (n: number, what: string) => `${formatInteger(n, locale)} ${what} token${n === 1 ? '' : 's'}`;
  return `${tokens(input, 'input')} and ${tokens(output, 'output')}`;
}

export interface InputHint {
  placeholder: string;
  /** Said under the box when the placeholder alone would mislead (it vanishes as soon as one types). */
  hint: string | null;
}

/**
 * What the input box asks for, by capability. The playground sends the api one text prompt (no file,
 * no image part: api/src/actions/runPlayground.ts), so image captioning works from a description
 * of the image, and says so.
 */
export function inputHintFor(capability: string | null | undefined): InputHint {
  switch (capability) {
    case 'image_captioning':
      return {
        placeholder: 'Describe the image to caption, e.g. “A red bicycle leaning against a blue door at dusk”…',
        hint: 'The playground sends text only, not image files: describe the image and get a caption and alt text for it.',
      };
    case 'summarization':
      return { placeholder: 'Paste the text to summarize…', hint: null };
    case 'question_suggestions':
      return { placeholder: 'Paste the text to suggest follow-up questions for…', hint: null };
    default:
      return { placeholder: 'Paste the text to work on…', hint: null };
  }
}
