// The api's own routes the journeys call as Hasura or another backend would: cron jobs with the
// shared secret and Hasura's cron payload, and the credit actions through the engine as a service.
import { stackEnv } from './env.ts';

/** Runs a cron job the way Hasura's cron trigger does, with `scheduled_time` as "now". */
export async function runJob(job: string, scheduledTime: Date): Promise<Record<string, unknown>> {
  const response = await fetch(`${stackEnv.api()}/cron/${job}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-org-credits-secret': stackEnv.actionSecret() },
    body: JSON.stringify({ scheduled_time: scheduledTime.toISOString(), payload: {}, name: job, comment: null, id: crypto.randomUUID() }),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`/cron/${job} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Headers of another backend acting for an org: the admin secret with role `service`. */
export function serviceHeaders(orgId: string): Record<string, string> {
  return { 'x-hasura-admin-secret': stackEnv.adminSecret(), 'x-hasura-role': 'service', 'x-hasura-org-id': orgId };
}
