// Fixture rows shaped exactly like the engine's answers (numerics as strings), for the tests and
// the design preview. Builders take overrides so each test states only what it cares about.

import { Observable } from 'rxjs';
import type { CreditBalanceRow } from '../graphql/balance.ts';
import type { GrantRow, LedgerEntry, UsageDailyRow } from '../graphql/ledger.ts';
import type { NotificationRow } from '../graphql/notifications.ts';
import type { PlanCatalogData, PlanChangePreview, PlanDetail, SubscriptionRow } from '../graphql/plans.ts';
import type { AutoTopUpSettingsRow, SpendLimitsData, SpendLimitsRow } from '../graphql/settings.ts';
import type { TopUpPackage } from '../graphql/topup.ts';
import type { DevPerson } from '../stores/session.ts';
import type { FixtureHandler, FixtureResult } from './fixtureLink.ts';

export const ORG_ID = '11111111-1111-4111-8111-111111111111';
export const OTHER_ORG_ID = '22222222-2222-4222-8222-222222222222';
export const USER_ID = '33333333-3333-4333-8333-333333333333';

/** The fixtures' signed-in person: the owner of ORG_ID and a member of OTHER_ORG_ID. */
export const demoPerson: DevPerson = {
  userId: USER_ID,
  email: 'olivia@acme.test',
  displayName: 'Olivia Owner',
  orgs: [
    { orgId: ORG_ID, orgName: 'Acme Research', role: 'owner' },
    { orgId: OTHER_ORG_ID, orgName: 'Globex Labs', role: 'member' },
  ],
};

/** An unsigned token with Hasura claims: enough for the app to know who and which org (the
 * fixture link never checks it; a real engine refuses it). */
export function fakeToken(userId: string, orgId: string): string {
  const enc = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const claims = {
    'x-hasura-user-id': userId,
    'x-hasura-org-id': orgId,
    'x-hasura-default-role': 'user',
    'x-hasura-allowed-roles': ['user'],
  };
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ 'https://hasura.io/jwt/claims': claims })}.unsigned`;
}

export const PLAN_IDS = {
  free: 'aaaaaaaa-0000-4000-8000-000000000001',
  pro: 'aaaaaaaa-0000-4000-8000-000000000002',
  team: 'aaaaaaaa-0000-4000-8000-000000000003',
};

function levels(planCode: 'free' | 'pro' | 'team') {
  const rows: Array<PlanDetail['capabilities'][number]['quality_levels'][number] & { capability_code: string }> = [];
  const add = (capability: string, level: string, model: string, name: string) =>
    rows.push({
      __typename: 'plan_capability_quality_levels',
      capability_code: capability,
      quality_level_code: level,
      model_id: model,
      model: { __typename: 'llm_models', id: model, display_name: name },
    });
  for (const capability of ['question_suggestions', 'summarization']) {
    add(capability, 'fast', 'openai/gpt-4.1-nano', 'GPT-4.1 nano');
    if (planCode !== 'free') add(capability, 'enhanced', 'openai/gpt-4.1-mini', 'GPT-4.1 mini');
    if (planCode === 'team') add(capability, 'premium', 'anthropic/claude-sonnet-4', 'Claude Sonnet 4');
  }
  if (planCode !== 'free') add('image_captioning', 'fast', 'openai/gpt-4.1-mini', 'GPT-4.1 mini');
  if (planCode === 'team') add('image_captioning', 'premium', 'openai/gpt-4.1', 'GPT-4.1');
  return rows;
}

function capabilities(planCode: 'free' | 'pro' | 'team'): PlanDetail['capabilities'] {
  const codes =
    planCode === 'free' ? ['question_suggestions', 'summarization'] : ['question_suggestions', 'summarization', 'image_captioning'];
  const offered = levels(planCode);
  return codes.map((c) => ({
    __typename: 'plan_capabilities',
    capability_code: c,
    rate_limit_per_hour: planCode === 'free' ? 20 : null,
    rate_limit_per_day: null,
    quality_levels: offered.filter((l) => l.capability_code === c).map(({ capability_code: _c, ...l }) => l),
  }));
}

export function plan(code: 'free' | 'pro' | 'team'): PlanDetail {
  const base = {
    free: { name: 'Free', allowance: '100.000', price: '0', rank: 1, description: 'For trying things out.' },
    pro: { name: 'Pro', allowance: '2000.000', price: '2900', rank: 2, description: 'For small teams shipping AI features.' },
    team: { name: 'Team', allowance: '10000.000', price: '9900', rank: 3, description: 'Premium models and higher limits.' },
  }[code];
  return {
    __typename: 'plans',
    id: PLAN_IDS[code],
    code,
    name: base.name,
    description: base.description,
    monthly_allowance_credits: base.allowance,
    price_minor: base.price,
    currency: 'GBP',
    rank: base.rank,
    capabilities: capabilities(code),
  };
}

export function catalog(): PlanCatalogData {
  return {
    plans: [plan('free'), plan('pro'), plan('team')],
    quality_levels: [
      { __typename: 'quality_levels', code: 'fast', name: 'Fast', description: 'Quick and cheap', rank: 1 },
      { __typename: 'quality_levels', code: 'enhanced', name: 'Enhanced', description: 'Better answers', rank: 2 },
      { __typename: 'quality_levels', code: 'premium', name: 'Premium', description: 'The best models', rank: 3 },
    ],
    ai_capabilities: [
      {
        __typename: 'ai_capabilities',
        code: 'image_captioning',
        name: 'Image captioning',
        description: 'Describe an image in a sentence.',
        pricing_mode: 'per_call',
      },
      {
        __typename: 'ai_capabilities',
        code: 'question_suggestions',
        name: 'Question suggestions',
        description: 'Suggest follow-up questions for a text.',
        pricing_mode: 'per_token',
      },
      {
        __typename: 'ai_capabilities',
        code: 'summarization',
        name: 'Summarization',
        description: 'Summarise a long text.',
        pricing_mode: 'per_token',
      },
    ],
  };
}

export function subscription(code: 'free' | 'pro' | 'team' = 'pro', overrides: Partial<SubscriptionRow> = {}): SubscriptionRow {
  const { capabilities: _c, ...summary } = plan(code);
  return {
    __typename: 'organization_subscriptions',
    organization_id: ORG_ID,
    status: 'active',
    current_period_start: '2026-11-01T00:00:00Z',
    current_period_end: '2026-12-01T00:00:00Z',
    pending_change_at: null,
    cancel_at_period_end: false,
    plan: summary,
    pending_plan: null,
    ...overrides,
  };
}

export function balance(overrides: Partial<CreditBalanceRow> = {}): CreditBalanceRow {
  return {
    __typename: 'organization_credit_balances',
    organization_id: ORG_ID,
    allowance_remaining_credits: '1250.000',
    purchased_remaining_credits: '500.000',
    bonus_remaining_credits: '0.000',
    debt_credits: '0.000',
    reserved_credits: '12.500',
    available_credits: '1737.500',
    next_expiry_at: '2026-12-01T00:00:00Z',
    next_expiry_credits: '1250.000',
    ...overrides,
  };
}

export function packages(): TopUpPackage[] {
  return [
    {
      __typename: 'topup_packages',
      id: 'bbbbbbbb-0000-4000-8000-000000000001',
      code: 'small',
      name: 'Starter pack',
      credits: '500.000',
      price_minor: '500',
      currency: 'GBP',
      sort_order: 1,
    },
    {
      __typename: 'topup_packages',
      id: 'bbbbbbbb-0000-4000-8000-000000000002',
      code: 'medium',
      name: 'Growth pack',
      credits: '2000.000',
      price_minor: '1800',
      currency: 'GBP',
      sort_order: 2,
    },
    {
      __typename: 'topup_packages',
      id: 'bbbbbbbb-0000-4000-8000-000000000003',
      code: 'large',
      name: 'Scale pack',
      credits: '10000.000',
      price_minor: '8000',
      currency: 'GBP',
      sort_order: 3,
    },
  ];
}

export function ledger(count: number): LedgerEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const consume = i % 4 !== 3;
    return {
      __typename: 'credit_ledger_entries' as const,
      id: String(1000 - i),
      entry_type: consume ? ('consume' as const) : ('grant' as const),
      amount_credits: consume ? `-${(3 + (i % 5) * 1.25).toFixed(3)}` : '500.000',
      balance_after_credits: (1737.5 - i * 4).toFixed(3),
      description: consume
        ? ['Summarization · Enhanced', 'Question suggestions · Fast', 'Image captioning · Fast'][i % 3]!
        : 'Starter pack',
      created_at: new Date(Date.UTC(2026, 10, 21, 18, 0) - i * 3_600_000 * 5).toISOString(),
      reservation_id: null,
      grant_id: null,
    };
  });
}

export function usage(now: Date, days = 30): UsageDailyRow[] {
  const rows: UsageDailyRow[] = [];
  for (let d = 0; d < days; d++) {
    const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - d)).toISOString().slice(0, 10);
    const wave = 8 + ((d * 7) % 11);
    rows.push({
      __typename: 'organization_usage_daily',
      day,
      capability_code: 'summarization',
      quality_level_code: 'enhanced',
      calls: wave,
      credits_consumed: (wave * 2.5).toFixed(3),
    });
    rows.push({
      __typename: 'organization_usage_daily',
      day,
      capability_code: 'question_suggestions',
      quality_level_code: 'fast',
      calls: wave * 3,
      credits_consumed: (wave * 0.75).toFixed(3),
    });
    if (d % 3 === 0)
      rows.push({
        __typename: 'organization_usage_daily',
        day,
        capability_code: 'image_captioning',
        quality_level_code: 'fast',
        calls: 4,
        credits_consumed: '6.000',
      });
  }
  return rows;
}

export function grants(): GrantRow[] {
  return [
    {
      __typename: 'organization_active_grants',
      id: 'cccccccc-0000-4000-8000-000000000001',
      used_credits: '750.000',
      burn_rank: '1',
      source: 'plan_allowance',
      amount_credits: '2000.000',
      remaining_credits: '1250.000',
      effective_at: '2026-11-01T00:00:00Z',
      expires_at: '2026-12-01T00:00:00Z',
      description: 'Pro allowance, November',
      created_at: '2026-11-01T00:00:00Z',
    },
    {
      __typename: 'organization_active_grants',
      id: 'cccccccc-0000-4000-8000-000000000002',
      used_credits: '12.500',
      burn_rank: '2',
      source: 'purchase',
      amount_credits: '500.000',
      remaining_credits: '487.500',
      effective_at: '2026-11-12T10:00:00Z',
      expires_at: '2027-11-12T10:00:00Z',
      description: 'Starter pack',
      created_at: '2026-11-12T10:00:00Z',
    },
  ];
}

export function autoTopUp(overrides: Partial<AutoTopUpSettingsRow> = {}): AutoTopUpSettingsRow {
  return {
    __typename: 'auto_topup_settings',
    organization_id: ORG_ID,
    enabled: false,
    threshold_credits: '200.000',
    package_id: null,
    monthly_max_count: 3,
    monthly_max_minor: null,
    cooldown_minutes: 60,
    consecutive_failures: 0,
    disabled_reason: null,
    updated_at: '2026-11-01T00:00:00Z',
    ...overrides,
  };
}

export function spendLimits(overrides: Partial<SpendLimitsRow> = {}): SpendLimitsRow {
  return {
    __typename: 'spend_limits',
    organization_id: ORG_ID,
    daily_limit_credits: '100.000',
    monthly_limit_credits: '2500.000',
    per_call_limit_credits: null,
    updated_at: '2026-11-01T00:00:00Z',
    ...overrides,
  };
}

/**
 * previewPlanChange's answer for an upgrade now, as the api gives it at `at`: Stripe's figure
 * (`amountDueMinor`, GBP), the credits granted at once, and the second the figure was prorated at
 * (`at` to the second: what the confirmation sends back with changePlan).
 */
export function upgradePreview(planId: string, at: Date, amountDueMinor: string, creditsGrantedNow = '8000.000'): PlanChangePreview {
  return {
    __typename: 'PlanChangePreview',
    planId,
    direction: 'upgrade',
    status: 'upgraded',
    effectiveAt: at.toISOString(),
    amountDueMinor,
    currency: 'GBP',
    creditsGrantedNow,
    prorationDate: new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString(),
  };
}

/** The SpendLimits query's answer: the limits and the day's and month's consumed counters (null: none
 * for that day or month). What is held comes from the balance (`balance()`'s reserved_credits). */
export function spendLimitsData(
  options: { limits?: SpendLimitsRow | null; consumedToday?: string | null; consumedThisMonth?: string | null } = {},
): SpendLimitsData {
  const { limits = spendLimits(), consumedToday = '84.250', consumedThisMonth = '750.000' } = options;
  return {
    spend_limits_by_pk: limits,
    consumedToday: consumedToday === null ? [] : [{ __typename: 'credit_balances', spend_day_credits: consumedToday }],
    consumedThisMonth: consumedThisMonth === null ? [] : [{ __typename: 'credit_balances', spend_month_credits: consumedThisMonth }],
  };
}

export function notifications(): NotificationRow[] {
  return [
    {
      __typename: 'notifications',
      id: 'dddddddd-0000-4000-8000-000000000001',
      user_id: null,
      kind: 'usage_threshold',
      title: 'You have used 75% of this month’s allowance',
      body: 'At this rate the allowance runs out around 27 November.',
      action_url: null,
      read_at: null,
      created_at: '2026-11-20T09:12:00Z',
    },
    {
      __typename: 'notifications',
      id: 'dddddddd-0000-4000-8000-000000000002',
      user_id: null,
      kind: 'refund',
      title: 'Refund processed',
      body: 'The Starter pack bought on 2 November was refunded.',
      action_url: null,
      read_at: '2026-11-03T08:00:00Z',
      created_at: '2026-11-02T16:40:00Z',
    },
  ];
}

/** One handler per operation of the app, answering with the fixtures above. */
export function defaultHandlers(now: Date, role: 'owner' | 'admin' | 'member' = 'owner'): Record<string, FixtureHandler> {
  const cat = catalog();
  return {
    CurrentMembership: () => ({
      data: {
        organization_members_by_pk: {
          __typename: 'organization_members',
          organization_id: ORG_ID,
          user_id: USER_ID,
          role,
          organization: { __typename: 'organizations', id: ORG_ID, name: 'Acme Research', slug: 'acme' },
        },
      },
    }),
    CreditBalance: () => ({ data: { organization_credit_balances: [balance()] } }),
    // A subscription stays open after its first answer, as over a real socket.
    CreditBalanceLive: () => new Observable<FixtureResult>((o) => o.next({ data: { organization_credit_balances: [balance()] } })),
    CurrentPlan: () => ({ data: { organization_subscriptions_by_pk: subscription('pro') } }),
    PlanCatalog: () => ({ data: cat }),
    BurnRate: () => ({ data: { organization_usage_daily_aggregate: { aggregate: { sum: { credits_consumed: '262.500' } } } } }),
    // As the engine answers: only the levels the query includes.
    LevelCosts: (v) => ({
      data: {
        ...(v.fast ? { fast: { modelId: 'openai/gpt-4.1-nano', pricingMode: 'per_token', typicalCredits: '0.750' } } : {}),
        ...(v.enhanced ? { enhanced: { modelId: 'openai/gpt-4.1-mini', pricingMode: 'per_token', typicalCredits: '2.500' } } : {}),
        ...(v.premium ? { premium: { modelId: 'anthropic/claude-sonnet-4', pricingMode: 'per_token', typicalCredits: '9.000' } } : {}),
      },
    }),
    // As the api answers (api/src/pricing.ts): the figures, what they are made of, and a sentence for people.
    CreditEstimate: (v) => {
      const input = (v.inputTokens as number | null | undefined) ?? null;
      const prices = '0.4 credits a call, plus 1 credit per 1,000 input tokens and 2 per 1,000 output tokens on GPT-4.1 mini';
      const tokens = input === null ? '1,500 input tokens (typical)' : `${input} input token${input === 1 ? '' : 's'}`;
      return {
        data: {
          estimateCredits: {
            capability: v.capability,
            qualityLevel: v.qualityLevel,
            modelId: 'openai/gpt-4.1-mini',
            modelDisplayName: 'GPT-4.1 mini',
            pricingMode: 'per_token',
            baseCredits: '0.400',
            inputCreditsPer1kTokens: '1.000000',
            outputCreditsPer1kTokens: '2.000000',
            minimumCredits: '0.403',
            minimumExplanation: `${prices}, for ${input === null ? '1 input token (the least possible)' : tokens} and a 1-token answer`,
            typicalCredits: '2.500',
            typicalInputTokens: input ?? 1500,
            typicalOutputTokens: 300,
            typicalExplanation: `${prices}, for ${tokens} and 300 output tokens (typical)`,
            maximumCredits: '8.000',
            maximumExplanation: `${prices}, for ${tokens} and the longest answer (3,050 output tokens)`,
          },
        },
      };
    },
    // As the api answers previewPlanChange for the default subscription (Pro, 1 Nov – 1 Dec): Stripe's
    // own figure for the upgrade to Team (prorated by the second, so a penny off the page's estimate of
    // £22.17 at the test's clock), nothing now for a downgrade.
    PreviewPlanChange: (v) => {
      const target = cat.plans.find((p) => p.id === v.planId) ?? cat.plans[0]!;
      const current = plan('pro');
      const base = { __typename: 'PlanChangePreview', planId: target.id, currency: 'GBP', prorationDate: null };
      const answer =
        target.id === current.id
          ? { ...base, direction: 'same', status: 'unchanged', effectiveAt: null, amountDueMinor: '0', creditsGrantedNow: '0.000' }
          : target.rank > current.rank
            ? upgradePreview(target.id, now, '2218')
            : {
                ...base,
                direction: 'downgrade',
                status: 'scheduled',
                effectiveAt: '2026-12-01T00:00:00Z',
                amountDueMinor: '0',
                creditsGrantedNow: '0.000',
              };
      return { data: { previewPlanChange: answer } };
    },
    TopUpPackages: () => ({ data: { topup_packages: packages() } }),
    // A purchase asked over HTTP (the subscription TopUpPurchase has no default): none by that id.
    TopUpPurchaseStatus: () => ({ data: { topup_purchases_by_pk: null } }),
    CreditHistory: (v) => {
      const all = ledger(60);
      const offset = Number(v.offset ?? 0);
      const limit = Number(v.limit ?? 25);
      // As the engine counts with a limit: at most countLimit entries.
      const countLimit = v.countLimit === undefined ? all.length : Number(v.countLimit);
      return {
        data: {
          credit_ledger_entries: all.slice(offset, offset + limit),
          credit_ledger_entries_aggregate: { aggregate: { count: Math.min(all.length, countLimit) } },
        },
      };
    },
    UsageDaily: () => ({ data: { organization_usage_daily: usage(now) } }),
    Grants: () => ({ data: { organization_active_grants: grants() } }),
    AutoTopUpSettings: () => ({ data: { auto_topup_settings_by_pk: autoTopUp() } }),
    SpendLimits: () => ({ data: spendLimitsData() }),
    Notifications: () => ({ data: { notifications: notifications() } }),
  };
}
