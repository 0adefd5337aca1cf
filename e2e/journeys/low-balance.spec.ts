import { expect, test } from '@playwright/test';
import { signIn } from '../support/auth.ts';
import { checkoutPack, finishCheckout, purchasesOf } from '../support/checkout.ts';
import { balanceOf } from '../support/db.ts';
import { credits } from '../support/format.ts';
import { createOrg, spend } from '../support/orgs.ts';

test('below 20% of the allowance the low-balance banner shows, and a top-up clears it', async ({ page }) => {
  // Pro's allowance is 500 credits: 20 % is 100. Spend 420 of it, leaving 80.
  const org = await createOrg({ label: 'Low', plan: 'pro' });
  await spend(org.id, '420');
  expect(await balanceOf(org.id)).toEqual({ available_credits: '80.000', reserved_credits: '0.000' });

  await signIn(page, org.person('owner').email, org.name);
  const banner = page.locator('[data-test=low-balance-banner]');
  await expect(banner).toBeVisible();
  await expect(banner).toContainText(`Only ${credits('80')} credits left.`);

  await banner.locator('[data-test=banner-top-up]').click();
  await checkoutPack(page, '500');
  await finishCheckout(page, 'Pay');
  await expect(page.locator('[data-test=topup-succeeded]')).toBeVisible();
  await expect(page.locator('[data-test=available]')).toHaveText(credits('580'));
  await expect(banner).toBeHidden();

  const purchases = await purchasesOf(org.id);
  expect(purchases.map((p) => p.status)).toEqual(['paid']);
  expect(await balanceOf(org.id)).toEqual({ available_credits: '580.000', reserved_credits: '0.000' });
});

test('an org with most of its allowance left shows no low-balance banner', async ({ page }) => {
  const org = await createOrg({ label: 'NotLow', plan: 'pro' });
  await spend(org.id, '399');
  await signIn(page, org.person('owner').email, org.name);
  await expect(page.locator('[data-test=available]')).toHaveText(credits('101'));
  // The plan's allowance is loaded (the banner compares against it) before looking for the banner.
  await page.locator('[data-test=balance-trigger]').click();
  await expect(page.locator('[data-test=allowance]')).toContainText(`/ ${credits('500')}`);
  await expect(page.locator('[data-test=low-balance-banner]')).toHaveCount(0);
});
