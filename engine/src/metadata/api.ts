// The metadata API (`POST /v1/metadata`, `POST /v2/query`, legacy `POST /v1/query`): each call
// runs in one database transaction against a draft of the metadata; the draft is checked against
// the catalog after every operation and saved (with a new resource version) only when all pass.
import type pg from 'pg';
import { type Catalog, loadCatalog } from '../catalog.ts';
import { EngineError } from '../errors.ts';
import { buildModel, type Model, tableKeyOf } from '../model.ts';
import { streamingParts, unsupportedParts } from './load.ts';
import {
  type Action,
  type ComputedField,
  type CronTrigger,
  type CustomTypes,
  type EventTrigger,
  emptyMetadata,
  type FunctionEntry,
  type Metadata,
  type QualifiedName,
  qualified,
  type Relationship,
  type TableEntry,
} from './types.ts';

export interface MetadataOperation {
  type: string;
  args?: unknown;
  version?: number;
  resource_version?: number;
}

export interface MetadataContext {
  client: pg.PoolClient;
  draft: Metadata;
  catalog: Catalog;
  model: Model;
  changed: boolean;
  defaultDatabaseUrl: Metadata['sources'][number]['configuration']['connection_info']['database_url'];
}

const success = { message: 'success' };
type Args = Record<string, unknown>;

function fail(code: string, message: string, path = '$.args'): never {
  throw new EngineError(code, message, path);
}

function source(ctx: MetadataContext): Metadata['sources'][number] {
  let s = ctx.draft.sources[0];
  if (!s) {
    s = emptyMetadata(ctx.defaultDatabaseUrl).sources[0] as Metadata['sources'][number];
    ctx.draft.sources.push(s);
  }
  return s;
}

function tableName(args: Args): QualifiedName {
  const t = args.table ?? (args.name !== undefined ? { schema: args.schema ?? 'public', name: args.name } : undefined);
  if (t === undefined) fail('parse-failed', 'key "table" not found');
  return qualified(t as QualifiedName | string);
}

function findTable(ctx: MetadataContext, args: Args): TableEntry {
  const name = tableName(args);
  const entry = source(ctx).tables.find((t) => t.table.schema === name.schema && t.table.name === name.name);
  if (!entry) fail('not-exists', `table "${name.name}" does not exist`);
  return entry;
}

function functionName(args: Args): QualifiedName {
  const f = args.function ?? (args.name !== undefined ? { schema: args.schema ?? 'public', name: args.name } : undefined);
  if (f === undefined) fail('parse-failed', 'key "function" not found');
  return qualified(f as QualifiedName | string);
}

function checkSource(args: Args) {
  if (args.source !== undefined && args.source !== 'default')
    fail('not-exists', `source with name "${String(args.source)}" does not exist`);
}

const permissionKinds = ['select', 'insert', 'update', 'delete'] as const;
type PermissionKind = (typeof permissionKinds)[number];

/** Runs one operation on the draft; returns its answer. */
export async function runOperation(ctx: MetadataContext, op: MetadataOperation, path = '$'): Promise<unknown> {
  if (!op || typeof op !== 'object' || typeof op.type !== 'string') fail('parse-failed', 'key "type" not found', path);
  const type = op.type.replace(/^pg_/, '');
  // `track_table` and friends also take a bare table name as their args.
  const args = (typeof op.args === 'string' ? { table: op.args } : (op.args ?? {})) as Args;
  switch (type) {
    case 'bulk':
    case 'bulk_keep_going':
    case 'concurrent_bulk': {
      if (!Array.isArray(op.args)) fail('parse-failed', 'expected an array of operations', `${path}.args`);
      const out: unknown[] = [];
      for (const [i, inner] of (op.args as MetadataOperation[]).entries()) out.push(await runOperation(ctx, inner, `${path}.args[${i}]`));
      return out;
    }
    case 'run_sql':
      return runSql(ctx, args);
    case 'insert':
      return legacyInsert(ctx, args);
    case 'export_metadata':
      return ctx.draft;
    case 'replace_metadata': {
      const incoming = (('metadata' in args ? args.metadata : args) as Metadata) ?? emptyMetadata(ctx.defaultDatabaseUrl);
      if (incoming.version !== 3 && incoming.version !== undefined) {
        fail('not-supported', `metadata version ${String(incoming.version)} is not supported; export it as version 3`);
      }
      const parts = unsupportedParts(incoming as Metadata);
      if (parts.length) fail('not-supported', `this engine does not support: ${parts.join('; ')}`);
      ctx.draft = structuredClone({ ...incoming, version: 3, sources: incoming.sources ?? [] });
      return commitCheck(ctx, success);
    }
    case 'reload_metadata':
      ctx.catalog = await loadCatalog(ctx.client);
      return commitCheck(ctx, { ...success, is_consistent: true });
    case 'clear_metadata':
      ctx.draft = emptyMetadata(ctx.draft.sources[0]?.configuration.connection_info.database_url ?? ctx.defaultDatabaseUrl);
      return commitCheck(ctx, success);
    case 'get_inconsistent_metadata':
      return { is_consistent: true, inconsistent_objects: [] };
    case 'track_table':
    case 'add_existing_table_or_view': {
      checkSource(args);
      const name = tableName(args);
      if (!ctx.catalog.tables.has(`${name.schema}.${name.name}`))
        fail('invalid-configuration', `no such table/view exists in source: "${name.name}"`);
      if (source(ctx).tables.some((t) => t.table.schema === name.schema && t.table.name === name.name)) {
        fail('already-tracked', `view/table already tracked: "${name.name}"`);
      }
      const entry: TableEntry = { table: name };
      if (args.configuration && Object.keys(args.configuration).length)
        entry.configuration = args.configuration as TableEntry['configuration'];
      if (args.is_enum) entry.is_enum = true;
      source(ctx).tables.push(entry);
      return commitCheck(ctx, success);
    }
    case 'untrack_table': {
      const entry = findTable(ctx, args);
      const key = tableKeyOf(entry.table);
      const s = source(ctx);
      const dependents = s.tables.filter((t) => t !== entry && relationshipsTo(t, key, ctx).length > 0);
      if (dependents.length && !args.cascade) {
        fail(
          'dependency-error',
          `cannot drop due to the following dependent objects : ${dependents.map((t) => `relationship ${relationshipsTo(t, key, ctx).join(', ')} in table "${t.table.name}"`).join(', ')}`,
        );
      }
      for (const t of dependents) dropRelationships(t, relationshipsTo(t, key, ctx));
      s.tables = s.tables.filter((t) => t !== entry);
      if (s.functions) s.functions = s.functions.filter((f) => !returnsTable(ctx, f, key));
      return commitCheck(ctx, success);
    }
    case 'set_table_customization':
    case 'set_table_custom_fields': {
      const entry = findTable(ctx, args);
      if (type === 'set_table_custom_fields') {
        entry.configuration = {
          ...(args.custom_root_fields ? { custom_root_fields: args.custom_root_fields as object } : {}),
          ...(args.custom_column_names ? { custom_column_names: args.custom_column_names as Record<string, string> } : {}),
        };
      } else entry.configuration = (args.configuration as TableEntry['configuration']) ?? {};
      return commitCheck(ctx, success);
    }
    case 'create_object_relationship':
    case 'create_array_relationship': {
      const entry = findTable(ctx, args);
      const rel: Relationship = { name: String(args.name), using: args.using as Relationship['using'] };
      if (!args.name) fail('parse-failed', 'key "name" not found');
      if (!args.using || typeof args.using !== 'object') fail('parse-failed', 'key "using" not found');
      if (args.comment) rel.comment = String(args.comment);
      const exists = [...(entry.object_relationships ?? []), ...(entry.array_relationships ?? [])].some((r) => r.name === rel.name);
      if (exists || columnExists(ctx, entry, rel.name))
        fail('already-exists', `field definition conflicts with postgres column or relationship "${rel.name}"`);
      const kind = type === 'create_object_relationship' ? 'object_relationships' : 'array_relationships';
      entry[kind] = [...(entry[kind] ?? []), rel];
      return commitCheck(ctx, success);
    }
    case 'rename_relationship': {
      const entry = findTable(ctx, args);
      for (const list of [entry.object_relationships, entry.array_relationships]) {
        for (const r of list ?? []) if (r.name === args.name) r.name = String(args.new_name);
      }
      return commitCheck(ctx, success);
    }
    case 'drop_relationship': {
      const entry = findTable(ctx, args);
      const name = String(args.relationship);
      const found = [...(entry.object_relationships ?? []), ...(entry.array_relationships ?? [])].some((r) => r.name === name);
      if (!found) fail('not-exists', `relationship "${name}" does not exist`);
      dropRelationships(entry, [name]);
      return commitCheck(ctx, success);
    }
    case 'set_relationship_comment':
      return commitCheck(ctx, success);
    case 'add_computed_field': {
      const entry = findTable(ctx, args);
      const cf: ComputedField = { name: String(args.name), definition: args.definition as ComputedField['definition'] };
      if (args.comment) cf.comment = String(args.comment);
      if ((entry.computed_fields ?? []).some((c) => c.name === cf.name) || columnExists(ctx, entry, cf.name)) {
        fail('already-exists', `field definition conflicts with postgres column or relationship "${cf.name}"`);
      }
      entry.computed_fields = [...(entry.computed_fields ?? []), cf];
      return commitCheck(ctx, success);
    }
    case 'drop_computed_field': {
      const entry = findTable(ctx, args);
      const before = entry.computed_fields?.length ?? 0;
      entry.computed_fields = (entry.computed_fields ?? []).filter((c) => c.name !== args.name);
      if (entry.computed_fields.length === before) fail('not-exists', `computed field "${String(args.name)}" does not exist`);
      if (!entry.computed_fields.length) delete entry.computed_fields;
      return commitCheck(ctx, success);
    }
    case 'track_function': {
      checkSource(args);
      const name = functionName(args);
      const s = source(ctx);
      if ((s.functions ?? []).some((f) => f.function.schema === name.schema && f.function.name === name.name)) {
        fail('already-tracked', `function already tracked: "${name.name}"`);
      }
      if (!ctx.catalog.functions.has(`${name.schema}.${name.name}`)) fail('not-exists', `function "${name.name}" does not exist`);
      const entry: FunctionEntry = { function: name };
      if (args.configuration && Object.keys(args.configuration).length)
        entry.configuration = args.configuration as FunctionEntry['configuration'];
      if (args.comment) entry.comment = String(args.comment);
      s.functions = [...(s.functions ?? []), entry];
      return commitCheck(ctx, success);
    }
    case 'untrack_function': {
      const name = functionName(args);
      const s = source(ctx);
      const before = s.functions?.length ?? 0;
      s.functions = (s.functions ?? []).filter((f) => !(f.function.schema === name.schema && f.function.name === name.name));
      if (s.functions.length === before) fail('not-exists', `function "${name.name}" is not tracked`);
      if (!s.functions.length) delete s.functions;
      return commitCheck(ctx, success);
    }
    case 'create_function_permission':
    case 'drop_function_permission': {
      const name = functionName(args);
      const entry = (source(ctx).functions ?? []).find((f) => f.function.schema === name.schema && f.function.name === name.name);
      if (!entry) fail('not-exists', `function "${name.name}" is not tracked`);
      const role = String(args.role);
      if (type === 'create_function_permission') {
        if ((entry.permissions ?? []).some((p) => p.role === role))
          fail('already-exists', `permission of role "${role}" already exists for function "${name.name}"`);
        entry.permissions = [...(entry.permissions ?? []), { role }];
      } else {
        if (!(entry.permissions ?? []).some((p) => p.role === role))
          fail('not-exists', `permission of role "${role}" does not exist for function "${name.name}"`);
        entry.permissions = (entry.permissions ?? []).filter((p) => p.role !== role);
        if (!entry.permissions.length) delete entry.permissions;
      }
      return commitCheck(ctx, success);
    }
    // Actions, custom types, cron and event triggers: kept in the metadata (served by part 2 and the triggers module).
    case 'create_action':
    case 'update_action': {
      const action: Action = { name: String(args.name), definition: args.definition as Action['definition'] };
      if (args.comment) action.comment = String(args.comment);
      const others = (ctx.draft.actions ?? []).filter((a) => a.name !== action.name);
      const existing = ctx.draft.actions?.find((a) => a.name === action.name);
      if (type === 'create_action' && existing) fail('already-exists', `action with name "${action.name}" already exists`);
      if (existing?.permissions) action.permissions = existing.permissions;
      ctx.draft.actions = [...others, action];
      return commitCheck(ctx, success);
    }
    case 'drop_action':
      ctx.draft.actions = (ctx.draft.actions ?? []).filter((a) => a.name !== args.name);
      if (!ctx.draft.actions.length) delete ctx.draft.actions;
      return commitCheck(ctx, success);
    case 'create_action_permission':
    case 'drop_action_permission': {
      const action = ctx.draft.actions?.find((a) => a.name === args.action);
      if (!action) fail('not-exists', `action "${String(args.action)}" does not exist`);
      const role = String(args.role);
      action.permissions = (action.permissions ?? []).filter((p) => p.role !== role);
      if (type === 'create_action_permission') action.permissions.push({ role });
      if (!action.permissions.length) delete action.permissions;
      return commitCheck(ctx, success);
    }
    case 'set_custom_types':
      ctx.draft.custom_types = args as CustomTypes;
      return commitCheck(ctx, success);
    case 'create_cron_trigger': {
      const trigger = args as unknown as CronTrigger;
      const existing = ctx.draft.cron_triggers?.some((t) => t.name === trigger.name);
      if (existing && !args.replace) fail('already-exists', `cron trigger with name: ${trigger.name} already exists`);
      const { replace: _replace, ...rest } = args;
      ctx.draft.cron_triggers = [...(ctx.draft.cron_triggers ?? []).filter((t) => t.name !== trigger.name), rest as unknown as CronTrigger];
      return commitCheck(ctx, success);
    }
    case 'delete_cron_trigger':
      ctx.draft.cron_triggers = (ctx.draft.cron_triggers ?? []).filter((t) => t.name !== args.name);
      if (!ctx.draft.cron_triggers.length) delete ctx.draft.cron_triggers;
      return commitCheck(ctx, success);
    case 'create_event_trigger': {
      const entry = findTable(ctx, args);
      // The API takes insert / update / delete / enable_manual at the top level; the metadata keeps them under `definition`.
      const { table: _t, source: _s, replace, insert, update, delete: del, enable_manual, retry_conf, ...rest } = args;
      const definition: EventTrigger['definition'] = { enable_manual: enable_manual === true };
      if (insert !== undefined) definition.insert = insert as EventTrigger['definition']['insert'];
      if (update !== undefined) definition.update = update as EventTrigger['definition']['update'];
      if (del !== undefined) definition.delete = del as EventTrigger['definition']['delete'];
      const trigger = {
        ...(rest as unknown as Omit<EventTrigger, 'definition' | 'retry_conf'>),
        definition,
        retry_conf: { num_retries: 0, interval_sec: 10, timeout_sec: 60, ...(retry_conf as object | undefined) },
      } as EventTrigger;
      if (!replace && entry.event_triggers?.some((t) => t.name === trigger.name))
        fail('already-exists', `event trigger with name "${trigger.name}" already exists`);
      entry.event_triggers = [...(entry.event_triggers ?? []).filter((t) => t.name !== trigger.name), trigger];
      return commitCheck(ctx, success);
    }
    case 'delete_event_trigger':
      for (const t of source(ctx).tables) {
        if (t.event_triggers) {
          t.event_triggers = t.event_triggers.filter((e) => e.name !== args.name);
          if (!t.event_triggers.length) delete t.event_triggers;
        }
      }
      return commitCheck(ctx, success);
    default: {
      const perm = /^(create|drop)_(select|insert|update|delete)_permission$/.exec(type);
      if (perm) return permissionOperation(ctx, perm[1] as 'create' | 'drop', perm[2] as PermissionKind, args);
      fail('not-supported', `metadata command "${op.type}" is not supported by this engine`, path);
    }
  }
}

function permissionOperation(ctx: MetadataContext, action: 'create' | 'drop', kind: PermissionKind, args: Args) {
  const entry = findTable(ctx, args);
  const role = String(args.role);
  const key = `${kind}_permissions` as const;
  const list = (entry[key] ?? []) as { role: string; permission: unknown; comment?: string }[];
  if (action === 'create') {
    if (role === 'admin') fail('constraint-violation', 'admin role is not allowed for this operation');
    if (list.some((p) => p.role === role))
      fail('already-exists', `'${kind}' permission on "${entry.table.name}" for role "${role}" already exists`);
    const permission = (args.permission ?? {}) as Record<string, unknown>;
    const item: { role: string; permission: unknown; comment?: string } = { role, permission };
    if (args.comment) item.comment = String(args.comment);
    (entry as unknown as Record<string, unknown>)[key] = [...list, item];
  } else {
    if (!list.some((p) => p.role === role))
      fail('not-exists', `'${kind}' permission on "${entry.table.name}" for role "${role}" does not exist`);
    const rest = list.filter((p) => p.role !== role);
    if (rest.length) (entry as unknown as Record<string, unknown>)[key] = rest;
    else delete entry[key];
  }
  return commitCheck(ctx, success);
}

function columnExists(ctx: MetadataContext, entry: TableEntry, name: string): boolean {
  const t = ctx.catalog.tables.get(tableKeyOf(entry.table));
  return !!t?.columns.some((c) => c.name === name);
}

function relationshipsTo(t: TableEntry, key: string, ctx: MetadataContext): string[] {
  const info = ctx.model.tablesByKey.get(tableKeyOf(t.table));
  if (!info) return [];
  return [...info.objectRelationships.values(), ...info.arrayRelationships.values()]
    .filter((r) => tableKeyOf(r.target.entry.table) === key)
    .map((r) => r.name);
}

function dropRelationships(t: TableEntry, names: string[]) {
  for (const k of ['object_relationships', 'array_relationships'] as const) {
    const rest = (t[k] ?? []).filter((r) => !names.includes(r.name));
    if (rest.length) t[k] = rest;
    else delete t[k];
  }
}

function returnsTable(ctx: MetadataContext, f: FunctionEntry, key: string): boolean {
  const fn = ctx.catalog.functions.get(`${f.function.schema}.${f.function.name}`);
  return !!fn && `${fn.returnSchema}.${fn.returnType}` === key;
}

/** Rebuilds the model from the draft; an inconsistency fails the operation (and so the request). */
function commitCheck<T>(ctx: MetadataContext, answer: T): T {
  const streaming = streamingParts(ctx.draft);
  if (streaming.length) fail('not-supported', streaming.join('; '), '$.args');
  try {
    ctx.model = buildModel(ctx.draft, ctx.catalog);
  } catch (error) {
    if (error instanceof EngineError) throw new EngineError(error.code, error.message, '$.args', error.status, error.internal);
    throw error;
  }
  ctx.changed = true;
  return answer;
}

/** Drops from the draft every object whose table, column or function no longer exists (after run_sql). */
function purgeDropped(ctx: MetadataContext) {
  const s = ctx.draft.sources[0];
  if (!s) return;
  s.tables = s.tables.filter((t) => ctx.catalog.tables.has(tableKeyOf(t.table)));
  const tracked = new Set(s.tables.map((t) => tableKeyOf(t.table)));
  for (const t of s.tables) {
    for (const k of ['object_relationships', 'array_relationships'] as const) {
      if (!t[k]) continue;
      t[k] = t[k].filter((r) => {
        const m = r.using.manual_configuration;
        const fk = r.using.foreign_key_constraint_on;
        if (m) return tracked.has(tableKeyOf(m.remote_table));
        if (fk && typeof fk === 'object' && 'table' in fk && fk.table) return tracked.has(tableKeyOf(fk.table));
        return true;
      });
      if (!t[k].length) delete t[k];
    }
    if (t.computed_fields) {
      t.computed_fields = t.computed_fields.filter((c) => {
        const q = qualified(c.definition.function);
        return ctx.catalog.functions.has(`${q.schema}.${q.name}`);
      });
      if (!t.computed_fields.length) delete t.computed_fields;
    }
  }
  if (s.functions) {
    s.functions = s.functions.filter((f) => ctx.catalog.functions.has(`${f.function.schema}.${f.function.name}`));
    if (!s.functions.length) delete s.functions;
  }
}

async function runSql(ctx: MetadataContext, args: Args): Promise<unknown> {
  checkSource(args);
  if (typeof args.sql !== 'string') fail('parse-failed', 'key "sql" not found');
  await ctx.client.query('savepoint run_sql');
  let results: pg.QueryResult | pg.QueryResult[];
  try {
    results = await ctx.client.query({
      text: args.sql,
      rowMode: 'array',
      types: { getTypeParser: () => (v: string) => v },
    } as pg.QueryConfig);
  } catch (error) {
    await ctx.client.query('rollback to savepoint run_sql');
    const e = error as { code?: string; message: string; detail?: string; hint?: string };
    throw new EngineError('postgres-error', 'query execution failed', '$', 400, {
      arguments: [],
      error: { exec_status: 'FatalError', hint: e.hint ?? null, message: e.message, status_code: e.code, description: e.detail ?? null },
      prepared: false,
      statement: args.sql,
    });
  }
  const list = Array.isArray(results) ? results : [results];
  const last = list[list.length - 1];
  if (args.check_metadata_consistency !== false && !args.read_only) {
    const before = JSON.stringify(ctx.draft);
    ctx.catalog = await loadCatalog(ctx.client);
    purgeDropped(ctx);
    try {
      ctx.model = buildModel(ctx.draft, ctx.catalog);
    } catch (error) {
      await ctx.client.query('rollback to savepoint run_sql');
      ctx.draft = JSON.parse(before) as Metadata;
      ctx.catalog = await loadCatalog(ctx.client);
      const e = error as EngineError;
      throw new EngineError('dependency-error', `cannot drop or alter objects the metadata depends on: ${e.message}`, '$');
    }
    if (JSON.stringify(ctx.draft) !== before) ctx.changed = true;
    ctx.changed = true;
  }
  if (last?.fields && last.fields.length > 0) {
    return { result_type: 'TuplesOk', result: [last.fields.map((f: pg.FieldDef) => f.name), ...(last.rows as unknown as unknown[][])] };
  }
  return { result_type: 'CommandOk', result: null };
}

/** The legacy `/v1/query` `insert` (older fixtures seed data with it): rows as JSON, cast per column. */
async function legacyInsert(ctx: MetadataContext, args: Args): Promise<unknown> {
  const name = tableName(args);
  const table = ctx.catalog.tables.get(`${name.schema}.${name.name}`);
  if (!table) fail('not-exists', `table "${name.name}" does not exist`);
  const objects = (Array.isArray(args.objects) ? args.objects : []) as Record<string, unknown>[];
  if (!objects.length) return { affected_rows: 0 };
  const cols = [...new Set(objects.flatMap((o) => Object.keys(o)))];
  const params: unknown[] = [];
  const rows = objects.map(
    (o) =>
      `(${cols
        .map((c) => {
          const col = table.columns.find((x) => x.name === c);
          if (!col) fail('not-exists', `column "${c}" does not exist`);
          if (!(c in o)) return 'DEFAULT';
          const v = o[c];
          const json = col.type === 'json' || col.type === 'jsonb';
          params.push(
            v === null ? null : json || (typeof v === 'object' && !Array.isArray(v)) ? JSON.stringify(v) : Array.isArray(v) ? v : String(v),
          );
          return `$${params.length}::${col.sqlType}`;
        })
        .join(', ')})`,
  );
  const q = (n: string) => `"${n.replaceAll('"', '""')}"`;
  const sql = `INSERT INTO ${q(table.schema)}.${q(table.name)} (${cols.map(q).join(', ')}) VALUES ${rows.join(', ')}`;
  try {
    const result = await ctx.client.query(sql, params);
    return { affected_rows: result.rowCount ?? 0 };
  } catch (error) {
    const e = error as { message: string };
    throw new EngineError('postgres-error', e.message, '$.args');
  }
}
