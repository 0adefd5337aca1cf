import { expect, test } from '@playwright/test';
import { signIn } from '../support/auth.ts';
import { balanceOf, query } from '../support/db.ts';
import { credits, subtract } from '../support/format.ts';
import { createOrg } from '../support/orgs.ts';

test("a Pro org's owner runs the playground at enhanced and sees the balance fall by the settled amount, and the entry in the history", async ({
  page,
}) => {
  const org = await createOrg({ label: 'Playground', plan: 'pro', credits: { purchase: '200' } });
  const before = await balanceOf(org.id);
  expect(before.available_credits).toBe('700.000');

  await signIn(page, org.person('owner').email, org.name);
  await expect(page.locator('[data-test=available]')).toHaveText(credits(before.available_credits));

  await page.locator('[data-test=capability]').selectOption('summarization');
  await page.locator('[data-test=level-enhanced]').getByRole('radio').click();
  await expect(page.locator('[data-test=level-enhanced]').getByRole('radio')).toHaveAttribute('aria-checked', 'true');
  // The estimate's prices, as the engine serves the api's fields (Claude Haiku 4.5 for summarization at enhanced on Pro).
  await expect(page.locator('[data-test=estimate-explanation]')).toContainText(
    'On Claude Haiku 4.5: 0.2 credits a run, plus 0.05 credits per 1,000 input tokens and 0.25 credits per 1,000 output tokens.',
  );
  await page.locator('[data-test=prompt]').fill('Summarise: the quarterly report shows revenue up and costs flat across every region.');
  await page.locator('[data-test=run]').click();
  await expect(page.locator('[data-test=output]')).not.toBeEmpty();

  // The database: one settled reservation at enhanced, its charge consumed once in the ledger.
  const reservations = await query<{ id: string; status: string; quality_level_code: string; settled: string; model_id: string }>(
    `select id, status, quality_level_code, settled_amount_credits::text as settled, model_id
       from public.credit_reservations where organization_id = $1`,
    [org.id],
  );
  expect(reservations).toHaveLength(1);
  const run = reservations[0]!;
  expect(run).toMatchObject({ status: 'settled', quality_level_code: 'enhanced' });
  expect(run.settled).not.toBe('0.000');
  const [consumed] = await query<{ total: string; n: string }>(
    `select coalesce(sum(amount_credits), 0)::text as total, count(*)::text as n
       from public.credit_ledger_entries where reservation_id = $1 and entry_type = 'consume'`,
    [run.id],
  );
  expect(consumed!.total).toBe(`-${run.settled}`);
  const after = await balanceOf(org.id);
  expect(after).toEqual({ available_credits: subtract(before.available_credits, run.settled), reserved_credits: '0.000' });

  // The page: the charge, the model, and the balance fallen by exactly that much, without a reload.
  await expect(page.locator('[data-test=charged]')).toHaveText(`${credits(run.settled)} credits`);
  await expect(page.locator('[data-test=new-balance]')).toHaveText(`${credits(after.available_credits)} credits`);
  await expect(page.locator('[data-test=available]')).toHaveText(credits(after.available_credits));
  // The model by the name people read (the catalogue's display name), not its id.
  const [model] = await query<{ name: string }>('select display_name as name from public.llm_models where id = $1', [run.model_id]);
  await expect(page.locator('[data-test=result-model]')).toHaveText(model!.name);

  // The history lists the run's charge.
  await page.getByRole('link', { name: 'Credits', exact: true }).click();
  const charge = page.locator('[data-test=history-row]').filter({ hasText: `-${credits(run.settled)}` });
  await expect(charge).toHaveCount(1);
  await expect(charge).toContainText(credits(after.available_credits));
});
