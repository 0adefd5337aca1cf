// Signing in as a seeded person, in the page (the dev sign-in) or as a token for direct GraphQL calls.
import type { Page } from '@playwright/test';
import { SignJWT } from 'jose';
import { stackEnv } from './env.ts';

/** Signs in through the dev sign-in page, choosing the person's membership in `orgName`. */
export async function signIn(page: Page, email: string, orgName: string): Promise<void> {
  await page.goto(`${stackEnv.web()}/sign-in`);
  const person = page.locator('[data-test=person]', { hasText: email });
  await person.getByRole('button', { name: new RegExp(orgName) }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
}

export interface TokenClaims {
  userId: string;
  orgId: string;
  roles?: string[];
  defaultRole?: string;
  expiresInSeconds?: number;
}

/** A JWT like the dev endpoint issues, signed with the stack's key (or another key, to forge one). */
export async function tokenFor(claims: TokenClaims, key = stackEnv.jwtKey()): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    'https://hasura.io/jwt/claims': {
      'x-hasura-user-id': claims.userId,
      'x-hasura-org-id': claims.orgId,
      'x-hasura-default-role': claims.defaultRole ?? 'user',
      'x-hasura-allowed-roles': claims.roles ?? ['user'],
    },
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.expiresInSeconds ?? 3600))
    .sign(new TextEncoder().encode(key));
}

export async function graphql<T = Record<string, unknown>>(
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<{ data?: T; errors?: { message: string; extensions?: { code?: string } }[] }> {
  const response = await fetch(stackEnv.graphql(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
}

export async function userIdOf(email: string, query: (sql: string, params: unknown[]) => Promise<{ id: string }[]>): Promise<string> {
  const rows = await query('select id from public.users where email = $1', [email]);
  if (!rows[0]) throw new Error(`no seeded user ${email}`);
  return rows[0].id;
}
