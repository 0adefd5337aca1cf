// Pieces of action input schemas shared by several actions.
import { z } from 'zod';
import { CREDIT_SCALE, formatDecimal, parseDecimal } from '../decimal.ts';

export const code = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(100, `${what} is too long`);

export const tokenCount = z.number().int('must be a whole number of tokens').min(0, 'must not be negative').max(10_000_000, 'is too large');

/**
 * Hasura's `numeric` scalar: a decimal string (or a JSON number that prints as one), positive, at
 * most three decimal places. Becomes a decimal string at scale 3.
 */
export const positiveCredits = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const text = typeof value === 'number' ? String(value) : value;
  try {
    const units = parseDecimal(text, CREDIT_SCALE);
    if (units <= 0n) throw new RangeError(`"${text}" is not positive`);
    return formatDecimal(units, CREDIT_SCALE);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

export const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a uuid');
