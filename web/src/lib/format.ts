// Every number a person reads goes through Intl: credits from their decimal strings (exact,
// no float on the way), money from minor units in the row's currency (GBP by default). How many
// decimals a currency's minor units have is Stripe's rule (@org-credits/client/money, shared with
// the api), not ICU's: Intl only gives the symbol and the grouping.
import { decimalString, formatDecimalAmount, formatMinorUnits, minorUnitExponent, minorUnits } from '@org-credits/client/money';
import { parseCredits } from './decimal.ts';

export const DEFAULT_LOCALE = 'en-GB';
export const DEFAULT_CURRENCY = 'GBP';

type Formattable = Parameters<Intl.NumberFormat['format']>[0];

/** "1,234.5" from "1234.500": up to three decimals, grouping, exact. `minimumFractionDigits` pads
 * with zeros: a column's amounts all show the same number of decimals (see creditDecimals). */
export function formatCredits(
  value: string | null | undefined,
  options: { locale?: string; maximumFractionDigits?: number; minimumFractionDigits?: number } = {},
): string {
  const thousandths = parseCredits(value ?? '0');
  const max = options.maximumFractionDigits ?? 3;
  return new Intl.NumberFormat(options.locale ?? DEFAULT_LOCALE, {
    minimumFractionDigits: Math.min(options.minimumFractionDigits ?? 0, max),
    maximumFractionDigits: max,
  }).format(decimalString(thousandths, 3) as Formattable);
}

/** How many decimals (0 to 3) the amounts need, the most any one of them does: "1949.690" needs 2,
 * "500.000" none. A column shows all its amounts with that many, so that they line up:
 * "1,949.690" above "1,950.000", never "1,949.69" above "1,950". */
export function creditDecimals(values: Iterable<string | null | undefined>): number {
  let most = 0;
  for (const value of values) {
    const fraction = parseCredits(value ?? '0') % 1000n;
    if (fraction === 0n) continue;
    const digits = 3 - (fraction % 100n === 0n ? 2 : fraction % 10n === 0n ? 1 : 0);
    most = Math.max(most, digits);
    if (most === 3) break;
  }
  return most;
}

/** "1,234.5 credits" / "1 credit". */
export function formatCreditsWithUnit(value: string | null | undefined, locale = DEFAULT_LOCALE): string {
  const text = formatCredits(value, { locale });
  return `${text} ${parseCredits(value ?? '0') === 1000n ? 'credit' : 'credits'}`;
}

/** "£12.99" from 1299 minor units; "JP¥1,500" from 1500 JPY; "HUF 3,500.00" from 350000 HUF (Stripe's two decimals). */
export function formatMoney(minor: string | number | bigint, currency = DEFAULT_CURRENCY, locale = DEFAULT_LOCALE): string {
  return formatMinorUnits(minor, currency, locale);
}

/** The price of one credit in micro-units of the currency's major unit (exact, rounded half up). */
export function pricePerCreditMicros(priceMinor: string | number | bigint, credits: string, currency = DEFAULT_CURRENCY): bigint {
  const digits = BigInt(minorUnitExponent(currency));
  const creditThousandths = parseCredits(credits);
  if (creditThousandths <= 0n) throw new Error('a pack must hold credits');
  // major per credit = minor / 10^digits / (thousandths / 1000); in micros × 10^6.
  const numerator = minorUnits(priceMinor) * 1000n * 1_000_000n * 2n;
  const denominator = 10n ** digits * creditThousandths;
  return (numerator / denominator + 1n) / 2n;
}

/** The most decimals a price per credit shows: four. */
const PRICE_PER_CREDIT_DIGITS = 4;

/** How many decimals the price of one credit of a pack needs: at least the currency's own (Stripe's
 * count), at most four (£0.02 → 2, £0.0179 → 4, JP¥1.5 → 1). */
export function pricePerCreditDecimals(priceMinor: string | number | bigint, credits: string, currency = DEFAULT_CURRENCY): number {
  const micros = pricePerCreditMicros(priceMinor, credits, currency);
  // Rounded half up to four decimals, as Intl shows it; then its trailing zeros are not needed.
  let rounded = (micros + 50n) / 100n;
  let digits = PRICE_PER_CREDIT_DIGITS;
  while (digits > 0 && rounded % 10n === 0n) {
    rounded /= 10n;
    digits--;
  }
  return Math.max(digits, minorUnitExponent(currency));
}

/** "£0.0099 per credit": up to four decimals, at least the currency's own (Stripe's count).
 * `decimals`: exactly that many (from 0 to 4), for prices compared side by side: "£0.0200" beside
 * "£0.0179", not "£0.02". */
export function formatPricePerCredit(
  priceMinor: string | number | bigint,
  credits: string,
  currency = DEFAULT_CURRENCY,
  locale = DEFAULT_LOCALE,
  decimals?: number,
): string {
  const micros = pricePerCreditMicros(priceMinor, credits, currency);
  const digits =
    decimals === undefined
      ? { min: minorUnitExponent(currency), max: PRICE_PER_CREDIT_DIGITS }
      : { min: Math.min(decimals, PRICE_PER_CREDIT_DIGITS), max: Math.min(decimals, PRICE_PER_CREDIT_DIGITS) };
  return formatDecimalAmount(decimalString(micros, 6), currency, locale, digits);
}

/** Whether a pack's name says no more than its credits ("500 credits" for 500, "1,400 Credits"):
 * such a name is shown alone, never beside the same number again ("500 credits / 500 credits"). */
export function packNameIsCredits(name: string, credits: string): boolean {
  const match = /^\s*(\d[\d,]*(?:\.\d+)?)\s*credits?\s*$/i.exec(name);
  if (!match) return false;
  try {
    return parseCredits(match[1]!.replaceAll(',', '')) === parseCredits(credits);
  } catch {
    return false;
  }
}

/** A pack in one line: "Starter pack — 500 credits for £10.00", or "500 credits for £10.00" when its
 * name is only its credits. */
export function packLabel(pack: { name: string; credits: string; price_minor: string | number | bigint; currency: string }): string {
  const offer = `${formatCredits(pack.credits)} credits for ${formatMoney(pack.price_minor, pack.currency)}`;
  return packNameIsCredits(pack.name, pack.credits) ? offer : `${pack.name} — ${offer}`;
}

export function formatDate(iso: string | null | undefined, locale = DEFAULT_LOCALE): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }).format(new Date(iso));
}

export function formatDateTime(iso: string | null | undefined, locale = DEFAULT_LOCALE): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone: 'UTC' }).format(
    new Date(iso),
  );
}

/** "in 3 days" / "2 hours ago" relative to `now`. */
export function formatRelative(iso: string, now: Date, locale = DEFAULT_LOCALE): string {
  const seconds = Math.round((new Date(iso).getTime() - now.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour');
  return rtf.format(Math.round(seconds / 86400), 'day');
}

export function formatInteger(value: number | bigint, locale = DEFAULT_LOCALE): string {
  return new Intl.NumberFormat(locale).format(value);
}

/** Beyond this many days the count stops meaning anything to a reader. */
const DAYS_SAID_EXACTLY = 365;

/** "1 day", "46 days", "More than a year"; "No recent use" when nothing is being used (null). */
export function formatDaysLeft(days: number | null, locale = DEFAULT_LOCALE): string {
  if (days === null) return 'No recent use';
  if (days > DAYS_SAID_EXACTLY) return 'More than a year';
  return days === 1 ? '1 day' : `${formatInteger(days, locale)} days`;
}
