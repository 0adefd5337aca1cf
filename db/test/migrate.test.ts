import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, dropDatabase, listMigrations, MigrationChangedError, migrate, migrationsDir, pg } from '../src/index.ts';
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

  it("each migration's down.sql undoes exactly what its up.sql made, so the next up applies again", async () => {
    const adminUrl = inject('pgAdminUrl');
    const name = `${inject('pgRunPrefix')}down_${randomBytes(4).toString('hex')}`;
    const client = new pg.Client({ connectionString: await createDatabase(adminUrl, name) });
    await client.connect();
    // Every object a migration can make, outside the catalogs: schemas, relations and their
    // columns, functions with their signatures and bodies, triggers and constraints.
    const catalog = async () =>
      (
        await client.query<{ s: Record<string, string[] | null> }>(
          `select jsonb_build_object(
             'schemas', (select jsonb_agg(nspname order by nspname) from pg_namespace
                         where nspname not like 'pg\\_%' and nspname <> 'information_schema'),
             'relations', (select jsonb_agg(format('%s %s', c.relkind, c.oid::regclass) order by c.oid::regclass::text)
                           from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('public', 'ledger')),
             'columns', (select jsonb_agg(format('%s.%s %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod))
                           order by a.attrelid::regclass::text, a.attname)
                         from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
                         where n.nspname in ('public', 'ledger') and a.attnum > 0 and not a.attisdropped),
             'functions', (select jsonb_agg(format('%s %s', p.oid::regprocedure, md5(p.prosrc)) order by p.oid::regprocedure::text)
                           from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname in ('public', 'ledger')),
             'triggers', (select jsonb_agg(format('%s on %s', t.tgname, t.tgrelid::regclass) order by t.tgname)
                          from pg_trigger t where not t.tgisinternal),
             'constraints', (select jsonb_agg(format('%s on %s', c.conname, c.conrelid::regclass) order by c.conname)
                             from pg_constraint c join pg_namespace n on n.oid = c.connamespace where n.nspname in ('public', 'ledger'))
           ) as s`,
        )
      ).rows[0]!.s;
    try {
      for (const migration of listMigrations()) {
        const before = await catalog();
        await client.query(migration.upSql);
        const made = await catalog();
        const downSql = readFileSync(join(migration.dir, 'down.sql'), 'utf8');
        // A migration that only rewrites rows says so with a down.sql of comments alone, and makes
        // no object; every other one makes or changes one.
        if (downSql.replace(/--[^\n]*/g, '').trim() === '')
          expect({ migration: migration.name, catalog: made }).toEqual({ migration: migration.name, catalog: before });
        else expect(made).not.toEqual(before);
        await client.query(downSql);
        expect({ migration: migration.name, catalog: await catalog() }).toEqual({ migration: migration.name, catalog: before });
        await client.query(migration.upSql);
        expect(await catalog()).toEqual(made);
      }
    } finally {
      await client.end();
      await dropDatabase(adminUrl, name);
    }
  });
});
