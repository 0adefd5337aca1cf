// Calendar days in UTC, as the usage table counts them.
import { computed, onScopeDispose, type Ref, ref } from 'vue';

const DAY_MS = 86_400_000;
const dayTick = ref(0);
let users = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

function armForNextUtcMidnight() {
  const now = Date.now();
  // A second past midnight, so that the clock is surely in the new day.
  timer = setTimeout(
    () => {
      dayTick.value++;
      armForNextUtcMidnight();
    },
    (Math.floor(now / DAY_MS) + 1) * DAY_MS - now + 1000,
  );
}

/**
 * The clock's time, read again at each UTC midnight while a component uses it: what is computed from
 * it ("today", the last 30 days) moves to the new day on a page left open overnight.
 */
export function useUtcDayClock(now: () => Date): Readonly<Ref<Date>> {
  if (users++ === 0) armForNextUtcMidnight();
  onScopeDispose(() => {
    if (--users === 0) clearTimeout(timer);
  });
  return computed(() => {
    void dayTick.value;
    return now();
  });
}

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
