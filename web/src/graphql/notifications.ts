import { gql, type TypedDocumentNode } from '@apollo/client';
import type {
  MarkNotificationsReadMutation,
  MarkNotificationsReadMutationVariables,
  NotificationsQuery,
  NotificationsQueryVariables,
} from './operations.gen.ts';

export type NotificationRow = NotificationsQuery['notifications'][number];

export const NotificationsDocument: TypedDocumentNode<NotificationsQuery, NotificationsQueryVariables> = gql`
  query Notifications($orgId: uuid!, $limit: Int!) {
    notifications(where: { organization_id: { _eq: $orgId } }, order_by: { created_at: desc }, limit: $limit) {
      id
      user_id
      kind
      title
      body
      action_url
      read_at
      created_at
    }
  }
`;

export const MarkNotificationsReadDocument: TypedDocumentNode<MarkNotificationsReadMutation, MarkNotificationsReadMutationVariables> = gql`
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
