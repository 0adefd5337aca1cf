import { expect, test } from '@playwright/test';
import { signIn } from '../support/auth.ts';
import { createOrg } from '../support/orgs.ts';

test('coming back to the playground by an in-app link, a capability and its quality levels are chosen again', async ({ page }) => {
  const org = await createOrg({ label: 'Probe', plan: 'pro' });
  await signIn(page, org.person('owner').email, org.name);
  await expect(page.locator('[data-test=level-fast]').getByRole('radio')).toHaveAttribute('aria-disabled', 'false');
  await page.getByRole('link', { name: 'Credits', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Credits', level: 1 })).toBeVisible();
  await page.getByRole('link', { name: 'Playground' }).click();
  await expect(page.locator('[data-test=level-fast]').getByRole('radio')).toHaveAttribute('aria-disabled', 'false');
});
