// The top-up modal and the local test payment page (api/src/payments/local-provider.ts), which
// stands in for Stripe Checkout: Pay there sends a signed Stripe-shaped event to the api's webhook,
// then sends the browser back to the web app; Decline says so on the page and sends nothing.
import { expect, type Page } from '@playwright/test';
import { query } from './db.ts';

export interface PurchaseRow {
  id: string;
  status: string;
  credits: string;
  grant_id: string | null;
  stripe_checkout_session_id: string | null;
}

/** In the open top-up modal: chooses the pack of `packCredits` (as printed, e.g. "500") and goes to checkout. */
export async function checkoutPack(page: Page, packCredits: string): Promise<void> {
  const dialog = page.getByRole('dialog');
  await dialog.locator(`[data-test=pack][data-pack-credits="${packCredits}"]`).click();
  await dialog.locator('[data-test=checkout]').click();
  await page.waitForURL(/\/pay\/checkout\//);
  await expect(page.getByText('Test payment — no money moves.')).toBeVisible();
}

/**
 * On the test payment page: Pay (back in the web app), or Decline, which, as Stripe Checkout does,
 * says so on the page; then back without paying.
 */
export async function finishCheckout(page: Page, outcome: 'Pay' | 'Decline'): Promise<void> {
  await page.getByRole('button', { name: outcome, exact: true }).click();
  if (outcome === 'Decline') {
    await expect(page.getByRole('alert')).toHaveText(/Your card was declined/);
    await page.getByRole('link', { name: 'Back without paying' }).click();
  }
  await page.waitForURL((url) => url.pathname === '/credits');
}

export async function purchasesOf(orgId: string): Promise<PurchaseRow[]> {
  return query<PurchaseRow>(
    `select id, status, credits::text, grant_id, stripe_checkout_session_id
       from public.topup_purchases where organization_id = $1 order by created_at`,
    [orgId],
  );
}
