// Checks metadata against Hasura's own metadata OpenAPI schema (`metadata.openapi.json`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { sharedDir } from '../shared-dir.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export const defaultOpenApiPath = (): string => join(sharedDir(), 'hasura-reference', 'metadata.openapi.json');

/** A validator for metadata version 3; errors are returned as readable lines. */
export function metadataValidator(openApiPath = defaultOpenApiPath()): (metadata: unknown) => string[] {
  const spec = JSON.parse(readFileSync(openApiPath, 'utf8')) as { components: { schemas: Record<string, unknown> } };
  const ajv = new Ajv({ strict: false, allErrors: true, discriminator: false });
  addFormats(ajv);
  const validate: ValidateFunction = ajv.compile({
    $ref: '#/components/schemas/MetadataV3',
    components: toJsonSchema(spec.components) as object,
  });
  return (metadata) => {
    if (validate(metadata)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  };
}

/** OpenAPI 3.0's `nullable: true` becomes JSON Schema's "or null". */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const { nullable, ...rest } = node as Record<string, unknown>;
  const converted = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, k === 'properties' ? mapValues(v) : toJsonSchema(v)]));
  return nullable === true ? { anyOf: [converted, { type: 'null' }] } : converted;
}

function mapValues(props: unknown): unknown {
  if (!props || typeof props !== 'object') return props;
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, toJsonSchema(v)]));
}
