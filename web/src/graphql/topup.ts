import { gql, type TypedDocumentNode } from '@apollo/client';
import type { BigIntString, Numeric, Uuid } from './scalars.ts';

export interface TopUpPackage {
  __typename?: 'topup_packages';
  id: Uuid;
  code: string;
  name: string;
  credits: Numeric;
  price_minor: BigIntString;
  currency: string;
  sort_order: number;
}

export const TopUpPackagesDocument: TypedDocumentNode<{ topup_packages: TopUpPackage[] }, Record<string, never>> = gql`
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

export const CreateTopUpCheckoutDocument: TypedDocumentNode<
  { createTopUpCheckout: { purchaseId: Uuid; checkoutUrl: string } | null },
  { packageId: Uuid; [key: string]: unknown }
> = gql`
  mutation CreateTopUpCheckout($packageId: uuid!) {
    createTopUpCheckout(packageId: $packageId) {
      purchaseId
      checkoutUrl
    }
  }
`;

export type PurchaseStatus = 'pending' | 'paid' | 'failed' | 'canceled' | 'refunded' | 'partially_refunded' | 'disputed';

export interface TopUpPurchaseRow {
  __typename?: 'topup_purchases';
  id: Uuid;
  status: PurchaseStatus;
  credits: Numeric;
  price_minor: BigIntString;
  currency: string;
  grant_id: Uuid | null;
}

/** One purchase, live: pending until Stripe's webhook lands the credits (grant_id set). */
export const TopUpPurchaseDocument: TypedDocumentNode<
  { topup_purchases_by_pk: TopUpPurchaseRow | null },
  { id: Uuid; [key: string]: unknown }
> = gql`
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
