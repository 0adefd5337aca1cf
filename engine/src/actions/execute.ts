// Running an action root field as Hasura v2 does: the arguments checked against their types, one
// POST to the handler with Hasura's payload, the answer checked against the output type, then the
// selection (including relationships to tracked tables, with the role's select permissions) built
// from it. Handler errors become Hasura's GraphQL errors.
import type { IncomingHttpHeaders } from 'node:http';
import { Kind, type TypeNode, type ValueNode } from 'graphql';
import type pg from 'pg';
import type { Session } from '../auth.ts';
import { duringExecution, EngineError, validation } from '../errors.ts';
import type { CompileOptions, Compiler, Getter, MergedField } from '../graphql/compile.ts';
import { describe, FloatLiteral, intValue } from '../graphql/values.ts';
import { httpCall, parseUrl } from '../http-call.ts';
import { quoteIdent } from '../model.ts';
import {
  type ActionCatalog,
  type ActionInfo,
  type ActionRelationship,
  baseName,
  builtinScalars,
  type OutputObject,
  printType,
} from './catalog.ts';
import { type Json, JsonSyntaxError, jsonKind, parseExact, plain, RawNumber, stringifyExact } from './json.ts';

/** A handler's 4xx error: its `message` and `extensions` reach the client as they are. */
export class ActionHandlerError extends EngineError {
  constructor(
    message: string,
    readonly extensions: Record<string, Json>,
  ) {
    super(String(extensions.code ?? 'unexpected'), message);
  }
  toJson(): string {
    return stringifyExact({ message: this.message, extensions: this.extensions });
  }
}

export interface ActionRequest {
  catalog: ActionCatalog;
  compiler: Compiler;
  options: CompileOptions;
  session: Session;
  headers: Record<string, string | string[] | undefined>;
  requestQuery: string;
  env: NodeJS.ProcessEnv;
  pool: pg.Pool;
  cookies: string[];
}

const INTEGER = /^-?\d+$/;

/** Hasura's `{{ENV}}` templates in a handler URL. */
export function resolveTemplate(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_m, name: string) => {
    const value = env[name];
    if (value === undefined)
      throw new EngineError('not-exists', `the environment variable "${name}" (used by an action handler) is not set`);
    return value;
  });
}

// ---- arguments ----

function coerceInput(r: ActionRequest, node: ValueNode | undefined, js: unknown, fromVar: boolean, type: TypeNode, path: string): Json {
  if (!fromVar && node?.kind === Kind.VARIABLE) {
    const value = r.compiler.vars[node.name.value];
    return coerceInput(r, undefined, value === undefined ? null : value, true, type, path);
  }
  const isNullValue = fromVar ? js === null || js === undefined : node === undefined || node.kind === Kind.NULL;
  if (type.kind === Kind.NON_NULL_TYPE) {
    if (isNullValue) throw validation(`expected a value of type ${printType(type)} but found null`, path);
    return coerceInput(r, node, js, fromVar, type.type, path);
  }
  if (isNullValue) return null;
  if (type.kind === Kind.LIST_TYPE) {
    if (fromVar) return (Array.isArray(js) ? js : [js]).map((v, i) => coerceInput(r, undefined, v, true, type.type, `${path}[${i}]`));
    if (node?.kind === Kind.LIST) return node.values.map((v, i) => coerceInput(r, v, undefined, false, type.type, `${path}[${i}]`));
    return [coerceInput(r, node, undefined, false, type.type, path)];
  }
  const name = type.name.value;
  const input = r.catalog.inputs.get(name);
  if (input) {
    const out: Record<string, Json> = {};
    const given = new Map<string, { node?: ValueNode; js?: unknown }>();
    if (fromVar) {
      if (typeof js !== 'object' || Array.isArray(js)) throw validation(`expected an object for type "${name}"`, path);
      for (const [k, v] of Object.entries(js as Record<string, unknown>)) given.set(k, { js: v });
    } else {
      if (node?.kind !== Kind.OBJECT) throw validation(`expected an object for type "${name}", but found ${node?.kind}`, path);
      for (const f of node.fields) given.set(f.name.value, { node: f.value });
    }
    for (const k of given.keys()) if (!input.fields.has(k)) throw validation(`field "${k}" not found in type: '${name}'`, `${path}.${k}`);
    for (const [k, def] of input.fields) {
      const g = given.get(k);
      if (!g) {
        if (def.type.kind === Kind.NON_NULL_TYPE) throw validation(`missing required field "${k}"`, path);
        continue;
      }
      out[k] = g.node
        ? coerceInput(r, g.node, undefined, false, def.type, `${path}.${k}`)
        : coerceInput(r, undefined, g.js, true, def.type, `${path}.${k}`);
    }
    return out;
  }
  const value: Json = fromVar ? fromPlain(js) : literal(r, node as ValueNode);
  return checkScalarInput(r, name, value, path);
}

function fromPlain(v: unknown): Json {
  if (v instanceof RawNumber) return v;
  if (typeof v === 'number') return new RawNumber(String(v));
  if (Array.isArray(v)) return v.map(fromPlain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromPlain(x)]));
  return v as Json;
}

function literal(r: ActionRequest, node: ValueNode): Json {
  switch (node.kind) {
    case Kind.INT:
      return new RawNumber(node.value);
    case Kind.FLOAT:
      return new FloatLiteral(node.value);
    case Kind.STRING:
    case Kind.ENUM:
      return node.value;
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((v) => literal(r, v));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literal(r, f.value)]));
    case Kind.VARIABLE:
      return fromPlain(r.compiler.vars[node.name.value] ?? null);
  }
}

/** The value as Hasura's scalar parser for the type reads it (an Int as the Int32 it denotes), or a validation error. */
function checkScalarInput(r: ActionRequest, name: string, value: Json, path: string): Json {
  const bad = (expected: string) => {
    throw validation(`expected ${expected} for type "${name}", but found ${describe(value)}`, path);
  };
  switch (name) {
    case 'Int':
      return new RawNumber(String(intValue(value, path)));
    case 'Float':
      if (!(value instanceof RawNumber)) bad('a float');
      return value;
    case 'String':
      if (typeof value !== 'string') bad('a string');
      return value;
    case 'Boolean':
      if (typeof value !== 'boolean') bad('a boolean');
      return value;
    case 'ID':
      if (typeof value !== 'string' && !(value instanceof RawNumber && INTEGER.test(value.text))) bad('a String or an Int');
      return value;
  }
  const e = r.catalog.enums.get(name);
  if (e && (typeof value !== 'string' || !e.values.includes(value)))
    throw validation(
      `expected one of the values ${JSON.stringify(e.values)} for type "${name}", but found ${JSON.stringify(plain(value))}`,
      path,
    );
  return value;
}

// ---- selection (checked before the handler is called) ----

interface Sel {
  alias: string;
  kind: 'typename' | 'value' | 'relationship';
  name: string;
  type?: TypeNode;
  typename?: string;
  sub?: Level;
  field?: MergedField;
  /** `<array relationship>_aggregate`. */
  aggregate?: boolean;
}

/** The selection of one object type, and the statement of its relationship fields (if any). */
interface Level {
  sels: Sel[];
  rel?: { sql: string; params: Getter[] };
}

function selection(r: ActionRequest, type: TypeNode, f: MergedField): Level | undefined {
  const name = baseName(type);
  const object = r.catalog.objects.get(name);
  const hasSub = f.nodes.some((n) => n.selectionSet);
  if (!object) {
    if (hasSub) throw validation('unexpected subselection set for non-object field', f.path);
    return undefined;
  }
  if (!hasSub) throw validation(`missing selection set for "${f.name}"`, f.path);
  const sels: Sel[] = [];
  for (const part of r.compiler.collect(r.compiler.subSelection(f, name), name, f.path)) {
    if (part.name === '__typename') {
      sels.push({ alias: part.alias, kind: 'typename', name: part.name, typename: name });
      continue;
    }
    const field = object.fields.get(part.name);
    if (field) {
      r.compiler.args(part, [], part.path);
      const sub = selection(r, field.type, part);
      sels.push({ alias: part.alias, kind: 'value', name: part.name, type: field.type, ...(sub ? { sub } : {}) });
      continue;
    }
    const rel = object.relationships.get(part.name);
    if (rel && (r.options.isAdmin || rel.target.select.has(r.options.role))) {
      sels.push({ alias: part.alias, kind: 'relationship', name: part.name, field: part });
      continue;
    }
    const aggRel = part.name.endsWith('_aggregate') ? object.relationships.get(part.name.slice(0, -'_aggregate'.length)) : undefined;
    if (aggRel?.type === 'array' && (r.options.isAdmin || aggRel.target.select.get(r.options.role)?.allow_aggregations)) {
      sels.push({ alias: part.alias, kind: 'relationship', name: aggRel.name, field: part, aggregate: true });
      continue;
    }
    throw validation(`field "${part.name}" not found in type: '${name}'`, part.path);
  }
  const rel = relationshipSql(r, object, sels);
  return rel ? { sels, rel } : { sels };
}

// ---- the handler call ----

interface HandlerAnswer {
  status: number;
  body: string;
  headers: { name: string; value: string }[];
}

const ignoredResponseHeaders = new Set(['server', 'date', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);
const notForwarded = new Set([
  'content-length',
  'content-md5',
  'user-agent',
  'host',
  'origin',
  'referer',
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-datetime',
  'cache-control',
  'connection',
  'dnt',
  'content-type',
]);

/** The handler's answer, without the headers Hasura leaves out of what it shows. */
async function callHandler(url: string, headers: Record<string, string>, body: string, timeoutSeconds: number): Promise<HandlerAnswer> {
  const answer = await httpCall(parseUrl(url), headers, body, { timeoutMs: timeoutSeconds * 1000 });
  const list: { name: string; value: string }[] = [];
  for (let i = 0; i < answer.rawHeaders.length; i += 2) {
    const name = answer.rawHeaders[i] as string;
    if (!ignoredResponseHeaders.has(name.toLowerCase())) list.push({ name, value: answer.rawHeaders[i + 1] as string });
  }
  return { status: answer.status, body: answer.body, headers: list };
}

function outgoingHeaders(r: ActionRequest, info: ActionInfo): { send: Record<string, string>; shown: { name: string; value: string }[] } {
  const send: Record<string, string> = {};
  const shown: { name: string; value: string }[] = [];
  if (info.action.definition.forward_client_headers) {
    for (const [name, value] of Object.entries(r.headers as IncomingHttpHeaders)) {
      if (value === undefined || notForwarded.has(name)) continue;
      send[name] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  for (const h of info.action.definition.headers ?? []) {
    let value: string;
    if ('value_from_env' in h && h.value_from_env) {
      const v = r.env[h.value_from_env];
      if (v === undefined)
        throw new EngineError(
          'not-exists',
          `the environment variable "${h.value_from_env}" (header "${h.name}" of action "${info.action.name}") is not set`,
        );
      value = v;
    } else value = String((h as { value?: string }).value ?? '');
    send[h.name] = value;
    shown.push({ name: h.name, value });
  }
  send['content-type'] = 'application/json';
  return { send, shown };
}

// ---- the answer ----

type Fail = (message: string, code?: string) => never;

function checkOutput(r: ActionRequest, type: TypeNode, value: Json | undefined, fail: Fail, failMissing: Fail, top: boolean): void {
  if (type.kind === Kind.NON_NULL_TYPE) {
    if (value === null || value === undefined) {
      const inner = type.type;
      if (top && inner.kind === Kind.NAMED_TYPE && r.catalog.objects.has(inner.name.value))
        fail('expecting object for action webhook response but got null');
      fail('got null for the action webhook response');
    }
    checkOutput(r, type.type, value, fail, failMissing, top);
    return;
  }
  if (value === null || value === undefined) return;
  if (type.kind === Kind.LIST_TYPE) {
    if (!Array.isArray(value)) fail('expecting array for the action webhook response');
    for (const item of value as Json[]) checkOutput(r, type.type, item, fail, failMissing, false);
    return;
  }
  const name = type.name.value;
  const object = r.catalog.objects.get(name);
  if (object) {
    if (Array.isArray(value)) fail('expecting object for action webhook response but got array');
    if (typeof value !== 'object' || value instanceof RawNumber)
      fail(`got scalar ${jsonKind(value)} for the action webhook response, expecting ${name}`);
    const obj = value as Record<string, Json>;
    for (const [field, def] of object.fields) {
      const v = obj[field];
      if (def.type.kind === Kind.NON_NULL_TYPE) {
        if (!(field in obj)) failMissing(`field "${field}" expected in webhook response, but not found`);
        if (v === null) fail(`expecting not null value for field "${field}"`);
      }
      if (v !== undefined && v !== null) checkOutput(r, def.type, v, fail, failMissing, false);
    }
    return;
  }
  if (Array.isArray(value)) fail(`got array for the action webhook response, expecting ${name}`);
  if (typeof value === 'object' && !(value instanceof RawNumber)) {
    if (builtinScalars.has(name) || r.catalog.enums.has(name))
      fail('got object for the action webhook response, might want to check the action return type defined!');
    return;
  }
  const kind = jsonKind(value);
  const ok =
    name === 'Int'
      ? value instanceof RawNumber && INTEGER.test(value.text)
      : name === 'Float'
        ? value instanceof RawNumber
        : name === 'String'
          ? typeof value === 'string'
          : name === 'Boolean'
            ? typeof value === 'boolean'
            : name === 'ID'
              ? typeof value === 'string' || (value instanceof RawNumber && INTEGER.test(value.text))
              : r.catalog.enums.has(name)
                ? typeof value === 'string' && (r.catalog.enums.get(name)?.values ?? []).includes(value)
                : true;
  if (!ok) fail(`got scalar ${kind} for the action webhook response, expecting ${name}`);
}

/** Objects of the answer that have relationship fields selected, per selection level. */
function gather(value: Json | undefined, type: TypeNode, level: Level | undefined, sites: Map<Level, Record<string, Json>[]>) {
  if (value === null || value === undefined || !level) return;
  if (type.kind === Kind.NON_NULL_TYPE) return gather(value, type.type, level, sites);
  if (type.kind === Kind.LIST_TYPE) {
    for (const v of value as Json[]) gather(v, type.type, level, sites);
    return;
  }
  const obj = value as Record<string, Json>;
  if (level.rel) {
    const list = sites.get(level) ?? [];
    list.push(obj);
    sites.set(level, list);
  }
  for (const s of level.sels) if (s.kind === 'value' && s.sub) gather(obj[s.name], s.type as TypeNode, s.sub, sites);
}

/** The selected fields. Fields missing from the answer are null at the top level and left out below it, as Hasura answers. */
function project(value: Json, type: TypeNode, level: Level | undefined, rels: Map<object, Record<string, Json>>, top = true): Json {
  if (value === null || value === undefined) return null;
  if (type.kind === Kind.NON_NULL_TYPE) return project(value, type.type, level, rels, top);
  if (type.kind === Kind.LIST_TYPE) return (value as Json[]).map((v) => project(v, type.type, level, rels, top));
  if (!level) return value;
  const obj = value as Record<string, Json>;
  const out: Record<string, Json> = {};
  for (const s of level.sels) {
    if (s.kind === 'typename') out[s.alias] = s.typename as string;
    else if (s.kind === 'value') {
      if (!top && obj[s.name] === undefined) continue;
      out[s.alias] = project(obj[s.name] ?? null, s.type as TypeNode, s.sub, rels, false);
    } else out[s.alias] = rels.get(obj)?.[s.alias] ?? null;
  }
  return out;
}

/** One statement for the relationship fields of every object of one selection level. */
function relationshipSql(r: ActionRequest, object: OutputObject, sels: Sel[]): { sql: string; params: Getter[] } | null {
  const rels = sels.filter((s) => s.kind === 'relationship');
  if (!rels.length) return null;
  const c = r.compiler;
  c.resetParams();
  c.params.push((ctx) => ctx.prev);
  const src = '_act';
  const columns = new Map<string, string>();
  const pairs: string[] = [];
  for (const s of rels) {
    const rel = object.relationships.get(s.name) as ActionRelationship;
    for (const [field, col] of rel.mapping) columns.set(field, col.castType);
    const f = s.field as MergedField;
    let expr: string;
    const mapping = rel.mapping.map(([field, col]): [string, string] => [field, col.name]);
    if (s.aggregate) {
      expr = c.selectAggregate(rel.target, f, f.path, { joinFrom: src, mapping });
    } else if (rel.type === 'object') {
      const extra = f.nodes[0]?.arguments?.[0];
      if (extra) throw validation(`"${f.name}" has no argument named "${extra.name.value}"`, f.path);
      const a = c.alias();
      const join = rel.mapping.map(([field, col]) => `${src}.${quoteIdent(field)} = ${a}.${quoteIdent(col.name)}`).join(' AND ');
      expr = `(SELECT ${c.rowJson(rel.target, a, c.subSelection(f, rel.target.name), f.path)} FROM ${rel.target.sql} AS ${a} WHERE ${join} AND ${c.permFilter(rel.target, a)} LIMIT 1)`;
    } else {
      expr = c.selectList(rel.target, f, f.path, { joinFrom: src, mapping });
    }
    pairs.push(`${c.constParam(s.alias, 'text')}, ${expr}`);
  }
  const cols = [...columns].map(([field, cast]) => `(_r.value->>${c.constParam(field, 'text')})::${cast} AS ${quoteIdent(field)}`);
  const sql =
    `SELECT coalesce(json_agg(json_build_object(${pairs.join(', ')}) ORDER BY ${src}."__i"), '[]'::json)::text AS root ` +
    `FROM (SELECT _r.ordinality AS "__i"${cols.length ? `, ${cols.join(', ')}` : ''} FROM json_array_elements($1::json) WITH ORDINALITY AS _r) AS ${src}`;
  return { sql, params: c.params };
}

/** Runs one action root field; returns its JSON text. */
export async function executeAction(r: ActionRequest, info: ActionInfo, f: MergedField): Promise<string> {
  const path = f.path;
  // 1. arguments and selection, before anything is sent
  const argNodes = new Map((f.nodes[0]?.arguments ?? []).map((a) => [a.name.value, a.value]));
  for (const k of argNodes.keys())
    if (!info.args.some((a) => a.name === k)) throw validation(`"${f.name}" has no argument named "${k}"`, path);
  const input: Record<string, Json> = {};
  for (const arg of info.args) {
    const node = argNodes.get(arg.name);
    if (!node) {
      if (arg.type.kind === Kind.NON_NULL_TYPE) throw validation(`missing required field "${arg.name}"`, `${path}.args`);
      continue;
    }
    input[arg.name] = coerceInput(r, node, undefined, false, arg.type, `${path}.args.${arg.name}`);
  }
  const before = new Set(r.compiler.sessionVariables);
  const level = selection(r, info.output, f);
  for (const name of r.compiler.sessionVariables)
    if (!before.has(name) && r.session.variables[name] === undefined)
      throw new EngineError('not-found', `missing session variable: "${name}"`);
  return duringExecution(callAction(r, info, input, level));
}

/** Steps 2 and 3 of executeAction: what fails from here on fails while the operation runs. */
async function callAction(r: ActionRequest, info: ActionInfo, input: Record<string, Json>, level: Level | undefined): Promise<string> {
  // 2. the handler
  const d = info.action.definition;
  const url = resolveTemplate(d.handler, r.env);
  const { send, shown } = outgoingHeaders(r, info);
  const payload = { action: { name: info.action.name }, input, session_variables: r.session.variables, request_query: r.requestQuery };
  const body = stringifyExact(payload);
  // Only error answers show the request and the response; built when one is needed.
  const requestInfo = () => ({ body: plain(payload), url: d.handler, headers: shown, transformed_request: null });
  let answer: HandlerAnswer;
  try {
    answer = await callHandler(url, send, body, d.timeout ?? 30);
  } catch (error) {
    const message = (error as Error).message;
    throw new EngineError('unexpected', 'http exception when calling webhook', '$', 500, {
      type: 'http_exception',
      message: message === 'Response timeout' ? 'Response timeout' : `Connection failure: ${message}`,
      request: requestInfo(),
    });
  }
  let value: Json;
  try {
    value = answer.body.trim() === '' ? null : parseExact(answer.body);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new EngineError('unexpected', 'not a valid json response from webhook', '$', 500, {
      error: `invalid json: ${error.message}`,
      response: { status: answer.status, body: answer.body, headers: answer.headers },
      request: requestInfo(),
    });
  }
  const responseInfo = () => ({ status: answer.status, body: plain(value), headers: answer.headers });
  if (answer.status >= 400 && answer.status < 500) {
    if (!value || typeof value !== 'object' || Array.isArray(value) || value instanceof RawNumber || typeof value.message !== 'string')
      throw new EngineError('unexpected', 'key "message" not found or not a string in the action error response', '$', 400, {
        error: 'unexpected response',
        response: responseInfo(),
        request: requestInfo(),
      });
    const ext = value.extensions;
    const extensions: Record<string, Json> =
      ext && typeof ext === 'object' && !Array.isArray(ext) && !(ext instanceof RawNumber)
        ? ext
        : { path: '$', code: typeof value.code === 'string' ? value.code : 'unexpected' };
    throw new ActionHandlerError(value.message, extensions);
  }
  if (answer.status < 200 || answer.status >= 300)
    throw new EngineError('unexpected', 'internal error', '$', 500, { webhook_response: plain(value) });
  const fail: Fail = (message) => {
    throw new EngineError('unexpected', message, '$', 400, {
      error: 'unexpected response',
      response: responseInfo(),
      request: requestInfo(),
    });
  };
  const failMissing: Fail = (message) => {
    throw new EngineError('unexpected', message, '$', 400, { webhook_response: plain(value) });
  };
  checkOutput(r, info.output, value, fail, failMissing, true);
  for (const h of answer.headers) if (h.name.toLowerCase() === 'set-cookie') r.cookies.push(h.value);

  // 3. relationships (one statement per selection level that has them), then the selection
  const sites = new Map<Level, Record<string, Json>[]>();
  gather(value, info.output, level, sites);
  const rels = new Map<object, Record<string, Json>>();
  for (const [site, objects] of sites) {
    const plan = site.rel as NonNullable<Level['rel']>;
    const ctx = { vars: r.compiler.vars, session: r.session.variables, prev: stringifyExact(objects) };
    const result = await r.pool.query<{ root: string }>({ text: plan.sql, values: plan.params.map((g) => g(ctx)) });
    const rows = parseExact(result.rows[0]?.root ?? '[]') as Record<string, Json>[];
    objects.forEach((o, i) => {
      rels.set(o, rows[i] ?? {});
    });
  }
  return stringifyExact(project(value, info.output, level, rels));
}
