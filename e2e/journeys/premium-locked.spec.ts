import { expect, test } from '@playwright/test';
import { signIn } from '../support/auth.ts';
import { query } from '../support/db.ts';
import { stackEnv } from '../support/env.ts';
import { acme } from '../support/seed.ts';

test('on Pro, premium is locked, names Team, and the upgrade link leads to the billing page', async ({ page }) => {
  // The database says so first: Pro offers no premium, Team does.
  const offered = await query<{ plan: string; level: string }>(
    `select p.code as plan, q.quality_level_code as level
       from public.plan_capability_quality_levels q join public.plans p on p.id = q.plan_id
      where p.is_active and q.quality_level_code = 'premium'`,
  );
  expect(offered.map((row) => row.plan)).not.toContain('pro');
  expect(offered.map((row) => row.plan)).toContain('team');

  await signIn(page, acme.owner, acme.name);
  await page.goto(`${stackEnv.web()}/`);
  const premium = page.locator('[data-test=level-premium]');
  await expect(premium.getByRole('radio')).toHaveAttribute('aria-disabled', 'true');
  await expect(premium.locator('[data-test=locked]')).toBeVisible();
  await expect(premium.locator('[data-test=required-plan]')).toContainText('Team');
  // The levels Pro has are selectable, each with its cost per run from the engine's estimate.
  await expect(page.locator('[data-test=level-enhanced]').getByRole('radio')).toHaveAttribute('aria-disabled', 'false');
  await expect(page.locator('[data-test=level-enhanced] [data-test=cost]')).toContainText(/(Each|Typical) run: ~?[\d.,]+ credits/);
  await expect(page.locator('[data-test=level-fast] [data-test=cost]')).toContainText(/(Each|Typical) run: ~?[\d.,]+ credits/);

  await premium.locator('[data-test=upgrade-link]').click();
  await expect(page).toHaveURL(/\/billing#plans$/);
  await expect(page.getByRole('heading', { name: /plan/i }).first()).toBeVisible();
});
