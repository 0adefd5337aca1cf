// Reads hasura/metadata (the Hasura CLI's config v3 directory) into the JSON that Hasura's
// `export_metadata` answers: `!include`s resolved, actions.graphql merged into the actions and
// custom types of actions.yaml, empty sections left out. The tests check this object.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  type FieldDefinitionNode,
  type InputValueDefinitionNode,
  Kind,
  type ObjectTypeDefinitionNode,
  type ObjectTypeExtensionNode,
  parse,
  print,
} from 'graphql';
import { parse as parseYaml, type Tags } from 'yaml';

export const hasuraDir = resolve(import.meta.dirname, '..');
export const metadataDir = join(hasuraDir, 'metadata');

/** A boolean expression of a permission, as written in the metadata. */
export type BoolExp = { [key: string]: unknown };

export interface TableName {
  schema: string;
  name: string;
}

export interface Relationship {
  name: string;
  comment?: string;
  using: {
    foreign_key_constraint_on?: string | string[] | { table: TableName; column?: string; columns?: string[] };
    manual_configuration?: { remote_table: TableName; column_mapping: Record<string, string> };
  };
}

export interface SelectPermission {
  role: string;
  comment?: string;
  permission: { columns: string[] | '*'; filter: BoolExp; limit?: number; allow_aggregations?: boolean; computed_fields?: string[] };
}

export interface InsertPermission {
  role: string;
  comment?: string;
  permission: { columns: string[] | '*'; check: BoolExp; set?: Record<string, unknown>; backend_only?: boolean };
}

export interface UpdatePermission {
  role: string;
  comment?: string;
  permission: { columns: string[] | '*'; filter: BoolExp; check?: BoolExp; set?: Record<string, unknown> };
}

export interface DeletePermission {
  role: string;
  comment?: string;
  permission: { filter: BoolExp };
}

export interface HeaderConf {
  name: string;
  value?: string;
  value_from_env?: string;
}

export interface EventTrigger {
  name: string;
  definition: { enable_manual?: boolean; insert?: { columns: '*' | string[] }; update?: { columns: '*' | string[] }; delete?: unknown };
  retry_conf: { num_retries: number; interval_sec: number; timeout_sec?: number };
  webhook?: string;
  headers?: HeaderConf[];
}

export interface TableMetadata {
  table: TableName;
  configuration?: { comment?: string; custom_name?: string };
  object_relationships?: Relationship[];
  array_relationships?: Relationship[];
  insert_permissions?: InsertPermission[];
  select_permissions?: SelectPermission[];
  update_permissions?: UpdatePermission[];
  delete_permissions?: DeletePermission[];
  event_triggers?: EventTrigger[];
}

export interface FunctionMetadata {
  function: { schema: string; name: string };
  configuration?: { exposed_as?: 'query' | 'mutation'; session_argument?: string; custom_name?: string };
  permissions?: { role: string }[];
  comment?: string;
}

export interface SourceMetadata {
  name: string;
  kind: string;
  configuration: unknown;
  tables: TableMetadata[];
  functions?: FunctionMetadata[];
}

export interface ActionArgument {
  name: string;
  type: string;
  description?: string;
}

export interface ActionMetadata {
  name: string;
  comment?: string;
  definition: {
    type: 'query' | 'mutation';
    kind?: 'synchronous' | 'asynchronous';
    handler: string;
    arguments: ActionArgument[];
    output_type: string;
    headers?: HeaderConf[];
    forward_client_headers?: boolean;
    timeout?: number;
  };
  permissions?: { role: string; comment?: string }[];
}

export interface ObjectTypeRelationship {
  name: string;
  type: 'object' | 'array';
  source?: string;
  remote_table: TableName;
  field_mapping: Record<string, string>;
}

export interface CustomTypes {
  enums?: { name: string; values: { value: string; description?: string }[]; description?: string }[];
  input_objects?: { name: string; fields: ActionArgument[]; description?: string }[];
  objects?: { name: string; fields: ActionArgument[]; description?: string; relationships?: ObjectTypeRelationship[] }[];
  scalars?: { name: string; description?: string }[];
}

export interface CronTrigger {
  name: string;
  webhook: string;
  schedule: string;
  include_in_metadata: boolean;
  payload?: unknown;
  headers?: HeaderConf[];
  retry_conf?: Record<string, number>;
  comment?: string;
}

export interface Metadata {
  version: 3;
  sources: SourceMetadata[];
  actions?: ActionMetadata[];
  custom_types?: CustomTypes;
  cron_triggers?: CronTrigger[];
  allowlist?: unknown[];
  query_collections?: unknown[];
  remote_schemas?: unknown[];
  rest_endpoints?: unknown[];
  inherited_roles?: unknown[];
  api_limits?: Record<string, unknown>;
  network?: Record<string, unknown>;
  backend_configs?: Record<string, unknown>;
  opentelemetry?: Record<string, unknown>;
  graphql_schema_introspection?: { disabled_for_roles: string[] };
}

const INCLUDE = '!include ';

/**
 * Reads one YAML file, replacing every `!include path` — written either as the YAML tag
 * (`!include public_x.yaml`) or, as the Hasura CLI writes it, as the string `"!include public_x.yaml"` —
 * by the parsed content of that file, relative to the including file.
 */
export function readYamlWithIncludes(file: string): unknown {
  const here = dirname(file);
  const includeTag: Tags[number] = {
    tag: '!include',
    resolve: (value: string) => ({ [INCLUDE]: value }),
  };
  const parsed = parseYaml(readFileSync(file, 'utf8'), { customTags: [includeTag] }) as unknown;
  const expand = (value: unknown): unknown => {
    if (typeof value === 'string' && value.startsWith(INCLUDE)) return readYamlWithIncludes(join(here, value.slice(INCLUDE.length).trim()));
    if (Array.isArray(value)) return value.map(expand);
    if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      if (entries.length === 1 && entries[0]![0] === INCLUDE) return expand(`${INCLUDE}${String(entries[0]![1])}`);
      return Object.fromEntries(entries.map(([k, v]) => [k, expand(v)]));
    }
    return value;
  };
  return expand(parsed);
}

function fieldsOf(nodes: readonly (FieldDefinitionNode | InputValueDefinitionNode)[] | undefined): ActionArgument[] {
  return (nodes ?? []).map((node) => ({
    name: node.name.value,
    type: print(node.type),
    ...(node.description ? { description: node.description.value } : {}),
  }));
}

/** The actions and custom types: actions.yaml completed by the definitions in actions.graphql. */
export function loadActions(dir = metadataDir): { actions: ActionMetadata[]; custom_types: CustomTypes } {
  const yaml = readYamlWithIncludes(join(dir, 'actions.yaml')) as {
    actions?: (Omit<ActionMetadata, 'definition'> & { definition: Partial<ActionMetadata['definition']> })[];
    custom_types?: CustomTypes;
  };
  const document = parse(readFileSync(join(dir, 'actions.graphql'), 'utf8'));
  const rootFields = new Map<string, { type: 'query' | 'mutation'; field: FieldDefinitionNode }>();
  const objects = new Map<string, ObjectTypeDefinitionNode | ObjectTypeExtensionNode>();
  const inputs = new Map<string, InputValueDefinitionNode[]>();
  const scalars: string[] = [];
  const enums = new Map<string, string[]>();
  for (const def of document.definitions) {
    if (def.kind === Kind.OBJECT_TYPE_DEFINITION || def.kind === Kind.OBJECT_TYPE_EXTENSION) {
      const name = def.name.value;
      if (name === 'Query' || name === 'Mutation') {
        for (const field of def.fields ?? []) {
          if (rootFields.has(field.name.value)) throw new Error(`actions.graphql defines the action ${field.name.value} twice`);
          rootFields.set(field.name.value, { type: name === 'Query' ? 'query' : 'mutation', field });
        }
      } else {
        if (objects.has(name)) throw new Error(`actions.graphql defines the type ${name} twice`);
        objects.set(name, def);
      }
    } else if (def.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION) {
      inputs.set(def.name.value, [...(def.fields ?? [])]);
    } else if (def.kind === Kind.SCALAR_TYPE_DEFINITION) {
      scalars.push(def.name.value);
    } else if (def.kind === Kind.ENUM_TYPE_DEFINITION) {
      enums.set(
        def.name.value,
        (def.values ?? []).map((v) => v.name.value),
      );
    } else {
      throw new Error(`actions.graphql: unsupported definition ${def.kind}`);
    }
  }

  const actions: ActionMetadata[] = (yaml.actions ?? []).map((action) => {
    const root = rootFields.get(action.name);
    if (!root) throw new Error(`actions.yaml lists ${action.name}, which actions.graphql does not define`);
    if (action.definition.type && action.definition.type !== root.type) {
      throw new Error(`actions.yaml says ${action.name} is a ${action.definition.type}; actions.graphql has it under ${root.type}`);
    }
    const definition = {
      ...action.definition,
      type: root.type,
      arguments: fieldsOf(root.field.arguments),
      output_type: print(root.field.type),
    } as ActionMetadata['definition'];
    if (root.type === 'mutation') definition.kind ??= 'synchronous';
    return { ...action, definition };
  });
  for (const name of rootFields.keys()) {
    if (!actions.some((a) => a.name === name)) throw new Error(`actions.graphql defines ${name}, which actions.yaml does not list`);
  }

  const declared = yaml.custom_types ?? {};
  const declaredObject = new Map((declared.objects ?? []).map((o) => [o.name, o]));
  const declaredInput = new Map((declared.input_objects ?? []).map((o) => [o.name, o]));
  for (const name of declaredObject.keys())
    if (!objects.has(name)) throw new Error(`actions.yaml declares the type ${name}; actions.graphql lacks it`);
  for (const name of declaredInput.keys())
    if (!inputs.has(name)) throw new Error(`actions.yaml declares the input ${name}; actions.graphql lacks it`);
  const custom_types: CustomTypes = {
    enums: [...enums].map(([name, values]) => ({ name, values: values.map((value) => ({ value })) })),
    input_objects: [...inputs].map(([name, fields]) => ({ name, fields: fieldsOf(fields) })),
    objects: [...objects].map(([name, def]) => {
      const relationships = declaredObject.get(name)?.relationships;
      return { name, fields: fieldsOf(def.fields), ...(relationships?.length ? { relationships } : {}) };
    }),
    scalars: scalars.map((name) => ({ name })),
  };
  return { actions, custom_types };
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') {
    const entries = Object.entries(value as object);
    return entries.every(([, v]) => Array.isArray(v) && v.length === 0) || entries.length === 0;
  }
  return false;
}

/** The whole metadata directory as `export_metadata` would answer it. */
export function loadMetadata(dir = metadataDir): Metadata {
  const read = (file: string) => readYamlWithIncludes(join(dir, file));
  const version = (read('version.yaml') as { version: number }).version;
  if (version !== 3) throw new Error(`metadata/version.yaml: expected version 3, found ${version}`);
  const sources = read(join('databases', 'databases.yaml')) as SourceMetadata[];
  const { actions, custom_types } = loadActions(dir);
  const sections: Omit<Metadata, 'version' | 'sources'> = {
    actions,
    custom_types,
    cron_triggers: read('cron_triggers.yaml') as CronTrigger[],
    allowlist: read('allow_list.yaml') as unknown[],
    query_collections: read('query_collections.yaml') as unknown[],
    remote_schemas: read('remote_schemas.yaml') as unknown[],
    rest_endpoints: read('rest_endpoints.yaml') as unknown[],
    inherited_roles: read('inherited_roles.yaml') as unknown[],
    api_limits: read('api_limits.yaml') as Record<string, unknown>,
    network: read('network.yaml') as Record<string, unknown>,
    backend_configs: read('backend_configs.yaml') as Record<string, unknown>,
    opentelemetry: read('opentelemetry.yaml') as Record<string, unknown>,
    graphql_schema_introspection: read('graphql_schema_introspection.yaml') as { disabled_for_roles: string[] },
  };
  const metadata: Metadata = { version: 3, sources };
  for (const [key, value] of Object.entries(sections)) {
    if (!isEmpty(value)) (metadata as unknown as Record<string, unknown>)[key] = value;
  }
  return metadata;
}

/** The one Postgres source, `default`. */
export function defaultSource(metadata: Metadata): SourceMetadata {
  const source = metadata.sources.find((s) => s.name === 'default');
  if (!source) throw new Error('metadata has no source named default');
  return source;
}
