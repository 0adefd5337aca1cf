// The cron schedule reader: Hasura's five UTC fields.
import { describe, expect, it } from 'vitest';
import { CronSchedule } from '../../src/triggers/schedule.ts';

const at = (iso: string) => new Date(iso);
const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

describe('cron schedules', () => {
  it('steps, ranges and lists give the next times strictly after the given one', () => {
    expect(iso(new CronSchedule('*/15 * * * *').nextRuns(3, at('2026-03-01T10:00:00Z')))).toEqual([
      '2026-03-01T10:15:00.000Z',
      '2026-03-01T10:30:00.000Z',
      '2026-03-01T10:45:00.000Z',
    ]);
    expect(iso(new CronSchedule('5,35 8-9 * * *').nextRuns(5, at('2026-03-01T08:10:59Z')))).toEqual([
      '2026-03-01T08:35:00.000Z',
      '2026-03-01T09:05:00.000Z',
      '2026-03-01T09:35:00.000Z',
      '2026-03-02T08:05:00.000Z',
      '2026-03-02T08:35:00.000Z',
    ]);
  });

  it('month ends, leap days and year ends roll over in UTC', () => {
    expect(new CronSchedule('0 0 31 * *').next(at('2026-04-15T00:00:00Z'))?.toISOString()).toBe('2026-05-31T00:00:00.000Z');
    expect(new CronSchedule('0 12 29 2 *').next(at('2026-03-01T00:00:00Z'))?.toISOString()).toBe('2028-02-29T12:00:00.000Z');
    expect(new CronSchedule('@yearly').next(at('2026-12-31T23:59:00Z'))?.toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('day of month and day of week: either one fires when both are given, names and 7 = Sunday work', () => {
    // 2026-03-01 is a Sunday.
    expect(iso(new CronSchedule('0 9 * * MON-FRI').nextRuns(2, at('2026-02-27T10:00:00Z')))).toEqual([
      '2026-03-02T09:00:00.000Z',
      '2026-03-03T09:00:00.000Z',
    ]);
    expect(new CronSchedule('0 0 * * 7').next(at('2026-02-27T00:00:00Z'))?.toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(iso(new CronSchedule('0 0 15 * 1').nextRuns(3, at('2026-03-01T00:00:00Z')))).toEqual([
      '2026-03-02T00:00:00.000Z',
      '2026-03-09T00:00:00.000Z',
      '2026-03-15T00:00:00.000Z',
    ]);
    expect(new CronSchedule('0 0 1 jan,jul *').next(at('2026-02-01T00:00:00Z'))?.toISOString()).toBe('2026-07-01T00:00:00.000Z');
  });

  it('match() accepts exactly the schedule’s times', () => {
    const schedule = new CronSchedule('*/10 * * * *');
    expect(schedule.match(at('2026-03-01T10:20:00Z'))).toBe(true);
    expect(schedule.match(at('2026-03-01T10:25:00Z'))).toBe(false);
    expect(schedule.match(at('2026-03-01T10:20:30Z'))).toBe(false);
  });

  it('rejects what Hasura rejects: wrong field counts, out-of-range values, schedules that never fire', () => {
    expect(() => new CronSchedule('* * * * * *')).toThrow('expected 5 fields');
    expect(() => new CronSchedule('60 * * * *')).toThrow('minute 60 is out of range 0-59');
    expect(() => new CronSchedule('0 0 * * FUNDAY')).toThrow('invalid day of week');
    expect(() => new CronSchedule('0 0 10-5 * *')).toThrow('invalid range');
    expect(() => new CronSchedule('*/0 * * * *')).toThrow('invalid step');
    expect(() => new CronSchedule('0 0 30 2 *')).toThrow('never fires');
  });
});
