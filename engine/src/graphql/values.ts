// Argument values as the compiler sees them: a node of the query text, or a plain JSON value
// (from variables, or from metadata such as permission filters and presets).
import { Kind, type ValueNode } from 'graphql';
import { parseExact, RawNumber, stringifyExact } from '../actions/json.ts';
import { EngineError, validation } from '../errors.ts';

export type Val = { node: ValueNode } | { js: unknown };

/**
 * A Float literal of the query text (`1.5`, `1e3`), kept as written: numeric and float columns get
 * its exact text, a json value gets the JSON number the same number in the variables gives
 * (jsonNumbers), and an Int refuses it as Hasura refuses a float literal for an Int ("but found a
 * float"), where a JSON number in a variable is checked by value (intValue).
 */
export class FloatLiteral extends RawNumber {}

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
      return new FloatLiteral(node.value);
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
      return String(intValue(value, path));
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
      return stringifyExact(jsonNumbers(value));
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
  return mapNumbers(value, (n) => exactNumber(n.text));
}

/** A copy of a JSON value with each RawNumber replaced (a `__proto__` key stays an own key). */
function mapNumbers(value: unknown, number: (n: RawNumber) => unknown): unknown {
  if (value instanceof RawNumber) return number(value);
  if (Array.isArray(value)) return value.map((v) => mapNumbers(v, number));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      Object.defineProperty(out, k, { value: mapNumbers(v, number), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/**
 * A number written in the query text read as the same number in the variables is (parseRequestBody):
 * a JS number when a float holds it exactly, else a RawNumber keeping every digit, as Hasura reads
 * an Int literal (an arbitrary-precision integer) for numeric and bigint columns. A number a float
 * cannot hold at all (1e400, 1e-400) keeps its text too, rather than becoming Infinity or 0. An Int
 * argument (limit, an Int column) checks a RawNumber by value, as it checks the variable (intValue).
 */
function exactNumber(text: string): number | RawNumber {
  if (significantDigits(text) > 15) return new RawNumber(text);
  const n = Number(text);
  if (!Number.isFinite(n) || (n === 0 && significantDigits(text) > 0)) return new RawNumber(text);
  return n;
}

function significantDigits(text: string): number {
  const mantissa = text
    .replace(/^-/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '');
  return mantissa.replace(/^0+/, '').length;
}

/**
 * A json/jsonb value with its Float literals as the variables give them: `{b: 1.5}` in the query text
 * stores the JSON number 1.5, as `{"b": 1.5}` in the variables does (a long number keeps its digits).
 */
function jsonNumbers(value: unknown): unknown {
  return mapNumbers(value, (n) => (n instanceof FloatLiteral ? exactNumber(n.text) : n));
}

// ---- integers (Hasura's scalar parsers: Hasura.GraphQL.Parser.Internal.Scalars) ----

export interface IntBounds {
  min: bigint;
  max: bigint;
}
/** GraphQL's Int (Hasura's `int` and `nonNegativeInt` parsers: an Int32). */
export const INT32: IntBounds = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
/** Hasura's `bigInt` parser (the `offset` argument: an Int64). */
export const INT64: IntBounds = { min: -(2n ** 63n), max: 2n ** 63n - 1n };

/**
 * An Int as Hasura's `int` parser reads it: an Int literal or a JSON number must be an integer within
 * the Int32 bounds (`scientificToInteger`: else parse-failed, "The value … lies outside the bounds …",
 * for 3000000000 as for 1.5 in the variables); anything else, a Float literal included, is a type
 * mismatch (validation-failed, "expected a 32-bit integer for type "Int", but found …").
 */
export function intValue(value: unknown, path: string): bigint {
  const text = numberText(value);
  if (text === undefined) throw validation(`expected a 32-bit integer for type "Int", but found ${describe(value)}`, path);
  return boundedInteger(text, INT32, path);
}

/** The decimal text of an Int literal or a JSON number (a Float literal, a string or any other value: undefined). */
export function numberText(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (value instanceof RawNumber && !(value instanceof FloatLiteral)) return value.text;
  return undefined;
}

/** Hasura's `scientificToInteger`: the integer a number's text denotes, within the bounds, else parse-failed. */
export function boundedInteger(text: string, bounds: IntBounds, path: string): bigint {
  const d = decimal(text);
  // An integer has no digits after the point; one of more than 20 digits is beyond any Int64.
  if (d && d.exponent >= 0 && d.digits.length + d.exponent <= 20) {
    const n = BigInt(`${d.negative ? '-' : ''}${d.digits || '0'}${'0'.repeat(d.exponent)}`);
    if (n >= bounds.min && n <= bounds.max) return n;
  }
  throw new EngineError(
    'parse-failed',
    `The value ${showScientific(text)} lies outside the bounds or is not an integer. Maybe it is a float, or is there integer overflow?`,
    path,
  );
}

interface Decimal {
  negative: boolean;
  /** The significant digits, without leading or trailing zeros ('' for zero). */
  digits: string;
  /** The value is digits × 10^exponent. */
  exponent: number;
}

function decimal(text: string): Decimal | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return undefined;
  const [, sign, int = '', frac = ''] = m;
  let digits = (int + frac).replace(/^0+/, '');
  let exponent = Number(m[4] ?? 0) - frac.length;
  const trimmed = digits.replace(/0+$/, '');
  exponent += digits.length - trimmed.length;
  digits = trimmed;
  return digits ? { negative: sign === '-', digits, exponent } : { negative: false, digits, exponent: 0 };
}

/**
 * A number as Haskell's `show` writes a Scientific (Data.Scientific), as Hasura's messages quote it:
 * fixed notation from 0.1 to below 10^7 (`3.5`, `1000.0`), else exponent notation (`3.0e9`,
 * `2.147483648e9`, `1.0e-2`).
 */
function showScientific(text: string): string {
  const d = decimal(text);
  if (!d) return text;
  if (!d.digits) return '0.0';
  const sign = d.negative ? '-' : '';
  const e = d.digits.length + d.exponent; // the value is 0.<digits> × 10^e
  if (e < 0 || e > 7) return `${sign}${d.digits[0]}.${d.digits.slice(1) || '0'}e${e - 1}`;
  if (e === 0) return `${sign}0.${d.digits}`;
  return `${sign}${d.digits.slice(0, e).padEnd(e, '0')}.${d.digits.slice(e) || '0'}`;
}
