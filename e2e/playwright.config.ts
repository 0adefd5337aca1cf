// Journeys in Debian's Chromium (CHROMIUM_PATH, else /usr/bin/chromium) against the whole stack,
// which the global setup starts on free ports with a fresh database.
import { defineConfig } from '@playwright/test';

const reportFile = process.env.ORG_CREDITS_TEST_REPORT;

export default defineConfig({
  testDir: './journeys',
  globalSetup: './global-setup.ts',
  // One stack, shared: journeys use their own orgs or restore what they change.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  outputDir: './test-results',
  reporter: reportFile ? [['list'], ['json', { outputFile: reportFile }]] : [['list']],
  use: {
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    viewport: { width: 1280, height: 860 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
