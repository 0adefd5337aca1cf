// A copy of hasura/metadata without its cron triggers, for the tests that start an engine on the
// project's metadata and are not about the jobs.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { metadataDir } from './load-metadata.ts';

/**
 * Copies hasura/metadata into a temporary directory with an empty `cron_triggers.yaml`; answers the
 * directory, which the caller removes. The engine schedules cron runs at the machine's time, every
 * minute for `expire_reservations`, and sends them to ACTIONS_BASE_URL. Under an api whose clock is
 * fixed, a run at the machine's time expires the holds a test has just taken; under a test's own
 * handler it is a call the test did not make; under any api it changes rows a test compares before
 * and after. The jobs have their own tests, which pass the scheduled time.
 */
export function copyMetadataWithoutCron(): string {
  const dir = mkdtempSync(join(tmpdir(), 'org-credits-metadata-'));
  cpSync(metadataDir, dir, { recursive: true });
  writeFileSync(join(dir, 'cron_triggers.yaml'), '[]\n');
  return dir;
}

/**
 * {@link copyMetadataWithoutCron}, removed after the test file. Call it at the file's top level or in
 * a `beforeAll`: an `afterAll` registered inside a test never runs.
 */
export function metadataWithoutCron(): string {
  const dir = copyMetadataWithoutCron();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
