// Money in Stripe's minor units: how many decimals an amount of a currency has as Stripe counts
// them (not as ICU / Intl counts them), and its text from the integer amount with no floating point
// on the way. The one table for every package: the dashboard (web) and the api's own pages import
// it from `@org-credits/client/money`.
//
// Stripe, "Supported currencies": zero-decimal and three-decimal currencies are listed; every other
// currency is two-decimal in API amounts. That includes the special cases — ISK (zero-decimal for
// Stripe now, but amounts keep two decimals for backwards compatibility: 500 is 5 kr), HUF and TWD
// (zero-decimal for payouts only; charges take two decimals) — and the currencies for which ICU /
// ISO 4217 count 0 or 3 decimals where Stripe counts 2 (HUF, ISK, IDR, COP, PKR, IQD, AFN, ALL, LAK,
// LBP, MMK, SOS, YER…). UGX is zero-decimal in amounts.

/** 500 is ¥500. */
const ZERO_DECIMAL: ReadonlySet<string> = new Set([
  'BIF',
  'CLP',
  'DJF',
  'GNF',
  'JPY',
  'KMF',
  'KRW',
  'MGA',
  'PYG',
  'RWF',
  'UGX',
  'VND',
  'VUV',
  'XAF',
  'XOF',
  'XPF',
]);

/** 5000 is KWD 5.000 (Stripe wants the last digit 0 when charging). */
const THREE_DECIMAL: ReadonlySet<string> = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

export type MinorUnitExponent = 0 | 2 | 3;

/** "GBP" from "gbp" (Stripe sends lowercase codes); anything but three letters is refused. */
export function currencyCode(currency: string): string {
  if (!/^[A-Za-z]{3}$/.test(currency)) throw new RangeError(`not an ISO 4217 currency code: ${JSON.stringify(currency)}`);
  return currency.toUpperCase();
}

/** How many decimals Stripe's amounts of `currency` have: 0, 3, or else 2. */
export function minorUnitExponent(currency: string): MinorUnitExponent {
  const code = currencyCode(currency);
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

/** An amount in minor units as a BigInt: an integer number, an integer string or a BigInt, nothing else. */
export function minorUnits(minor: bigint | number | string): bigint {
  if (typeof minor === 'bigint') return minor;
  if (typeof minor === 'number') {
    if (!Number.isSafeInteger(minor)) throw new RangeError(`not a whole amount of minor units: ${minor}`);
    return BigInt(minor);
  }
  if (!/^-?\d+$/.test(minor.trim())) throw new RangeError(`not a whole amount of minor units: ${JSON.stringify(minor)}`);
  return BigInt(minor.trim());
}

/** "12.50" from 1250n with 2 digits: the exact decimal string of a scaled integer. */
export function decimalString(scaled: bigint, digits: number): string {
  if (digits === 0) return scaled.toString();
  const negative = scaled < 0n;
  const abs = (negative ? -scaled : scaled).toString().padStart(digits + 1, '0');
  return `${negative ? '-' : ''}${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
}

/** "3500.00" from 350000 HUF, "1500" from 1500 JPY, "5.000" from 5000 KWD: the major unit, exactly. */
export function minorToDecimalString(minor: bigint | number | string, currency: string): string {
  return decimalString(minorUnits(minor), minorUnitExponent(currency));
}

// Intl.NumberFormat formats a decimal string exactly (ECMA-402 NumberFormat v3: Node 19+ and every
// current browser); TypeScript's ES2022 lib still types format() as number | bigint only.
type DecimalFormatter = { format(value: string): string };

/** Intl for the symbol and grouping of a decimal string, with exactly `digits` decimals. */
export function formatDecimalAmount(decimal: string, currency: string, locale: string, digits: { min: number; max: number }): string {
  const formatter = new Intl.NumberFormat(locale, {
    style: 'currency',
    currency: currencyCode(currency),
    minimumFractionDigits: digits.min,
    maximumFractionDigits: digits.max,
  }) as unknown as DecimalFormatter;
  return formatter.format(decimal);
}

/** "£12.99" from 1299 GBP, "JP¥1,500" from 1500 JPY, "KWD 5.000" from 5000 KWD, "HUF 3,500.00" from 350000 HUF. */
export function formatMinorUnits(minor: bigint | number | string, currency: string, locale: string): string {
  const digits = minorUnitExponent(currency);
  return formatDecimalAmount(minorToDecimalString(minor, currency), currency, locale, { min: digits, max: digits });
}
