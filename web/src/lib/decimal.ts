// Exact credit arithmetic on decimal strings. Credits are numeric(20,3) in the database and
// arrive from GraphQL as strings; here they become BigInt thousandths, never a JS number.

/** A credit amount in thousandths of a credit. */
export type Thousandths = bigint;

const SCALE = 1000n;
const PATTERN = /^([+-]?)(\d+)(?:\.(\d+))?$/;

/** Parses a decimal string ("12", "-0.5", "1234.125") into thousandths. More than three
 * fraction digits are only accepted when the extra digits are zeros. */
export function parseCredits(value: string | null | undefined): Thousandths {
  if (value === null || value === undefined || value === '') return 0n;
  const match = PATTERN.exec(value.trim());
  if (!match) throw new Error(`not a decimal amount: ${JSON.stringify(value)}`);
  const [, sign, whole, fraction = ''] = match;
  const extra = fraction.slice(3);
  if (/[^0]/.test(extra)) throw new Error(`more than three decimal places: ${value}`);
  const thousandths = BigInt(whole ?? '0') * SCALE + BigInt(fraction.slice(0, 3).padEnd(3, '0'));
  return sign === '-' ? -thousandths : thousandths;
}

/** Thousandths back to a decimal string with exactly three fraction digits ("12.500"). */
export function formatThousandths(value: Thousandths): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / SCALE;
  const fraction = (abs % SCALE).toString().padStart(3, '0');
  return `${negative ? '-' : ''}${whole}.${fraction}`;
}

export function addCredits(...values: Array<string | null | undefined>): string {
  return formatThousandths(values.reduce<Thousandths>((sum, v) => sum + parseCredits(v), 0n));
}

export function subtractCredits(a: string | null | undefined, b: string | null | undefined): string {
  return formatThousandths(parseCredits(a) - parseCredits(b));
}

/** -1, 0 or 1, like a sort comparator. */
export function compareCredits(a: string | null | undefined, b: string | null | undefined): -1 | 0 | 1 {
  const d = parseCredits(a) - parseCredits(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export function isPositive(value: string | null | undefined): boolean {
  return parseCredits(value) > 0n;
}

/** `part / whole` in basis points (1/100 of a percent), rounded down; 0 when whole is 0. */
export function basisPoints(part: string | null | undefined, whole: string | null | undefined): number {
  const w = parseCredits(whole);
  if (w <= 0n) return 0;
  // A display ratio, not an amount: safe to hand to CSS as a number once it is small.
  return Number((parseCredits(part) * 10000n) / w);
}

/** `value / divisor` rounded half away from zero to thousandths. */
export function divideCredits(value: string | null | undefined, divisor: bigint): string {
  if (divisor === 0n) throw new Error('division by zero');
  const v = parseCredits(value);
  const doubled = (v * 2n) / divisor;
  const rounded = doubled >= 0n ? (doubled + 1n) / 2n : (doubled - 1n) / 2n;
  return formatThousandths(rounded);
}

/** Whole times `part` fits into `whole`, rounded down (e.g. days left at a burn rate); null
 * when part is not positive. */
export function wholeQuotient(whole: string | null | undefined, part: string | null | undefined): bigint | null {
  const p = parseCredits(part);
  if (p <= 0n) return null;
  const w = parseCredits(whole);
  return w <= 0n ? 0n : w / p;
}

/** True when `value` is below `percent` % of `of`. */
export function isBelowPercent(value: string | null | undefined, of: string | null | undefined, percent: bigint): boolean {
  return parseCredits(value) * 100n < parseCredits(of) * percent;
}

/** The shortest exact decimal string for an input field ("200.000" → "200", "12.500" → "12.5"). */
export function plainCredits(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return '';
  return formatThousandths(parseCredits(value)).replace(/\.?0+$/, '');
}

/** The largest amount the database keeps (numeric(20, 3)): 17 whole digits. */
export const MAX_CREDITS: Thousandths = 10n ** 20n - 1n;

/** The most a spend limit or an auto top-up threshold may be: the server's permission check
 * allows at most 1,000,000,000 credits. */
export const MAX_SETTING_WHOLE_CREDITS = '1000000000';
export const MAX_SETTING_CREDITS: Thousandths = BigInt(MAX_SETTING_WHOLE_CREDITS) * 1000n;
