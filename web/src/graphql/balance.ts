import { gql, type TypedDocumentNode } from '@apollo/client';
import type { DateString, Numeric, Timestamptz, Uuid } from './scalars.ts';

export interface CreditBalanceRow {
  __typename?: 'organization_credit_balances';
  organization_id: Uuid;
  allowance_remaining_credits: Numeric;
  purchased_remaining_credits: Numeric;
  bonus_remaining_credits: Numeric;
  debt_credits: Numeric;
  reserved_credits: Numeric;
  available_credits: Numeric;
  next_expiry_at: Timestamptz | null;
  next_expiry_credits: Numeric | null;
}

export interface CreditBalanceData {
  organization_credit_balances: CreditBalanceRow[];
}
export interface OrgVariables {
  orgId: Uuid;
  [key: string]: unknown;
}

const BALANCE_FIELDS = `
  organization_id
  allowance_remaining_credits
  purchased_remaining_credits
  bonus_remaining_credits
  debt_credits
  reserved_credits
  available_credits
  next_expiry_at
  next_expiry_credits
`;

/** Live balance over the socket. */
export const CreditBalanceSubscriptionDocument: TypedDocumentNode<CreditBalanceData, OrgVariables> = gql`
  subscription CreditBalanceLive($orgId: uuid!) {
    organization_credit_balances(where: { organization_id: { _eq: $orgId } }) {
      ${BALANCE_FIELDS}
    }
  }
`;

/** The same over HTTP, for the first paint and for polling while the socket is down. */
export const CreditBalanceQueryDocument: TypedDocumentNode<CreditBalanceData, OrgVariables> = gql`
  query CreditBalance($orgId: uuid!) {
    organization_credit_balances(where: { organization_id: { _eq: $orgId } }) {
      ${BALANCE_FIELDS}
    }
  }
`;

export interface BurnRateData {
  organization_usage_daily_aggregate: {
    aggregate: { sum: { credits_consumed: Numeric | null } | null } | null;
  };
}
export interface BurnRateVariables {
  orgId: Uuid;
  since: DateString;
  [key: string]: unknown;
}

/** Credits consumed since a day (inclusive), for the burn rate. */
export const BurnRateDocument: TypedDocumentNode<BurnRateData, BurnRateVariables> = gql`
  query BurnRate($orgId: uuid!, $since: date!) {
    organization_usage_daily_aggregate(where: { organization_id: { _eq: $orgId }, day: { _gte: $since } }) {
      aggregate {
        sum {
          credits_consumed
        }
      }
    }
  }
`;
