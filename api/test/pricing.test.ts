// The exact arithmetic behind every estimate, hold and charge.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CREDIT_SCALE,
  ceilDiv,
  displayCredits,
  displayDecimal,
  formatDecimal,
  minorUnitsForStripe,
  PRICE_SCALE,
  parseDecimal,
} from '../src/decimal.ts';
import { creditsFor, type Pricing } from '../src/pricing.ts';

describe('decimal amounts', () => {
  it.each([
    ['1.25', 1250n],
    ['0.001', 1n],
    ['12', 12000n],
    ['-3.5', -3500n],
    ['1.2500', 1250n],
  ])('reads %s exactly', (text, units) => {
    expect(parseDecimal(text, CREDIT_SCALE)).toBe(units);
  });

  it.each(['1.0001', '1e3', 'abc', '', '1.', '.5'])('refuses %s', (text) => {
    expect(() => parseDecimal(text, CREDIT_SCALE)).toThrow(RangeError);
  });

  it('prints what it reads, at the scale', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), (units) => {
        expect(parseDecimal(formatDecimal(units, CREDIT_SCALE), CREDIT_SCALE)).toBe(units);
      }),
    );
  });
});

describe('credits for people to read', () => {
  it('group thousands with commas and drop trailing zeros, exactly', () => {
    expect(['0', '0.001', '-12.050', '999.990', '1000', '1234567.5', '-1234567890123.125', '100000.000'].map(displayCredits)).toEqual([
      '0',
      '0.001',
      '-12.05',
      '999.99',
      '1,000',
      '1,234,567.5',
      '-1,234,567,890,123.125',
      '100,000',
    ]);
  });

  it('and prices per 1,000 tokens the same, at their own scale', () => {
    expect(['0.005000', '0.062500', '0.000001', '1500.000000', '0'].map((p) => displayDecimal(p, PRICE_SCALE))).toEqual([
      '0.005',
      '0.0625',
      '0.000001',
      '1,500',
      '0',
    ]);
  });
});

describe('prices in minor units for Stripe', () => {
  it('pass through exactly as integers, from bigint text or bigint', () => {
    expect(minorUnitsForStripe('1000')).toBe(1000);
    expect(minorUnitsForStripe(' 499 ')).toBe(499);
    expect(minorUnitsForStripe(9007199254740991n)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each(['9007199254740992', '-1', '12.5', 'abc'])('refuses %s rather than round it', (text) => {
    expect(() => minorUnitsForStripe(text)).toThrow();
  });
});

describe('creditsFor', () => {
  const priced = (base: string, input: string, output: string): Pricing => ({
    pricing_mode: 'per_token',
    model_id: 'm',
    base_cost_credits: base,
    input_credits_per_1k_tokens: input,
    output_credits_per_1k_tokens: output,
  });

  it('is the exact per-token cost rounded up to the next 0.001, never down', () => {
    // Independent reference: the exact cost as a fraction over 10^9, compared with the answer.
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10_000_000n }),
        fc.bigInt({ min: 0n, max: 10_000_000n }),
        fc.bigInt({ min: 0n, max: 10_000_000n }),
        fc.nat({ max: 2_000_000 }),
        fc.nat({ max: 2_000_000 }),
        (base, inPrice, outPrice, inTokens, outTokens) => {
          const answer = parseDecimal(
            creditsFor(
              priced(formatDecimal(base, CREDIT_SCALE), formatDecimal(inPrice, PRICE_SCALE), formatDecimal(outPrice, PRICE_SCALE)),
              inTokens,
              outTokens,
            ),
            CREDIT_SCALE,
          );
          const exactNano = base * 1_000_000n + BigInt(inTokens) * inPrice + BigInt(outTokens) * outPrice;
          // answer (in 10^-3) covers the exact cost and is less than 0.001 above it.
          expect(answer * 1_000_000n >= exactNano).toBe(true);
          expect(answer * 1_000_000n - exactNano < 1_000_000n).toBe(true);
        },
      ),
    );
  });

  it('charges the base cost alone for a per-call capability, whatever the tokens', () => {
    const pricing: Pricing = { ...priced('2.000', '1.000000', '1.000000'), pricing_mode: 'per_call' };
    expect(creditsFor(pricing, 5000, 5000)).toBe('2.000');
  });

  it('ceilDiv rounds up and only up', () => {
    expect(ceilDiv(10n, 5n)).toBe(2n);
    expect(ceilDiv(11n, 5n)).toBe(3n);
    expect(ceilDiv(0n, 5n)).toBe(0n);
  });
});

describe('error codes', () => {
  it('map the ledger SQLSTATEs one-to-one, each with a 4xx status', async () => {
    const { LEDGER_ERROR_CODES } = await import('@org-credits/db/errors');
    const { ERROR_CODES } = await import('../src/errors.ts');
    for (const [sqlstate, code] of Object.entries(LEDGER_ERROR_CODES)) {
      expect(ERROR_CODES[code]).toMatchObject({ sqlstate });
    }
    const sqlstates = Object.values(ERROR_CODES).flatMap((info) => ('sqlstate' in info ? [info.sqlstate] : []));
    expect(sqlstates.sort()).toEqual(Object.keys(LEDGER_ERROR_CODES).sort());
    for (const info of Object.values(ERROR_CODES)) expect(info.status).toBeGreaterThanOrEqual(400);
    for (const info of Object.values(ERROR_CODES)) expect(info.status).toBeLessThan(500);
  });
});
