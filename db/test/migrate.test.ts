import { describe, expect, it } from 'vitest';
import { listMigrations, migrate } from '../src/index.ts';
import { useTestDatabase } from '../src/testing.ts';

const db = await useTestDatabase();

describe('the migration tool', () => {
  it('records every migration as applied in the template, so applying again runs none', async () => {
    const { rows } = await db.pool.query<{ version: string }>('select version::text from hdb_catalog.schema_migrations order by version');
    expect(rows.map((r) => r.version)).toEqual(listMigrations().map((m) => m.version));
    expect(await migrate(db.url)).toEqual([]);
  });
});
