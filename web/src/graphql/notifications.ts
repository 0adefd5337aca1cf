import { gql, type TypedDocumentNode } from '@apollo/client';
import type { Timestamptz, Uuid } from './scalars.ts';

export type NotificationKind =
  | 'usage_threshold'
  | 'low_balance'
  | 'auto_topup_succeeded'
  | 'auto_topup_failed'
  | 'auto_topup_action_required'
  | 'auto_topup_disabled'
  | 'payment_failed'
  | 'plan_changed'
  | 'refund';

export interface NotificationRow {
  __typename?: 'notifications';
  id: Uuid;
  kind: NotificationKind;
  title: string;
  body: string | null;
  action_url: string | null;
  read_at: Timestamptz | null;
  created_at: Timestamptz;
}

export const NotificationsDocument: TypedDocumentNode<
  { notifications: NotificationRow[] },
  { orgId: Uuid; limit: number; [key: string]: unknown }
> = gql`
  query Notifications($orgId: uuid!, $limit: Int!) {
    notifications(where: { organization_id: { _eq: $orgId } }, order_by: { created_at: desc }, limit: $limit) {
      id
      kind
      title
      body
      action_url
      read_at
      created_at
    }
  }
`;

export const MarkNotificationsReadDocument: TypedDocumentNode<
  { update_notifications: { affected_rows: number; returning: Array<{ id: Uuid; read_at: Timestamptz | null }> } | null },
  { ids: Uuid[]; readAt: Timestamptz; [key: string]: unknown }
> = gql`
  mutation MarkNotificationsRead($ids: [uuid!]!, $readAt: timestamptz!) {
    update_notifications(where: { id: { _in: $ids }, read_at: { _is_null: true } }, _set: { read_at: $readAt }) {
      affected_rows
      returning {
        id
        read_at
      }
    }
  }
`;
