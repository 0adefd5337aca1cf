import { describe, expect, it } from 'vitest';
import {
  addCredits,
  basisPoints,
  compareCredits,
  divideCredits,
  isBelowPercent,
  parseCredits,
  subtractCredits,
  wholeQuotient,
} from '../src/lib/decimal.ts';
import { formatCredits, formatMoney, formatPricePerCredit, pricePerCreditMicros } from '../src/lib/format.ts';

describe('credit arithmetic on decimal strings', () => {
  it('adds and subtracts exactly where floats would drift', () => {
    expect(addCredits('0.100', '0.200')).toBe('0.300');
    expect(subtractCredits('1737.500', '1737.499')).toBe('0.001');
    expect(addCredits('99999999999999999.999', '0.001')).toBe('100000000000000000.000');
  });

  it('reads signs, whole numbers and trailing zeros beyond three places', () => {
    expect(parseCredits('-12.5')).toBe(-12500n);
    expect(parseCredits('7')).toBe(7000n);
    expect(parseCredits('1.2500')).toBe(1250n);
  });

  it('refuses text and amounts finer than a thousandth', () => {
    expect(() => parseCredits('12,5')).toThrow(/not a decimal/);
    expect(() => parseCredits('0.0001')).toThrow(/three decimal places/);
  });

  it('compares, divides with half-up rounding, and counts whole quotients', () => {
    expect(compareCredits('2.000', '10.000')).toBe(-1);
    expect(divideCredits('262.500', 7n)).toBe('37.500');
    expect(divideCredits('10.000', 3n)).toBe('3.333');
    expect(divideCredits('0.002', 3n)).toBe('0.001');
    expect(wholeQuotient('1737.500', '37.500')).toBe(46n);
    expect(wholeQuotient('10.000', '0.000')).toBeNull();
  });

  it('measures shares in basis points and thresholds by percent', () => {
    expect(basisPoints('1600.000', '2000.000')).toBe(8000);
    expect(basisPoints('1.000', '0.000')).toBe(0);
    expect(isBelowPercent('399.999', '2000.000', 20n)).toBe(true);
    expect(isBelowPercent('400.000', '2000.000', 20n)).toBe(false);
  });
});

describe('formatting with Intl', () => {
  it('formats credits with grouping and up to three decimals', () => {
    expect(formatCredits('1737.500')).toBe('1,737.5');
    expect(formatCredits('12345678901234567.125')).toBe('12,345,678,901,234,567.125');
    expect(formatCredits('-3.000')).toBe('-3');
  });

  it('formats money from minor units in GBP by default', () => {
    expect(formatMoney('2900')).toBe('£29.00');
    expect(formatMoney(5)).toBe('£0.05');
    expect(formatMoney('123456789', 'EUR')).toBe('€1,234,567.89');
  });

  it('prices one credit of a pack exactly, to four decimals', () => {
    expect(pricePerCreditMicros('1800', '2000.000')).toBe(9000n);
    expect(formatPricePerCredit('1800', '2000.000')).toBe('£0.009');
    expect(formatPricePerCredit('999', '700.000')).toBe('£0.0143');
  });
});
