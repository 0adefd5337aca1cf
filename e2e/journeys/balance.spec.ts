import { expect, test } from '@playwright/test';
import { signIn } from '../support/auth.ts';
import { balanceOf, query } from '../support/db.ts';
import { acme } from '../support/seed.ts';

const formatCredits = (value: string) => new Intl.NumberFormat('en-GB', { maximumFractionDigits: 3 }).format(value as unknown as number);

test("a Pro org's owner signs in and sees the balance the ledger holds, allowance and purchased apart", async ({ page }) => {
  const [plan] = await query<{ code: string }>(
    'select p.code from public.organization_subscriptions s join public.plans p on p.id = s.plan_id where s.organization_id = $1',
    [acme.id],
  );
  expect(plan?.code).toBe('pro');
  const balance = await balanceOf(acme.id);
  const [parts] = await query<{ allowance: string; purchased: string }>(
    'select allowance_remaining_credits::text as allowance, purchased_remaining_credits::text as purchased from public.organization_credit_balances where organization_id = $1',
    [acme.id],
  );

  await signIn(page, acme.owner, acme.name);
  await expect(page.getByTestId('available').or(page.locator('[data-test=available]'))).toHaveText(
    formatCredits(balance.available_credits),
  );
  await page.locator('[data-test=balance-trigger]').click();
  await expect(page.locator('[data-test=purchased]')).toHaveText(formatCredits(parts!.purchased));
  await expect(page.locator('[data-test=allowance]')).toContainText(formatCredits(parts!.allowance));
});
