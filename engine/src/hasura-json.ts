// Hasura's JSON conventions, where they show on the wire: the names aeson gives JSON values in its
// parse errors ("parsing Text failed, expected String, but encountered Number"), and JSON paths as
// Hasura reads them (claims_namespace_path, claims_map: Data.Parser.JSONPath.parseJSONPath) and
// writes them in error paths (encodeJSONPath).
import { RawNumber } from './actions/json.ts';

export type AesonKind = 'Object' | 'Array' | 'String' | 'Number' | 'Boolean' | 'Null';

/** aeson's `typeOf`: how a parse error names the value it found. */
export function aesonKind(value: unknown): AesonKind {
  if (value === null || value === undefined) return 'Null';
  if (value instanceof RawNumber || typeof value === 'number') return 'Number';
  if (typeof value === 'string') return 'String';
  if (typeof value === 'boolean') return 'Boolean';
  return Array.isArray(value) ? 'Array' : 'Object';
}

/** aeson's `prependContext name (typeMismatch expected value)`. */
export const typeMismatch = (name: string, expected: string, value: unknown): string =>
  `parsing ${name} failed, expected ${expected}, but encountered ${aesonKind(value)}`;

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof RawNumber);

export type JsonPath = (string | number)[];

/** Hasura's encodeJSONPath: `$.a[0]`, and `$["a b"]` for a key that is not a plain name. */
export function encodeJsonPath(path: JsonPath): string {
  let out = '$';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

const LETTER = /\p{L}/u;

/**
 * Hasura's parseJSONPath: `$` alone, or an optional `$` then one or more of `.name` / `name`
 * (a letter or `_`, then letters, digits, `-`, `_`), `[42]`, `["key"]`, `['key']`. Throws Hasura's
 * message for anything else.
 */
export function parseJsonPath(text: string): JsonPath {
  if (text === '$') return [];
  const invalid = () =>
    new Error(
      `${text}. Accept letters, digits, underscore (_) or hyphen (-) only. Use quotes enclosed in bracket (["..."]) if there is any special character`,
    );
  const out: JsonPath = [];
  let i = text.startsWith('$') ? 1 : 0;
  while (i < text.length) {
    let j = text[i] === '.' ? i + 1 : i;
    const first = text[j];
    if (first !== undefined && (first === '_' || LETTER.test(first))) {
      let end = j + 1;
      while (end < text.length && /[\p{L}0-9_-]/u.test(text[end] as string)) end++;
      out.push(text.slice(j, end));
      i = end;
      continue;
    }
    if (first !== '[') throw invalid();
    j++;
    const digits = /^[0-9]+/.exec(text.slice(j));
    if (digits) {
      out.push(Number(digits[0]));
      j += digits[0].length;
    } else {
      const quote = text[j];
      if (quote !== '"' && quote !== "'") throw invalid();
      let inner = '';
      j++;
      for (;;) {
        const c = text[j];
        if (c === undefined) throw invalid();
        if (c === quote) break;
        if (c === '\\') {
          const next = text[j + 1];
          if (next === undefined) throw invalid();
          // Within single quotes, \' is a quote; every other escape is JSON's.
          inner += quote === "'" && next === "'" ? "'" : `\\${next}`;
          j += 2;
          continue;
        }
        inner += quote === "'" && c === '"' ? '\\"' : c;
        j++;
      }
      j++;
      try {
        out.push(JSON.parse(`"${inner}"`) as string);
      } catch {
        throw invalid();
      }
    }
    if (text[j] !== ']') throw invalid();
    i = j + 1;
  }
  if (!out.length) throw invalid();
  return out;
}

/** Hasura's executeJSONPath: the value at the path, or `undefined` when the path leads nowhere (a found `null` is `null`). */
export function executeJsonPath(path: JsonPath, value: unknown): unknown {
  let current = value;
  for (const part of path) {
    if (typeof part === 'number') {
      if (!Array.isArray(current) || part >= current.length) return undefined;
      current = current[part];
    } else {
      if (!isObject(current) || !Object.hasOwn(current, part)) return undefined;
      current = current[part];
    }
  }
  return current;
}
