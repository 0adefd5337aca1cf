// JSON with exact numbers: a handler's `12.345678901234567890` reaches the client digit for digit
// (amounts are numeric in SQL and decimal strings in TypeScript, never a float on the way).

/** A JSON number kept as its source text. */
export class RawNumber {
  constructor(readonly text: string) {}
}

export type Json = null | boolean | string | RawNumber | Json[] | { [key: string]: Json };

export class JsonSyntaxError extends Error {}

/** Parses JSON, keeping every number as a RawNumber. */
export function parseExact(text: string): Json {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at position ${i}`);
  };
  const value = (): Json => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const out: Record<string, Json> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const key = string();
        ws();
        if (text[i] !== ':') fail('expected ":"');
        i++;
        out[key] = value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return out;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const out: Json[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return out;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('unexpected character');
    i += m[0].length;
    return new RawNumber(m[0]);
  };
  const string = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const result = value();
  ws();
  if (i !== text.length) fail('unexpected trailing input');
  return result;
}

/** Serialises, writing RawNumbers verbatim. */
export function stringifyExact(value: unknown): string {
  if (value instanceof RawNumber) return value.text;
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(stringifyExact).join(',')}]`;
  if (typeof value === 'object') {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value)) if (v !== undefined) parts.push(`${JSON.stringify(k)}:${stringifyExact(v)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The plain value (numbers as JS numbers), for error details only. */
export function plain(value: unknown): unknown {
  return JSON.parse(stringifyExact(value));
}

/** The JSON type name as Hasura's messages name it. */
export function jsonKind(value: Json | undefined): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof RawNumber) return 'Number';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  if (typeof value === 'string') return 'String';
  return 'Boolean';
}
