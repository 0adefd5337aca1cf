// The metadata directory is what `hasura metadata apply` reads: it must be in the CLI's config v3
// layout and, once loaded, be metadata that Hasura's own schema accepts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { defaultSource, loadMetadata, metadataDir, readYamlWithIncludes } from './load-metadata.ts';
import { compileMetadataSchema, describeErrors } from './openapi.ts';

const metadata = loadMetadata();
const validators = compileMetadataSchema('MetadataV3');
const clone = <T>(value: T): T => structuredClone(value);

describe('the metadata directory', () => {
  it('has every file that `hasura metadata export` writes for config v3', () => {
    const expected = [
      'version.yaml',
      'actions.graphql',
      'actions.yaml',
      'allow_list.yaml',
      'api_limits.yaml',
      'backend_configs.yaml',
      'cron_triggers.yaml',
      'graphql_schema_introspection.yaml',
      'inherited_roles.yaml',
      'network.yaml',
      'opentelemetry.yaml',
      'query_collections.yaml',
      'remote_schemas.yaml',
      'rest_endpoints.yaml',
      'databases/databases.yaml',
      'databases/default/tables/tables.yaml',
      'databases/default/functions/functions.yaml',
    ];
    expect(expected.filter((file) => !existsSync(join(metadataDir, file)))).toEqual([]);
  });

  it('includes each table from its own file public_<table>.yaml, and every such file is included', () => {
    const dir = join(metadataDir, 'databases', 'default', 'tables');
    const listed = parseYaml(readFileSync(join(dir, 'tables.yaml'), 'utf8')) as string[];
    const included = listed.map((entry) => entry.replace(/^!include /, ''));
    const files = readdirSync(dir).filter((f) => f !== 'tables.yaml');
    expect(included.sort()).toEqual(files.sort());
    for (const file of files) {
      const table = readYamlWithIncludes(join(dir, file)) as { table: { schema: string; name: string } };
      expect(file).toBe(`${table.table.schema}_${table.table.name}.yaml`);
    }
  });

  it('reads the database URL of the default source from HASURA_GRAPHQL_DATABASE_URL, never a literal', () => {
    const source = defaultSource(metadata);
    expect(source.kind).toBe('postgres');
    expect((source.configuration as { connection_info: { database_url: unknown } }).connection_info.database_url).toEqual({
      from_env: 'HASURA_GRAPHQL_DATABASE_URL',
    });
  });
});

describe("Hasura's metadata schema (metadata.openapi.json, MetadataV3)", () => {
  it('accepts the metadata', () => {
    const ok = validators.open(metadata);
    expect(describeErrors(validators.open.errors)).toBe('');
    expect(ok).toBe(true);
  });

  it('knows every key the metadata uses (no misspelt key silently ignored)', () => {
    const ok = validators.closed(metadata);
    expect(describeErrors(validators.closed.errors)).toBe('');
    expect(ok).toBe(true);
  });

  it('rejects a select permission without its filter', () => {
    const broken = clone(metadata);
    const perm = defaultSource(broken).tables.find((t) => t.select_permissions?.length)!.select_permissions![0]!;
    delete (perm.permission as { filter?: unknown }).filter;
    expect(validators.open(broken)).toBe(false);
  });

  it('rejects an action whose definition has no handler', () => {
    const broken = clone(metadata);
    delete (broken.actions![0]!.definition as { handler?: string }).handler;
    expect(validators.open(broken)).toBe(false);
  });

  it('rejects, in its closed form, a misspelt permission key', () => {
    const broken = clone(metadata);
    const perm = defaultSource(broken).tables.find((t) => t.select_permissions?.length)!.select_permissions![0]!;
    (perm.permission as Record<string, unknown>).filters = {};
    expect(validators.open(broken)).toBe(true);
    expect(validators.closed(broken)).toBe(false);
  });
});
