import { afterEach, describe, expect, it, vi } from 'vitest';
import AiPlayground from '../src/components/ai/AiPlayground.vue';
import type { FixtureHandler } from '../src/preview/fixtureLink.ts';
import { spendLimits, spendLimitsData, subscription } from '../src/preview/fixtures.ts';
import { useTopUpStore } from '../src/stores/topUp.ts';
import { callsOf, createHarness, settle } from './support/harness.ts';

async function mountPlayground(options: Parameters<typeof createHarness>[0] = {}) {
  const h = createHarness(options);
  const wrapper = h.mountApp(AiPlayground);
  await settle();
  return { h, wrapper };
}

describe('AiPlayground quality selector', () => {
  it('shows fast, enhanced and premium with the model of each, and the cost per run of the levels the plan offers', async () => {
    const { wrapper } = await mountPlayground();
    // Pro plan, first available capability in name order: Image captioning.
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    const levels = ['fast', 'enhanced', 'premium'].map((c) => wrapper.get(`[data-test="level-${c}"]`));
    // Premium is not on Pro: its cost is not asked for (the whole request would fail), so none shows.
    expect(levels.map((l) => l.get('[data-test="cost"]').text())).toEqual(['Typical run: ~0.75 credits', 'Typical run: ~2.5 credits', '']);
    expect(levels.map((l) => l.get('[data-test="model"]').text())).toEqual(['GPT-4.1 nano', 'GPT-4.1 mini', 'Claude Sonnet 4']);
  });

  it('shows the cost per run of a level priced per call as exact, and an estimate as about', async () => {
    const { wrapper } = await mountPlayground({
      handlers: {
        LevelCosts: (v) => ({
          data: {
            ...(v.fast ? { fast: { modelId: 'openai/gpt-4.1-nano', pricingMode: 'per_call', typicalCredits: '2.000' } } : {}),
            ...(v.enhanced ? { enhanced: { modelId: 'openai/gpt-4.1-mini', pricingMode: 'per_token', typicalCredits: '2.500' } } : {}),
          },
        }),
      },
    });
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    const costs = ['fast', 'enhanced'].map((c) => wrapper.get(`[data-test="level-${c}"] [data-test="cost"]`).text());
    expect(costs).toEqual(['Each run: 2 credits', 'Typical run: ~2.5 credits']);
  });

  it('keeps a level the plan lacks visible but locked, naming the plan that has it and linking an owner to billing', async () => {
    const { wrapper } = await mountPlayground();
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    const premium = wrapper.get('[data-test="level-premium"]');
    const radio = premium.get('[role="radio"]');
    expect(radio.attributes('aria-disabled')).toBe('true');
    expect(premium.find('[data-test="locked"]').exists()).toBe(true);
    expect(premium.get('[data-test="required-plan"]').text()).toContain('On the Team plan.');
    // The link sits beside the disabled radio, not inside it, so it stays reachable.
    expect(radio.find('[data-test="upgrade-link"]').exists()).toBe(false);
    expect(premium.get('[data-test="upgrade-link"]').attributes('href')).toBe('/billing#plans');
    await radio.trigger('click');
    expect(radio.attributes('aria-checked')).toBe('false');
  });

  it('tells a member to ask an admin rather than linking to the upgrade', async () => {
    const { wrapper } = await mountPlayground({ role: 'member' });
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    const premium = wrapper.get('[data-test="level-premium"]');
    expect(premium.find('[data-test="upgrade-link"]').exists()).toBe(false);
    expect(premium.text()).toContain('Ask an admin to upgrade.');
  });

  it('moves between available levels with the arrow keys and skips locked ones', async () => {
    const { wrapper } = await mountPlayground();
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    const radio = (code: string) => wrapper.get(`[data-test="level-${code}"] [role="radio"]`);
    expect(radio('fast').attributes('aria-checked')).toBe('true');
    expect(radio('fast').attributes('tabindex')).toBe('0');
    await radio('fast').trigger('keydown', { key: 'ArrowRight' });
    expect(radio('enhanced').attributes('aria-checked')).toBe('true');
    await radio('enhanced').trigger('keydown', { key: 'ArrowRight' });
    // Premium is locked on Pro: the selection wraps to Fast.
    expect(radio('fast').attributes('aria-checked')).toBe('true');
    expect(radio('premium').attributes('tabindex')).toBe('-1');
  });
});

describe('AiPlayground estimate', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('re-estimates for the size of the input once typing pauses', async () => {
    vi.useFakeTimers();
    const { h, wrapper } = await mountPlayground();
    const before = callsOf(h.calls, 'CreditEstimate').length;
    await wrapper.get('[data-test="prompt"]').setValue('a'.repeat(398));
    await vi.advanceTimersByTimeAsync(399);
    expect(callsOf(h.calls, 'CreditEstimate')).toHaveLength(before);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(callsOf(h.calls, 'CreditEstimate').at(-1)?.variables).toMatchObject({ inputTokens: 100 });
    expect(wrapper.get('[data-test="estimate"]').text()).toContain('For about 100 tokens of input and a typical answer (300 tokens).');
  });

  it('gives a capability priced per call its one price, with no range and no talk of tokens', async () => {
    const { wrapper } = await mountPlayground({
      handlers: {
        CreditEstimate: (v) => ({
          data: {
            estimateCredits: {
              capability: v.capability,
              qualityLevel: v.qualityLevel,
              modelId: 'mistral/mistral-small-latest',
              modelDisplayName: 'Mistral Small',
              pricingMode: 'per_call',
              baseCredits: '2.000',
              inputCreditsPer1kTokens: null,
              outputCreditsPer1kTokens: null,
              minimumCredits: '2.000',
              minimumExplanation: '2 credits a call on Mistral Small, whatever the input and output (priced per call)',
              typicalCredits: '2.000',
              typicalInputTokens: null,
              typicalOutputTokens: null,
              typicalExplanation: '2 credits a call on Mistral Small, whatever the input and output (priced per call)',
              maximumCredits: '2.000',
              maximumExplanation: '2 credits a call on Mistral Small, whatever the input and output (priced per call)',
            },
          },
        }),
      },
    });
    const text = wrapper.get('[data-test="estimate"]').text();
    expect(text).toMatch(/Cost:\s2 credits a run/);
    expect(text).toContain('Image captioning is priced per run, whatever the input: 2 credits are held while it runs');
    expect(text).not.toContain('from 2 to 2');
    expect(text).not.toMatch(/image_captioning|per 1,000|tokens/);
  });
});

describe('AiPlayground run', () => {
  it('shows the estimate, then the output, the credits charged and the new balance', async () => {
    const { h, wrapper } = await mountPlayground({
      handlers: {
        RunPlayground: (v) => ({
          data: {
            runPlayground: {
              reservationId: 'r1',
              output: `Summary of: ${v.prompt}`,
              modelId: 'openai/gpt-4.1-mini',
              inputTokens: 1480,
              outputTokens: 212,
              chargedCredits: '2.140',
              availableCredits: '1735.360',
            },
          },
        }),
      },
    });
    expect(wrapper.get('[data-test="estimate"]').text()).toContain('2.5 credits');
    await wrapper.get('[data-test="prompt"]').setValue('Quarterly report');
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(wrapper.get('[data-test="output"]').text()).toBe('Summary of: Quarterly report');
    expect(wrapper.get('[data-test="charged"]').text()).toBe('2.14 credits');
    expect(wrapper.get('[data-test="new-balance"]').text()).toBe('1,735.36 credits');
    const run = callsOf(h.calls, 'RunPlayground')[0]!;
    expect(run.variables).toMatchObject({ capability: 'image_captioning', qualityLevel: 'fast', prompt: 'Quarterly report' });
    expect(typeof run.variables.idempotencyKey).toBe('string');
  });

  it('does not run without input', async () => {
    const { h, wrapper } = await mountPlayground();
    expect(wrapper.get('[data-test="run"]').attributes('disabled')).toBeDefined();
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(callsOf(h.calls, 'RunPlayground')).toHaveLength(0);
  });

  it.each([
    ['INSUFFICIENT_CREDITS', { action: 'top_up' }, 'Not enough credits', 'fix-top-up', 'Buy more credits'],
    [
      'QUALITY_NOT_IN_PLAN',
      { action: 'upgrade', required_plan: 'team' },
      'Quality level not in your plan',
      'fix-upgrade',
      'Upgrade to Team',
    ],
  ])('shows a %s refusal with its reason and the action that fixes it', async (code, extensions, title, fix, fixText) => {
    const { wrapper } = await mountPlayground({
      handlers: { RunPlayground: () => ({ errors: [{ message: `Refused: ${code}`, extensions: { code, ...extensions } }] }) },
    });
    await wrapper.get('[data-test="prompt"]').setValue('x');
    await wrapper.get('form').trigger('submit');
    await settle();
    const refusal = wrapper.get('[data-test="refusal"]');
    expect(refusal.attributes('data-code')).toBe(code);
    expect(refusal.text()).toContain(title);
    expect(refusal.text()).toContain(`Refused: ${code}`);
    expect(refusal.get(`[data-test="${fix}"]`).text()).toBe(fixText);
  });

  it('says how long to wait when rate limited', async () => {
    const { wrapper } = await mountPlayground({
      handlers: {
        RunPlayground: () => ({
          errors: [{ message: 'Hourly limit reached', extensions: { code: 'RATE_LIMITED', action: 'wait', retry_after_seconds: 1800 } }],
        }),
      },
    });
    await wrapper.get('[data-test="prompt"]').setValue('x');
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(wrapper.get('[data-test="fix-text"]').text()).toBe('Try again in 30 min.');
  });

  it('points an owner at the spend limits when a limit refuses the run', async () => {
    const { wrapper } = await mountPlayground({
      handlers: {
        RunPlayground: () => ({
          errors: [{ message: 'Daily spend limit of 100 credits reached', extensions: { code: 'SPEND_LIMIT_EXCEEDED', action: 'wait' } }],
        }),
      },
    });
    await wrapper.get('[data-test="prompt"]').setValue('x');
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(wrapper.get('[data-test="refusal"]').text()).toContain('Spend limit reached');
    expect(wrapper.get('[data-test="fix-limits"]').attributes('href')).toBe('/billing#limits');
  });

  it.each([
    ['owner', true],
    ['member', false],
  ] as const)('tells an %s a per-call limit refusal is fixed by the limits, not by waiting', async (role, link) => {
    const { wrapper } = await mountPlayground({
      role,
      handlers: {
        RunPlayground: () => ({
          errors: [{ message: 'passes its per-call limit', extensions: { code: 'SPEND_LIMIT_EXCEEDED', action: 'raise_limit' } }],
        }),
      },
    });
    await wrapper.get('[data-test="prompt"]').setValue('x');
    await wrapper.get('form').trigger('submit');
    await settle();
    const refusal = wrapper.get('[data-test="refusal"]');
    expect(refusal.get('[data-test="refusal-words"]').text()).toContain('per-call spend limit');
    expect(refusal.text()).not.toContain('Try again');
    if (link) {
      expect(refusal.get('[data-test="fix-limits"]').text()).toBe('Review spend limits');
      expect(refusal.get('[data-test="fix-limits"]').attributes('href')).toBe('/billing#limits');
    } else {
      expect(refusal.find('[data-test="fix-limits"]').exists()).toBe(false);
      expect(refusal.text()).toContain('An owner or admin can raise the spend limits.');
    }
  });

  it('keeps the error code out of the words, under Details', async () => {
    const { wrapper } = await mountPlayground({
      handlers: {
        RunPlayground: () => ({ errors: [{ message: 'No credits', extensions: { code: 'INSUFFICIENT_CREDITS', action: 'top_up' } }] }),
      },
    });
    await wrapper.get('[data-test="prompt"]').setValue('x');
    await wrapper.get('form').trigger('submit');
    await settle();
    const refusal = wrapper.get('[data-test="refusal"]');
    expect(refusal.get('details').text()).toContain('INSUFFICIENT_CREDITS');
    expect(refusal.text().replace(refusal.get('details').text(), '')).not.toContain('INSUFFICIENT_CREDITS');
  });

  it('warns before Run when the per-call limit is below what the run holds, naming that limit', async () => {
    const limited = (perCall: string | null) => ({
      SpendLimits: () => ({
        data: spendLimitsData({ limits: spendLimits({ per_call_limit_credits: perCall }), consumedToday: null, consumedThisMonth: null }),
      }),
    });
    // The estimate holds up to 8 credits.
    const { wrapper } = await mountPlayground({ handlers: limited('5.000') });
    const warning = wrapper.get('[data-test="per-call-warning"]');
    expect(warning.text()).toContain('per-call spend limit is 5 credits, lower than the 8 credits this run holds');
    expect(warning.get('a').attributes('href')).toBe('/billing#limits');
    expect(wrapper.get('[data-test="run"]').attributes('aria-describedby')).toBe(warning.attributes('id'));
    const { wrapper: roomy } = await mountPlayground({ handlers: limited('8.000') });
    expect(roomy.find('[data-test="per-call-warning"]').exists()).toBe(false);
  });

  it('names the model that ran by its display name', async () => {
    const { wrapper } = await mountPlayground({
      handlers: {
        RunPlayground: () => ({
          data: {
            runPlayground: {
              reservationId: 'r1',
              output: 'ok',
              modelId: 'anthropic/claude-sonnet-4',
              inputTokens: 1,
              outputTokens: 1,
              chargedCredits: '1.000',
              availableCredits: '10.000',
            },
          },
        }),
      },
    });
    await wrapper.get('[data-test="prompt"]').setValue('x');
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(wrapper.get('[data-test="result-model"]').text()).toBe('Claude Sonnet 4');
  });

  it.each([
    [
      'IDEMPOTENCY_CONFLICT',
      'a playground run with idempotency key 0f6c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5 has already started; use a new key',
      'This was already submitted, so it was not done a second time; the first may still be running.',
      'Reload the page.',
    ],
    [
      'RESERVATION_NOT_FOUND',
      'reservation 0f6c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5 does not exist in organization 5bc7d2f4-6a3e-4c1b-8e9f-0a1b2c3d18c5',
      'The credits held for this run could not be found.',
      'Reload the page.',
    ],
    [
      'FORBIDDEN',
      'user 2bcb5e7a-0c1f-4b7e-9d1a-3f0e8c2a6445 is not a member of organization 5bc7d2f4-6a3e-4c1b-8e9f-0a1b2c3d18c5',
      'You are not allowed to do this in this organization.',
      'Ask an owner or admin of your organization.',
    ],
    [
      'INVALID_INPUT',
      'unknown quality level "ultra"',
      'The server did not accept this: a value is not valid, or something chosen is no longer offered.',
      'Check what you entered, or reload the page for the current choices.',
    ],
  ])(
    'says a %s refusal in words with a next step, never asking for a new key, the message under Details',
    async (code, message, words, fix) => {
      const { wrapper } = await mountPlayground({
        handlers: { RunPlayground: () => ({ errors: [{ message, extensions: { code } }] }) },
      });
      await wrapper.get('[data-test="prompt"]').setValue('x');
      await wrapper.get('form').trigger('submit');
      await settle();
      const refusal = wrapper.get('[data-test="refusal"]');
      expect(refusal.get('[data-test="refusal-words"]').text()).toBe(words);
      expect(refusal.get('[data-test="fix-text"]').text()).toBe(fix);
      const main = refusal.text().replace(refusal.get('details').text(), '');
      expect(main).not.toContain('use a new key');
      expect(main).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
      expect(refusal.get('details').text()).toContain(message);
    },
  );

  it('opens the top-up modal from an insufficient-credits refusal', async () => {
    const { h, wrapper } = await mountPlayground({
      handlers: {
        RunPlayground: () => ({ errors: [{ message: 'No credits', extensions: { code: 'INSUFFICIENT_CREDITS', action: 'top_up' } }] }),
      },
    });
    await wrapper.get('[data-test="prompt"]').setValue('x');
    await wrapper.get('form').trigger('submit');
    await settle();
    await wrapper.get('[data-test="fix-top-up"]').trigger('click');
    expect(useTopUpStore(h.pinia).open).toBe(true);
  });
});

/**
 * An estimate as the api answers it (api/src/pricing.ts): GPT-4.1 nano's prices and 200 output
 * tokens typical in fields, and its sentences for people. `words` replaces the prices' wording in
 * those sentences, as a change of the api's prose would: the playground must not depend on it.
 */
function apiEstimate(
  typicalCredits: (inputTokens: number | null) => string,
  words = '0.1 credits a call, plus 0.005 credits per 1,000 input tokens and 0.02 per 1,000 output tokens on GPT-4.1 nano',
): FixtureHandler {
  return (v) => {
    const input = (v.inputTokens as number | null) ?? null;
    const tokens = input === null ? '400 input tokens (typical)' : `${input} input token${input === 1 ? '' : 's'}`;
    return {
      data: {
        estimateCredits: {
          capability: v.capability,
          qualityLevel: v.qualityLevel,
          modelId: 'openai/gpt-4.1-nano',
          modelDisplayName: 'GPT-4.1 nano',
          pricingMode: 'per_token',
          baseCredits: '0.100',
          inputCreditsPer1kTokens: '0.005000',
          outputCreditsPer1kTokens: '0.020000',
          minimumCredits: '0.101',
          minimumExplanation: `${words}, for ${input === null ? '1 input token (the least possible)' : tokens} and a 1-token answer`,
          typicalCredits: typicalCredits(input),
          typicalInputTokens: input ?? 400,
          typicalOutputTokens: 200,
          typicalExplanation: `${words}, for ${tokens} and 200 output tokens (typical)`,
          maximumCredits: '0.389',
          maximumExplanation: `${words}, for ${tokens} and the longest answer (2,000 output tokens)`,
        },
      },
    };
  };
}

describe('AiPlayground cost, before and after a run', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('shows no estimate for a capability with no level on the plan, only the plan it needs', async () => {
    const { wrapper } = await mountPlayground({
      handlers: { CurrentPlan: () => ({ data: { organization_subscriptions_by_pk: subscription('free') } }) },
    });
    // Free: the first capability it has is chosen, with its estimate.
    expect(wrapper.get('[data-test="estimate"]').text()).toContain('2.5 credits');
    await wrapper.get('[data-test="capability"]').setValue('image_captioning');
    await settle();
    const text = wrapper.get('[data-test="estimate"]').text();
    expect(text).not.toContain('credits');
    expect(text).toContain('Image captioning needs the Pro plan; this organization is on the Free plan, so there is no cost to show.');
    expect(wrapper.get('[data-test="needs-plan-link"]').attributes('href')).toBe('/billing#plans');
    // Back to a capability the plan has: its own estimate again.
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    expect(wrapper.get('[data-test="estimate"]').text()).toContain('2.5 credits');
  });

  it('tells a member who cannot upgrade to ask, when the capability needs another plan', async () => {
    const { wrapper } = await mountPlayground({
      role: 'member',
      handlers: { CurrentPlan: () => ({ data: { organization_subscriptions_by_pk: subscription('free') } }) },
    });
    await wrapper.get('[data-test="capability"]').setValue('image_captioning');
    await settle();
    expect(wrapper.find('[data-test="needs-plan-link"]').exists()).toBe(false);
    expect(wrapper.get('[data-test="needs-plan"]').text()).toContain('Ask an owner or admin to upgrade.');
  });

  it('never shows an estimate answered for another capability or level', async () => {
    const { wrapper } = await mountPlayground({
      handlers: {
        // An answer for summarization whatever was asked, as a stale cache entry would be.
        CreditEstimate: (v) => apiEstimate(() => '0.106')({ ...v, capability: 'summarization' }),
      },
    });
    await wrapper.get('[data-test="capability"]').setValue('question_suggestions');
    await settle();
    expect(wrapper.get('[data-test="estimate"]').text()).not.toContain('0.106');
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    expect(wrapper.get('[data-test="estimate"]').text()).toContain('0.106 credits');
  });

  it('labels the card typical and the estimate typical or for your input, the same figure for the same input, and says why the charge differs', async () => {
    vi.useFakeTimers();
    const { wrapper } = await mountPlayground({
      handlers: {
        LevelCosts: (v) => ({
          data: {
            ...(v.fast ? { fast: { modelId: 'openai/gpt-4.1-nano', pricingMode: 'per_token', typicalCredits: '0.295' } } : {}),
            ...(v.enhanced ? { enhanced: { modelId: 'openai/gpt-4.1-mini', pricingMode: 'per_token', typicalCredits: '0.900' } } : {}),
          },
        }),
        CreditEstimate: apiEstimate((input) => (input === null ? '0.295' : '0.251')),
        RunPlayground: () => ({
          data: {
            runPlayground: {
              reservationId: 'r1',
              output: 'ok',
              modelId: 'openai/gpt-4.1-nano',
              inputTokens: 36,
              outputTokens: 226,
              chargedCredits: '0.229',
              availableCredits: '508.397',
            },
          },
        }),
      },
    });
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    // Nothing typed: the card and the estimate are one calculation, both called typical.
    expect(wrapper.get('[data-test="level-fast"] [data-test="cost"]').text()).toBe('Typical run: ~0.295 credits');
    expect(wrapper.get('[data-test="estimate-label"]').text()).toBe('Typical cost:');
    expect(wrapper.get('[data-test="estimate-credits"]').text()).toBe('0.295 credits');
    expect(wrapper.get('[data-test="estimate-explanation"]').text()).toContain(
      'For a typical run: 400 input tokens and 200 output tokens.',
    );
    // Typed: the estimate is for this input, and says so.
    await wrapper.get('[data-test="prompt"]').setValue('a'.repeat(144));
    await vi.advanceTimersByTimeAsync(400);
    await settle();
    expect(wrapper.get('[data-test="estimate-label"]').text()).toBe('Estimated cost for your input:');
    expect(wrapper.get('[data-test="estimate-credits"]').text()).toBe('0.251 credits');
    expect(wrapper.get('[data-test="estimate-explanation"]').text()).toContain(
      'For about 36 tokens of input and a typical answer (200 tokens).',
    );
    await wrapper.get('form').trigger('submit');
    await settle();
    expect(wrapper.get('[data-test="charged"]').text()).toBe('0.229 credits');
    expect(wrapper.get('[data-test="charged-note"]').text()).toBe(
      'Charged for the tokens the run actually used, so it can differ from the estimate (0.251 credits).',
    );
  });

  it('says the prices in credits with their unit, trailing zeros trimmed', async () => {
    const { wrapper } = await mountPlayground({ handlers: { CreditEstimate: apiEstimate(() => '0.106') } });
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    const text = wrapper.get('[data-test="estimate-explanation"]').text();
    expect(text).toContain(
      'On GPT-4.1 nano: 0.1 credits a run, plus 0.005 credits per 1,000 input tokens and 0.02 credits per 1,000 output tokens. Up to 0.389 credits are held',
    );
    expect(text).not.toMatch(/0\.0{2}5000|per 1k/);
  });

  it('says the prices and tokens from the estimate’s fields, whatever words the api puts them in', async () => {
    vi.useFakeTimers();
    // The api's sentences in other words (or another language): only the fields can say the prices.
    const { wrapper } = await mountPlayground({
      handlers: { CreditEstimate: apiEstimate((input) => (input === null ? '0.106' : '0.102'), 'Tarif de GPT-4.1 nano') },
    });
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    const typical = wrapper.get('[data-test="estimate-explanation"]').text();
    expect(typical).toBe(
      'For a typical run: 400 input tokens and 200 output tokens. On GPT-4.1 nano: 0.1 credits a run, plus 0.005 credits per 1,000 input tokens and 0.02 credits per 1,000 output tokens. Up to 0.389 credits are held while it runs; you pay only for what it uses.',
    );
    expect(typical).not.toContain('Tarif');
    // Typed: the input the estimate was made for, as the api counts it in typicalInputTokens.
    await wrapper.get('[data-test="prompt"]').setValue('a'.repeat(4000));
    await vi.advanceTimersByTimeAsync(400);
    await settle();
    expect(wrapper.get('[data-test="estimate-explanation"]').text()).toMatch(
      /^For about 1,000 tokens of input and a typical answer \(200 tokens\)\. On GPT-4\.1 nano: 0\.1 credits a run/,
    );
  });

  it('asks for what the capability works on: a description of the image to caption, the text to summarize', async () => {
    // Pro: Image captioning is chosen first.
    const { wrapper } = await mountPlayground();
    const prompt = () => wrapper.get('[data-test="prompt"]');
    expect(prompt().attributes('placeholder')).toMatch(/^Describe the image to caption/);
    const hint = wrapper.get('[data-test="prompt-hint"]');
    expect(hint.text()).toContain('text only');
    expect(prompt().attributes('aria-describedby')).toBe(hint.attributes('id'));
    await wrapper.get('[data-test="capability"]').setValue('summarization');
    await settle();
    expect(prompt().attributes('placeholder')).toBe('Paste the text to summarize…');
    expect(wrapper.find('[data-test="prompt-hint"]').exists()).toBe(false);
  });
});
