import { gql, type TypedDocumentNode } from '@apollo/client';
import type { CurrentMembershipQuery, CurrentMembershipQueryVariables } from './operations.gen.ts';

/** The membership roles (the schema's `role` is text). */
export type MembershipRole = 'owner' | 'admin' | 'member';

export type CurrentMembershipData = CurrentMembershipQuery;

export const CurrentMembershipDocument: TypedDocumentNode<CurrentMembershipQuery, CurrentMembershipQueryVariables> = gql`
  query CurrentMembership($orgId: uuid!, $userId: uuid!) {
    organization_members_by_pk(organization_id: $orgId, user_id: $userId) {
      organization_id
      user_id
      role
      organization {
        id
        name
        slug
      }
    }
  }
`;
