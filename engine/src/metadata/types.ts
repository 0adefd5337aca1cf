// The metadata model: the JSON that Hasura v2's `export_metadata` returns (metadata version 3).
// The engine loads the CLI's metadata directory into this shape, stores it in
// `hdb_catalog.hdb_metadata` and serves GraphQL from it. Parts the engine does not serve itself
// (actions, cron and event triggers) are still kept here faithfully so that export/replace
// round-trips them and part 2 (and the triggers module) can read them.

export interface QualifiedName {
  schema: string;
  name: string;
}

/** A boolean expression as written in permissions (`{ "id": { "_eq": "X-Hasura-User-Id" } }`). */
export type BoolExp = Record<string, unknown>;

export type FromEnv = { from_env: string };
export type UrlValue = string | FromEnv;

export interface PoolSettings {
  max_connections?: number;
  total_max_connections?: number;
  idle_timeout?: number;
  retries?: number;
  pool_timeout?: number;
  connection_lifetime?: number;
}

export interface PgConnectionInfo {
  database_url: UrlValue | { connection_parameters: Record<string, unknown> };
  pool_settings?: PoolSettings;
  isolation_level?: 'read-committed' | 'repeatable-read' | 'serializable';
  use_prepared_statements?: boolean;
}

export interface PgSourceConfiguration {
  connection_info: PgConnectionInfo;
  read_replicas?: unknown[];
  extensions_schema?: string;
}

export interface CustomRootFields {
  select?: string | null;
  select_by_pk?: string | null;
  select_aggregate?: string | null;
  select_stream?: string | null;
  insert?: string | null;
  insert_one?: string | null;
  update?: string | null;
  update_by_pk?: string | null;
  update_many?: string | null;
  delete?: string | null;
  delete_by_pk?: string | null;
}

export interface ColumnConfig {
  custom_name?: string;
  comment?: string;
}

export interface TableConfiguration {
  custom_name?: string;
  custom_root_fields?: CustomRootFields;
  custom_column_names?: Record<string, string>;
  column_config?: Record<string, ColumnConfig>;
  comment?: string;
}

export type ForeignKeyConstraintOn =
  | string
  | string[]
  | { column: string; table?: QualifiedName | string }
  | { columns: string[]; table?: QualifiedName | string };

export interface ManualRelationshipConfiguration {
  remote_table: QualifiedName | string;
  column_mapping: Record<string, string>;
  insertion_order?: 'before_parent' | 'after_parent' | null;
}

export interface RelationshipUsing {
  foreign_key_constraint_on?: ForeignKeyConstraintOn;
  manual_configuration?: ManualRelationshipConfiguration;
}

export interface Relationship {
  name: string;
  using: RelationshipUsing;
  comment?: string;
}

export interface ComputedField {
  name: string;
  definition: {
    function: QualifiedName | string;
    table_argument?: string;
    session_argument?: string;
  };
  comment?: string;
}

export interface SelectPermission {
  columns: string[] | '*';
  filter?: BoolExp;
  limit?: number;
  allow_aggregations?: boolean;
  computed_fields?: string[];
  query_root_fields?: string[];
  subscription_root_fields?: string[];
}

export interface InsertPermission {
  check?: BoolExp;
  set?: Record<string, unknown>;
  columns?: string[] | '*';
  backend_only?: boolean;
  validate_input?: unknown;
}

export interface UpdatePermission {
  columns: string[] | '*';
  filter?: BoolExp;
  check?: BoolExp | null;
  set?: Record<string, unknown>;
  backend_only?: boolean;
  validate_input?: unknown;
}

export interface DeletePermission {
  filter?: BoolExp;
  backend_only?: boolean;
  validate_input?: unknown;
}

export interface PermissionEntry<P> {
  role: string;
  permission: P;
  comment?: string;
}

export interface EventTrigger {
  name: string;
  definition: {
    enable_manual?: boolean;
    insert?: { columns: '*' | string[] };
    update?: { columns: '*' | string[] };
    delete?: { columns: '*' | string[] };
  };
  retry_conf: { num_retries: number; interval_sec: number; timeout_sec?: number };
  webhook?: string;
  webhook_from_env?: string;
  headers?: HeaderConf[];
  request_transform?: unknown;
  response_transform?: unknown;
  cleanup_config?: unknown;
}

export interface HeaderConf {
  name: string;
  value?: string;
  value_from_env?: string;
}

export interface TableEntry {
  table: QualifiedName;
  is_enum?: boolean;
  configuration?: TableConfiguration;
  object_relationships?: Relationship[];
  array_relationships?: Relationship[];
  computed_fields?: ComputedField[];
  remote_relationships?: unknown[];
  select_permissions?: PermissionEntry<SelectPermission>[];
  insert_permissions?: PermissionEntry<InsertPermission>[];
  update_permissions?: PermissionEntry<UpdatePermission>[];
  delete_permissions?: PermissionEntry<DeletePermission>[];
  event_triggers?: EventTrigger[];
  apollo_federation_config?: unknown;
}

export interface FunctionConfiguration {
  custom_name?: string;
  custom_root_fields?: { function?: string; function_aggregate?: string };
  session_argument?: string;
  exposed_as?: 'query' | 'mutation';
  response?: unknown;
}

export interface FunctionEntry {
  function: QualifiedName;
  configuration?: FunctionConfiguration;
  permissions?: { role: string; comment?: string }[];
  comment?: string;
}

export interface Source {
  name: string;
  kind: string;
  tables: TableEntry[];
  functions?: FunctionEntry[];
  configuration: PgSourceConfiguration;
  customization?: unknown;
  query_tags?: unknown;
  health_check?: unknown;
  logical_models?: unknown[];
  native_queries?: unknown[];
  stored_procedures?: unknown[];
}

export interface ActionDefinition {
  handler: string;
  output_type?: string;
  arguments?: { name: string; type: string; description?: string }[];
  type?: 'query' | 'mutation';
  kind?: 'synchronous' | 'asynchronous';
  headers?: HeaderConf[];
  forward_client_headers?: boolean;
  timeout?: number;
  request_transform?: unknown;
  response_transform?: unknown;
}

export interface Action {
  name: string;
  definition: ActionDefinition;
  comment?: string;
  permissions?: { role: string; comment?: string }[];
}

export interface CustomTypeField {
  name: string;
  type: string;
  description?: string;
  arguments?: unknown;
}

export interface CustomTypes {
  input_objects?: { name: string; description?: string; fields: CustomTypeField[] }[];
  objects?: {
    name: string;
    description?: string;
    fields: CustomTypeField[];
    relationships?: {
      name: string;
      type: 'object' | 'array';
      source?: string;
      remote_table: QualifiedName | string;
      field_mapping: Record<string, string>;
    }[];
  }[];
  scalars?: { name: string; description?: string }[];
  enums?: { name: string; description?: string; values: { value: string; description?: string; is_deprecated?: boolean }[] }[];
}

export interface CronTrigger {
  name: string;
  webhook: string;
  schedule: string;
  payload?: unknown;
  include_in_metadata: boolean;
  headers?: HeaderConf[];
  retry_conf?: {
    num_retries?: number;
    retry_interval_seconds?: number;
    timeout_seconds?: number;
    tolerance_seconds?: number;
  };
  comment?: string;
  request_transform?: unknown;
  response_transform?: unknown;
}

export interface Metadata {
  version: 3;
  sources: Source[];
  actions?: Action[];
  custom_types?: CustomTypes;
  cron_triggers?: CronTrigger[];
  remote_schemas?: unknown[];
  query_collections?: unknown[];
  allowlist?: unknown[];
  rest_endpoints?: unknown[];
  inherited_roles?: unknown[];
  api_limits?: unknown;
  network?: unknown;
  backend_configs?: unknown;
  opentelemetry?: unknown;
  graphql_schema_introspection?: unknown;
  metrics_config?: unknown;
}

/** The metadata of an empty engine, as `clear_metadata` leaves it (one `default` source). */
export function emptyMetadata(databaseUrl: PgConnectionInfo['database_url'] = { from_env: 'HASURA_GRAPHQL_DATABASE_URL' }): Metadata {
  return {
    version: 3,
    sources: [
      {
        name: 'default',
        kind: 'postgres',
        tables: [],
        configuration: {
          connection_info: { database_url: databaseUrl, isolation_level: 'read-committed', use_prepared_statements: false },
        },
      },
    ],
  };
}

/** `{schema,name}` from the string or object forms metadata accepts (a bare string is in `public`). */
export function qualified(value: QualifiedName | string): QualifiedName {
  return typeof value === 'string' ? { schema: 'public', name: value } : { schema: value.schema ?? 'public', name: value.name };
}
