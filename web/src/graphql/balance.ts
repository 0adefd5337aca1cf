import { gql, type TypedDocumentNode } from '@apollo/client';
import type {
  BurnRateQuery,
  BurnRateQueryVariables,
  CreditBalanceFieldsFragment,
  CreditBalanceLiveSubscription,
  CreditBalanceLiveSubscriptionVariables,
  CreditBalanceQuery,
  CreditBalanceQueryVariables,
} from './operations.gen.ts';

/** A row of the view organization_credit_balances (as a view's, every column is nullable). */
export type CreditBalanceRow = CreditBalanceFieldsFragment;
export type CreditBalanceData = CreditBalanceQuery;

const CreditBalanceFields = gql`
  fragment CreditBalanceFields on organization_credit_balances {
    organization_id
    allowance_remaining_credits
    purchased_remaining_credits
    bonus_remaining_credits
    debt_credits
    reserved_credits
    available_credits
    next_expiry_at
    next_expiry_credits
  }
`;

/** Live balance over the socket. */
export const CreditBalanceSubscriptionDocument: TypedDocumentNode<CreditBalanceLiveSubscription, CreditBalanceLiveSubscriptionVariables> =
  gql`
  subscription CreditBalanceLive($orgId: uuid!) {
    organization_credit_balances(where: { organization_id: { _eq: $orgId } }) {
      ...CreditBalanceFields
    }
  }
  ${CreditBalanceFields}
`;

/** The same over HTTP, for the first paint and for polling while the socket is down. */
export const CreditBalanceQueryDocument: TypedDocumentNode<CreditBalanceQuery, CreditBalanceQueryVariables> = gql`
  query CreditBalance($orgId: uuid!) {
    organization_credit_balances(where: { organization_id: { _eq: $orgId } }) {
      ...CreditBalanceFields
    }
  }
  ${CreditBalanceFields}
`;

/** Credits consumed since a day (inclusive), for the burn rate. */
export const BurnRateDocument: TypedDocumentNode<BurnRateQuery, BurnRateQueryVariables> = gql`
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
