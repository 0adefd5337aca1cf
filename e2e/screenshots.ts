// `pnpm --filter ./e2e screenshots`: starts the whole stack on free ports against a fresh
// database and saves a picture of every screen into docs/screenshots/ (desktop and 375 px wide).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { repoRoot } from '../db/src/index.ts';
import { freeStackPorts, startStack } from '../scripts/stack.ts';

const out = join(repoRoot, 'docs', 'screenshots');
mkdirSync(out, { recursive: true });
const dataDir = mkdtempSync(join(tmpdir(), 'org-credits-shots-pg-'));
const stack = await startStack({
  ports: await freeStackPorts(),
  dataDir,
  reset: true,
  log: () => undefined,
});
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  for (const [suffix, viewport] of [
    ['', { width: 1280, height: 860 }],
    ['-mobile', { width: 375, height: 812 }],
  ] as const) {
    const page = await browser.newPage({ viewport });
    await page.goto(`${stack.urls.web}/sign-in`);
    await page.locator('[data-test=person]').first().waitFor();
    await page.screenshot({ path: join(out, `sign-in${suffix}.png`), fullPage: true });
    await page.locator('[data-test=person]', { hasText: 'owner@acme.test' }).getByRole('button').first().click();
    await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
    for (const [name, path] of [
      ['playground', '/'],
      ['credits', '/credits'],
      ['billing', '/billing'],
    ] as const) {
      await page.goto(`${stack.urls.web}${path}`);
      await page.waitForLoadState('networkidle');
      await page.waitForTimeout(1500);
      await page.screenshot({ path: join(out, `${name}${suffix}.png`), fullPage: true });
    }
    if (!suffix) {
      await page.goto(`${stack.urls.web}/`);
      await page.locator('[data-test=balance-trigger]').click();
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(out, 'balance-widget.png') });
    }
    await page.close();
  }
  process.stdout.write(`screenshots written to ${out}\n`);
} finally {
  await browser.close();
  await stack.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
