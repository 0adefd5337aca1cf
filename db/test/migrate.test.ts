import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listMigrations, MigrationChangedError, migrate, migrationsDir } from '../src/index.ts';
import { useTestDatabase } from '../src/testing.ts';

const db = await useTestDatabase();

describe('the migration tool', () => {
  it('records every migration as applied in the template, so applying again runs none', async () => {
    const { rows } = await db.pool.query<{ version: string }>('select version::text from hdb_catalog.schema_migrations order by version');
    expect(rows.map((r) => r.version)).toEqual(listMigrations().map((m) => m.version));
    expect(await migrate(db.url)).toEqual([]);
  });

  describe('a migration edited after a database applied it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'org-credits-migrations-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const write = (folder: string, sql: string) => {
      mkdirSync(join(dir, folder), { recursive: true });
      writeFileSync(join(dir, folder, 'up.sql'), sql);
    };
    const state = async () =>
      (
        await db.pool.query<{ s: string }>(
          `select jsonb_build_object(
             'applied', (select jsonb_agg(version order by version) from hdb_catalog.schema_migrations),
             'files', (select jsonb_agg(to_jsonb(f) order by version) from hdb_catalog.org_credits_migration_files f),
             'tables', (select jsonb_agg(tablename order by tablename) from pg_tables where schemaname = 'public' and tablename like 'extra%')
           )::text as s`,
        )
      ).rows[0]!.s;

    it('stops the run with MIGRATION_CHANGED, naming it, before applying anything, and changes nothing', async () => {
      cpSync(migrationsDir, dir, { recursive: true });
      write('1900000000000_extra', 'create table public.extra_one (id int primary key);');
      expect(await migrate(db.url, () => undefined, dir)).toEqual(['1900000000000_extra']);
      expect(await migrate(db.url, () => undefined, dir)).toEqual([]);

      write('1900000000000_extra', 'create table public.extra_one (id int primary key);\ncreate table public.extra_two (id int);');
      write('1900000000001_later', 'create table public.extra_three (id int);');
      const before = await state();
      const error = await migrate(db.url, () => undefined, dir).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MigrationChangedError);
      expect(error).toMatchObject({ code: 'MIGRATION_CHANGED', migrations: ['1900000000000_extra'] });
      expect((error as Error).message).toMatch(/^MIGRATION_CHANGED: 1900000000000_extra changed after this database applied it/);
      expect(await state()).toBe(before);
      expect(JSON.parse(before).tables).toEqual(['extra_one']);
    });
  });
});
