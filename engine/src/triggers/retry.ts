// When to try a failed delivery again, by Hasura's rule (the same for cron and event triggers):
// `num_retries` retries after the first attempt, `interval` seconds apart — but a response with a
// `Retry-After` header (whole seconds > 0) is always retried, after that many seconds.

/** The time of the next attempt, or null when the event has failed for good. */
export function nextAttempt(
  triesBefore: number,
  numRetries: number,
  intervalSeconds: number,
  retryAfterSeconds: number | null,
  now: Date,
): Date | null {
  if (triesBefore >= numRetries && retryAfterSeconds == null) return null;
  return new Date(now.getTime() + (retryAfterSeconds ?? intervalSeconds) * 1000);
}
