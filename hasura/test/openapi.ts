// Hasura's own schema of the metadata (shared/hasura-reference/metadata.openapi.json), compiled
// with Ajv. OpenAPI 3.0 schemas are JSON Schema plus `nullable`, which Ajv knows.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { hasuraDir } from './load-metadata.ts';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = addFormatsPlugin as unknown as typeof addFormatsPlugin.default;

/**
 * Where the schema is: HASURA_METADATA_OPENAPI, else the workplace's shared reference folder beside
 * the repository or at its fixed place (a clean clone elsewhere on this machine still finds it).
 */
export const openApiPath = [
  process.env.HASURA_METADATA_OPENAPI,
  resolve(hasuraDir, '..', '..', 'shared', 'hasura-reference', 'metadata.openapi.json'),
  '/work/shared/hasura-reference/metadata.openapi.json',
].find((path): path is string => path !== undefined && existsSync(path));

type Schema = { [key: string]: unknown };

function loadComponents(): Record<string, Schema> {
  if (!openApiPath) throw new Error('metadata.openapi.json not found: set HASURA_METADATA_OPENAPI to its path');
  const spec = JSON.parse(readFileSync(openApiPath, 'utf8')) as { components: { schemas: Record<string, Schema> } };
  return spec.components.schemas;
}

/**
 * The same schemas with every object that lists its `properties` and says nothing about others
 * closed (`additionalProperties: false`): Hasura ignores many unknown keys, so a misspelt key
 * (`filters:` for `filter:`) would pass the open schema and silently do nothing.
 */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] =
      key === 'properties'
        ? Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, closeObjects(v)]))
        : closeObjects(value);
  }
  if ('properties' in out && !('additionalProperties' in out)) out.additionalProperties = false;
  return out;
}

/**
 * OpenAPI 3.0's `nullable` means "or null". Ajv accepts it only beside `type`; where the schema has
 * it without one (next to a `$ref` or `anyOf`), say the same thing in plain JSON Schema.
 */
function normalizeNullable(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(normalizeNullable);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] =
      key === 'properties'
        ? Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, normalizeNullable(v)]))
        : normalizeNullable(value);
  }
  if (out.nullable === true && !('type' in out)) {
    const { nullable: _nullable, ...rest } = out;
    return { anyOf: [{ type: 'null' }, rest] };
  }
  return out;
}

export interface MetadataValidators {
  /** Hasura's schema as published. */
  open: ValidateFunction;
  /** The same, with no keys beyond those the schema names. */
  closed: ValidateFunction;
}

export function compileMetadataSchema(name = 'MetadataV3'): MetadataValidators {
  const schemas = normalizeNullable(loadComponents()) as Record<string, Schema>;
  if (!schemas[name]) throw new Error(`${openApiPath} has no component schema ${name}`);
  const compile = (components: Record<string, Schema>) => {
    const ajv = new Ajv({ strict: false, allErrors: true, discriminator: false });
    addFormats(ajv);
    return ajv.compile({ $ref: `#/components/schemas/${name}`, components: { schemas: components } });
  };
  return { open: compile(schemas), closed: compile(closeObjects(schemas) as Record<string, Schema>) };
}

/** Ajv's errors, one line each, at most `max`. */
export function describeErrors(errors: ErrorObject[] | null | undefined, max = 20): string {
  return (errors ?? [])
    .slice(0, max)
    .map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
    .join('\n');
}
