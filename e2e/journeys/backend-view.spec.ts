import { expect, test } from '@playwright/test';
import { createCreditsClient, createGraphQLTransport } from '../../client/src/index.ts';
import { signIn } from '../support/auth.ts';
import { balanceOf, moneyFingerprint, query } from '../support/db.ts';
import { stackEnv } from '../support/env.ts';
import { credits, subtract } from '../support/format.ts';
import { createOrg } from '../support/orgs.ts';
import { acme } from '../support/seed.ts';

test("another backend reserves and settles through the client package while the org's owner watches the balance move live", async ({
  page,
}) => {
  const org = await createOrg({ label: 'Backend', plan: 'pro' });
  const start = await balanceOf(org.id);
  const otherOrg = await moneyFingerprint(acme.id);
  await signIn(page, org.person('owner').email, org.name);
  const available = page.locator('[data-test=available]');
  await expect(available).toHaveText(credits(start.available_credits));
  await page.locator('[data-test=balance-trigger]').click();
  const reserved = page.locator('[data-test=reserved]');
  await expect(reserved).toHaveText(credits('0'));
  // Updates come over the subscription socket, not the slow polling fallback.
  await expect(page.getByRole('region', { name: 'Balance details' })).toContainText('Live');

  // The other service: @org-credits/client over GraphQL to the engine, as role `service` for the org.
  const client = createCreditsClient({
    transport: createGraphQLTransport({ url: stackEnv.graphql(), auth: { adminSecret: stackEnv.adminSecret() } }),
  });
  const outcome = await client.withCredits(
    { orgId: org.id, capability: 'summarization', qualityLevel: 'enhanced', estimate: { inputTokens: 800 } },
    async (hold) => {
      // While the call runs, the page shows the hold, pushed to it.
      await expect(reserved).toHaveText(credits(hold.amountCredits));
      await expect(available).toHaveText(credits(subtract(start.available_credits, hold.amountCredits)));
      return { usage: { inputTokens: 750, outputTokens: 180 }, result: 'summary' };
    },
  );
  expect(outcome.result).toBe('summary');
  const charged = outcome.settlement.chargedCredits;
  expect(charged).not.toBe('0.000');
  expect(outcome.settlement.availableCredits).toBe(subtract(start.available_credits, charged));

  // Settled: the page and the database agree, and the ledger has the one charge.
  await expect(reserved).toHaveText(credits('0'));
  await expect(available).toHaveText(credits(outcome.settlement.availableCredits));
  expect(await balanceOf(org.id)).toEqual({ available_credits: outcome.settlement.availableCredits, reserved_credits: '0.000' });
  const rows = await query<{ status: string; settled: string; user_id: string | null; consumed: string }>(
    `select r.status, r.settled_amount_credits::text as settled, r.user_id,
            (select sum(amount_credits) from public.credit_ledger_entries e where e.reservation_id = r.id)::text as consumed
       from public.credit_reservations r where r.organization_id = $1`,
    [org.id],
  );
  expect(rows).toEqual([{ status: 'settled', settled: charged, user_id: null, consumed: `-${charged}` }]);
  // Acting for one org touched no other.
  expect(await moneyFingerprint(acme.id)).toBe(otherOrg);
});
