// Exact decimal amounts as BigInt counts of a fixed unit (10^-scale). Credits use scale 3
// (thousandths), prices per 1,000 tokens scale 6. Never a JavaScript float on the path of an amount.

import { decimalString } from '@org-credits/client/money';

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

export const CREDIT_SCALE = 3;
export const PRICE_SCALE = 6;

/**
 * `"1.25"` at scale 3 → `1250n`. Throws a RangeError when the text is not a plain decimal or has
 * more decimal places than the scale (an over-precise amount is refused, never rounded).
 */
export function parseDecimal(text: string, scale: number): bigint {
  const match = DECIMAL.exec(text.trim());
  if (!match) throw new RangeError(`"${text}" is not a decimal number`);
  const [, sign, whole, fraction = ''] = match;
  const significant = fraction.replace(/0+$/, '');
  if (significant.length > scale) throw new RangeError(`"${text}" has more than ${scale} decimal places`);
  const units = BigInt(whole as string) * 10n ** BigInt(scale) + BigInt(significant.padEnd(scale, '0') || '0');
  return sign === '-' ? -units : units;
}

/** `1250n` at scale 3 → `"1.250"`: the client package's decimalString, so one function writes a scaled amount. */
export const formatDecimal: (units: bigint, scale: number) => string = decimalString;

/** a / b rounded towards +infinity, for a ≥ 0 and b > 0. */
export function ceilDiv(a: bigint, b: bigint): bigint {
  if (a < 0n || b <= 0n) throw new RangeError('ceilDiv takes a ≥ 0 and b > 0');
  return (a + b - 1n) / b;
}

export function maxBigInt(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** A decimal as text at `scale`, whatever scale Postgres printed it with (`"0.005"` → `"0.005000"` at scale 6). */
export function decimalAt(text: string, scale: number): string {
  return formatDecimal(parseDecimal(text, scale), scale);
}

/** Credits as text at scale 3, whatever scale Postgres printed them with (`"12.5"`, `"12.500"`). */
export function credits(text: string): string {
  return decimalAt(text, CREDIT_SCALE);
}

/** `"1234567"` → `"1,234,567"`: a string of digits grouped in thousands with commas. */
export function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+$)/g, ',');
}

/**
 * Credits for people to read, as the web app's formatCredits writes them in its default locale
 * (and `ledger.format_credits` in SQL): `"1234567.500"` → `"1,234,567.5"`, `"500.000"` → `"500"`.
 */
export function displayCredits(text: string): string {
  return displayDecimal(text, CREDIT_SCALE);
}

/**
 * An exact decimal at a scale for people to read: thousands grouped with commas, trailing zeros
 * dropped, never rounded. `displayDecimal("0.005000", PRICE_SCALE)` → `"0.005"`.
 */
export function displayDecimal(text: string, scale: number): string {
  const units = parseDecimal(text, scale);
  const [whole = '0', fraction = ''] = formatDecimal(units < 0n ? -units : units, scale).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `${units < 0n ? '-' : ''}${groupThousands(whole)}${trimmed ? `.${trimmed}` : ''}`;
}

/**
 * A price in minor units, stored as bigint (text from Postgres), as the integer `number` Stripe's
 * API takes. Exact: refuses anything that is not a whole number of minor units within
 * Number.MAX_SAFE_INTEGER rather than round it.
 */
export function minorUnitsForStripe(text: string | bigint): number {
  const units = typeof text === 'bigint' ? text : BigInt(String(text).trim());
  if (units < 0n || units > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${units} minor units is out of range`);
  return Number(units);
}
