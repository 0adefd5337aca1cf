import { expect, test } from '@playwright/test';
import { runJob, serviceHeaders } from '../support/api.ts';
import { graphql, signIn } from '../support/auth.ts';
import { balanceOf, query } from '../support/db.ts';
import { credits, subtract } from '../support/format.ts';
import { createOrg } from '../support/orgs.ts';

const reserve = `mutation Reserve($key: String!) {
  reserveCredits(capability: "summarization", qualityLevel: "fast", idempotencyKey: $key) { reservationId amountCredits expiresAt }
}`;

test('a reservation left open expires and returns its credits when the expiry job runs past its expiry', async ({ page }) => {
  const org = await createOrg({ label: 'Expiry', plan: 'pro' });
  const start = await balanceOf(org.id);
  await signIn(page, org.person('owner').email, org.name);
  await expect(page.locator('[data-test=available]')).toHaveText(credits(start.available_credits));

  // Another backend holds credits for a call and never comes back.
  const answer = await graphql<{ reserveCredits: { reservationId: string; amountCredits: string; expiresAt: string } }>(
    reserve,
    { key: `e2e-left-open-${org.id}` },
    serviceHeaders(org.id),
  );
  expect(answer.errors).toBeUndefined();
  const hold = answer.data!.reserveCredits;
  const held = subtract(start.available_credits, hold.amountCredits);
  expect(await balanceOf(org.id)).toEqual({ available_credits: held, reserved_credits: hold.amountCredits });
  await expect(page.locator('[data-test=available]')).toHaveText(credits(held));
  await page.locator('[data-test=balance-trigger]').click();
  await expect(page.locator('[data-test=reserved]')).toHaveText(credits(hold.amountCredits));
  const ledgerBefore = await query<{ n: string }>(
    'select count(*)::text as n from public.credit_ledger_entries where organization_id = $1',
    [org.id],
  );

  // The job at a time before the expiry leaves it open.
  const expiresAt = new Date(hold.expiresAt);
  await runJob('expire_reservations', new Date(expiresAt.getTime() - 1000));
  const statusOf = async () =>
    (await query<{ status: string }>('select status from public.credit_reservations where id = $1', [hold.reservationId]))[0]?.status;
  expect(await statusOf()).toBe('open');

  // The job as Hasura's cron trigger calls it, scheduled after the expiry: the hold comes back.
  const result = await runJob('expire_reservations', new Date(expiresAt.getTime() + 1000));
  expect(result.expired).toBeGreaterThanOrEqual(1);
  expect(await statusOf()).toBe('expired');
  expect(await balanceOf(org.id)).toEqual(start);
  const ledgerAfter = await query<{ n: string }>(
    'select count(*)::text as n from public.credit_ledger_entries where organization_id = $1',
    [org.id],
  );
  expect(ledgerAfter).toEqual(ledgerBefore);

  // The owner's page shows the credits back, without a reload.
  await expect(page.locator('[data-test=reserved]')).toHaveText(credits('0'));
  await expect(page.locator('[data-test=available]')).toHaveText(credits(start.available_credits));
});
