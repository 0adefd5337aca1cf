import { gql, type TypedDocumentNode } from '@apollo/client';
import type { OrgVariables } from './balance.ts';
import type { BigIntString, Numeric, Timestamptz, Uuid } from './scalars.ts';

export interface PlanSummary {
  __typename?: 'plans';
  id: Uuid;
  code: string;
  name: string;
  description: string | null;
  monthly_allowance_credits: Numeric;
  price_minor: BigIntString;
  currency: string;
  rank: number;
}

export interface PlanDetail extends PlanSummary {
  /** What the plan includes: each capability, its rate limits, and the quality levels it offers
   * for it with the model that serves each. */
  capabilities: PlanCapability[];
}

export interface PlanCapability {
  __typename?: 'plan_capabilities';
  capability_code: string;
  rate_limit_per_hour: number | null;
  rate_limit_per_day: number | null;
  quality_levels: Array<{
    __typename?: 'plan_capability_quality_levels';
    quality_level_code: string;
    model_id: string;
    model: { __typename?: 'llm_models'; id: string; display_name: string } | null;
  }>;
}

export interface QualityLevelRow {
  __typename?: 'quality_levels';
  code: string;
  name: string;
  description: string | null;
  rank: number;
}

export interface CapabilityRow {
  __typename?: 'ai_capabilities';
  code: string;
  name: string;
  description: string | null;
  pricing_mode: 'per_call' | 'per_token';
}

export interface PlanCatalogData {
  plans: PlanDetail[];
  quality_levels: QualityLevelRow[];
  ai_capabilities: CapabilityRow[];
}

/** Every offered plan with what it includes, plus the quality levels and capabilities. */
export const PlanCatalogDocument: TypedDocumentNode<PlanCatalogData, Record<string, never>> = gql`
  query PlanCatalog {
    plans(where: { is_active: { _eq: true } }, order_by: { rank: asc }) {
      id
      code
      name
      description
      monthly_allowance_credits
      price_minor
      currency
      rank
      capabilities {
        capability_code
        rate_limit_per_hour
        rate_limit_per_day
        quality_levels {
          quality_level_code
          model_id
          model {
            id
            display_name
          }
        }
      }
    }
    quality_levels(order_by: { rank: asc }) {
      code
      name
      description
      rank
    }
    ai_capabilities(where: { is_active: { _eq: true } }, order_by: { name: asc }) {
      code
      name
      description
      pricing_mode
    }
  }
`;

export interface SubscriptionRow {
  __typename?: 'organization_subscriptions';
  organization_id: Uuid;
  status: 'active' | 'past_due' | 'canceled' | 'incomplete';
  current_period_start: Timestamptz;
  current_period_end: Timestamptz;
  pending_change_at: Timestamptz | null;
  cancel_at_period_end: boolean;
  plan: PlanSummary;
  pending_plan: PlanSummary | null;
}

export interface CurrentPlanData {
  organization_subscriptions_by_pk: SubscriptionRow | null;
}

const PLAN_FIELDS = `
  id
  code
  name
  description
  monthly_allowance_credits
  price_minor
  currency
  rank
`;

/** The org's subscription: its plan now, and a downgrade waiting for the period end. */
export const CurrentPlanDocument: TypedDocumentNode<CurrentPlanData, OrgVariables> = gql`
  query CurrentPlan($orgId: uuid!) {
    organization_subscriptions_by_pk(organization_id: $orgId) {
      organization_id
      status
      current_period_start
      current_period_end
      pending_change_at
      cancel_at_period_end
      plan {
        ${PLAN_FIELDS}
      }
      pending_plan {
        ${PLAN_FIELDS}
      }
    }
  }
`;

export interface PlanChangeResult {
  status: 'upgraded' | 'scheduled' | 'checkout_required' | 'canceled' | 'unchanged';
  checkoutUrl: string | null;
  effectiveAt: Timestamptz | null;
  planId: Uuid | null;
}

export const ChangePlanDocument: TypedDocumentNode<{ changePlan: PlanChangeResult | null }, { planId: Uuid; [key: string]: unknown }> = gql`
  mutation ChangePlan($planId: uuid!) {
    changePlan(planId: $planId) {
      status
      checkoutUrl
      effectiveAt
      planId
    }
  }
`;

export const CancelPlanChangeDocument: TypedDocumentNode<{ cancelPlanChange: PlanChangeResult | null }, Record<string, never>> = gql`
  mutation CancelPlanChange {
    cancelPlanChange {
      status
      checkoutUrl
      effectiveAt
      planId
    }
  }
`;
