import { gql, type TypedDocumentNode } from '@apollo/client';
import type {
  AutoTopUpSettingsFieldsFragment,
  AutoTopUpSettingsQuery,
  AutoTopUpSettingsQueryVariables,
  SaveAutoTopUpSettingsMutation,
  SaveAutoTopUpSettingsMutationVariables,
  SaveSpendLimitsMutation,
  SaveSpendLimitsMutationVariables,
  SpendLimitsQuery,
  SpendLimitsQueryVariables,
} from './operations.gen.ts';
import type { Numeric, Uuid } from './scalars.ts';

export type AutoTopUpSettingsRow = AutoTopUpSettingsFieldsFragment;

const AutoTopUpSettingsFields = gql`
  fragment AutoTopUpSettingsFields on auto_topup_settings {
    organization_id
    enabled
    threshold_credits
    package_id
    monthly_max_count
    monthly_max_minor
    cooldown_minutes
    consecutive_failures
    disabled_reason
    updated_at
  }
`;

export const AutoTopUpSettingsDocument: TypedDocumentNode<AutoTopUpSettingsQuery, AutoTopUpSettingsQueryVariables> = gql`
  query AutoTopUpSettings($orgId: uuid!) {
    auto_topup_settings_by_pk(organization_id: $orgId) {
      ...AutoTopUpSettingsFields
    }
  }
  ${AutoTopUpSettingsFields}
`;

/** What the settings form saves (organization_id is preset from the token). */
export interface AutoTopUpSettingsInput {
  enabled: boolean;
  threshold_credits: Numeric;
  package_id: Uuid | null;
  monthly_max_count: number | null;
  /** Not in the form today; checked against the server's bounds when given. */
  cooldown_minutes?: number;
  /** Minor units of the currency (a bigint, as a string). */
  monthly_max_minor?: string | null;
}

/** An upsert: the row may not exist yet. organization_id is preset from the token. */
export const SaveAutoTopUpSettingsDocument: TypedDocumentNode<SaveAutoTopUpSettingsMutation, SaveAutoTopUpSettingsMutationVariables> = gql`
  mutation SaveAutoTopUpSettings($object: auto_topup_settings_insert_input!) {
    insert_auto_topup_settings_one(
      object: $object
      on_conflict: { constraint: auto_topup_settings_pkey, update_columns: [enabled, threshold_credits, package_id, monthly_max_count] }
    ) {
      ...AutoTopUpSettingsFields
    }
  }
  ${AutoTopUpSettingsFields}
`;

export type SpendLimitsData = SpendLimitsQuery;
export type SpendLimitsRow = NonNullable<SpendLimitsQuery['spend_limits_by_pk']>;

/** The caps and the usage to hold them against: today (UTC) and this calendar month. */
export const SpendLimitsDocument: TypedDocumentNode<SpendLimitsQuery, SpendLimitsQueryVariables> = gql`
  query SpendLimits($orgId: uuid!, $today: date!, $monthStart: date!) {
    spend_limits_by_pk(organization_id: $orgId) {
      organization_id
      daily_limit_credits
      monthly_limit_credits
      per_call_limit_credits
      updated_at
    }
    today: organization_usage_daily_aggregate(where: { organization_id: { _eq: $orgId }, day: { _eq: $today } }) {
      aggregate {
        sum {
          credits_consumed
        }
      }
    }
    month: organization_usage_daily_aggregate(where: { organization_id: { _eq: $orgId }, day: { _gte: $monthStart } }) {
      aggregate {
        sum {
          credits_consumed
        }
      }
    }
  }
`;

/** What the limits form saves (organization_id is preset from the token). */
export interface SpendLimitsInput {
  daily_limit_credits: Numeric | null;
  monthly_limit_credits: Numeric | null;
  per_call_limit_credits: Numeric | null;
}

/** An upsert: the row may not exist yet. organization_id is preset from the token. */
export const SaveSpendLimitsDocument: TypedDocumentNode<SaveSpendLimitsMutation, SaveSpendLimitsMutationVariables> = gql`
  mutation SaveSpendLimits($object: spend_limits_insert_input!) {
    insert_spend_limits_one(
      object: $object
      on_conflict: { constraint: spend_limits_pkey, update_columns: [daily_limit_credits, monthly_limit_credits, per_call_limit_credits] }
    ) {
      organization_id
      daily_limit_credits
      monthly_limit_credits
      per_call_limit_credits
      updated_at
    }
  }
`;
