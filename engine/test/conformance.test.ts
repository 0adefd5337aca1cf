// Hasura's own fixtures (shared/hasura-reference/tests-py) against the engine, in admin-secret and
// JWT mode, as the conformance runner does. Fails on any failure not listed, with its reason, in
// conformance/expected-failures.ts, and on a listed one that passes.

import { existsSync } from 'node:fs';
import { createDatabase, dropDatabase } from '@org-credits/db';
import { describe, expect, inject, it } from 'vitest';
import { formatFolder, listFolders, newDatabaseName, referenceRoot, runFolder } from '../conformance/runner.ts';

const adminUrl = inject('pgAdminUrl');
const createDb = async () => {
  const name = newDatabaseName();
  const url = await createDatabase(adminUrl, name);
  return { url, drop: () => dropDatabase(adminUrl, name) };
};

describe('Hasura conformance fixtures', () => {
  it('finds Hasura’s fixtures (a missing copy fails rather than skipping the conformance run)', () => {
    expect(existsSync(referenceRoot), `no fixtures at ${referenceRoot}`).toBe(true);
  });
  if (!existsSync(referenceRoot)) return;
  for (const mode of ['admin-secret', 'jwt'] as const) {
    for (const folder of listFolders()) {
      it(`${folder} (${mode}) answers as Hasura does`, async () => {
        const outcome = await runFolder(folder, { mode, createDatabase: createDb });
        const bad = outcome.tests.filter((t) => t.status === 'failed' || t.status === 'unexpected-pass');
        expect(bad, formatFolder(outcome)).toEqual([]);
        for (const t of outcome.tests.filter((x) => x.status === 'skipped')) expect(t.reason).toMatch(/^(out of scope|missing setup)/);
      });
    }
  }
});
