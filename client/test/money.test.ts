// Stripe's minor units, the one table web and the api read amounts with.
import { describe, expect, it } from 'vitest';
import { formatMinorUnits, minorToDecimalString, minorUnitExponent } from '../src/money.ts';

describe("Stripe's minor-unit exponents", () => {
  it('counts 0 decimals for the zero-decimal currencies, UGX among them', () => {
    for (const code of ['BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF']) {
      expect(minorUnitExponent(code), code).toBe(0);
    }
  });

  it('counts 3 for the three-decimal currencies', () => {
    for (const code of ['BHD', 'JOD', 'KWD', 'OMR', 'TND']) expect(minorUnitExponent(code), code).toBe(3);
  });

  it('counts 2 for every other currency, TWD too, and where ICU says 0 (HUF, ISK, IDR, COP, IQD…)', () => {
    for (const code of [
      'GBP',
      'EUR',
      'USD',
      'HUF',
      'ISK',
      'TWD',
      'IDR',
      'COP',
      'PKR',
      'AFN',
      'ALL',
      'IQD',
      'LAK',
      'LBP',
      'MMK',
      'SOS',
      'YER',
    ]) {
      expect(minorUnitExponent(code), code).toBe(2);
    }
  });

  it("reads Stripe's lowercase codes and refuses what is not a code", () => {
    expect(minorUnitExponent('jpy')).toBe(0);
    expect(minorUnitExponent('kwd')).toBe(3);
    expect(() => minorUnitExponent('')).toThrow(RangeError);
    expect(() => minorUnitExponent('GBPX')).toThrow(RangeError);
  });
});

describe('amounts from minor units', () => {
  it('gives the exact decimal of the major unit', () => {
    expect(minorToDecimalString('350000', 'HUF')).toBe('3500.00');
    expect(minorToDecimalString(1500, 'JPY')).toBe('1500');
    expect(minorToDecimalString(5000n, 'KWD')).toBe('5.000');
    expect(minorToDecimalString('-5', 'GBP')).toBe('-0.05');
    expect(minorToDecimalString('900719925474099312', 'GBP')).toBe('9007199254740993.12');
  });

  it('refuses fractions and floats beyond the safe integers', () => {
    expect(() => minorToDecimalString(12.5, 'GBP')).toThrow(RangeError);
    expect(() => minorToDecimalString(2 ** 53, 'GBP')).toThrow(RangeError);
    expect(() => minorToDecimalString('1e3', 'GBP')).toThrow(RangeError);
  });

  it('formats with Intl for the symbol and grouping only', () => {
    expect(formatMinorUnits('350000', 'HUF', 'en-GB')).toBe('HUF\u00a03,500.00');
    expect(formatMinorUnits(1500, 'JPY', 'en-GB')).toBe('JP¥1,500');
    expect(formatMinorUnits(5000, 'KWD', 'en-GB')).toBe('KWD\u00a05.000');
    expect(formatMinorUnits(1000, 'GBP', 'en-GB')).toBe('£10.00');
  });
});
