import { expect, test } from '@playwright/test';
import { graphql, signIn, tokenFor } from '../support/auth.ts';
import { moneyFingerprint, query } from '../support/db.ts';
import { stackEnv } from '../support/env.ts';
import { createOrg, planId } from '../support/orgs.ts';

const packId = '0c000000-0000-4000-8000-000000000001';

test('a member can run AI but sees no buy, plan or settings controls, and the API refuses them when called directly', async ({ page }) => {
  const org = await createOrg({ label: 'Member', plan: 'pro', people: ['owner', 'member'] });
  const member = org.person('member');

  await signIn(page, member.email, org.name);
  await expect(page.locator('[data-test=role]')).toHaveText('member');

  // Runs AI.
  await page.locator('[data-test=capability]').selectOption('summarization');
  await page.locator('[data-test=prompt]').fill('Summarise: members may use the AI features their org pays for.');
  await page.locator('[data-test=run]').click();
  await expect(page.locator('[data-test=output]')).not.toBeEmpty();
  const runs = await query<{ status: string; user_id: string }>(
    'select status, user_id from public.credit_reservations where organization_id = $1',
    [org.id],
  );
  expect(runs).toEqual([{ status: 'settled', user_id: member.id }]);

  // No buy control in the balance widget, and the modal (opened by a link) says so instead of selling.
  await page.locator('[data-test=balance-trigger]').click();
  await expect(page.getByRole('region', { name: 'Balance details' })).toBeVisible();
  await expect(page.locator('[data-test=widget-top-up]')).toHaveCount(0);
  await page.goto(`${stackEnv.web()}/credits?topup=buy`);
  await expect(page.locator('[data-test=member-cannot-buy]')).toBeVisible();
  await expect(page.locator('[data-test=checkout]')).toHaveCount(0);

  // Billing: plans and settings are shown read-only.
  await page.goto(`${stackEnv.web()}/billing`);
  await expect(page.locator('[data-test=member-note]')).toBeVisible();
  await expect(page.locator('[data-test=plan-team]')).toBeVisible();
  await expect(page.locator('[data-test^=choose-]')).toHaveCount(0);
  await expect(page.locator('[data-test=auto-top-up-form]')).toHaveCount(0);
  await expect(page.locator('[data-test=limits-form]')).toHaveCount(0);

  // Called directly with the member's own token, every one is refused and nothing changes.
  const before = await moneyFingerprint(org.id);
  const auth = { authorization: `Bearer ${await tokenFor({ userId: member.id, orgId: org.id })}` };
  const checkout = await graphql('mutation($p: uuid!) { createTopUpCheckout(packageId: $p) { checkoutUrl } }', { p: packId }, auth);
  expect(checkout.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  const upgrade = await graphql('mutation($p: uuid!) { changePlan(planId: $p) { status } }', { p: await planId('team') }, auth);
  expect(upgrade.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  const cancel = await graphql('mutation { cancelPlanChange { status } }', {}, auth);
  expect(cancel.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  const autoTopUp = await graphql(
    `mutation($p: uuid!) { insert_auto_topup_settings_one(object: { enabled: true, threshold_credits: "100", package_id: $p }) { organization_id } }`,
    { p: packId },
    auth,
  );
  expect(autoTopUp.errors?.[0]?.extensions?.code).toBe('permission-error');
  const limits = await graphql('mutation { insert_spend_limits_one(object: { daily_limit_credits: "1" }) { organization_id } }', {}, auth);
  expect(limits.errors?.[0]?.extensions?.code).toBe('permission-error');

  expect(await moneyFingerprint(org.id)).toBe(before);
  const [untouched] = await query<{ purchases: string; settings: string; limits: string }>(
    `select (select count(*) from public.topup_purchases where organization_id = $1)::text as purchases,
            (select count(*) from public.auto_topup_settings where organization_id = $1)::text as settings,
            (select count(*) from public.spend_limits where organization_id = $1)::text as limits`,
    [org.id],
  );
  expect(untouched).toEqual({ purchases: '0', settings: '0', limits: '0' });
});
