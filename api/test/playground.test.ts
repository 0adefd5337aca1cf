// runPlayground: reserve → AI provider → settle through the client's withCredits, over real HTTP
// and a real Postgres.
import { randomUUID } from 'node:crypto';
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import type { AIProvider } from '../src/ai/index.ts';
import { AppError } from '../src/errors.ts';
import { ACTION_SECRET, available, createOrg, envelope, snapshot, startApi } from './helpers.ts';

const db = await useTestDatabase();
const api = await startApi(db);

/** A vendor that counts its calls (the outer edge): a replayed key must not reach it. */
let counted = 0;
const countingAI: AIProvider = {
  name: 'counting',
  async complete(request) {
    counted++;
    return { text: `answer ${counted} to: ${request.prompt.slice(0, 20)}`, inputTokens: 20, outputTokens: 10 };
  },
};
const counting = await startApi(db, { ai: countingAI });

/** A vendor that takes its time and stops when told to (the outer edge). */
let slowStarted: () => void = () => undefined;
const slowAI: AIProvider = {
  name: 'slow',
  complete(request) {
    slowStarted();
    return new Promise((_resolve, reject) => {
      request.signal?.addEventListener('abort', () => reject(new AppError('AI_PROVIDER_ERROR', 'the AI call was stopped')));
    });
  },
};
const slow = await startApi(db, { ai: slowAI });

/** A vendor that is down (the outer edge). */
const downAI: AIProvider = {
  name: 'down',
  async complete() {
    throw new AppError('AI_PROVIDER_ERROR', 'the AI provider answered HTTP 503: overloaded');
  },
};
const broken = await startApi(db, { ai: downAI });

/** A vendor during whose call the member who started it is removed from the org (the outer edge and an owner's click). */
const removingAI: AIProvider = {
  name: 'removing',
  async complete(request) {
    await db.pool.query('delete from public.organization_members where user_id = $1', [removedUser]);
    return { text: `answer to: ${request.prompt.slice(0, 20)}`, inputTokens: 20, outputTokens: 10 };
  },
};
let removedUser = '';
const removing = await startApi(db, { ai: removingAI });

const prompt = 'Summarize: the team shipped the billing page, fixed three bugs and planned the next sprint.';

describe('runPlayground', () => {
  it('runs the local model, charges the tokens it used at the reservation prices, and answers the text', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const res = await api.action(
      'runPlayground',
      { capability: 'summarization', qualityLevel: 'enhanced', prompt, idempotencyKey: randomUUID() },
      org.session,
    );
    expect(res.status).toBe(200);
    const run = res.body;
    expect(run.modelId).toBe('anthropic/claude-haiku-4-5');
    expect(run.output).toContain('anthropic/claude-haiku-4-5');
    expect(run.inputTokens).toBe(Math.ceil(prompt.length / 4));
    expect(run.outputTokens).toBe(Math.ceil(run.output.length / 4));
    // claude-haiku-4-5: 0.05 in / 0.25 out per 1k, base 0.200; the charge is exact in SQL too.
    const { rows } = await db.pool.query(
      `select r.status, r.usage, r.settled_amount_credits::text as charged,
         (ceil((0.200 + $2::int * 0.05 / 1000 + $3::int * 0.25 / 1000) * 1000) / 1000)::numeric(20, 3)::text as expected
       from public.credit_reservations r where r.id = $1`,
      [run.reservationId, run.inputTokens, run.outputTokens],
    );
    expect(rows[0].status).toBe('settled');
    expect(rows[0].usage).toEqual({ input_tokens: run.inputTokens, output_tokens: run.outputTokens, calls: 1 });
    expect(run.chargedCredits).toBe(rows[0].charged);
    expect(rows[0].charged).toBe(rows[0].expected);
    expect(run.availableCredits).toBe(await available(db.pool, org.orgId));
  });

  it('charges a run whose member was removed from the org while the model ran', async () => {
    // The member was checked when the run started; the model has run, so the org pays for it.
    // Before: the settle checked the membership again, was refused (FORBIDDEN), and the hold
    // expired uncharged.
    const org = await createOrg(db.pool, { credits: '10.000' });
    removedUser = org.userId;
    const res = await removing.action(
      'runPlayground',
      { capability: 'summarization', qualityLevel: 'enhanced', prompt, idempotencyKey: randomUUID() },
      org.session,
    );
    expect(res.status).toBe(200);
    const { rows } = await db.pool.query(
      `select status, user_id, settled_amount_credits::text as charged from public.credit_reservations where organization_id = $1`,
      [org.orgId],
    );
    expect(rows).toEqual([{ status: 'settled', user_id: org.userId, charged: res.body.chargedCredits }]);
    expect(res.body.chargedCredits).not.toBe('0.000');
    expect(await available(db.pool, org.orgId)).toBe(res.body.availableCredits);
    // Removed, the member can start no other run.
    const again = await removing.action(
      'runPlayground',
      { capability: 'summarization', qualityLevel: 'enhanced', prompt, idempotencyKey: randomUUID() },
      org.session,
    );
    expect(again.body.extensions.code).toBe('FORBIDDEN');
  });

  it('charges the one price of a per-call capability', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const res = await api.action(
      'runPlayground',
      { capability: 'image_captioning', qualityLevel: 'fast', prompt: 'A red bicycle', idempotencyKey: randomUUID() },
      org.session,
    );
    expect(res.body).toMatchObject({ chargedCredits: '2.000', availableCredits: '8.000', modelId: 'mistral/mistral-small-latest' });
  });

  it('refuses a key whose run is over, without calling the model again (no uncharged runs)', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const input = { capability: 'question_suggestions', qualityLevel: 'fast', prompt, idempotencyKey: randomUUID() };
    const first = await counting.action('runPlayground', input, org.session);
    expect(first.status).toBe(200);
    const calls = counted;
    const before = await snapshot(db.pool, org.orgId);
    // The same key again, even with another prompt of the same size.
    for (const p of [prompt, prompt.replace('Summarize', 'Rephrase!')]) {
      const retry = await counting.action('runPlayground', { ...input, prompt: p }, org.session);
      expect(retry.status).toBe(409);
      expect(retry.body.extensions.code).toBe('IDEMPOTENCY_CONFLICT');
      expect(retry.body.message).toContain('has already started; use a new key');
    }
    expect(counted).toBe(calls);
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });

  it('runs the model once for copies of one request sent at once, and charges that run', async () => {
    let calls = 0;
    const lagging = await startApi(db, {
      ai: {
        name: 'lagging',
        async complete(request) {
          calls++;
          await new Promise((resolve) => setTimeout(resolve, 100));
          return { text: `answer to ${request.prompt}`, inputTokens: 20, outputTokens: 10 };
        },
      },
    });
    const org = await createOrg(db.pool, { credits: '10.000' });
    const key = randomUUID();
    const answers = await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        lagging.action(
          'runPlayground',
          { capability: 'image_captioning', qualityLevel: 'fast', prompt: `prompt number ${i}`, idempotencyKey: key },
          org.session,
        ),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409, 409]);
    expect(answers.filter((a) => a.status === 409).map((a) => a.body.extensions.code)).toEqual(Array(4).fill('IDEMPOTENCY_CONFLICT'));
    expect(calls).toBe(1);
    const { rows } = await db.pool.query(
      `select status, settled_amount_credits::text as charged from public.credit_reservations where organization_id = $1`,
      [org.orgId],
    );
    expect(rows).toEqual([{ status: 'settled', charged: answers.find((a) => a.status === 200)!.body.chargedCredits }]);
  });

  it("stops the AI call and gives the hold back when the caller stops waiting (Hasura's timeout)", async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const started = new Promise<void>((resolve) => {
      slowStarted = resolve;
    });
    const gone = new AbortController();
    const call = fetch(`${slow.url}/actions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-org-credits-secret': ACTION_SECRET },
      body: JSON.stringify(
        envelope('runPlayground', { capability: 'summarization', qualityLevel: 'fast', prompt, idempotencyKey: randomUUID() }, org.session),
      ),
      signal: gone.signal,
    }).catch(() => undefined);
    await started;
    gone.abort();
    await call;
    let status = 'open';
    for (let i = 0; i < 100 && status === 'open'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const { rows } = await db.pool.query('select status from public.credit_reservations where organization_id = $1', [org.orgId]);
      status = rows[0]?.status ?? 'open';
    }
    expect(status).toBe('released');
    expect(await available(db.pool, org.orgId)).toBe('10.000');
  });

  it('gives the hold back when the AI provider fails, and says so', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const res = await broken.action(
      'runPlayground',
      { capability: 'summarization', qualityLevel: 'fast', prompt, idempotencyKey: randomUUID() },
      org.session,
    );
    expect(res.status).toBe(400);
    expect(res.body.extensions.code).toBe('AI_PROVIDER_ERROR');
    const { rows } = await db.pool.query('select status, release_reason from public.credit_reservations where organization_id = $1', [
      org.orgId,
    ]);
    expect(rows).toEqual([{ status: 'released', release_reason: expect.stringContaining('HTTP 503') }]);
    expect(await available(db.pool, org.orgId)).toBe('10.000');
    const entries = await db.pool.query(
      "select count(*)::int as n from public.credit_ledger_entries where organization_id = $1 and entry_type = 'consume'",
      [org.orgId],
    );
    expect(entries.rows[0].n).toBe(0);
  });

  it('refuses before calling the model when the balance cannot cover the hold', async () => {
    const org = await createOrg(db.pool, { credits: '0.050' });
    const before = await snapshot(db.pool, org.orgId);
    const res = await broken.action(
      'runPlayground',
      { capability: 'summarization', qualityLevel: 'fast', prompt, idempotencyKey: randomUUID() },
      org.session,
    );
    // The broken provider was never reached: the answer is about credits.
    expect(res.body.extensions).toEqual({ code: 'INSUFFICIENT_CREDITS', action: 'top_up' });
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });

  it('INVALID_INPUT for a prompt longer than the capability takes', async () => {
    const org = await createOrg(db.pool, { credits: '10.000' });
    const before = await snapshot(db.pool, org.orgId);
    const res = await api.action(
      'runPlayground',
      { capability: 'question_suggestions', qualityLevel: 'fast', prompt: 'z'.repeat(8004), idempotencyKey: randomUUID() },
      org.session,
    );
    expect(res.body.extensions.code).toBe('INVALID_INPUT');
    expect(await snapshot(db.pool, org.orgId)).toEqual(before);
  });
});
