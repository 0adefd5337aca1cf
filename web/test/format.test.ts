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
import {
  creditDecimals,
  formatCredits,
  formatMoney,
  formatPricePerCredit,
  packLabel,
  packNameIsCredits,
  pricePerCreditDecimals,
  pricePerCreditMicros,
} from '../src/lib/format.ts';

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

  it('gives a column of credits one rule for decimals: as many as the most precise amount needs', () => {
    expect(creditDecimals(['1949.690', '1949.373', '1950.000'])).toBe(3);
    expect(creditDecimals(['1949.690', '1950.000'])).toBe(2);
    expect(creditDecimals(['500.000', '-3.000', null])).toBe(0);
    expect(creditDecimals([])).toBe(0);
    const decimals = creditDecimals(['1949.690', '1950.000', '-0.105']);
    expect(['1949.690', '1950.000', '-0.105'].map((v) => formatCredits(v, { minimumFractionDigits: decimals }))).toEqual([
      '1,949.690',
      '1,950.000',
      '-0.105',
    ]);
  });

  it('names a pack once when its name is only its credits', () => {
    expect(packNameIsCredits('500 credits', '500.000')).toBe(true);
    expect(packNameIsCredits('1,400 Credits', '1400.000')).toBe(true);
    expect(packNameIsCredits('1 credit', '1.000')).toBe(true);
    expect(packNameIsCredits('500 credits', '600.000')).toBe(false);
    expect(packNameIsCredits('Top-up: 500 credits', '500.000')).toBe(false);
    expect(packLabel({ name: '500 credits', credits: '500.000', price_minor: '1000', currency: 'GBP' })).toBe('500 credits for £10.00');
    expect(packLabel({ name: 'Starter', credits: '500.000', price_minor: '1000', currency: 'GBP' })).toBe(
      'Starter — 500 credits for £10.00',
    );
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

  it('prices packs compared side by side with one precision', () => {
    expect(pricePerCreditDecimals('1000', '500.000')).toBe(2);
    expect(pricePerCreditDecimals('2500', '1400.000')).toBe(4);
    expect(pricePerCreditDecimals('1800', '2000.000')).toBe(3);
    expect(pricePerCreditDecimals('1500', '1000.000', 'JPY')).toBe(1);
    expect(formatPricePerCredit('1000', '500.000', 'GBP', 'en-GB', 4)).toBe('£0.0200');
    expect(formatPricePerCredit('2500', '1400.000', 'GBP', 'en-GB', 4)).toBe('£0.0179');
  });

  // Intl puts a no-break space between an ISO code and the amount.
  const nbsp = '\u00a0';

  it("reads minor units with Stripe's decimals, not ICU's: HUF and ISK amounts have two", () => {
    // Stripe charges 3,500 Ft for 350000 and 5,000 kr for 500000; ICU would say 0 decimals (350,000 / 500,000).
    expect(formatMoney('350000', 'HUF')).toBe(`HUF${nbsp}3,500.00`);
    expect(formatMoney(500000, 'ISK')).toBe(`ISK${nbsp}5,000.00`);
    expect(formatMoney('100000', 'IDR')).toBe(`IDR${nbsp}1,000.00`);
    expect(formatMoney('150', 'COP')).toBe(`COP${nbsp}1.50`);
  });

  it('keeps zero-decimal JPY, three-decimal KWD and two-decimal GBP as they were', () => {
    expect(formatMoney('1500', 'JPY')).toBe('JP¥1,500');
    expect(formatMoney(1000n, 'jpy')).toBe('JP¥1,000');
    expect(formatMoney('5000', 'KWD')).toBe(`KWD${nbsp}5.000`);
    expect(formatMoney('1000', 'GBP')).toBe('£10.00');
    expect(formatMoney('-5', 'GBP')).toBe('-£0.05');
  });

  it('formats amounts beyond the exact range of a float exactly', () => {
    expect(formatMoney('900719925474099312', 'GBP')).toBe('£9,007,199,254,740,993.12');
    expect(formatMoney('9007199254740993', 'JPY')).toBe('JP¥9,007,199,254,740,993');
  });

  it('refuses amounts that are not whole minor units', () => {
    expect(() => formatMoney(12.5)).toThrow(/whole amount of minor units/);
    expect(() => formatMoney('12.50')).toThrow(/whole amount of minor units/);
  });

  it("prices one credit with the currency's Stripe decimals", () => {
    // 3,500 Ft for 1,000 credits is 3.5 Ft a credit (ICU's count made it 350).
    expect(pricePerCreditMicros('350000', '1000.000', 'HUF')).toBe(3_500_000n);
    expect(formatPricePerCredit('350000', '1000.000', 'HUF')).toBe(`HUF${nbsp}3.50`);
    expect(pricePerCreditMicros('500000', '2000.000', 'ISK')).toBe(2_500_000n);
    expect(pricePerCreditMicros('1500', '1000.000', 'JPY')).toBe(1_500_000n);
    expect(formatPricePerCredit('1500', '1000.000', 'JPY')).toBe('JP¥1.5');
    expect(pricePerCreditMicros('5000', '1000.000', 'KWD')).toBe(5000n);
    expect(formatPricePerCredit('5000', '1000.000', 'KWD')).toBe(`KWD${nbsp}0.005`);
  });
});
