import { describe, expect, it } from 'vitest';
import {
  describeTokenPrices,
  describeTypicalTokens,
  type EstimateParts,
  formatPrice,
  inputHintFor,
  tokenPricesOf,
} from '../src/components/ai/format.ts';
import { formatDaysLeft } from '../src/lib/format.ts';

describe('the playground’s words and numbers', () => {
  it.each([
    ['0.005000', '0.005'],
    ['0.020000', '0.02'],
    ['0.002500', '0.0025'],
    ['0.100', '0.1'],
    ['2.000', '2'],
    ['1500.000000', '1,500'],
  ])('says the price %s as %s: exact, trailing zeros trimmed', (value, text) => {
    expect(formatPrice(value)).toBe(text);
  });

  // What the api answers for question_suggestions at fast (api/src/pricing.ts): the parts, as fields.
  const perToken: EstimateParts = {
    pricingMode: 'per_token',
    modelDisplayName: 'GPT-4.1 nano',
    baseCredits: '0.100',
    inputCreditsPer1kTokens: '0.005000',
    outputCreditsPer1kTokens: '0.020000',
    typicalInputTokens: 1480,
    typicalOutputTokens: 200,
  };

  it('says a per-token estimate’s prices from its fields, in credits with their unit', () => {
    const prices = tokenPricesOf(perToken);
    expect(prices).toEqual({ model: 'GPT-4.1 nano', base: '0.100', perThousandIn: '0.005000', perThousandOut: '0.020000' });
    expect(describeTokenPrices(prices!)).toBe(
      'On GPT-4.1 nano: 0.1 credits a run, plus 0.005 credits per 1,000 input tokens and 0.02 credits per 1,000 output tokens.',
    );
    expect(describeTokenPrices({ model: 'Mistral Small', base: '1.000', perThousandIn: '0.002500', perThousandOut: '1500.000000' })).toBe(
      'On Mistral Small: 1 credit a run, plus 0.0025 credits per 1,000 input tokens and 1,500 credits per 1,000 output tokens.',
    );
    expect(describeTypicalTokens(perToken)).toBe('1,480 input tokens and 200 output tokens');
    expect(describeTypicalTokens({ ...perToken, typicalInputTokens: 1, typicalOutputTokens: 1 })).toBe('1 input token and 1 output token');
  });

  it('has no token prices or counts to say for an estimate priced per call, or one without them', () => {
    const perCall: EstimateParts = {
      ...perToken,
      pricingMode: 'per_call',
      baseCredits: '2.000',
      inputCreditsPer1kTokens: null,
      outputCreditsPer1kTokens: null,
      typicalInputTokens: null,
      typicalOutputTokens: null,
    };
    expect(tokenPricesOf(perCall)).toBeNull();
    expect(describeTypicalTokens(perCall)).toBeNull();
    expect(tokenPricesOf({ ...perToken, outputCreditsPer1kTokens: null })).toBeNull();
  });

  it.each([
    [null, 'No recent use'],
    [0, '0 days'],
    [1, '1 day'],
    [365, '365 days'],
    [366, 'More than a year'],
    [32_770, 'More than a year'],
  ])('says %s days left as %s', (days, text) => {
    expect(formatDaysLeft(days)).toBe(text);
  });

  it('asks an image captioning run for a description of the image, since the playground sends text only', () => {
    expect(inputHintFor('image_captioning').placeholder).toMatch(/^Describe the image/);
    expect(inputHintFor('summarization')).toEqual({ placeholder: 'Paste the text to summarize…', hint: null });
    expect(inputHintFor('something_new').placeholder).toBe('Paste the text to work on…');
  });
});
