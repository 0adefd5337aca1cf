import { gql, type TypedDocumentNode } from '@apollo/client';
import type {
  AutoTopUpSettingsFieldsFragment,
  AutoTopUpSettingsQuery,
  AutoTopUpSettingsQueryVariables,
  CreateAutoTopUpSettingsMutation,
  CreateAutoTopUpSettingsMutationVariables,
  CreateSpendLimitsMutation,
  CreateSpendLimitsMutationVariables,
  SpendLimitsQuery,
  SpendLimitsQueryVariables,
  UpdateAutoTopUpSettingsMutation,
  UpdateAutoTopUpSettingsMutationVariables,
  UpdateSpendLimitsMutation,
  UpdateSpendLimitsMutationVariables,
} from './operations.gen.ts';
import type { Numeric, Uuid } from './scalars.ts';

// A settings form saves only the columns the person changed, and only onto the row as they loaded
// it: the update's `where` names the row's updated_at as loaded (a trigger moves it on every write:
// the api's, the SQL functions', another person's), so a save from a page older than the row changes
// nothing (0 affected rows) instead of undoing what was written since. With no row loaded, the form
// creates one, and does nothing (answers null) when someone created it meanwhile.
// See lib/settings-save.ts for what a form sends.

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

/** What the settings form holds (organization_id is preset from the token). */
export interface AutoTopUpSettingsInput {
  enabled: boolean;
  /** As typed; empty when left empty (required, above 0, while enabled). */
  threshold_credits: Numeric;
  package_id: Uuid | null;
  monthly_max_count: number | null;
  /** Not in the form today; checked against the server's bounds when given. */
  cooldown_minutes?: number;
  /** Minor units of the currency (a bigint, as a string). */
  monthly_max_minor?: string | null;
}

/** The columns a save writes: only those the person changed. */
export interface AutoTopUpSettingsChanges {
  enabled?: boolean;
  threshold_credits?: Numeric;
  package_id?: Uuid | null;
  monthly_max_count?: number | null;
  cooldown_minutes?: number;
  monthly_max_minor?: string | null;
}

/** Creates the row when the page loaded none; null when one exists by now (nothing is changed). */
export const CreateAutoTopUpSettingsDocument: TypedDocumentNode<CreateAutoTopUpSettingsMutation, CreateAutoTopUpSettingsMutationVariables> =
  gql`
  mutation CreateAutoTopUpSettings($object: auto_topup_settings_insert_input!) {
    insert_auto_topup_settings_one(object: $object, on_conflict: { constraint: auto_topup_settings_pkey, update_columns: [] }) {
      ...AutoTopUpSettingsFields
    }
  }
  ${AutoTopUpSettingsFields}
`;

/** Changes the given columns of the row, only while its updated_at is still the one loaded: 0 affected rows otherwise. */
export const UpdateAutoTopUpSettingsDocument: TypedDocumentNode<UpdateAutoTopUpSettingsMutation, UpdateAutoTopUpSettingsMutationVariables> =
  gql`
  mutation UpdateAutoTopUpSettings($orgId: uuid!, $loadedAt: timestamptz!, $changes: auto_topup_settings_set_input!) {
    update_auto_topup_settings(where: { organization_id: { _eq: $orgId }, updated_at: { _eq: $loadedAt } }, _set: $changes) {
      affected_rows
      returning {
        ...AutoTopUpSettingsFields
      }
    }
  }
  ${AutoTopUpSettingsFields}
`;

export type SpendLimitsData = SpendLimitsQuery;
export type SpendLimitsRow = NonNullable<SpendLimitsQuery['spend_limits_by_pk']>;

const SpendLimitsFields = gql`
  fragment SpendLimitsFields on spend_limits {
    organization_id
    daily_limit_credits
    monthly_limit_credits
    per_call_limit_credits
    updated_at
  }
`;

/**
 * The caps, and the credits consumed in the limit's UTC day and month (credit_balances' spend
 * counters, which count while their day or month is today's or later). reserve_credits holds these
 * against the limit together with what open reservations hold now, which comes from the balance the
 * whole app shares (useCreditBalance's reserved_credits), not from here: the page asks for the
 * balance once.
 */
export const SpendLimitsDocument: TypedDocumentNode<SpendLimitsQuery, SpendLimitsQueryVariables> = gql`
  query SpendLimits($orgId: uuid!, $today: date!, $monthStart: date!) {
    spend_limits_by_pk(organization_id: $orgId) {
      ...SpendLimitsFields
    }
    consumedToday: credit_balances(where: { organization_id: { _eq: $orgId }, spend_day: { _gte: $today } }) {
      spend_day_credits
    }
    consumedThisMonth: credit_balances(where: { organization_id: { _eq: $orgId }, spend_month: { _gte: $monthStart } }) {
      spend_month_credits
    }
  }
  ${SpendLimitsFields}
`;

/** What the limits form holds (organization_id is preset from the token); null = no limit. */
export interface SpendLimitsInput {
  daily_limit_credits: Numeric | null;
  monthly_limit_credits: Numeric | null;
  per_call_limit_credits: Numeric | null;
}

/** The columns a save writes: only those the person changed. */
export type SpendLimitsChanges = Partial<SpendLimitsInput>;

/** Creates the row when the page loaded none; null when one exists by now (nothing is changed). */
export const CreateSpendLimitsDocument: TypedDocumentNode<CreateSpendLimitsMutation, CreateSpendLimitsMutationVariables> = gql`
  mutation CreateSpendLimits($object: spend_limits_insert_input!) {
    insert_spend_limits_one(object: $object, on_conflict: { constraint: spend_limits_pkey, update_columns: [] }) {
      ...SpendLimitsFields
    }
  }
  ${SpendLimitsFields}
`;

/** Changes the given limits, only while the row's updated_at is still the one loaded: 0 affected rows otherwise. */
export const UpdateSpendLimitsDocument: TypedDocumentNode<UpdateSpendLimitsMutation, UpdateSpendLimitsMutationVariables> = gql`
  mutation UpdateSpendLimits($orgId: uuid!, $loadedAt: timestamptz!, $changes: spend_limits_set_input!) {
    update_spend_limits(where: { organization_id: { _eq: $orgId }, updated_at: { _eq: $loadedAt } }, _set: $changes) {
      affected_rows
      returning {
        ...SpendLimitsFields
      }
    }
  }
  ${SpendLimitsFields}
`;
