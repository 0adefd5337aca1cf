// Every action through the whole stack with the real parts: a GraphQL request to the engine
// (`/v1/graphql`, serving hasura/metadata) → the engine's action call → the real api (`start()`) →
// the SQL functions → back, on one test database over real HTTP. Role `user` signs in with a JWT
// (HS256, as Hasura verifies it); role `service` is another backend (admin secret + x-hasura-role +
// x-hasura-org-id). Each failure checks the org's ledger state is unchanged.
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromEnv, createEngine, type Engine } from '../../engine/src/index.ts';
import { metadataWithoutCron } from '../../hasura/test/metadata-without-cron.ts';
import { ACTION_SECRET, available, createOrg, NOW, PLANS, snapshot, startApi, type TestOrg } from './helpers.ts';

const ADMIN_SECRET = 'through-engine-admin-secret';
const JWT_KEY = 'through-engine-jwt-key-at-least-thirty-two-characters';
const PACK_500 = '0c000000-0000-4000-8000-000000000001';

const db = await useTestDatabase();
const METADATA_DIR = metadataWithoutCron();
const { server: api } = await startApi(db, {
  clock: () => NOW,
  overrides: { stripeSecretKey: null, webOrigin: 'http://web.test', publicApiUrl: null },
});

async function startEngine(actionsBaseUrl: string): Promise<Engine> {
  const config = configFromEnv(
    {
      HASURA_GRAPHQL_DATABASE_URL: db.url,
      HASURA_GRAPHQL_ADMIN_SECRET: ADMIN_SECRET,
      HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'HS256', key: JWT_KEY }),
      HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true',
      ORG_CREDITS_ENGINE_METADATA_DIR: METADATA_DIR,
      ACTIONS_BASE_URL: actionsBaseUrl,
      ACTION_SECRET,
    },
    process.cwd(),
  );
  const engine = await createEngine(config, { log: () => undefined, poolSize: 8 });
  await engine.listen(0, '127.0.0.1');
  return engine;
}

const engine = await startEngine(api.url);
afterAll(async () => {
  await engine.close();
  await api.stop();
});

function jwt(userId: string, orgId: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const claims = {
    'x-hasura-allowed-roles': ['user'],
    'x-hasura-default-role': 'user',
    'x-hasura-user-id': userId,
    'x-hasura-org-id': orgId,
  };
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ 'https://hasura.io/jwt/claims': claims, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${unsigned}.${createHmac('sha256', JWT_KEY).update(unsigned).digest('base64url')}`;
}

type Headers = Record<string, string>;
const asUser = (userId: string, orgId: string): Headers => ({ authorization: `Bearer ${jwt(userId, orgId)}` });
const asService = (orgId: string): Headers => ({
  'x-hasura-admin-secret': ADMIN_SECRET,
  'x-hasura-role': 'service',
  'x-hasura-org-id': orgId,
});

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
  data: any;
  errors?: { message: string; extensions: Record<string, unknown> }[];
}

async function gql(query: string, variables: Record<string, unknown>, headers: Headers, target: Engine = engine): Promise<Answer> {
  const res = await fetch(`${target.url}/v1/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: unknown; errors?: Answer['errors'] };
  return { status: res.status, data: body.data, ...(body.errors ? { errors: body.errors } : {}) };
}

/** A member with `role` added to the org. */
async function addPerson(orgId: string, role: 'owner' | 'admin' | 'member'): Promise<string> {
  const userId = randomUUID();
  await db.pool.query('insert into public.users (id, email, display_name) values ($1, $2, $3)', [userId, `${userId}@test.example`, role]);
  await db.pool.query('insert into public.organization_members (organization_id, user_id, role) values ($1, $2, $3)', [
    orgId,
    userId,
    role,
  ]);
  return userId;
}

/** Everything an action can change for an org: the ledger, purchases and the subscription. */
async function state(orgId: string) {
  const q = async (sql: string) => (await db.pool.query(sql, [orgId])).rows;
  return {
    ledger: await snapshot(db.pool, orgId),
    purchases: await q('select * from public.topup_purchases where organization_id = $1 order by id'),
    subscription: await q('select * from public.organization_subscriptions where organization_id = $1'),
  };
}

const RESERVE = `mutation Reserve($capability: String!, $quality: String!, $key: String!, $estimated: numeric) {
  reserveCredits(capability: $capability, qualityLevel: $quality, idempotencyKey: $key, estimatedCredits: $estimated) {
    reservationId amountCredits expiresAt modelId availableCredits
    reservation { status amount_credits organization_id }
  }
}`;
const SETTLE = `mutation Settle($id: uuid!, $usage: CreditUsageInput!) {
  settleCredits(reservationId: $id, usage: $usage) { reservationId chargedCredits releasedCredits capped availableCredits }
}`;
const RELEASE = `mutation Release($id: uuid!) {
  releaseCredits(reservationId: $id, reason: "the call did not happen") { reservationId releasedCredits availableCredits }
}`;
const CHECK = `query Check($capability: String!, $quality: String!) {
  checkAIAccess(capability: $capability, qualityLevel: $quality) {
    allowed reason action requiredPlanCode modelId estimatedCredits rateLimitHourRemaining availableCredits
  }
}`;
const ESTIMATE = `query Estimate($capability: String!, $quality: String!) {
  estimateCredits(capability: $capability, qualityLevel: $quality, inputTokens: 1000, outputTokens: 500) {
    capability qualityLevel modelId modelDisplayName pricingMode baseCredits inputCreditsPer1kTokens outputCreditsPer1kTokens
    minimumCredits minimumInputTokens minimumOutputTokens typicalCredits typicalInputTokens typicalOutputTokens
    maximumCredits maximumInputTokens maximumOutputTokens maximumExplanation
  }
}`;
const PLAYGROUND = `mutation Play($key: String!) {
  runPlayground(capability: "summarization", qualityLevel: "enhanced", prompt: "Summarize: the team shipped the billing page.", idempotencyKey: $key) {
    reservationId output modelId inputTokens outputTokens chargedCredits availableCredits
  }
}`;
const TOP_UP = `mutation TopUp($pack: uuid!) { createTopUpCheckout(packageId: $pack) { purchaseId checkoutUrl } }`;
const CHANGE_PLAN = `mutation Change($plan: uuid!) { changePlan(planId: $plan) { status checkoutUrl effectiveAt planId } }`;
const CANCEL_CHANGE = 'mutation { cancelPlanChange { status checkoutUrl effectiveAt planId } }';
const PREVIEW_CHANGE = `query Preview($plan: uuid!, $org: uuid) {
  previewPlanChange(planId: $plan, organizationId: $org) {
    planId direction status effectiveAt amountDueMinor currency creditsGrantedNow prorationDate
  }
}`;
const CONFIRM_CHANGE = `mutation Confirm($plan: uuid!, $at: timestamptz) {
  changePlan(planId: $plan, prorationDate: $at) { status effectiveAt planId }
}`;

const qs = (key: string = randomUUID(), capability = 'question_suggestions', quality = 'fast') => ({ capability, quality, key });

async function reserve(org: TestOrg, vars = qs()) {
  const answer = await gql(RESERVE, vars, asService(org.orgId));
  expect(answer.errors).toBeUndefined();
  return answer.data.reserveCredits as { reservationId: string; amountCredits: string; availableCredits: string };
}

describe('each action succeeds through the engine', () => {
  it('checkAIAccess and estimateCredits answer a member (JWT) and a service the same', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const user = await gql(CHECK, { capability: 'question_suggestions', quality: 'fast' }, asUser(org.userId, org.orgId));
    const service = await gql(CHECK, { capability: 'question_suggestions', quality: 'fast' }, asService(org.orgId));
    expect(user.errors).toBeUndefined();
    expect(user.data.checkAIAccess).toEqual({
      allowed: true,
      reason: null,
      action: null,
      requiredPlanCode: null,
      modelId: 'openai/gpt-4.1-nano',
      estimatedCredits: '0.106',
      rateLimitHourRemaining: 200,
      availableCredits: '10.000',
    });
    expect(service.data).toEqual(user.data);

    const estimate = await gql(ESTIMATE, { capability: 'summarization', quality: 'enhanced' }, asUser(org.userId, org.orgId));
    expect(estimate.errors).toBeUndefined();
    expect(estimate.data.estimateCredits).toMatchObject({
      capability: 'summarization',
      qualityLevel: 'enhanced',
      modelId: 'anthropic/claude-haiku-4-5',
      modelDisplayName: 'Claude Haiku 4.5',
      pricingMode: 'per_token',
      // What the figures are made of, through the engine as the api answered: decimal strings, counts.
      baseCredits: '0.200',
      inputCreditsPer1kTokens: '0.050000',
      outputCreditsPer1kTokens: '0.250000',
      minimumInputTokens: 1000,
      minimumOutputTokens: 1,
      typicalInputTokens: 1000,
      typicalOutputTokens: 500,
      maximumInputTokens: 1000,
      maximumOutputTokens: 1500,
    });
    const e = estimate.data.estimateCredits;
    for (const amount of [e.minimumCredits, e.typicalCredits, e.maximumCredits]) expect(amount).toMatch(/^\d+\.\d{3}$/);
    expect(Number(e.minimumCredits) <= Number(e.typicalCredits) && Number(e.typicalCredits) <= Number(e.maximumCredits)).toBe(true);

    // Priced per call: no prices per token and no token counts, as nulls.
    const perCall = await gql(ESTIMATE, { capability: 'image_captioning', quality: 'fast' }, asService(org.orgId));
    expect(perCall.errors).toBeUndefined();
    expect(perCall.data.estimateCredits).toMatchObject({
      pricingMode: 'per_call',
      baseCredits: '2.000',
      inputCreditsPer1kTokens: null,
      outputCreditsPer1kTokens: null,
      typicalInputTokens: null,
      typicalOutputTokens: null,
      maximumOutputTokens: null,
    });
  });

  it('reserveCredits holds, settleCredits charges the usage, releaseCredits returns a hold, each as the database says', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const held = await reserve(org);
    expect(held).toMatchObject({ amountCredits: '0.114', modelId: 'openai/gpt-4.1-nano', availableCredits: '9.886' });
    const settled = await gql(SETTLE, { id: held.reservationId, usage: { inputTokens: 350, outputTokens: 120 } }, asService(org.orgId));
    expect(settled.errors).toBeUndefined();
    const s = settled.data.settleCredits;
    expect(s.reservationId).toBe(held.reservationId);
    const { rows } = await db.pool.query(
      'select status, settled_amount_credits::text as charged from public.credit_reservations where id = $1',
      [held.reservationId],
    );
    expect(rows).toEqual([{ status: 'settled', charged: s.chargedCredits }]);
    expect(s.availableCredits).toBe(await available(db.pool, org.orgId));

    const second = await reserve(org);
    const released = await gql(RELEASE, { id: second.reservationId }, asService(org.orgId));
    expect(released.errors).toBeUndefined();
    expect(released.data.releaseCredits).toEqual({
      reservationId: second.reservationId,
      releasedCredits: '0.114',
      availableCredits: s.availableCredits,
    });
    expect(await available(db.pool, org.orgId)).toBe(s.availableCredits);
  });

  it('runPlayground runs the local model for a member and charges what it used', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const member = await addPerson(org.orgId, 'member');
    const answer = await gql(PLAYGROUND, { key: randomUUID() }, asUser(member, org.orgId));
    expect(answer.errors).toBeUndefined();
    const run = answer.data.runPlayground;
    expect(run.modelId).toBe('anthropic/claude-haiku-4-5');
    expect(run.output).toContain('anthropic/claude-haiku-4-5');
    const { rows } = await db.pool.query(
      'select status, settled_amount_credits::text as charged from public.credit_reservations where id = $1',
      [run.reservationId],
    );
    expect(rows).toEqual([{ status: 'settled', charged: run.chargedCredits }]);
    expect(run.availableCredits).toBe(await available(db.pool, org.orgId));
  });

  it('createTopUpCheckout records a pending purchase and answers the local payment page', async () => {
    const org = await createOrg(db.pool);
    const answer = await gql(TOP_UP, { pack: PACK_500 }, asUser(org.userId, org.orgId));
    expect(answer.errors).toBeUndefined();
    const { purchaseId, checkoutUrl } = answer.data.createTopUpCheckout;
    expect(checkoutUrl).toContain(api.url);
    const { rows } = await db.pool.query(
      'select organization_id, status, credits::text as credits from public.topup_purchases where id = $1',
      [purchaseId],
    );
    expect(rows).toEqual([{ organization_id: org.orgId, status: 'pending', credits: '500.000' }]);
  });

  it('changePlan sends a free org to checkout, schedules a downgrade, and cancelPlanChange drops it', async () => {
    const free = await createOrg(db.pool, { plan: 'free' });
    const checkout = await gql(CHANGE_PLAN, { plan: PLANS.pro }, asUser(free.userId, free.orgId));
    expect(checkout.errors).toBeUndefined();
    expect(checkout.data.changePlan).toMatchObject({ status: 'checkout_required', planId: PLANS.pro, effectiveAt: null });
    expect(checkout.data.changePlan.checkoutUrl).toContain(api.url);

    // A team org paying through a subscription (the local provider schedules its downgrade).
    const team = await createOrg(db.pool, { plan: 'team' });
    await db.pool.query('update public.organization_subscriptions set stripe_subscription_id = $2 where organization_id = $1', [
      team.orgId,
      `sub_local_${team.orgId.slice(0, 8)}`,
    ]);
    const admin = await addPerson(team.orgId, 'admin');
    const scheduled = await gql(CHANGE_PLAN, { plan: PLANS.pro }, asUser(admin, team.orgId));
    expect(scheduled.errors).toBeUndefined();
    expect(scheduled.data.changePlan).toMatchObject({ status: 'scheduled', planId: PLANS.pro });
    const sub = async () =>
      (
        await db.pool.query('select plan_id, pending_plan_id from public.organization_subscriptions where organization_id = $1', [
          team.orgId,
        ])
      ).rows[0];
    expect(await sub()).toEqual({ plan_id: PLANS.team, pending_plan_id: PLANS.pro });

    const canceled = await gql(CANCEL_CHANGE, {}, asUser(team.userId, team.orgId));
    expect(canceled.errors).toBeUndefined();
    expect(canceled.data.cancelPlanChange).toEqual({ status: 'canceled', checkoutUrl: null, effectiveAt: null, planId: PLANS.team });
    expect(await sub()).toEqual({ plan_id: PLANS.team, pending_plan_id: null });
  });
});

describe('previewPlanChange through the engine', () => {
  it('answers an owner what an upgrade would do (the local provider charges nothing), as bigint and numeric strings, changing nothing', async () => {
    const org = await createOrg(db.pool, { plan: 'pro' });
    await db.pool.query('update public.organization_subscriptions set stripe_subscription_id = $2 where organization_id = $1', [
      org.orgId,
      `sub_local_${org.orgId.slice(0, 8)}`,
    ]);
    const before = await state(org.orgId);
    const answer = await gql(PREVIEW_CHANGE, { plan: PLANS.team, org: org.orgId }, asUser(org.userId, org.orgId));
    expect(answer.errors).toBeUndefined();
    expect(answer.data.previewPlanChange).toEqual({
      planId: PLANS.team,
      direction: 'upgrade',
      status: 'upgraded',
      effectiveAt: NOW.toISOString(),
      amountDueMinor: '0',
      currency: 'GBP',
      // Team's 2,000 a month; this org has had no allowance this period.
      creditsGrantedNow: '2000.000',
      prorationDate: NOW.toISOString(),
    });
    const down = await gql(PREVIEW_CHANGE, { plan: PLANS.free }, asUser(org.userId, org.orgId));
    expect(down.data.previewPlanChange).toMatchObject({ direction: 'downgrade', status: 'scheduled', amountDueMinor: '0' });
    expect(await state(org.orgId)).toEqual(before);
  });

  it("confirms the upgrade with the preview's prorationDate; one over half an hour old is refused (PRORATION_DATE_STALE), changing nothing", async () => {
    const org = await createOrg(db.pool, { plan: 'pro' });
    await db.pool.query('update public.organization_subscriptions set stripe_subscription_id = $2 where organization_id = $1', [
      org.orgId,
      `sub_local_${org.orgId.slice(0, 8)}`,
    ]);
    const owner = asUser(org.userId, org.orgId);
    const preview = await gql(PREVIEW_CHANGE, { plan: PLANS.team }, owner);
    const before = await state(org.orgId);
    const stale = await gql(CONFIRM_CHANGE, { plan: PLANS.team, at: new Date(NOW.getTime() - 31 * 60_000).toISOString() }, owner);
    expect(stale.data?.changePlan ?? null).toBeNull();
    expect(stale.errors?.[0]?.extensions).toMatchObject({ code: 'PRORATION_DATE_STALE' });
    expect(await state(org.orgId)).toEqual(before);
    const confirmed = await gql(CONFIRM_CHANGE, { plan: PLANS.team, at: preview.data.previewPlanChange.prorationDate }, owner);
    expect(confirmed.errors).toBeUndefined();
    expect(confirmed.data.changePlan).toEqual({ status: 'upgraded', effectiveAt: NOW.toISOString(), planId: PLANS.team });
  });

  it("refuses a member (FORBIDDEN, as changePlan), another organization's id, and a service", async () => {
    const org = await createOrg(db.pool, { plan: 'pro' });
    const other = await createOrg(db.pool, { plan: 'pro' });
    const member = await addPerson(org.orgId, 'member');
    const before = { org: await state(org.orgId), other: await state(other.orgId) };
    const byMember = await gql(PREVIEW_CHANGE, { plan: PLANS.team }, asUser(member, org.orgId));
    expect(byMember.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    const changeByMember = await gql(CHANGE_PLAN, { plan: PLANS.team }, asUser(member, org.orgId));
    expect(changeByMember.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    const aimed = await gql(PREVIEW_CHANGE, { plan: PLANS.team, org: other.orgId }, asUser(org.userId, org.orgId));
    expect(aimed.data?.previewPlanChange ?? null).toBeNull();
    expect(aimed.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    const forged = await gql(PREVIEW_CHANGE, { plan: PLANS.team }, asUser(org.userId, other.orgId));
    expect(forged.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    const service = await gql(PREVIEW_CHANGE, { plan: PLANS.team }, asService(org.orgId));
    expect(service.errors?.[0]?.extensions).toMatchObject({ code: 'validation-failed' });
    expect({ org: await state(org.orgId), other: await state(other.orgId) }).toEqual(before);
  });
});

describe('each error code arrives as errors[0].extensions.code, and nothing changes', () => {
  /** Runs `request` and checks its one error and the org's state before and after. */
  async function refused(org: TestOrg, request: () => Promise<Answer>, extensions: Record<string, unknown>) {
    const before = await state(org.orgId);
    const answer = await request();
    expect(answer.data ?? null).toBeNull();
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors?.[0]?.extensions).toMatchObject(extensions);
    expect(await state(org.orgId)).toEqual(before);
    return answer.errors![0]!;
  }

  it('INSUFFICIENT_CREDITS when the hold does not fit', async () => {
    const org = await createOrg(db.pool, { credits: '0.050' });
    const error = await refused(org, () => gql(RESERVE, qs(), asService(org.orgId)), { code: 'INSUFFICIENT_CREDITS', action: 'top_up' });
    expect(error.message).toContain(org.orgId);
  });

  it('RATE_LIMITED with the seconds until the next hour', async () => {
    const org = await createOrg(db.pool, { plan: 'free', credits: '10.000' });
    await db.pool.query(
      `insert into public.organization_rate_usage (organization_id, capability_code, hour_start, hour_calls, day, day_calls)
       values ($1, 'summarization', '2026-11-22T10:00:00Z', 5, '2026-11-22', 5)`,
      [org.orgId],
    );
    await refused(org, () => gql(RESERVE, qs(randomUUID(), 'summarization'), asService(org.orgId)), {
      code: 'RATE_LIMITED',
      action: 'wait',
      retry_after_seconds: 2700,
    });
  });

  it('SPEND_LIMIT_EXCEEDED when the hold passes the per-call limit', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await db.pool.query('insert into public.spend_limits (organization_id, per_call_limit_credits) values ($1, 0.050)', [org.orgId]);
    await refused(org, () => gql(RESERVE, qs(), asService(org.orgId)), { code: 'SPEND_LIMIT_EXCEEDED' });
  });

  it('CAPABILITY_NOT_IN_PLAN and QUALITY_NOT_IN_PLAN name the plan to upgrade to', async () => {
    const org = await createOrg(db.pool, { plan: 'free', credits: '10.000' });
    await refused(org, () => gql(RESERVE, qs(randomUUID(), 'image_captioning'), asService(org.orgId)), {
      code: 'CAPABILITY_NOT_IN_PLAN',
      action: 'upgrade',
      required_plan: 'pro',
    });
    const pro = await createOrg(db.pool, { plan: 'pro', credits: '10.000' });
    await refused(pro, () => gql(RESERVE, qs(randomUUID(), 'question_suggestions', 'premium'), asService(pro.orgId)), {
      code: 'QUALITY_NOT_IN_PLAN',
      action: 'upgrade',
      required_plan: 'team',
    });
  });

  it('RESERVATION_ALREADY_RESOLVED for a release after a settle', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const held = await reserve(org);
    const settled = await gql(SETTLE, { id: held.reservationId, usage: { inputTokens: 100, outputTokens: 10 } }, asService(org.orgId));
    expect(settled.errors).toBeUndefined();
    await refused(org, () => gql(RELEASE, { id: held.reservationId }, asService(org.orgId)), { code: 'RESERVATION_ALREADY_RESOLVED' });
  });

  it("RESERVATION_NOT_FOUND for an unknown id, and for another org's reservation", async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const other = await createOrg(db.pool, { credits: '10.000' });
    const theirs = await reserve(other);
    await refused(org, () => gql(RELEASE, { id: randomUUID() }, asService(org.orgId)), { code: 'RESERVATION_NOT_FOUND' });
    const otherBefore = await state(other.orgId);
    await refused(org, () => gql(SETTLE, { id: theirs.reservationId, usage: { calls: 1 } }, asService(org.orgId)), {
      code: 'RESERVATION_NOT_FOUND',
    });
    expect(await state(other.orgId)).toEqual(otherBefore);
  });

  it('INVALID_INPUT for an empty idempotency key and for an over-precise estimate', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await refused(org, () => gql(RESERVE, qs(''), asService(org.orgId)), { code: 'INVALID_INPUT' });
    await refused(org, () => gql(RESERVE, { ...qs(), estimated: '0.0001' }, asService(org.orgId)), { code: 'INVALID_INPUT' });
  });

  it('FORBIDDEN for a member buying credits', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const member = await addPerson(org.orgId, 'member');
    await refused(org, () => gql(TOP_UP, { pack: PACK_500 }, asUser(member, org.orgId)), { code: 'FORBIDDEN' });
  });

  it("the engine's validation error for a role without the action's permission (a user reserving), before the api", async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const error = await refused(org, () => gql(RESERVE, qs(), asUser(org.userId, org.orgId)), { code: 'validation-failed' });
    expect(error.message).toBe(`field "reserveCredits" not found in type: 'mutation_root'`);
  });
});

describe('retries and concurrency through the whole stack', () => {
  it('a retry with the same key after a dropped response gets the one reservation', async () => {
    // A pass-through between the engine and the api that holds the api's answer until the client
    // has dropped its request to the engine, so the hold is committed and its answer is lost.
    let answered: (() => void) | undefined;
    let hold = true;
    const apiAnswered = new Promise<void>((resolve) => {
      answered = resolve;
    });
    let releaseHeld: (() => void) | undefined;
    const held = new Promise<void>((resolve) => {
      releaseHeld = resolve;
    });
    const proxy: Server = createServer((req, res) => {
      const upstream = request(`${api.url}${req.url}`, { method: req.method, headers: req.headers }, async (up: IncomingMessage) => {
        const chunks: Buffer[] = [];
        for await (const chunk of up) chunks.push(chunk as Buffer);
        if (hold) {
          hold = false;
          answered?.();
          await held;
        }
        res.writeHead(up.statusCode ?? 502, up.headers);
        res.end(Buffer.concat(chunks));
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const relayEngine = await startEngine(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    try {
      const org = await createOrg(db.pool, { credits: '10.000' });
      const vars = qs();
      const aborter = new AbortController();
      const dropped = fetch(`${relayEngine.url}/v1/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...asService(org.orgId) },
        body: JSON.stringify({ query: RESERVE, variables: vars }),
        signal: aborter.signal,
      });
      await apiAnswered;
      aborter.abort();
      await expect(dropped).rejects.toThrow();
      releaseHeld?.();
      const { rows: committed } = await db.pool.query('select id from public.credit_reservations where organization_id = $1', [org.orgId]);
      expect(committed).toHaveLength(1);

      const retry = await gql(RESERVE, vars, asService(org.orgId), relayEngine);
      expect(retry.errors).toBeUndefined();
      expect(retry.data.reserveCredits).toMatchObject({
        reservationId: committed[0].id,
        amountCredits: '0.114',
        availableCredits: '9.886',
      });
      const { rows } = await db.pool.query('select id, status from public.credit_reservations where organization_id = $1', [org.orgId]);
      expect(rows).toEqual([{ id: committed[0].id, status: 'open' }]);
      expect(await available(db.pool, org.orgId)).toBe('9.886');
    } finally {
      releaseHeld?.();
      await relayEngine.close();
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('100 concurrent reserves against a balance that fits 20: exactly 20 succeed, the rest INSUFFICIENT_CREDITS, nothing overdrawn', async () => {
    // 20 × 0.114 (question_suggestions at fast on pro).
    const org = await createOrg(db.pool, { credits: '2.280' });
    const answers = await Promise.all(Array.from({ length: 100 }, () => gql(RESERVE, qs(), asService(org.orgId))));
    const won = answers.filter((a) => !a.errors);
    const codes = answers.filter((a) => a.errors).map((a) => a.errors?.[0]?.extensions.code);
    expect(won).toHaveLength(20);
    expect(codes).toEqual(Array(80).fill('INSUFFICIENT_CREDITS'));
    const { rows } = await db.pool.query(
      `select count(*)::int as open, sum(amount_credits)::text as held from public.credit_reservations
       where organization_id = $1 and status = 'open'`,
      [org.orgId],
    );
    expect(rows).toEqual([{ open: 20, held: '2.280' }]);
    expect(new Set(won.map((a) => a.data.reserveCredits.reservationId)).size).toBe(20);
    expect(await available(db.pool, org.orgId)).toBe('0.000');
  });
});
