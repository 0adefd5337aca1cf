// Cron schedules as Hasura reads them: five fields (minute hour day-of-month month day-of-week),
// always in UTC. Each field takes `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`,
// and comma lists of those; months and weekdays also take names (`JAN`, `MON`), and a weekday of
// 7 is Sunday. When both day fields are restricted a day matching either one fires (classic cron).
// `@yearly`, `@monthly`, `@weekly`, `@daily` and `@hourly` stand for their usual patterns.

const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** The first name's number (1 for months, 0 for weekdays). */
  nameBase?: number;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, nameBase: 0 },
];

/** How far ahead `next` looks before deciding a schedule never fires (e.g. `0 0 30 2 *`). */
const SEARCH_YEARS = 8;

export class CronSchedule {
  private readonly minutes: Set<number>;
  private readonly hours: Set<number>;
  private readonly days: Set<number>;
  private readonly months: Set<number>;
  private readonly weekdays: Set<number>;
  private readonly anyDay: boolean;
  private readonly anyWeekday: boolean;

  constructor(readonly expression: string) {
    const text = NICKNAMES[expression.trim().toLowerCase()] ?? expression.trim();
    const parts = text.split(/\s+/);
    if (parts.length !== 5) throw new Error(`expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
    const [minutes, hours, days, months, weekdays] = parts.map((part, i) => parseField(part, FIELDS[i]!)) as Set<number>[];
    this.minutes = minutes!;
    this.hours = hours!;
    this.days = days!;
    this.months = months!;
    this.weekdays = new Set([...weekdays!].map((d) => d % 7));
    this.anyDay = parts[2] === '*' || parts[2] === '?';
    this.anyWeekday = parts[4] === '*' || parts[4] === '?';
    if (this.next(new Date(Date.UTC(2000, 0, 1))) === null) throw new Error('the schedule never fires');
  }

  /** Whether `date` (to the second) is one of the schedule's times. */
  match(date: Date): boolean {
    return (
      date.getUTCSeconds() === 0 &&
      date.getUTCMilliseconds() === 0 &&
      this.minutes.has(date.getUTCMinutes()) &&
      this.hours.has(date.getUTCHours()) &&
      this.months.has(date.getUTCMonth() + 1) &&
      this.dayMatches(date)
    );
  }

  /** The first time strictly after `after`, or null if there is none within SEARCH_YEARS. */
  next(after: Date): Date | null {
    let t = Math.floor(after.getTime() / 60_000) * 60_000 + 60_000;
    const end = after.getTime() + SEARCH_YEARS * 366 * 86_400_000;
    while (t <= end) {
      const d = new Date(t);
      if (!this.months.has(d.getUTCMonth() + 1)) {
        t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      } else if (!this.dayMatches(d)) {
        t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      } else if (!this.hours.has(d.getUTCHours())) {
        t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
      } else if (!this.minutes.has(d.getUTCMinutes())) {
        t += 60_000;
      } else {
        return d;
      }
    }
    return null;
  }

  /** The next `count` times after `after`, in order. */
  nextRuns(count: number, after: Date): Date[] {
    const runs: Date[] = [];
    let from = after;
    while (runs.length < count) {
      const next = this.next(from);
      if (!next) break;
      runs.push(next);
      from = next;
    }
    return runs;
  }

  private dayMatches(d: Date): boolean {
    const day = this.days.has(d.getUTCDate());
    const weekday = this.weekdays.has(d.getUTCDay());
    if (this.anyDay && this.anyWeekday) return true;
    if (this.anyDay) return weekday;
    if (this.anyWeekday) return day;
    return day || weekday;
  }
}

function parseField(text: string, spec: FieldSpec): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const match = /^(\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(item);
    if (!match) throw new Error(`invalid ${spec.name} "${item}"`);
    const [, range, stepText] = match as unknown as [string, string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw new Error(`invalid step in ${spec.name} "${item}"`);
    let low: number;
    let high: number;
    if (range === '*' || range === '?') {
      low = spec.min;
      high = spec.name === 'day of week' ? 6 : spec.max;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-') as [string, string];
      low = value(a, spec, item);
      high = value(b, spec, item);
      if (low > high) throw new Error(`invalid range in ${spec.name} "${item}"`);
    } else {
      low = value(range, spec, item);
      // `a/n` runs from a to the field's end.
      high = stepText === undefined ? low : spec.name === 'day of week' ? 6 : spec.max;
    }
    for (let v = low; v <= high; v += step) values.add(v);
  }
  return values;
}

function value(text: string, spec: FieldSpec, item: string): number {
  const upper = text.toUpperCase();
  const named = spec.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + (spec.nameBase ?? 0);
  if (!/^\d+$/.test(text)) throw new Error(`invalid ${spec.name} "${item}"`);
  const n = Number(text);
  if (n < spec.min || n > spec.max) throw new Error(`${spec.name} ${n} is out of range ${spec.min}-${spec.max}`);
  return n;
}
