// Actions as the GraphQL layer sees them: each action's arguments and output type, the custom
// types of `actions.graphql` (input and output objects, scalars, enums) and the relationships from
// output objects to tracked tables. Built once per metadata version; what is not supported fails
// loudly, naming it.
import { Kind, parseType, type TypeNode } from 'graphql';
import { EngineError } from '../errors.ts';
import type { Action, CustomTypes, Metadata } from '../metadata/types.ts';
import { type ColumnInfo, type Model, type TableInfo, tableKeyOf } from '../model.ts';

export const builtinScalars = new Set(['Int', 'Float', 'String', 'Boolean', 'ID']);

export interface ActionRelationship {
  name: string;
  type: 'object' | 'array';
  target: TableInfo;
  /** [output field, target column] pairs. */
  mapping: [string, ColumnInfo][];
}

export interface OutputObject {
  name: string;
  description?: string;
  fields: Map<string, { type: TypeNode; description?: string }>;
  relationships: Map<string, ActionRelationship>;
}

export interface InputObject {
  name: string;
  description?: string;
  fields: Map<string, { type: TypeNode; description?: string }>;
}

export interface ActionInfo {
  action: Action;
  type: 'query' | 'mutation';
  args: { name: string; type: TypeNode; description?: string }[];
  output: TypeNode;
  roles: Set<string>;
}

export interface ActionCatalog {
  actions: Map<string, ActionInfo>;
  objects: Map<string, OutputObject>;
  inputs: Map<string, InputObject>;
  enums: Map<string, { name: string; description?: string; values: string[] }>;
  /** Custom scalars of `actions.graphql` (Postgres scalars such as numeric or uuid are allowed without one). */
  scalars: Map<string, { name: string; description?: string }>;
}

/** The base type name of `[T!]!`. */
export function baseName(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : baseName(type.type);
}

export const printType = (t: TypeNode): string =>
  t.kind === Kind.NON_NULL_TYPE ? `${printType(t.type)}!` : t.kind === Kind.LIST_TYPE ? `[${printType(t.type)}]` : t.name.value;

const refuse = (message: string): never => {
  throw new EngineError('not-supported', message);
};

function typeOf(text: string, where: string): TypeNode {
  try {
    return parseType(text);
  } catch {
    throw new EngineError('parse-failed', `${where}: invalid GraphQL type ${JSON.stringify(text)}`);
  }
}

/** Builds the catalog; throws EngineError naming what is unsupported or inconsistent. */
export function buildActionCatalog(metadata: Metadata, model: Model): ActionCatalog {
  const custom: CustomTypes = metadata.custom_types ?? {};
  const catalog: ActionCatalog = {
    actions: new Map(),
    objects: new Map(),
    inputs: new Map(),
    enums: new Map(),
    scalars: new Map(),
  };
  for (const s of custom.scalars ?? [])
    catalog.scalars.set(s.name, { name: s.name, ...(s.description ? { description: s.description } : {}) });
  for (const e of custom.enums ?? [])
    catalog.enums.set(e.name, {
      name: e.name,
      ...(e.description ? { description: e.description } : {}),
      values: e.values.map((v) => v.value),
    });
  for (const i of custom.input_objects ?? []) {
    catalog.inputs.set(i.name, {
      name: i.name,
      ...(i.description ? { description: i.description } : {}),
      fields: new Map(
        (i.fields ?? []).map((f) => [
          f.name,
          { type: typeOf(f.type, `input object ${i.name}`), ...(f.description ? { description: f.description } : {}) },
        ]),
      ),
    });
  }
  for (const o of custom.objects ?? []) {
    const fields = new Map(
      (o.fields ?? []).map((f) => [
        f.name,
        { type: typeOf(f.type, `object ${o.name}`), ...(f.description ? { description: f.description } : {}) },
      ]),
    );
    const relationships = new Map<string, ActionRelationship>();
    for (const r of o.relationships ?? []) {
      if (r.source && r.source !== (metadata.sources[0]?.name ?? 'default'))
        refuse(`relationship "${r.name}" of custom type "${o.name}": source "${r.source}" is not served (only the first source)`);
      const target = model.tablesByKey.get(tableKeyOf(r.remote_table));
      if (!target)
        throw new EngineError(
          'invalid-configuration',
          `relationship "${r.name}" of custom type "${o.name}": table ${JSON.stringify(r.remote_table)} is not tracked`,
        );
      const mapping: [string, ColumnInfo][] = Object.entries(r.field_mapping).map(([field, column]) => {
        const col = target.byName.get(column);
        if (!col)
          throw new EngineError('invalid-configuration', `relationship "${r.name}" of custom type "${o.name}": no column "${column}"`);
        if (!fields.has(field))
          throw new EngineError('invalid-configuration', `relationship "${r.name}" of custom type "${o.name}": no field "${field}"`);
        return [field, col];
      });
      relationships.set(r.name, { name: r.name, type: r.type, target, mapping });
    }
    catalog.objects.set(o.name, { name: o.name, ...(o.description ? { description: o.description } : {}), fields, relationships });
  }
  for (const action of metadata.actions ?? []) {
    const d = action.definition;
    const type = d.type ?? 'mutation';
    if (type === 'mutation' && d.kind === 'asynchronous')
      refuse(`action "${action.name}": asynchronous actions are not supported by this engine (kind: synchronous only)`);
    if (d.request_transform !== undefined && d.request_transform !== null)
      refuse(`action "${action.name}": request_transform is not supported by this engine`);
    if (d.response_transform !== undefined && d.response_transform !== null)
      refuse(`action "${action.name}": response_transform is not supported by this engine`);
    if (!d.output_type) throw new EngineError('invalid-configuration', `action "${action.name}" has no output_type`);
    const output = typeOf(d.output_type, `action ${action.name}`);
    const args = (d.arguments ?? []).map((a) => ({
      name: a.name,
      type: typeOf(a.type, `action ${action.name}`),
      ...(a.description ? { description: a.description } : {}),
    }));
    catalog.actions.set(action.name, { action, type, args, output, roles: new Set((action.permissions ?? []).map((p) => p.role)) });
  }
  checkTypes(catalog);
  return catalog;
}

/** Every type named by an action or a custom type exists. */
function checkTypes(catalog: ActionCatalog) {
  const isScalarName = (n: string) => builtinScalars.has(n) || catalog.scalars.has(n) || /^[a-z_][a-z0-9_]*$/.test(n);
  const outputKnown = (n: string) => isScalarName(n) || catalog.enums.has(n) || catalog.objects.has(n);
  const inputKnown = (n: string) => isScalarName(n) || catalog.enums.has(n) || catalog.inputs.has(n);
  for (const [name, a] of catalog.actions) {
    if (!outputKnown(baseName(a.output)))
      throw new EngineError('invalid-configuration', `action "${name}": the output type "${baseName(a.output)}" is not defined`);
    for (const arg of a.args)
      if (!inputKnown(baseName(arg.type)))
        throw new EngineError('invalid-configuration', `action "${name}": the argument type "${baseName(arg.type)}" is not defined`);
  }
  for (const o of catalog.objects.values())
    for (const [f, def] of o.fields)
      if (!outputKnown(baseName(def.type)))
        throw new EngineError('invalid-configuration', `custom type "${o.name}": field "${f}" has undefined type "${baseName(def.type)}"`);
  for (const i of catalog.inputs.values())
    for (const [f, def] of i.fields)
      if (!inputKnown(baseName(def.type)))
        throw new EngineError('invalid-configuration', `input type "${i.name}": field "${f}" has undefined type "${baseName(def.type)}"`);
}

/** Whether a role sees an action (the admin sees all). */
export function actionVisible(info: ActionInfo, role: string, isAdmin: boolean): boolean {
  return isAdmin || info.roles.has(role);
}
