import { gql, type TypedDocumentNode } from '@apollo/client';
import type {
  CreateTopUpCheckoutMutation,
  CreateTopUpCheckoutMutationVariables,
  TopUpPackagesQuery,
  TopUpPackagesQueryVariables,
  TopUpPurchaseStatusQuery,
  TopUpPurchaseStatusQueryVariables,
  TopUpPurchaseSubscription,
  TopUpPurchaseSubscriptionVariables,
} from './operations.gen.ts';

export type TopUpPackage = TopUpPackagesQuery['topup_packages'][number];

export const TopUpPackagesDocument: TypedDocumentNode<TopUpPackagesQuery, TopUpPackagesQueryVariables> = gql`
  query TopUpPackages {
    topup_packages(where: { is_active: { _eq: true } }, order_by: { sort_order: asc }) {
      id
      code
      name
      credits
      price_minor
      currency
      sort_order
    }
  }
`;

export const CreateTopUpCheckoutDocument: TypedDocumentNode<CreateTopUpCheckoutMutation, CreateTopUpCheckoutMutationVariables> = gql`
  mutation CreateTopUpCheckout($packageId: uuid!) {
    createTopUpCheckout(packageId: $packageId) {
      purchaseId
      checkoutUrl
    }
  }
`;

/** A purchase's states (the schema's `status` is text). */
export type PurchaseStatus = 'pending' | 'paid' | 'failed' | 'canceled' | 'refunded' | 'partially_refunded' | 'disputed';

export type TopUpPurchaseRow = NonNullable<TopUpPurchaseSubscription['topup_purchases_by_pk']>;

/** One purchase, live: pending until Stripe's webhook lands the credits (grant_id set). */
export const TopUpPurchaseDocument: TypedDocumentNode<TopUpPurchaseSubscription, TopUpPurchaseSubscriptionVariables> = gql`
    subscription TopUpPurchase($id: uuid!) {
      topup_purchases_by_pk(id: $id) {
        id
        status
        credits
        price_minor
        currency
        grant_id
      }
    }
  `;

/** The same purchase over HTTP: asked while the socket is not live (and now and then while it is),
 * so that credits that landed meanwhile are seen without the subscription. */
export const TopUpPurchaseStatusDocument: TypedDocumentNode<TopUpPurchaseStatusQuery, TopUpPurchaseStatusQueryVariables> = gql`
  query TopUpPurchaseStatus($id: uuid!) {
    topup_purchases_by_pk(id: $id) {
      id
      status
      credits
      price_minor
      currency
      grant_id
    }
  }
`;
