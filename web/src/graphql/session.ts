import { gql, type TypedDocumentNode } from '@apollo/client';
import type { Uuid } from './scalars.ts';

export type MembershipRole = 'owner' | 'admin' | 'member';

export interface CurrentMembershipData {
  organization_members_by_pk: {
    __typename?: 'organization_members';
    organization_id: Uuid;
    user_id: Uuid;
    role: MembershipRole;
    organization: { __typename?: 'organizations'; id: Uuid; name: string; slug: string } | null;
  } | null;
}
export interface CurrentMembershipVariables {
  orgId: Uuid;
  userId: Uuid;
  [key: string]: unknown;
}

export const CurrentMembershipDocument: TypedDocumentNode<CurrentMembershipData, CurrentMembershipVariables> = gql`
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
