import { expect, test } from '@playwright/test';
import { signIn } from '../support/auth.ts';
import { checkoutPack, finishCheckout, purchasesOf } from '../support/checkout.ts';
import { balanceOf, moneyFingerprint, query } from '../support/db.ts';
import { stackEnv } from '../support/env.ts';
import { add, credits } from '../support/format.ts';
import { createOrg } from '../support/orgs.ts';

test('a top-up through the local checkout adds its credits without a reload; a declined payment grants nothing', async ({
  page,
  context,
}) => {
  const org = await createOrg({ label: 'Topup', plan: 'pro' });
  const start = await balanceOf(org.id);
  await signIn(page, org.person('owner').email, org.name);
  await expect(page.locator('[data-test=available]')).toHaveText(credits(start.available_credits));

  // Declined: back in the app, nothing was charged and nothing granted.
  const untouched = await moneyFingerprint(org.id);
  await page.locator('[data-test=balance-trigger]').click();
  await page.locator('[data-test=widget-top-up]').click();
  await checkoutPack(page, '500');
  await finishCheckout(page, 'Decline');
  await expect(page.locator('[data-test=topup-canceled]')).toBeVisible();
  const [declined] = await purchasesOf(org.id);
  expect(declined).toMatchObject({ status: 'pending', grant_id: null, credits: '500.000' });
  expect(await moneyFingerprint(org.id)).toBe(untouched);
  expect(await balanceOf(org.id)).toEqual(start);
  await expect(page.locator('[data-test=available]')).toHaveText(credits(start.available_credits));

  // Paid: the modal follows the purchase until its credits land, and the header shows them. A
  // second tab left open on the credits page shows them too, without a reload.
  const watcher = await context.newPage();
  await watcher.goto(`${stackEnv.web()}/credits`);
  await expect(watcher.locator('[data-test=available]')).toHaveText(credits(start.available_credits));
  const [ledger] = await query<{ entries: string }>(
    'select count(*)::text as entries from public.credit_ledger_entries where organization_id = $1',
    [org.id],
  );
  const historyBefore = Number(ledger!.entries);
  const entries = (n: number) => `${n} ${n === 1 ? 'entry' : 'entries'}`;
  await expect(watcher.locator('[data-test=history-total]')).toHaveText(entries(historyBefore));
  await page.getByRole('dialog').getByRole('button', { name: 'Choose a pack' }).click();
  await checkoutPack(page, '1,400');
  await finishCheckout(page, 'Pay');
  await expect(page.locator('[data-test=topup-succeeded]')).toContainText('1,400 credits added.');
  const expected = add(start.available_credits, '1400');
  await expect(page.locator('[data-test=available]')).toHaveText(credits(expected));
  await expect(watcher.locator('[data-test=available]')).toHaveText(credits(expected));
  // …and its history has the new grant at the top, also without a reload.
  await expect(watcher.locator('[data-test=history-total]')).toHaveText(entries(historyBefore + 1));
  await expect(watcher.locator('[data-test=history-row]').first()).toContainText('+1,400');

  const purchases = await purchasesOf(org.id);
  expect(purchases).toHaveLength(2);
  const paid = purchases[1]!;
  expect(paid).toMatchObject({ status: 'paid', credits: '1400.000' });
  const grants = await query<{ id: string; source: string; amount: string; ref: string }>(
    `select id, source, amount_credits::text as amount, external_ref as ref from public.credit_grants
      where organization_id = $1 and source = 'purchase'`,
    [org.id],
  );
  expect(grants).toEqual([{ id: paid.grant_id, source: 'purchase', amount: '1400.000', ref: paid.stripe_checkout_session_id }]);
  expect(await balanceOf(org.id)).toEqual({ available_credits: expected, reserved_credits: '0.000' });
});
