import { gql, type TypedDocumentNode } from '@apollo/client';
import type { BigIntString, DateString, Numeric, Timestamptz, Uuid } from './scalars.ts';

export interface AutoTopUpSettingsRow {
  __typename?: 'auto_topup_settings';
  organization_id: Uuid;
  enabled: boolean;
  threshold_credits: Numeric;
  package_id: Uuid | null;
  monthly_max_count: number | null;
  monthly_max_minor: BigIntString | null;
  cooldown_minutes: number;
  consecutive_failures: number;
  disabled_reason: string | null;
  updated_at: Timestamptz;
}

const AUTO_TOPUP_FIELDS = `
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
`;

export const AutoTopUpSettingsDocument: TypedDocumentNode<
  { auto_topup_settings_by_pk: AutoTopUpSettingsRow | null },
  { orgId: Uuid; [key: string]: unknown }
> = gql`
  query AutoTopUpSettings($orgId: uuid!) {
    auto_topup_settings_by_pk(organization_id: $orgId) {
      ${AUTO_TOPUP_FIELDS}
    }
  }
`;

export interface AutoTopUpSettingsInput {
  enabled: boolean;
  threshold_credits: Numeric;
  package_id: Uuid | null;
  monthly_max_count: number | null;
}

/** An upsert: the row may not exist yet. organization_id is preset from the token. */
export const SaveAutoTopUpSettingsDocument: TypedDocumentNode<
  { insert_auto_topup_settings_one: AutoTopUpSettingsRow | null },
  { object: AutoTopUpSettingsInput; [key: string]: unknown }
> = gql`
  mutation SaveAutoTopUpSettings($object: auto_topup_settings_insert_input!) {
    insert_auto_topup_settings_one(
      object: $object
      on_conflict: { constraint: auto_topup_settings_pkey, update_columns: [enabled, threshold_credits, package_id, monthly_max_count] }
    ) {
      ${AUTO_TOPUP_FIELDS}
    }
  }
`;

export interface SpendLimitsRow {
  __typename?: 'spend_limits';
  organization_id: Uuid;
  daily_limit_credits: Numeric | null;
  monthly_limit_credits: Numeric | null;
  per_call_limit_credits: Numeric | null;
  updated_at: Timestamptz;
}

interface UsageSum {
  aggregate: { sum: { credits_consumed: Numeric | null } | null } | null;
}

export interface SpendLimitsData {
  spend_limits_by_pk: SpendLimitsRow | null;
  today: UsageSum;
  month: UsageSum;
}

/** The caps and the usage to hold them against: today (UTC) and this calendar month. */
export const SpendLimitsDocument: TypedDocumentNode<
  SpendLimitsData,
  { orgId: Uuid; today: DateString; monthStart: DateString; [key: string]: unknown }
> = gql`
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

export interface SpendLimitsInput {
  daily_limit_credits: Numeric | null;
  monthly_limit_credits: Numeric | null;
  per_call_limit_credits: Numeric | null;
}

/** An upsert: the row may not exist yet. organization_id is preset from the token. */
export const SaveSpendLimitsDocument: TypedDocumentNode<
  { insert_spend_limits_one: SpendLimitsRow | null },
  { object: SpendLimitsInput; [key: string]: unknown }
> = gql`
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
