import { gql, type TypedDocumentNode } from '@apollo/client';
import type { DateString, Numeric, Timestamptz, Uuid } from './scalars.ts';

export type LedgerEntryType = 'grant' | 'consume' | 'expire' | 'clawback' | 'adjustment';

export interface LedgerEntry {
  __typename?: 'credit_ledger_entries';
  id: string;
  entry_type: LedgerEntryType;
  amount_credits: Numeric;
  balance_after_credits: Numeric;
  description: string | null;
  created_at: Timestamptz;
  reservation_id: Uuid | null;
  grant_id: Uuid | null;
}

export interface CreditHistoryData {
  credit_ledger_entries: LedgerEntry[];
  credit_ledger_entries_aggregate: { aggregate: { count: number } | null };
}

/** A Hasura bool_exp for credit_ledger_entries (only the parts the filters use). */
export interface LedgerEntryFilter {
  organization_id: { _eq: Uuid };
  entry_type?: { _in: LedgerEntryType[] };
  created_at?: { _gte?: Timestamptz; _lt?: Timestamptz };
}

export interface CreditHistoryVariables {
  where: LedgerEntryFilter;
  limit: number;
  offset: number;
  [key: string]: unknown;
}

export const CreditHistoryDocument: TypedDocumentNode<CreditHistoryData, CreditHistoryVariables> = gql`
  query CreditHistory($where: credit_ledger_entries_bool_exp!, $limit: Int!, $offset: Int!) {
    credit_ledger_entries(where: $where, order_by: { id: desc }, limit: $limit, offset: $offset) {
      id
      entry_type
      amount_credits
      balance_after_credits
      description
      created_at
      reservation_id
      grant_id
    }
    credit_ledger_entries_aggregate(where: $where) {
      aggregate {
        count
      }
    }
  }
`;

export interface UsageDailyRow {
  __typename?: 'organization_usage_daily';
  day: DateString;
  capability_code: string;
  quality_level_code: string;
  calls: number;
  credits_consumed: Numeric;
}

export const UsageDailyDocument: TypedDocumentNode<
  { organization_usage_daily: UsageDailyRow[] },
  { orgId: Uuid; since: DateString; [key: string]: unknown }
> = gql`
  query UsageDaily($orgId: uuid!, $since: date!) {
    organization_usage_daily(where: { organization_id: { _eq: $orgId }, day: { _gte: $since } }, order_by: { day: asc }) {
      day
      capability_code
      quality_level_code
      calls
      credits_consumed
    }
  }
`;

export type GrantSource = 'plan_allowance' | 'purchase' | 'auto_top_up' | 'promotion' | 'adjustment' | 'migration';

export interface GrantRow {
  __typename?: 'organization_active_grants';
  id: Uuid;
  source: GrantSource;
  amount_credits: Numeric;
  used_credits: Numeric;
  remaining_credits: Numeric;
  /** 1 burns first. */
  burn_rank: number;
  effective_at: Timestamptz;
  expires_at: Timestamptz | null;
  description: string | null;
  created_at: Timestamptz;
}

/** Grants that still hold credits, in burn order (the view `organization_active_grants`). */
export const GrantsDocument: TypedDocumentNode<{ organization_active_grants: GrantRow[] }, { orgId: Uuid; [key: string]: unknown }> = gql`
  query Grants($orgId: uuid!) {
    organization_active_grants(where: { organization_id: { _eq: $orgId } }, order_by: { burn_rank: asc }) {
      id
      source
      amount_credits
      used_credits
      remaining_credits
      burn_rank
      effective_at
      expires_at
      description
      created_at
    }
  }
`;
