// Reads a Hasura CLI metadata directory (config v3 layout) into the metadata model, the same JSON
// that `export_metadata` returns. `!include` tags are resolved relative to the including file.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type FieldDefinitionNode, type InputValueDefinitionNode, Kind, parse, type TypeNode } from 'graphql';
import YAML from 'yaml';
import type { Action, CustomTypes, Metadata, Source } from './types.ts';

function readYaml(file: string): unknown {
  const base = dirname(file);
  const include = {
    tag: '!include',
    resolve: (value: string) => readYaml(join(base, value)),
  };
  return resolveIncludes(YAML.parse(readFileSync(file, 'utf8'), { customTags: [include] }), base);
}

/** The CLI writes includes as strings (`tables: "!include default/tables/tables.yaml"`): resolve those too. */
function resolveIncludes(value: unknown, base: string): unknown {
  if (typeof value === 'string') {
    const m = /^!include\s+(.+)$/.exec(value.trim());
    return m ? readYaml(join(base, m[1] as string)) : value;
  }
  if (Array.isArray(value)) return value.map((v) => resolveIncludes(v, base));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveIncludes(v, base)]));
  }
  return value;
}

function optionalYaml(dir: string, name: string): unknown {
  const file = join(dir, name);
  return existsSync(file) ? readYaml(file) : undefined;
}

const typeString = (t: TypeNode): string =>
  t.kind === Kind.NON_NULL_TYPE ? `${typeString(t.type)}!` : t.kind === Kind.LIST_TYPE ? `[${typeString(t.type)}]` : t.name.value;

/** An object's or an input object's fields as the metadata's custom_types list them. */
const fieldsOf = (fields: readonly (FieldDefinitionNode | InputValueDefinitionNode)[] | undefined) =>
  (fields ?? []).map((f) => ({
    name: f.name.value,
    type: typeString(f.type),
    ...(f.description ? { description: f.description.value } : {}),
  }));

/**
 * `actions.graphql` (the SDL the CLI writes) merged with `actions.yaml` (handlers, permissions,
 * custom type relationships) into `actions` and `custom_types`.
 */
export function parseActions(sdl: string, yamlValue: { actions?: Action[]; custom_types?: CustomTypes } | undefined) {
  const actions: Action[] = [];
  const custom: CustomTypes = { enums: [], input_objects: [], objects: [], scalars: [] };
  const byName = new Map((yamlValue?.actions ?? []).map((a) => [a.name, a]));
  const yamlObjects = new Map((yamlValue?.custom_types?.objects ?? []).map((o) => [o.name, o]));
  if (sdl.trim()) {
    for (const def of parse(sdl).definitions) {
      if (
        (def.kind === Kind.OBJECT_TYPE_EXTENSION || def.kind === Kind.OBJECT_TYPE_DEFINITION) &&
        ['Query', 'Mutation'].includes(def.name.value)
      ) {
        for (const field of def.fields ?? []) {
          const meta = byName.get(field.name.value);
          if (!meta) throw new Error(`actions.graphql defines "${field.name.value}" but actions.yaml has no entry for it`);
          const definition = {
            ...meta.definition,
            type: def.name.value === 'Query' ? ('query' as const) : ('mutation' as const),
            output_type: typeString(field.type),
            arguments: (field.arguments ?? []).map((a) => ({
              name: a.name.value,
              type: typeString(a.type),
              ...(a.description ? { description: a.description.value } : {}),
            })),
          };
          if (definition.type === 'query') delete (definition as { kind?: string }).kind;
          actions.push({ ...meta, ...(field.description ? { comment: field.description.value } : {}), definition });
        }
      } else if (def.kind === Kind.OBJECT_TYPE_DEFINITION) {
        const rels = yamlObjects.get(def.name.value)?.relationships;
        custom.objects?.push({
          name: def.name.value,
          ...(def.description ? { description: def.description.value } : {}),
          fields: fieldsOf(def.fields),
          ...(rels ? { relationships: rels } : {}),
        });
      } else if (def.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION) {
        custom.input_objects?.push({
          name: def.name.value,
          ...(def.description ? { description: def.description.value } : {}),
          fields: fieldsOf(def.fields),
        });
      } else if (def.kind === Kind.SCALAR_TYPE_DEFINITION) {
        custom.scalars?.push({ name: def.name.value, ...(def.description ? { description: def.description.value } : {}) });
      } else if (def.kind === Kind.ENUM_TYPE_DEFINITION) {
        custom.enums?.push({
          name: def.name.value,
          values: (def.values ?? []).map((v) => ({ value: v.name.value, ...(v.description ? { description: v.description.value } : {}) })),
        });
      } else {
        throw new Error(`actions.graphql: unsupported definition ${def.kind}`);
      }
    }
  }
  for (const name of byName.keys()) {
    if (!actions.some((a) => a.name === name)) throw new Error(`actions.yaml has "${name}" but actions.graphql does not define it`);
  }
  return { actions, custom_types: custom };
}

const nonEmpty = (value: unknown): boolean => {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.values(value).some(nonEmpty);
  return true;
};

/** Loads the metadata directory. */
export function loadMetadataDir(dir: string): Metadata {
  if (!existsSync(dir)) throw new Error(`metadata directory ${dir} does not exist`);
  const version = optionalYaml(dir, 'version.yaml') as { version?: number } | undefined;
  if (version && version.version !== 3)
    throw new Error(`metadata directory ${dir}: only config v3 (version: 3) is supported, found ${version.version}`);
  const sources = (optionalYaml(join(dir, 'databases'), 'databases.yaml') as Source[] | undefined) ?? [];
  for (const s of sources) {
    s.tables = (s.tables as unknown as Source['tables'] | null) ?? [];
    if (s.functions === null) delete s.functions;
  }
  const metadata: Metadata = { version: 3, sources };
  const actionsSdl = existsSync(join(dir, 'actions.graphql')) ? readFileSync(join(dir, 'actions.graphql'), 'utf8') : '';
  const actionsYaml = optionalYaml(dir, 'actions.yaml') as { actions?: Action[]; custom_types?: CustomTypes } | undefined;
  if (actionsSdl.trim() || nonEmpty(actionsYaml?.actions)) {
    const parsed = parseActions(actionsSdl, actionsYaml);
    if (parsed.actions.length) metadata.actions = parsed.actions;
    const ct = parsed.custom_types;
    const trimmed: CustomTypes = {};
    for (const k of ['enums', 'input_objects', 'objects', 'scalars'] as const)
      if (ct[k]?.length) (trimmed as Record<string, unknown>)[k] = ct[k];
    if (Object.keys(trimmed).length) metadata.custom_types = trimmed;
  }
  const optional: [keyof Metadata, string][] = [
    ['cron_triggers', 'cron_triggers.yaml'],
    ['remote_schemas', 'remote_schemas.yaml'],
    ['query_collections', 'query_collections.yaml'],
    ['allowlist', 'allow_list.yaml'],
    ['rest_endpoints', 'rest_endpoints.yaml'],
    ['inherited_roles', 'inherited_roles.yaml'],
    ['api_limits', 'api_limits.yaml'],
    ['network', 'network.yaml'],
    ['backend_configs', 'backend_configs.yaml'],
    ['opentelemetry', 'opentelemetry.yaml'],
    ['graphql_schema_introspection', 'graphql_schema_introspection.yaml'],
    ['metrics_config', 'metrics_config.yaml'],
  ];
  for (const [k, file] of optional) {
    const value = optionalYaml(dir, file);
    if (nonEmpty(value)) (metadata as unknown as Record<string, unknown>)[k] = value;
  }
  return metadata;
}

/** Metadata parts this engine does not serve: start-up and metadata calls fail naming them. */
export function unsupportedParts(metadata: Metadata): string[] {
  const out: string[] = [];
  const named = (k: string, v: unknown) => {
    if (nonEmpty(v)) out.push(k);
  };
  named('remote_schemas', metadata.remote_schemas);
  named('query_collections', metadata.query_collections);
  named('allowlist', metadata.allowlist);
  named('rest_endpoints', metadata.rest_endpoints);
  named('inherited_roles', metadata.inherited_roles);
  named('api_limits', metadata.api_limits);
  named('network', metadata.network);
  named('backend_configs', metadata.backend_configs);
  named('opentelemetry', metadata.opentelemetry);
  // Introspection turned off for some roles: this engine would still answer it, so it refuses.
  const introspection = metadata.graphql_schema_introspection as { disabled_for_roles?: unknown[] } | undefined;
  if (introspection?.disabled_for_roles?.length) out.push('graphql_schema_introspection (disabled_for_roles)');
  if (metadata.sources.length > 1)
    out.push(
      `sources other than the first (${metadata.sources
        .slice(1)
        .map((s) => s.name)
        .join(', ')})`,
    );
  for (const s of metadata.sources) {
    if (s.kind !== 'postgres') out.push(`source "${s.name}" of kind ${s.kind} (only postgres)`);
    if (nonEmpty(s.customization)) out.push(`source "${s.name}" customization`);
    if (nonEmpty(s.logical_models) || nonEmpty(s.native_queries) || nonEmpty(s.stored_procedures))
      out.push(`source "${s.name}" native queries / logical models`);
    for (const t of s.tables) {
      if (nonEmpty(t.remote_relationships)) out.push(`remote relationships on table "${t.table.name}"`);
      if (t.is_enum) out.push(`enum table "${t.table.name}" (is_enum)`);
      if (t.apollo_federation_config) out.push(`apollo_federation_config on table "${t.table.name}"`);
    }
  }
  out.push(...streamingParts(metadata));
  return out;
}

/**
 * Streaming subscriptions (`<table>_stream`): this engine serves live queries only, so `select_stream`
 * in a table's custom_root_fields or a select permission's subscription_root_fields is refused.
 */
export function streamingParts(metadata: Metadata): string[] {
  const out: string[] = [];
  for (const s of metadata.sources ?? []) {
    for (const t of s.tables ?? []) {
      const custom = t.configuration?.custom_root_fields as Record<string, unknown> | undefined;
      if (custom && 'select_stream' in custom)
        out.push(`streaming subscriptions (custom_root_fields.select_stream on table "${t.table.name}") are not supported by this engine`);
      for (const p of t.select_permissions ?? []) {
        if (p.permission?.subscription_root_fields?.includes('select_stream'))
          out.push(
            `streaming subscriptions ("select_stream" in subscription_root_fields of role "${p.role}" on table "${t.table.name}") are not supported by this engine`,
          );
      }
    }
  }
  return out;
}
