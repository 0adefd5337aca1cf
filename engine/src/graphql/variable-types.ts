// A variable's declared type against the type where it is used, as Hasura v2 checks it before
// running anything (server/src-lib/Hasura/GraphQL/Parser/Internal/TypeChecking.hs, `typeCheck`):
//
//   variable "id" is declared as String!, but used where uuid! is expected   (validation-failed)
//
// The expected type is the one of the role's schema, the schema introspection serves. Hasura's rule
// (`isVariableUsageAllowed`): the base type names must be equal and the list nesting the same, with
// no coercion between variables (an Int variable where Float is expected is refused). Only the outer
// nullability counts: a nullable variable may be used where a non-null type is expected only when
// the location has a default value or the variable a non-null default; nullability inside lists is
// not compared (Hasura strips it at every level before comparing). A variable of an undefined type
// is not refused where it is declared, only where it is used (its name differs from the expected one).
//
// Hasura peels a variable where a parser meets it: an argument, an input object's field, a list
// literal's item (a single value given for a list type counts as the list's item 0), a directive's
// `if`. A list or object literal given for a scalar (json, jsonb, any Postgres scalar) is turned into
// JSON with the variables inside it unchecked (`valueToJSON`), so those are not checked here either.
import {
  type GraphQLField,
  GraphQLInputObjectType,
  type GraphQLInputType,
  GraphQLList,
  GraphQLNonNull,
  type GraphQLObjectType,
  type GraphQLSchema,
  getNamedType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  print,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  type TypeNode,
  type ValueNode,
  type VariableDefinitionNode,
  type VariableNode,
} from 'graphql';
import { notSupported, validation } from '../errors.ts';
import type { Compiler, MergedField } from './compile.ts';

type GType = { list: false; nullable: boolean; name: string } | { list: true; nullable: boolean; of: GType };

function fromAst(node: TypeNode, nullable = true): GType {
  if (node.kind === Kind.NON_NULL_TYPE) return fromAst(node.type, false);
  if (node.kind === Kind.LIST_TYPE) return { list: true, nullable, of: fromAst(node.type) };
  return { list: false, nullable, name: node.name.value };
}

function fromSchema(type: GraphQLInputType, nullable = true): GType {
  if (type instanceof GraphQLNonNull) return fromSchema(type.ofType as GraphQLInputType, false);
  if (type instanceof GraphQLList) return { list: true, nullable, of: fromSchema(type.ofType as GraphQLInputType) };
  return { list: false, nullable, name: type.name };
}

/** Hasura's `areTypesCompatible`: both sides made nullable at every level, then the shapes and names compared. */
function compatible(location: GType, variable: GType): boolean {
  if (location.list && variable.list) return compatible(location.of, variable.of);
  if (!location.list && !variable.list) return location.name === variable.name;
  return false;
}

/** Hasura's `isVariableUsageAllowed`. */
function usageAllowed(locationHasDefault: boolean, location: GType, def: VariableDefinitionNode): boolean {
  const variable = fromAst(def.type);
  if (location.nullable || !variable.nullable || locationHasDefault) return compatible(location, variable);
  const nonNullDefault = def.defaultValue !== undefined && def.defaultValue.kind !== Kind.NULL;
  return nonNullDefault && compatible(location, variable);
}

/** The variable definitions of an operation, by name (the first of duplicates; Resolve refuses those first). */
export function definitionsOf(op: OperationDefinitionNode): Map<string, VariableDefinitionNode> {
  const out = new Map<string, VariableDefinitionNode>();
  for (const def of op.variableDefinitions ?? []) if (!out.has(def.variable.name.value)) out.set(def.variable.name.value, def);
  return out;
}

/** Refuses a variable used where its declared type is not allowed, with Hasura's message, at `path`. */
export function typeCheckVariable(
  definitions: Map<string, VariableDefinitionNode>,
  variable: VariableNode,
  expected: GraphQLInputType,
  locationHasDefault: boolean,
  path: string,
): void {
  const name = variable.name.value;
  const def = definitions.get(name);
  // An undefined variable was refused by resolveVariables (`unbound variable`) before this runs.
  if (!def) throw validation(`unbound variable "${name}"`, '$');
  if (!usageAllowed(locationHasDefault, fromSchema(expected), def)) {
    throw validation(`variable "${name}" is declared as ${print(def.type)}, but used where ${String(expected)} is expected`, path);
  }
}

/** The variables anywhere inside a value (literal lists and objects included). */
function variablesIn(node: ValueNode, out: string[] = []): string[] {
  if (node.kind === Kind.VARIABLE) out.push(node.name.value);
  else if (node.kind === Kind.LIST) for (const v of node.values) variablesIn(v, out);
  else if (node.kind === Kind.OBJECT) for (const f of node.fields) variablesIn(f.value, out);
  return out;
}

/**
 * Where a variable is used at a name the role's schema does not have, it cannot be typed. The
 * caller compiles first (the compiler refuses unknown names with Hasura's messages); a usage left
 * here after a successful compilation is a name the engine accepts but its schema does not declare,
 * and is refused as not supported rather than run unchecked.
 */
export interface Untyped {
  variable: string;
  path: string;
}

/**
 * Checks every variable usage of the operation's root fields against the role's schema, walking the
 * selections as the compiler does (fragments inlined, @skip/@include applied, whose `if` the
 * compiler checks). Throws the first mismatch; returns the usages it could not type.
 */
export function checkVariableTypes(
  schema: GraphQLSchema,
  compiler: Compiler,
  op: OperationDefinitionNode,
  fields?: MergedField[],
): Untyped[] {
  const definitions = definitionsOf(op);
  const untyped: Untyped[] = [];
  if (!definitions.size) return untyped;
  const rootType =
    op.operation === 'mutation'
      ? schema.getMutationType()
      : op.operation === 'subscription'
        ? schema.getSubscriptionType()
        : schema.getQueryType();
  const rootName = op.operation === 'mutation' ? 'mutation_root' : op.operation === 'subscription' ? 'subscription_root' : 'query_root';
  const unknown = (node: ValueNode, path: string) => {
    for (const variable of variablesIn(node)) untyped.push({ variable, path });
  };

  const value = (node: ValueNode, type: GraphQLInputType, hasDefault: boolean, path: string): void => {
    if (node.kind === Kind.VARIABLE) {
      typeCheckVariable(definitions, node, type, hasDefault, path);
      return;
    }
    const inner = type instanceof GraphQLNonNull ? (type.ofType as GraphQLInputType) : type;
    if (inner instanceof GraphQLList) {
      const item = inner.ofType as GraphQLInputType;
      if (node.kind === Kind.LIST) {
        for (const [i, v] of node.values.entries()) value(v, item, false, `${path}[${i}]`);
      } else if (node.kind !== Kind.NULL) value(node, item, false, `${path}[0]`);
      return;
    }
    if (inner instanceof GraphQLInputObjectType) {
      if (node.kind !== Kind.OBJECT) return;
      const defs = inner.getFields();
      for (const f of node.fields) {
        const def = defs[f.name.value];
        if (!def) unknown(f.value, `${path}.${f.name.value}`);
        else value(f.value, def.type, def.defaultValue !== undefined, `${path}.${f.name.value}`);
      }
    }
    // A scalar or an enum: a literal is parsed by the scalar's parser, variables inside it unchecked.
  };

  const fieldDef = (parent: GraphQLObjectType, name: string, isRoot: boolean): GraphQLField<unknown, unknown> | undefined => {
    if (name === '__typename') return TypeNameMetaFieldDef;
    if (isRoot && name === '__schema') return SchemaMetaFieldDef;
    if (isRoot && name === '__type') return TypeMetaFieldDef;
    return parent.getFields()[name];
  };

  const field = (parent: GraphQLObjectType, f: MergedField, isRoot: boolean): void => {
    const def = fieldDef(parent, f.name, isRoot);
    for (const node of f.nodes) {
      for (const arg of node.arguments ?? []) {
        const path = `${f.path}.args.${arg.name.value}`;
        const argDef = def?.args.find((a) => a.name === arg.name.value);
        if (!argDef) unknown(arg.value, path);
        else value(arg.value, argDef.type, argDef.defaultValue !== undefined, path);
      }
    }
    if (!def) return;
    const named = getNamedType(def.type);
    if (!isObjectType(named) || !f.nodes.some((n) => n.selectionSet)) return;
    const set = compiler.subSelection(f, named.name);
    for (const sub of compiler.collect(set, named.name, f.path)) field(named, sub, false);
  };

  const roots = fields ?? compiler.collect(op.selectionSet, rootName, '$');
  for (const f of roots) {
    // No such root type (no mutations for the role): the compiler refuses the operation.
    if (rootType) field(rootType, f, true);
  }
  return untyped;
}

/** The loud refusal of usages the schema cannot type (see Untyped). */
export function untypedError(untyped: Untyped[]) {
  const first = untyped[0] as Untyped;
  return notSupported(
    `variable "${first.variable}" is used where this engine cannot determine the expected type, so its declared type cannot be checked`,
    first.path,
  );
}
