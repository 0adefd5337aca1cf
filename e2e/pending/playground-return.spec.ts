// PENDING — outside testDir (journeys/), so it does not run. Blocked by a bug in web/, not e2e.
//
// Coming back to the playground by an in-app link (Playground → Credits → Playground) shows an
// empty quality list and a disabled Run button: no capability is selected. In
// web/src/components/ai/AiPlayground.vue the capability is chosen by
// `watch(capabilities, (list) => { if (!capability.value) capability.value = ... })`, which is not
// `immediate`; on the second mount the capabilities come from Apollo's cache at once, the watcher
// never fires, `capability` stays null and useQualityLevels has no levels to show. A full page
// load works (the data arrives after mount), which is why the committed journeys load `/` with
// page.goto. Fix: `{ immediate: true }` on that watcher (and on the `levels` one). Move this file
// to journeys/ once fixed.
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
