// Every number a person reads goes through Intl: credits from their decimal strings (exact,
// no float on the way), money from minor units in the row's currency (GBP by default). How many
// decimals a currency's minor units have is Stripe's rule (@org-credits/client/money, shared with
// the api), not ICU's: Intl only gives the symbol and the grouping.
import { decimalString, formatDecimalAmount, formatMinorUnits, minorUnitExponent, minorUnits } from '@org-credits/client/money';
import { parseCredits } from './decimal.ts';

export const DEFAULT_LOCALE = 'en-GB';
export const DEFAULT_CURRENCY = 'GBP';

type Formattable = Parameters<Intl.NumberFormat['format']>[0];

/** "1,234.5" from "1234.500": up to three decimals, grouping, exact. */
export function formatCredits(value: string | null | undefined, options: { locale?: string; maximumFractionDigits?: number } = {}): string {
  const thousandths = parseCredits(value ?? '0');
  return new Intl.NumberFormat(options.locale ?? DEFAULT_LOCALE, {
    maximumFractionDigits: options.maximumFractionDigits ?? 3,
  }).format(decimalString(thousandths, 3) as Formattable);
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

/** "£0.0099 per credit": up to four decimals, at least the currency's own (Stripe's count). */
export function formatPricePerCredit(
  priceMinor: string | number | bigint,
  credits: string,
  currency = DEFAULT_CURRENCY,
  locale = DEFAULT_LOCALE,
): string {
  const micros = pricePerCreditMicros(priceMinor, credits, currency);
  const digits = minorUnitExponent(currency);
  return formatDecimalAmount(decimalString(micros, 6), currency, locale, { min: digits, max: 4 });
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
