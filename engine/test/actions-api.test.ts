// The whole path with the real parts: GraphQL reserveCredits → engine → the real api (its actions
// handler) → the SQL functions → back, on one test database and real HTTP.
import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../api/src/ai/index.ts';
import { start } from '../../api/src/server.ts';
import { metadataWithoutCron } from '../../hasura/test/metadata-without-cron.ts';
import { as, startEngine } from './helpers.ts';

const SECRET = 'engine-to-api-action-secret-0123';
/** hasura/metadata without its cron triggers: they would call the handler at the machine's time. */
const METADATA_DIR = metadataWithoutCron();
const NOW = new Date('2026-11-22T10:15:00.000Z');
const PRO_PLAN = 'a0000000-0000-4000-8000-000000000002';

const db = await useTestDatabase();
const api = await start({
  overrides: { port: 0, host: '127.0.0.1', databaseUrl: db.url, databasePoolSize: 4, actionSecret: SECRET, production: false },
  ai: createLocalProvider({ delay: async () => undefined }),
  clock: () => NOW,
});
const engine = await startEngine(db, {
  ORG_CREDITS_ENGINE_METADATA_DIR: METADATA_DIR,
  ACTIONS_BASE_URL: api.url,
  ACTION_SECRET: SECRET,
  HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
});
afterAll(async () => {
  await engine.close();
  await api.stop();
});

/** An org on the pro plan with `credits` granted (through the ledger's own function). */
async function newOrg(credits: string): Promise<string> {
  const orgId = randomUUID();
  const slug = `engine-${orgId.slice(0, 8)}`;
  await db.pool.query('insert into public.organizations (id, name, slug) values ($1, $2, $3)', [orgId, slug, slug]);
  await db.pool.query(
    `insert into public.organization_subscriptions (organization_id, plan_id, status, current_period_start, current_period_end)
     values ($1, $2, 'active', $3::timestamptz - interval '10 days', $3::timestamptz + interval '20 days')`,
    [orgId, PRO_PLAN, NOW],
  );
  await db.pool.query('insert into public.credit_balances (organization_id) values ($1) on conflict do nothing', [orgId]);
  await db.pool.query("select public.grant_credits($1, $2::numeric, 'purchase', $3, p_now => $4)", [
    orgId,
    credits,
    `engine-${orgId}`,
    NOW,
  ]);
  return orgId;
}

const RESERVE = `mutation ($key: String!) {
  reserveCredits(capability: "question_suggestions", qualityLevel: "fast", idempotencyKey: $key) {
    reservationId amountCredits modelId availableCredits
    reservation { status amount_credits organization_id }
  }
}`;

async function reserve(orgId: string) {
  const res = await fetch(`${engine.url}/v1/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...as('service', { 'org-id': orgId }) },
    body: JSON.stringify({ query: RESERVE, variables: { key: randomUUID() } }),
  });
  return (await res.json()) as { data?: { reserveCredits: Record<string, unknown> }; errors?: unknown[] };
}

async function ledgerState(orgId: string) {
  const balance = await db.pool.query('select * from public.credit_balances where organization_id = $1', [orgId]);
  const reservations = await db.pool.query('select id from public.credit_reservations where organization_id = $1', [orgId]);
  return { balance: balance.rows, reservations: reservations.rows };
}

describe('reserveCredits through the engine and the real api', () => {
  it('holds credits and answers the reservation, joined to its row', async () => {
    const orgId = await newOrg('10.000');
    const answer = await reserve(orgId);
    expect(answer.errors).toBeUndefined();
    const out = answer.data?.reserveCredits as Record<string, unknown>;
    expect(out).toMatchObject({
      amountCredits: '0.114',
      modelId: 'openai/gpt-4.1-nano',
      availableCredits: '9.886',
      reservation: { status: 'open', amount_credits: '0.114', organization_id: orgId },
    });
    const { rows } = await db.pool.query('select amount_credits::text as amount from public.credit_reservations where id = $1', [
      out.reservationId,
    ]);
    expect(rows).toEqual([{ amount: '0.114' }]);
  });

  it('passes INSUFFICIENT_CREDITS through as extensions.code and changes nothing', async () => {
    const orgId = await newOrg('0.050');
    const before = await ledgerState(orgId);
    const answer = await reserve(orgId);
    expect(answer.data).toBeUndefined();
    expect(answer.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'INSUFFICIENT_CREDITS', action: 'top_up' }) }),
    ]);
    expect(await ledgerState(orgId)).toEqual(before);
  });
});
