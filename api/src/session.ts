// Hasura's action envelope, the session it carries, and who may act for which org. The org and
// the user come only from `session_variables`, never from an action's input.
import type pg from 'pg';
import { z } from 'zod';
import { AppError } from './errors.ts';

/** What Hasura POSTs to an action handler. */
export const actionEnvelope = z.object({
  action: z.object({ name: z.string().min(1) }),
  input: z.record(z.string(), z.unknown()),
  session_variables: z.record(z.string(), z.string()),
  request_query: z.string().optional(),
});

export type ActionEnvelope = z.infer<typeof actionEnvelope>;

export interface Session {
  role: string;
  userId: string | null;
  orgId: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Reads the session; a session variable that is present but not a uuid is refused. */
export function sessionFrom(variables: Record<string, string>): Session {
  // Hasura lower-cases the names; accept any case from other senders.
  const lower = new Map(Object.entries(variables).map(([key, value]) => [key.toLowerCase(), value]));
  const role = lower.get('x-hasura-role');
  if (!role) throw new AppError('UNAUTHORIZED', 'the session has no x-hasura-role');
  const id = (name: string): string | null => {
    const value = lower.get(name);
    if (value === undefined || value === '') return null;
    if (!UUID.test(value)) throw new AppError('UNAUTHORIZED', `the session's ${name} is not a uuid`);
    return value.toLowerCase();
  };
  return { role, userId: id('x-hasura-user-id'), orgId: id('x-hasura-org-id') };
}

/**
 * An action's `organizationId`, when given, must be the org its session acts for (FORBIDDEN
 * otherwise): a token is for one organization. `consequence` ends the message (what was not done).
 */
export function requireSessionOrg(sessionOrgId: string, organizationId: string | null | undefined, consequence = ''): void {
  if (organizationId && organizationId.toLowerCase() !== sessionOrgId) {
    throw new AppError('FORBIDDEN', `this session acts for organization ${sessionOrgId}, not ${organizationId}${consequence}`);
  }
}

/** The roles that may hold and charge credits for their org. */
const CREDIT_ROLES = new Set(['user', 'service', 'admin']);

export interface OrgActor {
  orgId: string;
  /** The person acting, when there is one (null for services). */
  userId: string | null;
}

/**
 * The org the session acts for, after checking that it may: `user` must be a member of the org
 * (a token with a forged org id gets FORBIDDEN); `service` and `admin` act for the org in their
 * session, and a user id they pass must be a member too.
 */
export async function requireOrgActor(db: pg.Pool, session: Session): Promise<OrgActor> {
  if (!session.orgId) throw new AppError('UNAUTHORIZED', 'the session names no organization (x-hasura-org-id)');
  if (!CREDIT_ROLES.has(session.role)) throw new AppError('FORBIDDEN', `the role ${session.role} may not use AI credits`);
  if (session.role === 'user' && !session.userId) throw new AppError('UNAUTHORIZED', 'the session names no user (x-hasura-user-id)');
  if (session.userId) {
    const { rowCount } = await db.query(
      { name: 'api-member', text: 'select 1 from public.organization_members where organization_id = $1 and user_id = $2' },
      [session.orgId, session.userId],
    );
    if (!rowCount) throw new AppError('FORBIDDEN', `user ${session.userId} is not a member of organization ${session.orgId}`);
  }
  return { orgId: session.orgId, userId: session.userId };
}
