import { expect, test } from '@playwright/test';
import { signIn } from '../support/auth.ts';
import { balanceOf, query } from '../support/db.ts';
import { stackEnv } from '../support/env.ts';
import { add, credits } from '../support/format.ts';
import { createOrg, planId } from '../support/orgs.ts';

interface SubscriptionRow {
  plan: string;
  pending: string | null;
  pending_at: Date | null;
  period_start: Date;
  period_end: Date;
}

const subscriptionOf = async (orgId: string) =>
  (
    await query<SubscriptionRow>(
      `select p.code as plan, pp.code as pending, s.pending_change_at as pending_at,
              s.current_period_start as period_start, s.current_period_end as period_end
         from public.organization_subscriptions s
         join public.plans p on p.id = s.plan_id
         left join public.plans pp on pp.id = s.pending_plan_id
        where s.organization_id = $1`,
      [orgId],
    )
  )[0]!;

test('an upgrade grants the allowance difference and unlocks premium; a downgrade shows as pending and can be cancelled', async ({
  page,
}) => {
  const org = await createOrg({ label: 'Upgrade', plan: 'pro' });
  const start = await balanceOf(org.id);
  await signIn(page, org.person('owner').email, org.name);
  await expect(page.locator('[data-test=level-premium]').getByRole('radio')).toHaveAttribute('aria-disabled', 'true');

  // Upgrade Pro → Team now: Team's 2,000 a month less Pro's 500 already granted this period.
  await page.goto(`${stackEnv.web()}/billing`);
  await expect(page.locator('[data-test=plan-pro]')).toContainText('Current plan');
  await page.locator('[data-test=choose-team]').click();
  const upgradeText = page.locator('[data-test=plan-team] [data-test=confirm-text]');
  // Stripe's own figure, which the api previews when the confirmation opens (previewPlanChange); the
  // local test provider's upgrade charges nothing, so nothing is due now.
  await expect(upgradeText).toContainText('Team starts now. Nothing is charged to your card now for the difference');
  await expect(upgradeText).toContainText("Team's 1,500 extra credits for this period at once");
  await page.locator('[data-test=confirm-team]').click();
  await expect(page.getByRole('status').filter({ hasText: 'Upgraded.' })).toBeVisible();
  await expect(page.locator('[data-test=plan-team]')).toContainText('Current plan');

  const upgraded = await subscriptionOf(org.id);
  expect(upgraded).toMatchObject({ plan: 'team', pending: null });
  const teamId = await planId('team');
  const day = upgraded.period_start.toISOString().slice(0, 10);
  const grants = await query<{ source: string; amount: string; ref: string; expires: Date }>(
    `select source, amount_credits::text as amount, external_ref as ref, expires_at as expires
       from public.credit_grants where organization_id = $1 and external_ref like 'plan_upgrade:%'`,
    [org.id],
  );
  expect(grants).toEqual([
    { source: 'plan_allowance', amount: '1500.000', ref: `plan_upgrade:${day}:${teamId}`, expires: upgraded.period_end },
  ]);
  const afterUpgrade = add(start.available_credits, '1500');
  expect(await balanceOf(org.id)).toEqual({ available_credits: afterUpgrade, reserved_credits: '0.000' });
  await expect(page.locator('[data-test=available]')).toHaveText(credits(afterUpgrade));

  // Premium is open now. (A full load: see the report on the playground's empty quality list
  // after an in-app navigation back to it.)
  await page.goto(`${stackEnv.web()}/`);
  const premium = page.locator('[data-test=level-premium]');
  await expect(premium.getByRole('radio')).toHaveAttribute('aria-disabled', 'false');
  await expect(premium.locator('[data-test=locked]')).toHaveCount(0);

  // Downgrade Team → Pro: pending until the period ends, then cancelled.
  await page.getByRole('link', { name: 'Billing' }).click();
  await page.locator('[data-test=choose-pro]').click();
  await expect(page.locator('[data-test=plan-pro] [data-test=confirm-text]')).toContainText('You move to Pro when this period ends, on');
  await page.locator('[data-test=confirm-pro]').click();
  const pending = page.locator('[data-test=pending-change]');
  await expect(pending).toContainText('Moving to Pro');
  await expect(page.locator('[data-test=plan-pro]')).toContainText('Starts at period end');
  const scheduled = await subscriptionOf(org.id);
  expect(scheduled).toMatchObject({ plan: 'team', pending: 'pro', pending_at: upgraded.period_end });
  expect(await balanceOf(org.id)).toEqual({ available_credits: afterUpgrade, reserved_credits: '0.000' });

  await pending.locator('[data-test=cancel-change]').click();
  await expect(pending).toBeHidden();
  await expect(page.getByRole('status').filter({ hasText: 'The pending change is canceled.' })).toBeVisible();
  expect(await subscriptionOf(org.id)).toMatchObject({ plan: 'team', pending: null, pending_at: null });
  expect(await balanceOf(org.id)).toEqual({ available_credits: afterUpgrade, reserved_credits: '0.000' });
  await expect(page.locator('[data-test=plan-team]')).toContainText('Current plan');
});
