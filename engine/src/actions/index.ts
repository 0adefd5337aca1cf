// Actions in requests: an operation whose root fields include actions runs each root field in turn
// (mutations in order, as Hasura does; queries concurrently). Table fields still compile to SQL
// through the engine; action fields POST to their handlers outside any SQL transaction.
import {
  type DocumentNode,
  extendSchema,
  type GraphQLSchema,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  parse,
  type TypeNode,
} from 'graphql';
import type pg from 'pg';
import type { Session } from '../auth.ts';
import { type CompileOptions, Compiler, type MergedField } from '../graphql/compile.ts';
import { fragmentsOf } from '../graphql/plan.ts';
import type { Vars } from '../graphql/values.ts';
import { definitionsOf } from '../graphql/variable-types.ts';
import { type ActionCatalog, type ActionInfo, actionVisible, baseName, builtinScalars, printType } from './catalog.ts';
import { executeAction } from './execute.ts';

export { type ActionCatalog, buildActionCatalog } from './catalog.ts';
export { ActionHandlerError } from './execute.ts';

export interface ActionRun {
  catalog: ActionCatalog;
  options: CompileOptions;
  session: Session;
  headers: Record<string, string | string[] | undefined>;
  document: DocumentNode;
  op: OperationDefinitionNode;
  vars: Vars;
  requestQuery: string;
  pool: pg.Pool;
  env: NodeJS.ProcessEnv;
  /** Collects the handlers' Set-Cookie headers, which Hasura passes on to the client. */
  cookies: string[];
  /** Runs an operation of table fields only through the engine's SQL path; returns `{"alias":…}` text. */
  runSql(op: OperationDefinitionNode): Promise<string>;
}

/** The operation's root fields when one of them is an action the role sees; otherwise null (the plain SQL path). */
export function actionRoots(
  catalog: ActionCatalog | undefined,
  options: CompileOptions,
  document: DocumentNode,
  op: OperationDefinitionNode,
  vars: Vars,
): MergedField[] | null {
  if (!catalog?.actions.size || op.operation === 'subscription') return null;
  const quick = op.selectionSet.selections.some((s) => s.kind !== Kind.FIELD || catalog.actions.has(s.name.value));
  if (!quick) return null;
  const compiler = new Compiler(options, vars, fragmentsOf(document), definitionsOf(op));
  const fields = compiler.collect(op.selectionSet, op.operation === 'mutation' ? 'mutation_root' : 'query_root', '$');
  return fields.some((f) => visibleAction(catalog, options, op, f.name)) ? fields : null;
}

function visibleAction(catalog: ActionCatalog, options: CompileOptions, op: OperationDefinitionNode, name: string): ActionInfo | undefined {
  const info = catalog.actions.get(name);
  if (!info || info.type !== op.operation || !actionVisible(info, options.role, options.isAdmin)) return undefined;
  return info;
}

/** Runs the operation's root fields; returns the `data` object's JSON text. */
export async function runWithActions(run: ActionRun, fields: MergedField[]): Promise<string> {
  const compiler = new Compiler(run.options, run.vars, fragmentsOf(run.document), definitionsOf(run.op));
  const rootType = run.op.operation === 'mutation' ? 'mutation_root' : 'query_root';
  const one = async (f: MergedField): Promise<string> => {
    if (f.name === '__typename') return JSON.stringify(rootType);
    const info = visibleAction(run.catalog, run.options, run.op, f.name);
    if (info) {
      return executeAction(
        {
          catalog: run.catalog,
          compiler,
          options: run.options,
          session: run.session,
          headers: run.headers,
          requestQuery: run.requestQuery,
          env: run.env,
          pool: run.pool,
          cookies: run.cookies,
        },
        info,
        f,
      );
    }
    const single: OperationDefinitionNode = { ...run.op, selectionSet: { kind: Kind.SELECTION_SET, selections: f.nodes } };
    const text = await run.runSql(single);
    const prefix = `{${JSON.stringify(f.alias)}:`;
    if (!text.startsWith(prefix) || !text.endsWith('}')) throw new Error(`unexpected SQL answer for root field ${f.alias}`);
    return text.slice(prefix.length, -1);
  };
  const values: string[] = [];
  if (run.op.operation === 'mutation') for (const f of fields) values.push(await one(f));
  else values.push(...(await Promise.all(fields.map(one))));
  return `{${fields.map((f, i) => `${JSON.stringify(f.alias)}:${values[i]}`).join(',')}}`;
}

// ---- introspection ----

const sdlString = (s: string) => JSON.stringify(s);
const described = (d: string | undefined, indent = '') => (d ? `${indent}${sdlString(d)}\n` : '');

/** The role's schema with its actions and their custom types (for Apollo Client and codegen). */
export function extendWithActions(schema: GraphQLSchema, catalog: ActionCatalog | undefined, options: CompileOptions): GraphQLSchema {
  if (!catalog?.actions.size) return schema;
  const visible = [...catalog.actions.values()].filter((a) => actionVisible(a, options.role, options.isAdmin));
  if (!visible.length) return schema;
  const needed = new Set<string>();
  const visit = (t: TypeNode) => {
    const name = baseName(t);
    if (needed.has(name) || builtinScalars.has(name)) return;
    needed.add(name);
    for (const def of catalog.objects.get(name)?.fields.values() ?? []) visit(def.type);
    for (const def of catalog.inputs.get(name)?.fields.values() ?? []) visit(def.type);
  };
  for (const a of visible) {
    visit(a.output);
    for (const arg of a.args) visit(arg.type);
  }
  const parts: string[] = [];
  for (const name of needed) {
    const existing = schema.getType(name);
    const object = catalog.objects.get(name);
    const input = catalog.inputs.get(name);
    const en = catalog.enums.get(name);
    if (object) {
      const lines = [...object.fields].map(([f, d]) => `${described(d.description, '  ')}  ${f}: ${printType(d.type)}`);
      for (const rel of object.relationships.values()) {
        if (!options.isAdmin && !rel.target.select.has(options.role)) continue;
        const target = schema.getType(rel.target.name);
        if (!target || !isObjectType(target)) continue;
        if (rel.type === 'object') {
          lines.push(`  ${rel.name}: ${rel.target.name}`);
          continue;
        }
        const t = rel.target.name;
        const args = [
          [`distinct_on`, `[${t}_select_column!]`],
          ['limit', 'Int'],
          ['offset', 'Int'],
          ['order_by', `[${t}_order_by!]`],
          ['where', `${t}_bool_exp`],
        ]
          .filter(([, type]) => schema.getType((type as string).replace(/[[\]!]/g, '')))
          .map(([n, type]) => `${n}: ${type}`);
        const argText = args.length ? `(${args.join(', ')})` : '';
        lines.push(`  ${rel.name}${argText}: [${t}!]!`);
        const canAggregate = options.isAdmin || rel.target.select.get(options.role)?.allow_aggregations === true;
        if (canAggregate && schema.getType(`${t}_aggregate`)) lines.push(`  ${rel.name}_aggregate${argText}: ${t}_aggregate!`);
      }
      parts.push(`${described(object.description)}type ${name} {\n${lines.join('\n')}\n}`);
    } else if (input) {
      const lines = [...input.fields].map(([f, d]) => `${described(d.description, '  ')}  ${f}: ${printType(d.type)}`);
      parts.push(`${described(input.description)}input ${name} {\n${lines.join('\n')}\n}`);
    } else if (en) {
      parts.push(`${described(en.description)}enum ${name} {\n${en.values.map((v) => `  ${v}`).join('\n')}\n}`);
    } else if (!existing) {
      parts.push(`${described(catalog.scalars.get(name)?.description)}scalar ${name}`);
    }
  }
  const field = (a: ActionInfo) => {
    const args = a.args.length ? `(${a.args.map((x) => `${described(x.description)}${x.name}: ${printType(x.type)}`).join(', ')})` : '';
    return `${described(a.action.comment, '  ')}  ${a.action.name}${args}: ${printType(a.output)}`;
  };
  const queries = visible.filter((a) => a.type === 'query');
  const mutations = visible.filter((a) => a.type === 'mutation');
  if (queries.length) parts.push(`extend type query_root {\n${queries.map(field).join('\n')}\n}`);
  if (mutations.length) {
    if (schema.getMutationType()) parts.push(`extend type mutation_root {\n${mutations.map(field).join('\n')}\n}`);
    else parts.push(`type mutation_root {\n${mutations.map(field).join('\n')}\n}\nextend schema { mutation: mutation_root }`);
  }
  return extendSchema(schema, parse(parts.join('\n\n')), { assumeValidSDL: true });
}
