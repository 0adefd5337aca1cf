// docs/integration.md's issuers, for a backend service: the token each documented mapping produces
// (Keycloak's claims_map, Auth0's credentials-exchange Action) reserves credits through the engine
// on hasura/metadata, and Keycloak's claims_map still makes a person's token the `user` role.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useTestDatabase } from '@org-credits/db/testing';
import { describe, expect, it } from 'vitest';
import { hasuraDir } from './load-metadata.ts';
import { bearer, JWT_KEY, NOW_S, startStack } from './stack.ts';

const ACME = '0a000000-0000-4000-8000-000000000001';
const ADA_OWNER = '0b000000-0000-4000-8000-000000000001';

const page = readFileSync(join(hasuraDir, '..', 'docs', 'integration.md'), 'utf8');

/** The first ```lang block of the `### heading` section. */
function blockOf(heading: string, lang: string, containing = ''): string {
  const start = page.indexOf(`\n### ${heading}\n`);
  if (start < 0) throw new Error(`docs/integration.md has no "### ${heading}"`);
  const end = page.indexOf('\n## ', start + 1);
  const section = page.slice(start, end < 0 ? undefined : end);
  const block = [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].find((m) => m[1]!.includes(containing));
  if (!block?.[1]) throw new Error(`no ${lang} block with "${containing}" under "### ${heading}"`);
  return block[1];
}

/** An HS256 token with exactly these claims (and a live exp). */
function sign(payload: Record<string, unknown>): string {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iat: NOW_S - 60, exp: NOW_S + 3600, ...payload })}`;
  return `${unsigned}.${createHmac('sha256', JWT_KEY).update(unsigned).digest('base64url')}`;
}

const reserve = (key: string) => `mutation {
  reserveCredits(capability: "summarization", qualityLevel: "fast", idempotencyKey: "${key}", inputTokens: 100) {
    reservationId amountCredits
  }
}`;

const db = await useTestDatabase();

// Keycloak: the page's HASURA_GRAPHQL_JWT_SECRET with our HS256 key in place of the realm's JWKS.
const keycloakSecret = JSON.parse(blockOf('Keycloak', 'json', 'claims_map')) as Record<string, unknown>;
const { jwk_url: _jwks, ...keycloakRest } = keycloakSecret;
const keycloak = await startStack(db, { jwtSecret: { ...keycloakRest, type: 'HS256', key: JWT_KEY } });
const keycloakIssuer = String(keycloakSecret.issuer);

// Auth0: claims in Hasura's namespace, as the page's Hasura configuration reads them.
const auth0 = await startStack(db);

describe('Keycloak, with the claims_map of docs/integration.md', () => {
  it('a service account token (org_id and the hardcoded role claims, no user_id) reserves credits as `service`', async () => {
    const token = sign({
      iss: keycloakIssuer,
      sub: '5e000000-0000-4000-8000-000000000001', // the service-account user: not a member, never used
      azp: 'summarizer',
      org_id: ACME,
      hasura_role: 'service',
      hasura_roles: ['service'],
    });
    const answer = await keycloak.post(bearer(token), reserve('keycloak-service-1'));
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.reserveCredits).toMatchObject({ reservationId: expect.any(String) });
    const { rows } = await db.pool.query(
      'select organization_id::text, user_id from public.credit_reservations where idempotency_key = $1',
      ['keycloak-service-1'],
    );
    expect(rows).toEqual([{ organization_id: ACME, user_id: null }]);
  });

  it("a person's token (user_id and org_id only) is the `user` role of that member", async () => {
    const token = sign({ iss: keycloakIssuer, sub: ADA_OWNER, azp: 'web', user_id: ADA_OWNER, org_id: ACME });
    const answer = await keycloak.post(bearer(token), 'query { organizations { id } organization_members { user_id role } }');
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.organizations).toEqual([{ id: ACME }]);
    const refused = await keycloak.post(bearer(token), reserve('keycloak-person-1'));
    expect(refused.errors?.[0]?.message).toMatch(/reserveCredits/);
  });
});

describe("Auth0, with the page's credentials-exchange Action", () => {
  it('the machine-to-machine token it makes reserves credits as `service`', async () => {
    const code = blockOf('Auth0', 'js', 'onExecuteCredentialsExchange');
    const exports: { onExecuteCredentialsExchange?: (event: unknown, api: unknown) => Promise<void> } = {};
    new Function('exports', code)(exports);
    const claims: Record<string, unknown> = {};
    await exports.onExecuteCredentialsExchange!(
      { client: { client_id: 'm2m-client', name: 'summarizer', metadata: { org_credits_org_id: ACME } } },
      {
        accessToken: {
          setCustomClaim: (name: string, value: unknown) => {
            claims[name] = value;
          },
        },
      },
    );
    const token = sign({ iss: 'https://tenant.auth0.com/', sub: 'm2m-client@clients', aud: 'https://credits.example', ...claims });
    const answer = await auth0.post(bearer(token), reserve('auth0-service-1'));
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.reserveCredits).toMatchObject({ reservationId: expect.any(String) });
  });
});
