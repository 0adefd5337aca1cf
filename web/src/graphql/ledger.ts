import { gql, type TypedDocumentNode } from '@apollo/client';
import type {
  CreditHistoryQuery,
  CreditHistoryQueryVariables,
  GrantsQuery,
  GrantsQueryVariables,
  UsageDailyQuery,
  UsageDailyQueryVariables,
} from './operations.gen.ts';
import type { Timestamptz, Uuid } from './scalars.ts';

/** The entry types the ledger writes (the schema's `entry_type` is text). */
export type LedgerEntryType = 'grant' | 'consume' | 'expire' | 'clawback' | 'adjustment';

export type CreditHistoryData = CreditHistoryQuery;
export type LedgerEntry = CreditHistoryQuery['credit_ledger_entries'][number];

/** A Hasura bool_exp for credit_ledger_entries (only the parts the filters use). */
export interface LedgerEntryFilter {
  organization_id: { _eq: Uuid };
  entry_type?: { _in: LedgerEntryType[] };
  created_at?: { _gte?: Timestamptz; _lt?: Timestamptz };
}

/**
 * A page of the history, newest first, in the order of the index `credit_ledger_entries_org_created_idx`
 * (an org with a year of calls has hundreds of thousands of entries; ordered by id alone, a page read
 * them all). The count stops at `$countLimit`: counting every entry of such an org on each page took
 * 50–100 ms, so it counts a while past the page asked for, and says "more" beyond.
 */
export const CreditHistoryDocument: TypedDocumentNode<CreditHistoryQuery, CreditHistoryQueryVariables> = gql`
  query CreditHistory($where: credit_ledger_entries_bool_exp!, $limit: Int!, $offset: Int!, $countLimit: Int!) {
    credit_ledger_entries(where: $where, order_by: [{ created_at: desc }, { id: desc }], limit: $limit, offset: $offset) {
      id
      entry_type
      amount_credits
      balance_after_credits
      description
      created_at
      reservation_id
      grant_id
    }
    credit_ledger_entries_aggregate(where: $where, limit: $countLimit) {
      aggregate {
        count
      }
    }
  }
`;

export type UsageDailyRow = UsageDailyQuery['organization_usage_daily'][number];

export const UsageDailyDocument: TypedDocumentNode<UsageDailyQuery, UsageDailyQueryVariables> = gql`
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

/** Where a grant's credits came from (the schema's `source` is text). */
export type GrantSource = 'plan_allowance' | 'purchase' | 'auto_top_up' | 'promotion' | 'adjustment' | 'migration';

/** A row of the view organization_active_grants: as a view's, every column is nullable, and
 * `burn_rank` (1 burns first) is a bigint, so a string. */
export type GrantRow = GrantsQuery['organization_active_grants'][number];

/** Grants that still hold credits, in burn order (the view `organization_active_grants`). */
export const GrantsDocument: TypedDocumentNode<GrantsQuery, GrantsQueryVariables> = gql`
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
