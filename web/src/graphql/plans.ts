import { gql, type TypedDocumentNode } from '@apollo/client';
import type {
  CancelPlanChangeMutation,
  CancelPlanChangeMutationVariables,
  ChangePlanMutation,
  ChangePlanMutationVariables,
  CurrentPlanQuery,
  CurrentPlanQueryVariables,
  PlanCatalogQuery,
  PlanCatalogQueryVariables,
  PlanFieldsFragment,
  PreviewPlanChangeQuery,
  PreviewPlanChangeQueryVariables,
} from './operations.gen.ts';

export type PlanSummary = PlanFieldsFragment;
export type PlanCatalogData = PlanCatalogQuery;
/** An offered plan with what it includes: each capability, its rate limits, and the quality
 * levels it offers for it with the model that serves each. */
export type PlanDetail = PlanCatalogQuery['plans'][number];
export type PlanCapability = PlanDetail['capabilities'][number];
export type QualityLevelRow = PlanCatalogQuery['quality_levels'][number];
export type CapabilityRow = PlanCatalogQuery['ai_capabilities'][number];

const PlanFields = gql`
  fragment PlanFields on plans {
    id
    code
    name
    description
    monthly_allowance_credits
    price_minor
    currency
    rank
  }
`;

/** Every offered plan with what it includes, plus the quality levels and capabilities. */
export const PlanCatalogDocument: TypedDocumentNode<PlanCatalogQuery, PlanCatalogQueryVariables> = gql`
  query PlanCatalog {
    plans(where: { is_active: { _eq: true } }, order_by: { rank: asc }) {
      ...PlanFields
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
  ${PlanFields}
`;

export type SubscriptionRow = NonNullable<CurrentPlanQuery['organization_subscriptions_by_pk']>;
export type CurrentPlanData = CurrentPlanQuery;

/** The org's subscription: its plan now, and a downgrade waiting for the period end. */
export const CurrentPlanDocument: TypedDocumentNode<CurrentPlanQuery, CurrentPlanQueryVariables> = gql`
  query CurrentPlan($orgId: uuid!) {
    organization_subscriptions_by_pk(organization_id: $orgId) {
      organization_id
      status
      current_period_start
      current_period_end
      pending_change_at
      cancel_at_period_end
      plan {
        ...PlanFields
      }
      pending_plan {
        ...PlanFields
      }
    }
  }
  ${PlanFields}
`;

export type PlanChangeResult = NonNullable<ChangePlanMutation['changePlan']>;

/** `prorationDate`: the preview's, when the person confirms the upgrade it showed; Stripe then charges
 * that figure (PRORATION_DATE_STALE when the preview is too old: ask for a new one). */
export const ChangePlanDocument: TypedDocumentNode<ChangePlanMutation, ChangePlanMutationVariables> = gql`
  mutation ChangePlan($planId: uuid!, $prorationDate: timestamptz) {
    changePlan(planId: $planId, prorationDate: $prorationDate) {
      status
      checkoutUrl
      effectiveAt
      planId
    }
  }
`;

export type PlanChangePreview = NonNullable<PreviewPlanChangeQuery['previewPlanChange']>;

/** What changePlan would do now, changing nothing: for an upgrade, what Stripe charges at once
 * (`amountDueMinor`, minor units as a string, in `currency`), the credits granted at once, and the
 * time that figure was prorated at (`prorationDate`, to send with the confirmation). */
export const PreviewPlanChangeDocument: TypedDocumentNode<PreviewPlanChangeQuery, PreviewPlanChangeQueryVariables> = gql`
  query PreviewPlanChange($planId: uuid!, $orgId: uuid) {
    previewPlanChange(planId: $planId, organizationId: $orgId) {
      planId
      direction
      status
      effectiveAt
      amountDueMinor
      currency
      creditsGrantedNow
      prorationDate
    }
  }
`;

export const CancelPlanChangeDocument: TypedDocumentNode<CancelPlanChangeMutation, CancelPlanChangeMutationVariables> = gql`
  mutation CancelPlanChange {
    cancelPlanChange {
      status
      checkoutUrl
      effectiveAt
      planId
    }
  }
`;
