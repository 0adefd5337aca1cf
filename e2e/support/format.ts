// Numbers as the web app prints them (web/src/lib/format.ts: en-GB, up to three decimals), from
// the database's decimal strings. Intl formats a decimal string exactly, with no float on the way.
export function credits(value: string): string {
  return new Intl.NumberFormat('en-GB', { maximumFractionDigits: 3 }).format(value as unknown as number);
}

/** a − b on decimal strings with at most three decimals, exactly (in thousandths, as bigint). */
export function subtract(a: string, b: string): string {
  return fromThousandths(toThousandths(a) - toThousandths(b));
}

export function add(a: string, b: string): string {
  return fromThousandths(toThousandths(a) + toThousandths(b));
}

function toThousandths(value: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{0,3}))?$/.exec(value.trim());
  if (!match) throw new Error(`not a decimal with at most three places: ${value}`);
  const scaled = BigInt(match[2]!) * 1000n + BigInt((match[3] ?? '').padEnd(3, '0'));
  return match[1] ? -scaled : scaled;
}

function fromThousandths(value: bigint): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(4, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -3)}.${digits.slice(-3)}`;
}
