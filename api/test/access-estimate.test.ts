// checkAIAccess and estimateCredits over real HTTP, as Hasura calls them, against a real Postgres.
import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { createOrg, grantExpiredPromotion, type Session, snapshot, startApi } from './helpers.ts';

const db = await useTestDatabase();
const api = await startApi(db);

const check = (session: Session, capability: string, qualityLevel: string) =>
  api.action('checkAIAccess', { capability, qualityLevel }, session);
const estimate = (session: Session, input: Record<string, unknown>) =>
  api.action('estimateCredits', { capability: 'question_suggestions', qualityLevel: 'fast', ...input }, session);
const reserve = (session: Session, capability: string, qualityLevel: string) =>
  api.action('reserveCredits', { capability, qualityLevel, idempotencyKey: randomUUID() }, session);

describe('estimateCredits', () => {
  // gpt-4.1-nano: 0.005 in / 0.020 out per 1k; base 0.100.
  const nanoPrices = '0.1 credits a call, plus 0.005 credits per 1,000 input tokens and 0.02 per 1,000 output tokens on GPT-4.1 nano';

  it('gives minimum, typical and maximum from the model per-token prices and the base cost, each explained', async () => {
    const org = await createOrg(db.pool);
    const res = await estimate(org.session, {});
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      capability: 'question_suggestions',
      qualityLevel: 'fast',
      modelId: 'openai/gpt-4.1-nano',
      modelDisplayName: 'GPT-4.1 nano',
      pricingMode: 'per_token',
      baseCredits: '0.100',
      inputCreditsPer1kTokens: '0.005000',
      outputCreditsPer1kTokens: '0.020000',
      minimumCredits: '0.101', // 1 in, 1 out: 0.100025 rounded up
      minimumInputTokens: 1,
      minimumOutputTokens: 1,
      minimumExplanation: `${nanoPrices}, for 1 input token (the least possible) and a 1-token answer`,
      typicalCredits: '0.106', // 400 in, 200 out
      typicalInputTokens: 400,
      typicalOutputTokens: 200,
      typicalExplanation: `${nanoPrices}, for 400 input and 200 output tokens (typical)`,
      maximumCredits: '0.114', // 400 in, 600 out
      maximumInputTokens: 400,
      maximumOutputTokens: 600,
      maximumExplanation: `${nanoPrices}, for 400 input tokens (typical) and the longest answer (600 output tokens)`,
    });
  });

  it('uses the given input and output tokens', async () => {
    const org = await createOrg(db.pool);
    const res = await estimate(org.session, { inputTokens: 2000, outputTokens: 50 });
    expect(res.body).toMatchObject({
      minimumCredits: '0.111',
      minimumInputTokens: 2000,
      minimumOutputTokens: 1,
      typicalCredits: '0.111',
      typicalInputTokens: 2000,
      typicalOutputTokens: 50,
      maximumCredits: '0.122',
      maximumInputTokens: 2000,
      maximumOutputTokens: 600,
    });
    expect(res.body.minimumExplanation).toBe(`${nanoPrices}, for 2,000 input tokens and a 1-token answer`);
    expect(res.body.typicalExplanation).toBe(`${nanoPrices}, for 2,000 input and 50 output tokens`);
    expect(res.body.maximumExplanation).toBe(`${nanoPrices}, for 2,000 input tokens and the longest answer (600 output tokens)`);
  });

  it('says which counts are typical when only some are given', async () => {
    const org = await createOrg(db.pool);
    const input = await estimate(org.session, { inputTokens: 1 });
    expect(input.body).toMatchObject({ typicalInputTokens: 1, typicalOutputTokens: 200 });
    expect(input.body.typicalExplanation).toBe(`${nanoPrices}, for 1 input token and 200 output tokens (typical)`);
    const output = await estimate(org.session, { outputTokens: 1 });
    expect(output.body).toMatchObject({ typicalInputTokens: 400, typicalOutputTokens: 1 });
    expect(output.body.typicalExplanation).toBe(`${nanoPrices}, for 400 input tokens (typical) and 1 output token`);
  });

  it('gives one exact price for a per-call capability, with no prices per token and no token counts', async () => {
    const org = await createOrg(db.pool, { plan: 'team' });
    const res = await estimate(org.session, { capability: 'image_captioning', qualityLevel: 'premium' });
    const line = '2 credits a call on GPT-4.1, whatever the input and output (priced per call)';
    expect(res.body).toEqual({
      capability: 'image_captioning',
      qualityLevel: 'premium',
      modelId: 'openai/gpt-4.1',
      modelDisplayName: 'GPT-4.1',
      pricingMode: 'per_call',
      baseCredits: '2.000',
      inputCreditsPer1kTokens: null,
      outputCreditsPer1kTokens: null,
      minimumCredits: '2.000',
      minimumInputTokens: null,
      minimumOutputTokens: null,
      minimumExplanation: line,
      typicalCredits: '2.000',
      typicalInputTokens: null,
      typicalOutputTokens: null,
      typicalExplanation: line,
      maximumCredits: '2.000',
      maximumInputTokens: null,
      maximumOutputTokens: null,
      maximumExplanation: line,
    });
  });

  it('follows the plan model for the quality level', async () => {
    const org = await createOrg(db.pool, { plan: 'team' });
    const res = await estimate(org.session, { capability: 'summarization', qualityLevel: 'premium' });
    // gemini-2.5-pro: 0.0625 in / 0.5 out; base 0.200; typical 3000 in, 400 out → 0.5875 → 0.588.
    expect(res.body).toMatchObject({
      modelId: 'google/gemini-2.5-pro',
      baseCredits: '0.200',
      inputCreditsPer1kTokens: '0.062500',
      outputCreditsPer1kTokens: '0.500000',
      typicalInputTokens: 3000,
      typicalOutputTokens: 400,
      typicalCredits: '0.588',
    });
    expect(res.body.typicalExplanation).toBe(
      '0.2 credits a call, plus 0.0625 credits per 1,000 input tokens and 0.5 per 1,000 output tokens on Gemini 2.5 Pro, for 3,000 input and 400 output tokens (typical)',
    );
  });

  it.each([
    ['CAPABILITY_NOT_IN_PLAN', 'free', { capability: 'image_captioning' }, 'pro'],
    ['QUALITY_NOT_IN_PLAN', 'free', { capability: 'summarization', qualityLevel: 'enhanced' }, 'pro'],
    ['QUALITY_NOT_IN_PLAN', 'pro', { qualityLevel: 'premium' }, 'team'],
  ] as const)('%s on %s names the plan to upgrade to', async (code, plan, input, requiredPlan) => {
    const org = await createOrg(db.pool, { plan });
    const res = await estimate(org.session, input);
    expect(res.status).toBe(403);
    expect(res.body.extensions).toEqual({ code, action: 'upgrade', required_plan: requiredPlan });
  });

  it.each([
    ['more input tokens than the capability takes', { inputTokens: 2001 }],
    ['more output tokens than it writes', { outputTokens: 601 }],
    ['an unknown capability', { capability: 'nope' }],
    ['tokens given as text', { inputTokens: '400' }],
  ])('INVALID_INPUT for %s', async (_name, input) => {
    const org = await createOrg(db.pool);
    const res = await estimate(org.session, input);
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe('INVALID_INPUT');
  });
});

describe('checkAIAccess', () => {
  it('allows a call the plan includes and the balance covers, with the model, estimate, rate budget and balance', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const res = await check(org.session, 'question_suggestions', 'enhanced');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      allowed: true,
      reason: null,
      message: null,
      action: null,
      requiredPlanCode: null,
      modelId: 'openai/gpt-4.1-mini',
      modelDisplayName: 'GPT-4.1 mini',
      estimatedCredits: '0.124', // 0.100 + 400 × 0.02/1k + 200 × 0.08/1k
      rateLimitHourRemaining: 200,
      rateLimitDayRemaining: 2000,
      retryAfterSeconds: null,
      availableCredits: '10.000',
    });
  });

  it('counts each reservation against the rate budget it reports', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await reserve(org.session, 'summarization', 'fast');
    await reserve(org.session, 'summarization', 'fast');
    const res = await check(org.session, 'summarization', 'fast');
    expect(res.body).toMatchObject({ allowed: true, rateLimitHourRemaining: 98, rateLimitDayRemaining: 998 });
  });

  it('reports no limit as null on a plan without one', async () => {
    const org = await createOrg(db.pool, { plan: 'team', credits: '10.000' });
    const res = await check(org.session, 'question_suggestions', 'premium');
    expect(res.body).toMatchObject({ allowed: true, rateLimitHourRemaining: 1000, rateLimitDayRemaining: null });
  });

  it('refuses what the plan lacks, with the plan to upgrade to, exactly as reserving would', async () => {
    const org = await createOrg(db.pool, { plan: 'free', credits: '10.000' });
    const res = await check(org.session, 'image_captioning', 'fast');
    expect(res.body).toMatchObject({
      allowed: false,
      reason: 'CAPABILITY_NOT_IN_PLAN',
      action: 'upgrade',
      requiredPlanCode: 'pro',
      availableCredits: '10.000',
    });
    expect((await reserve(org.session, 'image_captioning', 'fast')).body.extensions.code).toBe('CAPABILITY_NOT_IN_PLAN');
    const quality = await check(org.session, 'question_suggestions', 'premium');
    expect(quality.body).toMatchObject({ allowed: false, reason: 'QUALITY_NOT_IN_PLAN', requiredPlanCode: 'team' });
  });

  it('refuses when the balance does not cover the hold, with top_up to do, exactly as reserving would', async () => {
    const org = await createOrg(db.pool, { credits: '0.110' });
    const res = await check(org.session, 'question_suggestions', 'fast');
    expect(res.body).toMatchObject({
      allowed: false,
      reason: 'INSUFFICIENT_CREDITS',
      action: 'top_up',
      modelId: 'openai/gpt-4.1-nano',
      estimatedCredits: '0.106',
      availableCredits: '0.110',
    });
    expect((await reserve(org.session, 'question_suggestions', 'fast')).body.extensions.code).toBe('INSUFFICIENT_CREDITS');
  });

  it('refuses when the daily limit is used up, with the seconds until midnight UTC, exactly as reserving would', async () => {
    const org = await createOrg(db.pool, { plan: 'free', credits: '10.000' });
    await db.pool.query(
      `insert into public.organization_rate_usage (organization_id, capability_code, hour_start, hour_calls, day, day_calls)
       values ($1, 'summarization', '2026-11-22T09:00:00Z', 3, '2026-11-22', 20)`,
      [org.orgId],
    );
    const res = await check(org.session, 'summarization', 'fast');
    // 10:15 → 24:00 is 13 h 45 min.
    expect(res.body).toMatchObject({
      allowed: false,
      reason: 'RATE_LIMITED',
      action: 'wait',
      retryAfterSeconds: 49500,
      rateLimitHourRemaining: 5,
      rateLimitDayRemaining: 0,
    });
    const reserved = await reserve(org.session, 'summarization', 'fast');
    expect(reserved.body.extensions).toEqual({ code: 'RATE_LIMITED', action: 'wait', retry_after_seconds: 49500 });
  });

  it('refuses when a spend limit would be passed, exactly as reserving would', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await db.pool.query('insert into public.spend_limits (organization_id, daily_limit_credits) values ($1, 0.200)', [org.orgId]);
    expect((await check(org.session, 'question_suggestions', 'fast')).body.allowed).toBe(true);
    expect((await reserve(org.session, 'question_suggestions', 'fast')).status).toBe(200);
    const res = await check(org.session, 'question_suggestions', 'fast');
    // 10:15 → midnight UTC: 49,500 s.
    expect(res.body).toMatchObject({ allowed: false, reason: 'SPEND_LIMIT_EXCEEDED', retryAfterSeconds: 49500, availableCredits: '9.886' });
    const reserved = await reserve(org.session, 'question_suggestions', 'fast');
    expect(reserved.body.extensions).toEqual({ code: 'SPEND_LIMIT_EXCEEDED', action: 'wait', retry_after_seconds: 49500 });
  });

  it('answers the monthly limit, with the seconds until the month ends, when the daily limit refuses too, exactly as reserving would', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await db.pool.query(
      'insert into public.spend_limits (organization_id, daily_limit_credits, monthly_limit_credits) values ($1, 0.200, 0.200)',
      [org.orgId],
    );
    expect((await reserve(org.session, 'question_suggestions', 'fast')).status).toBe(200);
    const res = await check(org.session, 'question_suggestions', 'fast');
    // 22 November 10:15 → 1 December 00:00 UTC: 8 days and 49,500 s. Before, the daily limit's 49,500 s,
    // after which the monthly limit refused again.
    expect(res.body).toMatchObject({ allowed: false, reason: 'SPEND_LIMIT_EXCEEDED', action: 'wait', retryAfterSeconds: 740_700 });
    const reserved = await reserve(org.session, 'question_suggestions', 'fast');
    expect(reserved.body.extensions).toEqual({ code: 'SPEND_LIMIT_EXCEEDED', action: 'wait', retry_after_seconds: 740_700 });
  });

  it('says to raise the limit (not to wait) when a call would pass the per-call limit, exactly as reserving would', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await db.pool.query('insert into public.spend_limits (organization_id, per_call_limit_credits) values ($1, 0.050)', [org.orgId]);
    const res = await check(org.session, 'question_suggestions', 'fast');
    // Before: action 'wait', which no wait ever passes.
    expect(res.body).toMatchObject({ allowed: false, reason: 'SPEND_LIMIT_EXCEEDED', action: 'raise_limit', retryAfterSeconds: null });
    const reserved = await reserve(org.session, 'question_suggestions', 'fast');
    expect(reserved.body.extensions).toEqual({ code: 'SPEND_LIMIT_EXCEEDED', action: 'raise_limit' });
  });

  it('counts a rate counter already in a later hour (a reserve dated after its clock got in first), exactly as reserving would', async () => {
    const org = await createOrg(db.pool, { plan: 'free', credits: '10.000' });
    // free: summarization 5 an hour. The 11:00 hour is full; the api's clock reads 10:15.
    await db.pool.query(
      `insert into public.organization_rate_usage (organization_id, capability_code, hour_start, hour_calls, day, day_calls)
       values ($1, 'summarization', '2026-11-22T11:00:00Z', 5, '2026-11-22', 5)`,
      [org.orgId],
    );
    const res = await check(org.session, 'summarization', 'fast');
    // Until the end of the 11:00 hour: 1 h 45 min.
    expect(res.body).toMatchObject({ allowed: false, reason: 'RATE_LIMITED', retryAfterSeconds: 6300, rateLimitHourRemaining: 0 });
    const reserved = await reserve(org.session, 'summarization', 'fast');
    expect(reserved.body.extensions).toEqual({ code: 'RATE_LIMITED', action: 'wait', retry_after_seconds: 6300 });
  });

  it('counts a spend counter already on a later day (a settle dated after its clock got in first), exactly as reserving would', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await db.pool.query('insert into public.spend_limits (organization_id, daily_limit_credits) values ($1, 0.200)', [org.orgId]);
    // 0.150 spent just after midnight on 23 November; the api's clock reads 22 November 10:15.
    await db.pool.query(
      `select public.settle_reservation((public.reserve_credits($1, 0.150, 'next-day', p_now => $2)).id, 0.150, p_now => $2)`,
      [org.orgId, new Date('2026-11-23T00:00:01Z')],
    );
    const res = await check(org.session, 'question_suggestions', 'fast');
    // Until the end of 23 November: 49,500 s to midnight and a day.
    expect(res.body).toMatchObject({ allowed: false, reason: 'SPEND_LIMIT_EXCEEDED', retryAfterSeconds: 135900 });
    const reserved = await reserve(org.session, 'question_suggestions', 'fast');
    expect(reserved.body.extensions).toEqual({ code: 'SPEND_LIMIT_EXCEEDED', action: 'wait', retry_after_seconds: 135900 });
  });

  it('holds nothing and changes nothing', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const before = await snapshot(db.pool, org.orgId);
    await check(org.session, 'question_suggestions', 'fast');
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });
});

describe('checkAIAccess for a given input size', () => {
  it('checks the hold a reserve with the same inputTokens and estimatedCredits would take', async () => {
    const org = await createOrg(db.pool, { plan: 'pro', credits: '0.500' });
    const withInput = (input: Record<string, unknown>) =>
      api.action('checkAIAccess', { capability: 'summarization', qualityLevel: 'fast', ...input }, org.session);
    // The typical input fits in what is available; a large one does not, and the reserve agrees.
    expect((await withInput({})).body).toMatchObject({ allowed: true });
    const large = await withInput({ inputTokens: 15_000 });
    expect(large.body).toMatchObject({ allowed: false, reason: 'INSUFFICIENT_CREDITS', action: 'top_up' });
    const reserve = await api.action(
      'reserveCredits',
      { capability: 'summarization', qualityLevel: 'fast', idempotencyKey: randomUUID(), inputTokens: 15_000 },
      org.session,
    );
    expect(reserve.status).toBe(402);
    expect(reserve.body.extensions.code).toBe('INSUFFICIENT_CREDITS');
    // The caller's own estimate raises the hold checked, as it raises the reserve's.
    expect((await withInput({ estimatedCredits: '0.600' })).body).toMatchObject({ allowed: false, reason: 'INSUFFICIENT_CREDITS' });
    // Over the capability's input maximum: refused as the reserve refuses it.
    const over = await withInput({ inputTokens: 10_000_000 });
    expect(over.status).toBe(400);
    expect(over.body.extensions.code).toBe('INVALID_INPUT');
  });
});

describe('the available balance in answers', () => {
  it('leaves out a grant past its expiry that no job has expired yet', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    await grantExpiredPromotion(db.pool, org.orgId);
    const { rows } = await db.pool.query('select bonus_remaining_credits from public.credit_balances where organization_id = $1', [
      org.orgId,
    ]);
    expect(rows[0].bonus_remaining_credits).toBe('5.000');
    const res = await check(org.session, 'question_suggestions', 'fast');
    expect(res.body.availableCredits).toBe('10.000');
  });
});
