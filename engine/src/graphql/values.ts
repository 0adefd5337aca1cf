// Argument values as the compiler sees them: a node of the query text, or a plain JSON value
// (from variables, or from metadata such as permission filters and presets).
import { Kind, type ValueNode } from 'graphql';
import { parseExact, RawNumber, stringifyExact } from '../actions/json.ts';
import { validation } from '../errors.ts';

export type Val = { node: ValueNode } | { js: unknown };

export interface Vars {
  [name: string]: unknown;
}

/** State shared by one compilation: variables, and whether they shaped the SQL text. */
export interface ValueContext {
  vars: Vars;
  /** Set when a variable's value was walked structurally (the SQL text then depends on it). */
  dynamic: boolean;
}

/** The plain value (marks the compilation dynamic when a variable is read). */
export function jsValue(v: Val, ctx: ValueContext): unknown {
  if ('js' in v) return v.js;
  return astToJs(v.node, ctx);
}

export function astToJs(node: ValueNode, ctx: ValueContext): unknown {
  switch (node.kind) {
    case Kind.VARIABLE:
      ctx.dynamic = true;
      return ctx.vars[node.name.value] ?? null;
    case Kind.INT:
      return exactNumber(node.value);
    case Kind.FLOAT:
      return node.value;
    case Kind.STRING:
      return node.value;
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    case Kind.ENUM:
      return node.value;
    case Kind.LIST:
      return node.values.map((n) => astToJs(n, ctx));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, astToJs(f.value, ctx)]));
  }
}

export function isNull(v: Val, ctx: ValueContext): boolean {
  if ('js' in v) return v.js === null || v.js === undefined;
  if (v.node.kind === Kind.NULL) return true;
  if (v.node.kind === Kind.VARIABLE) {
    const value = ctx.vars[v.node.name.value];
    if (value === null || value === undefined) {
      ctx.dynamic = true;
      return true;
    }
  }
  return false;
}

/** The fields of an input object, in the order written. */
export function objectEntries(v: Val, ctx: ValueContext, typeName: string, path: string): [string, Val][] {
  if ('node' in v) {
    if (v.node.kind === Kind.OBJECT) return v.node.fields.map((f) => [f.name.value, { node: f.value }]);
    if (v.node.kind === Kind.VARIABLE) return objectEntries({ js: jsValue(v, ctx) }, ctx, typeName, path);
    throw validation(`expected an object for type "${typeName}", but found ${describe(astToJs(v.node, ctx))}`, path);
  }
  if (v.js && typeof v.js === 'object' && !Array.isArray(v.js) && !(v.js instanceof RawNumber))
    return Object.entries(v.js).map(([k, x]) => [k, { js: x }]);
  throw validation(`expected an object for type "${typeName}", but found ${describe(v.js)}`, path);
}

/** List items; a single value counts as a list of one, as GraphQL input coercion says. */
export function listItems(v: Val, ctx: ValueContext): Val[] {
  if ('node' in v) {
    if (v.node.kind === Kind.LIST) return v.node.values.map((n) => ({ node: n }));
    if (v.node.kind === Kind.VARIABLE) return listItems({ js: jsValue(v, ctx) }, ctx);
    return [v];
  }
  if (Array.isArray(v.js)) return v.js.map((x) => ({ js: x }));
  if (v.js === null || v.js === undefined) return [];
  return [v];
}

export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'boolean') return 'a boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a float';
  if (value instanceof RawNumber) return /^-?\d+$/.test(value.text) ? 'an integer' : 'a float';
  if (Array.isArray(value)) return 'a list';
  return 'an object';
}

/** A GraphQL value as the text (or array/JSON text) sent to Postgres for a scalar. */
export function toPgParam(value: unknown, scalar: string, isArray: boolean, path: string): unknown {
  if (value === null || value === undefined) return null;
  if (isArray) {
    if (!Array.isArray(value)) throw validation(`expected a list for type "[${scalar}]", but found ${describe(value)}`, path);
    return value.map((item) => toPgParam(item, scalar, false, path));
  }
  switch (scalar) {
    case 'Int':
    case 'smallint':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw validation(`expected a 32-bit integer for type "Int", but found ${describe(value)}`, path);
      }
      return String(value);
    case 'Float':
      if (value instanceof RawNumber) return value.text;
      if (typeof value !== 'number' && !(typeof value === 'string' && /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(value))) {
        throw validation(`expected a float for type "Float", but found ${describe(value)}`, path);
      }
      return String(value);
    case 'Boolean':
      if (typeof value !== 'boolean') throw validation(`expected a boolean for type "Boolean", but found ${describe(value)}`, path);
      return value ? 'true' : 'false';
    case 'String':
      if (typeof value !== 'string') throw validation(`expected a string for type "String", but found ${describe(value)}`, path);
      return value;
    case 'json':
    case 'jsonb':
      return stringifyExact(value);
    default:
      if (value instanceof RawNumber) return value.text;
      if (typeof value === 'object') return JSON.stringify(value);
      return String(value);
  }
}

// ---- request bodies ----

/**
 * A run of 16 digits (and dots): the only way a JSON number can have more significant digits than a
 * float keeps. Written out 16 times rather than as `{16}`: V8 scans a typical body about 4 times
 * faster so (~70 ns for 400 bytes).
 */
const LONG_NUMBER = new RegExp('[\\d.]'.repeat(16));

/**
 * A GraphQL request body, as JSON.parse reads it, except that a number with more than 15
 * significant digits stays exact (a RawNumber, sent to Postgres as its text), as Hasura reads
 * numbers. Bodies without such a run of digits (nearly all) take JSON.parse alone.
 */
export function parseRequestBody(body: string): unknown {
  if (!LONG_NUMBER.test(body)) return JSON.parse(body);
  return floatsWhereExact(parseExact(body));
}

function floatsWhereExact(value: unknown): unknown {
  if (value instanceof RawNumber) return exactNumber(value.text);
  if (Array.isArray(value)) return value.map(floatsWhereExact);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      Object.defineProperty(out, k, { value: floatsWhereExact(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/**
 * A number written in the query text (an Int literal) read as the same number in the variables is
 * (parseRequestBody): a JS number when a float holds it exactly, else a RawNumber keeping every
 * digit, as Hasura reads an Int literal (an arbitrary-precision integer) for numeric and bigint
 * columns. An Int argument (limit, an Int column) refuses the RawNumber as it refuses the variable.
 */
export function exactNumber(text: string): number | RawNumber {
  return significantDigits(text) > 15 ? new RawNumber(text) : Number(text);
}

function significantDigits(text: string): number {
  const mantissa = text
    .replace(/^-/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '');
  return mantissa.replace(/^0+/, '').length;
}
