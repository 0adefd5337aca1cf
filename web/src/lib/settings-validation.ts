// What the settings forms refuse before sending anything, field by field: each form shows every
// message at its own field (aria-invalid, aria-describedby), all at once, and the save (the
// composables' validate) refuses the same values with the first of them. The bounds are those of
// the server's permission checks.
import type { AutoTopUpSettingsInput, SpendLimitsInput } from '../graphql/settings.ts';
import { compareCredits, isPositive, MAX_SETTING_CREDITS, MAX_SETTING_WHOLE_CREDITS, parseCredits } from './decimal.ts';
import { formatCredits } from './format.ts';

/** Auto top-up buys when available credits fall below the threshold, and spending stops at 0: on
 * with a threshold of 0 (or none, which saved as 0) it said "On" and never bought. */
const THRESHOLD_ABOVE_ZERO = 'Enter a threshold above 0: a pack is bought when available credits fall below it.';

/** Whether the form's threshold, as typed, is one that auto top-up can be on with (a malformed one
 * is left to the validation's own words). */
function thresholdAllowsOn(threshold: string): boolean {
  const typed = threshold.trim();
  if (!typed) return false;
  try {
    return isPositive(typed);
  } catch {
    return true;
  }
}

/** A message for each field of the auto top-up settings that cannot be saved as it is. */
export type AutoTopUpErrors = Partial<
  Record<'threshold_credits' | 'package_id' | 'monthly_max_count' | 'cooldown_minutes' | 'monthly_max_minor', string>
>;

const wholeIn = (value: number, min: number, max: number) => Number.isInteger(value) && value >= min && value <= max;

/** Every refusal of the auto top-up settings: a threshold from 0 to 1,000,000,000 credits, 1 to 100
 * top-ups a month, a cooldown of at most 30 days (43,200 minutes) and a monthly spend cap of 1 to
 * 10,000,000 minor units; and, while on, a pack and a threshold above 0. */
export function autoTopUpErrors(input: AutoTopUpSettingsInput): AutoTopUpErrors {
  const errors: AutoTopUpErrors = {};
  if (input.enabled && !input.package_id) errors.package_id = 'Choose the pack to buy when the balance runs low.';
  const threshold = input.threshold_credits.trim();
  try {
    const credits = parseCredits(threshold);
    if (credits < 0n) errors.threshold_credits = 'The threshold cannot be negative.';
    else if (credits > MAX_SETTING_CREDITS) {
      errors.threshold_credits = `The threshold can be at most ${formatCredits(MAX_SETTING_WHOLE_CREDITS)} credits.`;
    }
  } catch {
    errors.threshold_credits = 'The threshold must be a number of credits with at most three decimals.';
  }
  if (input.enabled && !thresholdAllowsOn(threshold)) errors.threshold_credits = THRESHOLD_ABOVE_ZERO;
  const max = input.monthly_max_count;
  if (max !== null && max !== undefined && !wholeIn(max, 1, 100)) {
    errors.monthly_max_count = 'The number of top-ups a month must be a whole number from 1 to 100, or empty for no limit.';
  }
  if (input.cooldown_minutes !== undefined && !wholeIn(input.cooldown_minutes, 0, 43_200)) {
    errors.cooldown_minutes = 'The pause between top-ups must be a whole number of minutes from 0 to 43,200 (30 days).';
  }
  const cap = input.monthly_max_minor;
  if (cap !== null && cap !== undefined && !(/^\d{1,9}$/.test(cap) && wholeIn(Number(cap), 1, 10_000_000))) {
    errors.monthly_max_minor =
      'The most to spend a month must be from 1 to 10,000,000 in the smallest unit of the currency, or empty for no limit.';
  }
  return errors;
}

/** A message for each spend limit that cannot be saved as it is. */
export type SpendLimitErrors = Partial<Record<keyof SpendLimitsInput, string>>;

const LIMIT_NAMES: Record<keyof SpendLimitsInput, string> = {
  daily_limit_credits: 'daily limit',
  monthly_limit_credits: 'monthly limit',
  per_call_limit_credits: 'per call limit',
};

/** Every refusal of the spend limits: each more than zero and at most 1,000,000,000 credits (the
 * server's bounds), and a daily limit no higher than the monthly one: above it, the daily limit could
 * never be reached (the month stops spending first), so it is refused rather than saved as a limit
 * that does nothing. */
export function spendLimitErrors(input: SpendLimitsInput): SpendLimitErrors {
  const errors: SpendLimitErrors = {};
  for (const key of Object.keys(LIMIT_NAMES) as Array<keyof SpendLimitsInput>) {
    const value = input[key];
    const name = LIMIT_NAMES[key];
    if (value === null || value === undefined) continue;
    try {
      const credits = parseCredits(value);
      if (credits <= 0n) errors[key] = `The ${name} must be more than zero, or empty for none.`;
      else if (credits > MAX_SETTING_CREDITS) {
        errors[key] = `The ${name} can be at most ${formatCredits(MAX_SETTING_WHOLE_CREDITS)} credits, or empty for none.`;
      }
    } catch {
      errors[key] = `The ${name} must be a number of credits with at most three decimals.`;
    }
  }
  const daily = input.daily_limit_credits;
  const monthly = input.monthly_limit_credits;
  if (daily && monthly && !errors.daily_limit_credits && !errors.monthly_limit_credits && compareCredits(daily, monthly) > 0) {
    errors.daily_limit_credits =
      `The daily limit (${formatCredits(daily)} credits) is above the monthly limit (${formatCredits(monthly)}), so it could never be reached. ` +
      'Make it no more than the monthly limit, or empty for none.';
  }
  return errors;
}

/** The first message of a form's errors, in the form's order (null: none). */
export function firstError(errors: Partial<Record<string, string>>): string | null {
  return Object.values(errors).find((message) => message !== undefined) ?? null;
}
