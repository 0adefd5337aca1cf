// Calendar days in UTC, as the usage table counts them.

export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** The UTC day `days` before `date`'s day. */
export function utcDayMinus(date: Date, days: number): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - days));
  return utcDay(d);
}

export function utcMonthStart(date: Date): string {
  return utcDay(new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)));
}

/** The `count` UTC days ending with `date`'s day, oldest first. */
export function lastUtcDays(date: Date, count: number): string[] {
  return Array.from({ length: count }, (_, i) => utcDayMinus(date, count - 1 - i));
}
