import { describe, expect, it } from 'vitest';
import { describeTokenPrices, formatDaysLeft, formatPrice, inputHintFor, parseTokenPrices } from '../src/components/ai/format.ts';

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

  it('puts the api’s explanation of a per-token estimate into credits with their unit', () => {
    const prices = parseTokenPrices(
      '1480 input tokens and 200 output tokens (typical) at 0.005000 in / 0.020000 out per 1k tokens on GPT-4.1 nano, plus the base 0.100',
    );
    expect(prices).toMatchObject({
      tokens: '1,480 input tokens and 200 output tokens',
      inputTokens: 1480,
      outputTokens: 200,
      model: 'GPT-4.1 nano',
    });
    expect(describeTokenPrices(prices!)).toBe(
      'On GPT-4.1 nano: 0.1 credits a run, plus 0.005 credits per 1,000 input tokens and 0.02 credits per 1,000 output tokens.',
    );
    expect(parseTokenPrices('About 1,500 tokens in and 300 out.')).toBeNull();
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
