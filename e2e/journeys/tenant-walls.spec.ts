import { expect, test } from '@playwright/test';
import { graphql, signIn, tokenFor, userIdOf } from '../support/auth.ts';
import { moneyFingerprint, query } from '../support/db.ts';
import { stackEnv } from '../support/env.ts';
import { acme, globex } from '../support/seed.ts';

const ledgerAndBalance = `query Walls($org: uuid!) {
  credit_ledger_entries(where: { organization_id: { _eq: $org } }) { id }
  organization_credit_balances(where: { organization_id: { _eq: $org } }) { available_credits }
  credit_grants(where: { organization_id: { _eq: $org } }) { id }
}`;

test("a person of org A cannot see org B's data by URL, by GraphQL or by switching org ids in the token", async ({ page }) => {
  const ownerA = await userIdOf(acme.owner, query);
  const [counts] = await query<{ a: string; b: string }>(
    `select (select count(*) from public.credit_ledger_entries where organization_id = $1)::text as a,
            (select count(*) from public.credit_ledger_entries where organization_id = $2)::text as b`,
    [acme.id, globex.id],
  );
  expect(Number(counts!.b)).toBeGreaterThan(0);
  const before = await moneyFingerprint(globex.id);

  // By GraphQL with A's own token, aimed at B's rows: nothing comes back.
  const own = await tokenFor({ userId: ownerA, orgId: acme.id });
  const aimed = await graphql<{ credit_ledger_entries: unknown[]; organization_credit_balances: unknown[]; credit_grants: unknown[] }>(
    ledgerAndBalance,
    { org: globex.id },
    { authorization: `Bearer ${own}` },
  );
  expect(aimed.errors).toBeUndefined();
  expect(aimed.data).toEqual({ credit_ledger_entries: [], organization_credit_balances: [], credit_grants: [] });

  // Switching the org id in a (validly signed) token: A's owner is no member of B, so nothing.
  const switched = await tokenFor({ userId: ownerA, orgId: globex.id });
  const viaSwitch = await graphql(ledgerAndBalance, { org: globex.id }, { authorization: `Bearer ${switched}` });
  expect(viaSwitch.errors).toBeUndefined();
  expect(viaSwitch.data).toEqual({ credit_ledger_entries: [], organization_credit_balances: [], credit_grants: [] });

  // A forged token (signed with another key) is refused outright.
  const forged = await tokenFor({ userId: ownerA, orgId: globex.id }, 'not-the-stack-key-not-the-stack-key-000');
  const viaForgery = await graphql(ledgerAndBalance, { org: globex.id }, { authorization: `Bearer ${forged}` });
  expect(viaForgery.errors?.[0]?.extensions?.code).toBe('invalid-jwt');

  // An org id sent as a header without the admin secret changes nothing.
  const viaHeader = await graphql(ledgerAndBalance, { org: globex.id }, { authorization: `Bearer ${own}`, 'x-hasura-org-id': globex.id });
  expect(viaHeader.data).toEqual({ credit_ledger_entries: [], organization_credit_balances: [], credit_grants: [] });

  // By URL in the app: the credits page, even asked for B's org, shows A's history only.
  await signIn(page, acme.owner, acme.name);
  await page.goto(`${stackEnv.web()}/credits?org=${globex.id}&organization_id=${globex.id}`);
  await expect(page.locator('[data-test=history-total]')).toHaveText(`${counts!.a} entries`);

  expect(await moneyFingerprint(globex.id)).toBe(before);
});
