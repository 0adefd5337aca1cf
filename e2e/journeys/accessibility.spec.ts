// Every screen a person meets, checked with axe-core against WCAG 2.0 and 2.1, levels A and AA, at
// desktop width and at 375 px: the sign-in page, the owner's playground, credits and billing pages,
// and the states on them: the balance panel, the top-up modal (packs, checkout canceled, checkout
// failed), plan changes being confirmed or failing, a run's result, a refused run with its Details,
// the low-balance banner, empty lists, a section that failed to load, a form error, pages while they
// load, a page not found. A serious or critical violation fails the journey, naming the rule, the
// elements and what to fix; every state is checked even when an earlier one failed (soft
// assertions), so one run lists everything. Nothing here changes Acme's seeded data.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';
import { signIn } from '../support/auth.ts';
import { stackEnv } from '../support/env.ts';
import { createOrg } from '../support/orgs.ts';
import { acme } from '../support/seed.ts';

const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const BLOCKING = new Set(['serious', 'critical']);

/**
 * Findings that are not violations, each with why: the rule and the exact element, never a whole
 * rule or a whole page. Empty: everything axe reported was fixed in the app.
 */
const FALSE_POSITIVES: Array<{ rule: string; target: string; why: string }> = [];

type AxeNode = { target: unknown[]; html: string; failureSummary?: string };
const selectorOf = (node: AxeNode) => node.target.map((part) => (Array.isArray(part) ? part.join(' >>> ') : String(part))).join(', ');

/** Runs axe on the page as it is now and records (softly) every serious or critical violation. */
async function audit(page: Page, state: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
  const violations = results.violations
    .filter((v) => BLOCKING.has(v.impact ?? ''))
    .map((v) => ({
      ...v,
      nodes: v.nodes.filter((node) => !FALSE_POSITIVES.some((known) => known.rule === v.id && known.target === selectorOf(node))),
    }))
    .filter((v) => v.nodes.length > 0);
  const report = violations
    .map((v) =>
      [
        `\n[${v.impact}] ${v.id}: ${v.help}`,
        `  ${v.helpUrl}`,
        ...v.nodes.map(
          (node) =>
            `  - ${selectorOf(node)}\n      ${node.html.slice(0, 160)}\n      ${(node.failureSummary ?? '').replace(/\n/g, '\n      ')}`,
        ),
      ].join('\n'),
    )
    .join('\n');
  expect
    .soft(
      violations.map((v) => `${v.id} (${v.nodes.length})`),
      `${state}: serious or critical accessibility violations${report}`,
    )
    .toEqual([]);
}

/** Nothing is loading any more: no skeleton, no busy region (axe should see what people read). */
async function settled(page: Page): Promise<void> {
  await expect(page.locator('.skeleton')).toHaveCount(0);
  await expect(page.locator('[aria-busy="true"]')).toHaveCount(0);
}

/** Opens every "Details" on the page: what is behind one is read too. */
async function openDetails(page: Page): Promise<void> {
  await page.locator('details').evaluateAll((all) => {
    for (const details of all) (details as HTMLDetailsElement).open = true;
  });
}

/** Answers the app's GraphQL operation `name` with an error, as the engine would, from now on in this page. */
async function failOperation(page: Page, name: string): Promise<void> {
  await page.route(`${stackEnv.web()}/v1/graphql`, async (route) => {
    const body = route.request().postDataJSON() as { operationName?: string } | null;
    if (body?.operationName !== name) return route.fallback();
    await route.fulfill({ json: { errors: [{ message: 'database query error', extensions: { code: 'unexpected' } }] } });
  });
}

/** The playground with its levels priced, after a sign-in or a navigation. */
async function playgroundReady(page: Page): Promise<void> {
  await expect(page.locator('[data-test=available]')).toBeVisible();
  await expect(page.locator('[data-test=level-fast] [data-test=cost]')).toContainText(/(Each|Typical) run: ~?[\d.,]+ credits/);
  await settled(page);
}

for (const [width, viewport] of [
  ['desktop', { width: 1280, height: 860 }],
  ['375 px', { width: 375, height: 812 }],
] as const) {
  test.describe(`accessibility at ${width}`, () => {
    test.use({ viewport });

    test('the sign-in page, and its token form', async ({ page }) => {
      await page.goto(`${stackEnv.web()}/sign-in`);
      await expect(page.locator('[data-test=person]').first()).toBeVisible();
      await settled(page);
      await audit(page, 'sign-in');
      await page.getByText('Sign in with a token from your identity provider').click();
      await expect(page.getByLabel('JWT')).toBeVisible();
      await audit(page, 'sign-in, token form open');
    });

    test("an owner's playground, balance panel, top-up modal, credits and billing pages, plan change confirmations, and the pages loading", async ({
      page,
    }) => {
      // Acme's seeded history, notifications and plan; nothing here changes them (no run, no
      // purchase, no plan change is confirmed).
      await signIn(page, acme.owner, acme.name);
      await playgroundReady(page);
      await audit(page, 'playground');

      await page.locator('[data-test=balance-trigger]').click();
      await expect(page.locator('[data-test=burn-rate]')).toBeVisible();
      await expect(page.getByRole('region', { name: 'Balance details' })).toContainText(/Live|Not live/);
      await audit(page, 'playground, balance panel open');

      await page.locator('[data-test=widget-top-up]').click();
      const dialog = page.getByRole('dialog');
      await expect(dialog.locator('[data-test=pack]').first()).toBeVisible();
      await settled(page);
      await audit(page, 'top-up modal');
      await dialog.getByRole('button', { name: 'Close' }).click();
      await expect(dialog).toBeHidden();

      await page.getByRole('link', { name: 'Credits', exact: true }).click();
      // A new page says so: its own title, and focus on its heading.
      await expect(page).toHaveTitle('Credits · org-credits');
      await expect(page.getByRole('heading', { level: 1, name: 'Credits' })).toBeFocused();
      await expect(page.locator('[data-test=history-row]').first()).toBeVisible();
      await expect(page.locator('[data-test=grant]').first()).toBeVisible();
      await expect(page.locator('[data-test=usage-totals]')).toBeVisible();
      await settled(page);
      await audit(page, 'credits');

      // Filters that match nothing: the empty state with its "Clear filters".
      await page.locator('[data-test=filter-type]').selectOption('clawback');
      await expect(page.locator('[data-test=no-match]')).toBeVisible();
      await audit(page, 'credits, filters matching nothing');

      // Back from a checkout that was canceled: the modal says so.
      await page.goto(`${stackEnv.web()}/credits?topup=canceled`);
      await expect(page.locator('[data-test=topup-canceled]')).toBeVisible();
      await settled(page);
      await audit(page, 'top-up modal, checkout canceled');
      await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
      // Opened on arrival, the modal gives focus to the balance, not back to <body>.
      await expect(page.locator('[data-test=balance-trigger]')).toBeFocused();

      await page.getByRole('link', { name: 'Billing' }).click();
      await expect(page).toHaveTitle('Billing · org-credits');
      await expect(page.getByRole('heading', { level: 1, name: 'Billing' })).toBeFocused();
      await expect(page.locator('[data-test=plan-pro]')).toContainText('Current plan');
      await expect(page.locator('[data-test=auto-top-up-form]')).toBeVisible();
      await expect(page.locator('[data-test=limits-form]')).toBeVisible();
      await settled(page);
      await audit(page, 'billing');

      // An upgrade and a downgrade asked for, both waiting for Confirm (neither is confirmed).
      await page.locator('[data-test=choose-team]').click();
      await expect(page.locator('[data-test=plan-team] [data-test=confirm-text]')).toBeVisible();
      await page.locator('[data-test=choose-free]').click();
      await expect(page.locator('[data-test=plan-free] [data-test=confirm-text]')).toBeVisible();
      await audit(page, 'billing, plan change confirmations open');

      // From here on the engine answers nothing: queries wait and the socket never says hello, so
      // each page stays as people see it while it loads (skeletons, "Loading…").
      await page.routeWebSocket(/\/v1\/graphql$/, () => undefined);
      await page.route(`${stackEnv.web()}/v1/graphql`, () => undefined);
      for (const path of ['/', '/credits', '/billing']) {
        await page.goto(`${stackEnv.web()}${path}`);
        await expect(page.locator('.skeleton').first()).toBeVisible();
        await audit(page, `${path} while loading`);
      }
    });

    test('a run and its result; a section, a checkout and a plan change that failed', async ({ page }) => {
      const org = await createOrg({ label: 'A11yRun', plan: 'pro' });
      await signIn(page, org.person('owner').email, org.name);
      await playgroundReady(page);
      await page.locator('[data-test=capability]').selectOption('summarization');
      await page.locator('[data-test=prompt]').fill('Summarise: every screen of the dashboard is checked for accessibility.');
      await expect(page.locator('[data-test=estimate]')).toContainText('For about');
      await page.locator('[data-test=run]').click();
      await expect(page.locator('[data-test=output]')).not.toBeEmpty();
      await settled(page);
      await audit(page, 'playground, a run finished');

      // The grants' query fails: that card says so, with "Try again" and the Details opened.
      await failOperation(page, 'Grants');
      await page.getByRole('link', { name: 'Credits', exact: true }).click();
      await expect(page.locator('[data-test=retry]')).toBeVisible();
      await settled(page);
      await openDetails(page);
      await audit(page, 'credits, a section failed to load');

      // Checkout cannot be opened: the modal says why (nothing is bought: the request never leaves).
      await failOperation(page, 'CreateTopUpCheckout');
      await page.locator('[data-test=balance-trigger]').click();
      await page.locator('[data-test=widget-top-up]').click();
      await page.getByRole('dialog').locator('[data-test=checkout]').click();
      await expect(page.locator('[data-test=checkout-error]')).toBeVisible();
      await openDetails(page);
      await audit(page, 'top-up modal, checkout failed');
      await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();

      // A plan change that fails (the request is answered here, so the plan does not change).
      await failOperation(page, 'ChangePlan');
      await page.getByRole('link', { name: 'Billing' }).click();
      await page.locator('[data-test=choose-team]').click();
      await page.locator('[data-test=confirm-team]').click();
      await expect(page.locator('[data-test=plan-error]')).toBeVisible();
      await settled(page);
      await openDetails(page);
      await audit(page, 'billing, a plan change failed');
    });

    test('an org out of credits: the banner, a refused run, empty lists, a form error; a page not found', async ({ page }) => {
      const org = await createOrg({ label: 'A11yEmpty', plan: 'pro', credits: { allowance: '0' } });
      await signIn(page, org.person('owner').email, org.name);
      await expect(page.locator('[data-test=low-balance-banner]')).toContainText('You are out of credits.');
      await playgroundReady(page);
      await page.locator('[data-test=prompt]').fill('Summarise: nothing, there are no credits left.');
      await page.locator('[data-test=run]').click();
      await expect(page.locator('[data-test=refusal]')).toBeVisible();
      await settled(page);
      await openDetails(page);
      await audit(page, 'playground, out of credits, run refused');

      await page.getByRole('link', { name: 'Credits', exact: true }).click();
      await expect(page.locator('[data-test=history-total]')).toHaveText('0 entries');
      await expect(page.getByText('No usage yet')).toBeVisible();
      await settled(page);
      await audit(page, 'credits, empty');

      // Auto top-up turned on without a threshold: the field says what is wrong (nothing is saved).
      await page.getByRole('link', { name: 'Billing' }).click();
      await expect(page.locator('[data-test=plan-pro]')).toContainText('Current plan');
      const form = page.locator('[data-test=auto-top-up-form]');
      await form.getByLabel('Buy a pack automatically when credits run low').check();
      await form.getByRole('button', { name: 'Save auto top-up' }).click();
      await expect(form.locator('[data-test=threshold-error]')).toBeVisible();
      await settled(page);
      await audit(page, 'billing, out of credits, auto top-up form with an error');

      await page.goto(`${stackEnv.web()}/no-such-page`);
      await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
      await settled(page);
      await audit(page, 'page not found');
    });
  });
}
