import { expect, type Page, test } from '@playwright/test';
import { runJob } from '../support/api.ts';
import { signIn } from '../support/auth.ts';
import { balanceOf, query } from '../support/db.ts';
import { stackEnv } from '../support/env.ts';
import { add, credits, subtract } from '../support/format.ts';
import { createOrg, saveCard, spend } from '../support/orgs.ts';

const pack500 = '0c000000-0000-4000-8000-000000000001';

interface AttemptRow {
  id: string;
  status: string;
  credits: string;
  grant_id: string | null;
  stripe_payment_intent_id: string | null;
}

const attemptsOf = (orgId: string) =>
  query<AttemptRow>(
    `select id, status, credits::text, grant_id, stripe_payment_intent_id
       from public.auto_topup_attempts where organization_id = $1 order by created_at`,
    [orgId],
  );

/** Signs the owner in and saves auto top-up on the Billing page: below `threshold`, buy pack_500. */
async function turnOnAutoTopUp(page: Page, org: Awaited<ReturnType<typeof createOrg>>, threshold: string) {
  await signIn(page, org.person('owner').email, org.name);
  await page.getByRole('link', { name: 'Billing' }).click();
  const form = page.locator('[data-test=auto-top-up-form]');
  await form.getByLabel('Buy a pack automatically when credits run low').check();
  await form.getByLabel('When available credits fall below').fill(threshold);
  await form.getByLabel('Buy', { exact: true }).selectOption(pack500);
  await form.getByRole('button', { name: 'Save auto top-up' }).click();
  await expect(form.getByRole('status')).toHaveText('Saved.');
}

test('auto top-up, enabled with a threshold: spending below it tops up exactly once', async ({ page }) => {
  // 100.001 left of Pro's 500: just above the threshold of 100 the owner is about to set.
  const org = await createOrg({ label: 'AutoTopup', plan: 'pro' });
  await saveCard(org.id);
  await spend(org.id, '399.999');
  expect((await balanceOf(org.id)).available_credits).toBe('100.001');

  await turnOnAutoTopUp(page, org, '100');
  const settings = await query<{ enabled: boolean; threshold: string; package_id: string }>(
    'select enabled, threshold_credits::text as threshold, package_id from public.auto_topup_settings where organization_id = $1',
    [org.id],
  );
  expect(settings).toEqual([{ enabled: true, threshold: '100.000', package_id: pack500 }]);
  // Not below the threshold yet: nothing bought.
  expect(await attemptsOf(org.id)).toEqual([]);

  // The owner spends on the playground, crossing the threshold.
  await page.goto(`${stackEnv.web()}/`);
  await page.locator('[data-test=capability]').selectOption('summarization');
  await page.locator('[data-test=prompt]').fill('Summarise: the auto top-up buys a pack when the balance falls below the threshold.');
  await page.locator('[data-test=run]').click();
  await expect(page.locator('[data-test=output]')).not.toBeEmpty();
  const [run] = await query<{ settled: string }>(
    `select settled_amount_credits::text as settled from public.credit_reservations where organization_id = $1 and status = 'settled'`,
    [org.id],
  );
  const afterRun = subtract('100.001', run!.settled);

  // The ledger's event trigger reaches the api, which charges off-session once; the local provider
  // confirms it with a signed payment_intent.succeeded webhook.
  await expect.poll(async () => (await attemptsOf(org.id)).map((a) => a.status), { timeout: 30_000 }).toEqual(['succeeded']);
  const [attempt] = await attemptsOf(org.id);
  expect(attempt).toMatchObject({ credits: '500.000' });
  const paymentIntent = attempt!.stripe_payment_intent_id!;
  await expect
    .poll(
      async () => (await query('select 1 from public.stripe_events where payload #>> $1 = $2', ['{data,object,id}', paymentIntent])).length,
      {
        timeout: 30_000,
      },
    )
    .toBe(1);
  const expected = add(afterRun, '500');
  await expect(page.locator('[data-test=available]')).toHaveText(credits(expected));

  // The sweep (the event trigger's safety net) finds nothing more to buy.
  await runJob('auto_topup_sweep', new Date());
  const attempts = await attemptsOf(org.id);
  expect(attempts).toHaveLength(1);
  const grants = await query<{ id: string; amount: string; ref: string }>(
    `select id, amount_credits::text as amount, external_ref as ref from public.credit_grants
      where organization_id = $1 and source = 'auto_top_up'`,
    [org.id],
  );
  expect(grants).toEqual([{ id: attempt!.grant_id, amount: '500.000', ref: `auto_topup:${attempt!.id}` }]);
  expect(await balanceOf(org.id)).toEqual({ available_credits: expected, reserved_credits: '0.000' });
});

test('auto top-up, turned on while already below the threshold: buys a pack at once', async ({ page }) => {
  const org = await createOrg({ label: 'AutoTopupNow', plan: 'pro' });
  await saveCard(org.id);
  await spend(org.id, '450');
  expect((await balanceOf(org.id)).available_credits).toBe('50.000');

  await turnOnAutoTopUp(page, org, '100');

  // No spend needed: saving the settings below the threshold asks for a check, whose event charges.
  await expect.poll(async () => (await attemptsOf(org.id)).map((a) => a.status), { timeout: 30_000 }).toEqual(['succeeded']);
  await expect(page.locator('[data-test=available]')).toHaveText(credits('550'));
  expect(await balanceOf(org.id)).toEqual({ available_credits: '550.000', reserved_credits: '0.000' });
});
