// Development sign-in for the web app: the seeded people, and a Hasura JWT for one of them in one
// of their orgs. Both answer 404 in production.
import { Router } from 'express';
import { SignJWT } from 'jose';
import type pg from 'pg';
import { z } from 'zod';
import { uuid } from './actions/inputs.ts';
import { AppError, invalidInputFromZod } from './errors.ts';

const tokenRequest = z.object({ userId: uuid, orgId: uuid });

export const HASURA_CLAIMS = 'https://hasura.io/jwt/claims';

export interface DevRoutesOptions {
  db: pg.Pool;
  production: boolean;
  jwtKey: string | null;
  clock: () => Date;
  /** The web app's origin; local origins (localhost, 127.0.0.1) are allowed too. */
  webOrigin?: string | null;
  /** @default 12 hours */
  tokenTtlSeconds?: number;
}

function allowedOrigin(origin: string, webOrigin: string | null | undefined): boolean {
  if (webOrigin && origin === webOrigin) return true;
  try {
    const { hostname, protocol } = new URL(origin);
    return protocol === 'http:' && (hostname === 'localhost' || hostname === '127.0.0.1');
  } catch {
    return false;
  }
}

export function devRoutes(options: DevRoutesOptions): Router {
  const router = Router();
  router.use('/dev', (req, res, next) => {
    if (options.production || !options.jwtKey) throw new AppError('NOT_FOUND', 'not found');
    // The web app calls these from its own origin (the Vite dev server).
    const origin = req.get('origin');
    if (origin && allowedOrigin(origin, options.webOrigin)) {
      res.set('access-control-allow-origin', origin);
      res.set('vary', 'origin');
      if (req.method === 'OPTIONS') {
        res.set('access-control-allow-methods', 'GET, POST');
        res.set('access-control-allow-headers', 'content-type');
        res.set('access-control-max-age', '600');
        res.status(204).end();
        return;
      }
    }
    next();
  });

  router.get('/dev/people', async (_req, res) => {
    const { rows } = await options.db.query<{
      user_id: string;
      email: string;
      display_name: string;
      orgs: { orgId: string; orgName: string; role: string }[];
    }>(
      `select u.id as user_id, u.email, u.display_name,
         coalesce(jsonb_agg(jsonb_build_object('orgId', o.id, 'orgName', o.name, 'role', m.role) order by o.name)
           filter (where o.id is not null), '[]'::jsonb) as orgs
       from public.users u
       left join public.organization_members m on m.user_id = u.id
       left join public.organizations o on o.id = m.organization_id
       group by u.id order by u.email`,
    );
    // The shape of the web app's DevPerson.
    res.json(rows.map((r) => ({ userId: r.user_id, email: r.email, displayName: r.display_name, orgs: r.orgs })));
  });

  router.post('/dev/token', async (req, res) => {
    const parsed = tokenRequest.safeParse(req.body ?? {});
    if (!parsed.success) throw invalidInputFromZod(parsed.error, 'token request');
    const { userId, orgId } = parsed.data;
    const { rows } = await options.db.query<{ role: string }>(
      'select role from public.organization_members where organization_id = $1 and user_id = $2',
      [orgId, userId],
    );
    if (!rows[0]) throw new AppError('FORBIDDEN', `user ${userId} is not a member of organization ${orgId}`);
    const now = Math.floor(options.clock().getTime() / 1000);
    const expiresAt = now + (options.tokenTtlSeconds ?? 12 * 3600);
    const token = await new SignJWT({
      [HASURA_CLAIMS]: {
        'x-hasura-user-id': userId,
        'x-hasura-org-id': orgId,
        'x-hasura-default-role': 'user',
        'x-hasura-allowed-roles': ['user'],
      },
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt(now)
      .setExpirationTime(expiresAt)
      .sign(new TextEncoder().encode(options.jwtKey!));
    res.json({ token, expiresAt: new Date(expiresAt * 1000).toISOString(), memberRole: rows[0].role });
  });
  return router;
}
