// Behaviours where the engine once differed from Hasura v2 (each such difference is a bug).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { ADMIN_SECRET, type GqlAnswer, gql, ORG_A, ok, setupFixture, startEngine } from './helpers.ts';

const db = await useTestDatabase();
let engine: Engine;

beforeAll(async () => {
  engine = await startEngine(db, { HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true' });
  await setupFixture(engine);
});
afterAll(async () => {
  await engine?.close();
});

/** Posts a request body written by hand (JSON.stringify cannot write a number with more digits than a float keeps). */
async function rawGql(body: string): Promise<GqlAnswer> {
  const res = await fetch(`${engine.url}/v1/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hasura-admin-secret': ADMIN_SECRET },
    body,
  });
  return { status: res.status, body: (await res.json()) as GqlAnswer['body'] };
}

describe('a field of object type selected without a sub-selection', () => {
  it('is refused at a root field, as Hasura refuses it, every time the cached query is sent', async () => {
    for (let i = 0; i < 2; i++) {
      const { status, body } = await gql(engine, '{ entries }');
      expect(status).toBe(200);
      expect(body).toEqual({
        errors: [
          {
            message: 'missing selection set for "entries"',
            extensions: { code: 'validation-failed', path: '$.selectionSet.entries.selectionSet' },
          },
        ],
      });
    }
  });

  it('is refused at an array or object relationship and an aggregate, naming the field type', async () => {
    const cases: [string, string, string][] = [
      ['{ orgs { name entries } }', 'entries', '$.selectionSet.orgs.selectionSet.entries.selectionSet'],
      ['{ entries { id org } }', 'orgs', '$.selectionSet.entries.selectionSet.org.selectionSet'],
      [
        '{ entries_aggregate { aggregate } }',
        'entries_aggregate_fields',
        '$.selectionSet.entries_aggregate.selectionSet.aggregate.selectionSet',
      ],
      [
        'mutation { delete_entries(where: {id: {_eq: -1}}) { returning } }',
        'entries',
        '$.selectionSet.delete_entries.selectionSet.returning.selectionSet',
      ],
    ];
    for (const [query, type, path] of cases) {
      const { body } = await gql(engine, query);
      expect(body.errors).toEqual([{ message: `missing selection set for "${type}"`, extensions: { code: 'validation-failed', path } }]);
      expect(body.data).toBeUndefined();
    }
  });

  it('still answers the same fields when they have sub-selections', async () => {
    const { body } = await gql(engine, '{ entries(where: {note: {_eq: "first grant"}}) { amount org { name } } }');
    expect(body).toEqual({ data: { entries: [{ amount: '10.000', org: { name: 'Acme' } }] } });
  });
});

describe('numeric variables sent as JSON numbers', () => {
  const insert =
    'mutation($org: uuid!, $amount: numeric!) { insert_entries_one(object: {org_id: $org, amount: $amount, kind: "grant"}) { id amount } }';

  it('keep every digit of a number with more significant digits than a float holds', async () => {
    const { body } = await rawGql(`{"query":${JSON.stringify(insert)},"variables":{"org":"${ORG_A}","amount":12345678901234567.891}}`);
    const row = body.data?.insert_entries_one as { id: string; amount: string };
    expect(row.amount).toBe('12345678901234567.891');
    const stored = await db.pool.query('select amount::text from t.entries where id = $1', [row.id]);
    expect(stored.rows).toEqual([{ amount: '12345678901234567.891' }]);
  });

  it('keep every digit in comparisons and lists, and numbers a float holds exactly stay numbers', async () => {
    const query =
      'query($a: numeric!, $in: [numeric!]!, $n: Int!) { entries(where: {amount: {_eq: $a}, _or: [{amount: {_in: $in}}]}, limit: $n) { amount } }';
    const { body } = await rawGql(
      `{"query":${JSON.stringify(query)},"variables":{"a":12345678901234567.891,"in":[0.5,12345678901234567.891],"n":1}}`,
    );
    expect(body).toEqual({ data: { entries: [{ amount: '12345678901234567.891' }] } });
  });

  it('refuse a long number where an Int is expected, as they refuse any other non-integer', async () => {
    const query = 'query($n: Int!) { entries(limit: $n) { amount } }';
    const long = await rawGql(`{"query":${JSON.stringify(query)},"variables":{"n":12345678901234567.891}}`);
    const short = await rawGql(`{"query":${JSON.stringify(query)},"variables":{"n":1.5}}`);
    // Hasura's scientificToInteger, quoting the number as Haskell's `show` writes a Scientific.
    const bounds = (shown: string) => ({
      errors: [
        {
          message: `The value ${shown} lies outside the bounds or is not an integer. Maybe it is a float, or is there integer overflow?`,
          extensions: { code: 'parse-failed', path: '$.selectionSet.entries.args.limit' },
        },
      ],
    });
    expect(short.body).toEqual(bounds('1.5'));
    expect(long.body).toEqual(bounds('1.2345678901234567891e16'));
  });

  it('leave the database unchanged when an insert with a long number fails', async () => {
    const before = (await db.pool.query('select id, amount::text from t.entries order by id')).rows;
    const { body } = await rawGql(
      `{"query":${JSON.stringify(insert)},"variables":{"org":"00000000-0000-0000-0000-0000000000ff","amount":12345678901234567.891}}`,
    );
    expect(body.errors?.[0]?.extensions.code).toBe('constraint-violation');
    expect((await db.pool.query('select id, amount::text from t.entries order by id')).rows).toEqual(before);
  });

  it('answer invalid json for a malformed body that contains a long number', async () => {
    const { body } = await rawGql('{"query":"{ entries { id } }","variables":{"a":12345678901234567.891,}}');
    expect(body.errors?.[0]?.extensions.code).toBe('invalid-json');
  });
});

describe('numeric Int literals in the query text', () => {
  const insert = (amount: string) =>
    `mutation { insert_entries_one(object: {org_id: "${ORG_A}", amount: ${amount}, kind: "grant", note: "int literal"}) { id amount } }`;

  it('keep every digit of an integer beyond 2^53, as a Float literal and a variable do', async () => {
    for (const amount of ['12345678901234567', '-12345678901234567']) {
      const { body } = await gql(engine, insert(amount));
      const row = body.data?.insert_entries_one as { id: string; amount: string };
      expect(row.amount).toBe(`${amount}.000`);
      const stored = await db.pool.query('select amount::text from t.entries where id = $1', [row.id]);
      expect(stored.rows).toEqual([{ amount: `${amount}.000` }]);
    }
    // Read back through an inline literal in a comparison, and through a variable's default.
    const read = await gql(
      engine,
      '{ entries(where: {note: {_eq: "int literal"}, amount: {_in: [12345678901234567, -12345678901234567]}}, order_by: {amount: desc}) { amount } }',
    );
    expect(read.body).toEqual({ data: { entries: [{ amount: '12345678901234567.000' }, { amount: '-12345678901234567.000' }] } });
    const byDefault = await gql(engine, 'query($a: numeric = -12345678901234567) { entries(where: {amount: {_eq: $a}}) { amount } }');
    expect(byDefault.body).toEqual({ data: { entries: [{ amount: '-12345678901234567.000' }] } });
  });

  it('still give Int arguments a number, and refuse a long one as the same number in a variable', async () => {
    const short = await gql(engine, '{ entries(order_by: {id: asc}, limit: 1, offset: 1) { note } }');
    expect(short.body).toEqual({ data: { entries: [{ note: 'summary' }] } });
    const negative = await gql(engine, '{ entries(limit: -1) { id } }');
    expect(negative.body.errors?.[0]?.message).toBe('expected a non-negative 32-bit integer for type "Int", but found an integer');
    const literal = await gql(engine, '{ entries(limit: 12345678901234567) { id } }');
    const query = 'query($n: Int!) { entries(limit: $n) { id } }';
    const variable = await rawGql(`{"query":${JSON.stringify(query)},"variables":{"n":12345678901234567}}`);
    expect(literal.body.errors?.[0]?.extensions).toEqual({ code: 'parse-failed', path: '$.selectionSet.entries.args.limit' });
    expect(literal.body).toEqual(variable.body);
  });
});

describe('Float literals, and the bounds of Int', () => {
  // Hasura.GraphQL.Parser.Internal.Scalars: `int` and the limit's `nonNegativeInt` read an Int literal
  // or a JSON number through scientificToInteger into an Int32, the offset's `bigInt` into an Int64;
  // a value beyond the bounds (or a JSON number with a fraction) is parse-failed, quoted as Haskell's
  // `show` writes a Scientific. A Float literal is a GraphQL value of its own: a json value gets the
  // JSON number (valueToJSON), an Int refuses it as a type mismatch.
  const bounds = (shown: string, path: string) => ({
    errors: [
      {
        message: `The value ${shown} lies outside the bounds or is not an integer. Maybe it is a float, or is there integer overflow?`,
        extensions: { code: 'parse-failed', path },
      },
    ],
  });
  const mismatch = (message: string, path: string) => ({ errors: [{ message, extensions: { code: 'validation-failed', path } }] });
  const withVariables = (query: string, variables: string) => rawGql(`{"query":${JSON.stringify(query)},"variables":${variables}}`);
  let handler: Server;
  const received: unknown[] = [];

  beforeAll(async () => {
    await db.pool.query('create table t.gauges (id serial primary key, n int, r real, x numeric, j jsonb, label text)');
    await ok(engine, {
      type: 'pg_track_table',
      args: { table: { schema: 't', name: 'gauges' }, configuration: { custom_name: 'gauges' } },
    });
    handler = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input: { n: number } };
        received.push(body.input);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ n: body.input.n }));
      });
    });
    await new Promise<void>((resolve) => handler.listen(0, '127.0.0.1', resolve));
    const port = (handler.address() as AddressInfo).port;
    await ok(engine, { type: 'set_custom_types', args: { objects: [{ name: 'GaugeEcho', fields: [{ name: 'n', type: 'Int' }] }] } });
    await ok(engine, {
      type: 'create_action',
      args: {
        name: 'echoGauge',
        definition: {
          kind: 'synchronous',
          type: 'mutation',
          handler: `http://127.0.0.1:${port}/echo`,
          arguments: [{ name: 'n', type: 'Int!' }],
          output_type: 'GaugeEcho',
        },
      },
    });
  });
  afterAll(async () => {
    handler?.closeAllConnections();
    await new Promise((resolve) => handler?.close(resolve));
  });

  it('store a Float literal in a jsonb value as the JSON number the same value in the variables gives', async () => {
    const literal = await gql(
      engine,
      'mutation { insert_gauges_one(object: {label: "literal", j: {b: 1.5, c: [2.50, 1e3, -0.125], d: 12345678901234567.5}}) { j } }',
    );
    expect(literal.body).toEqual({ data: { insert_gauges_one: { j: { b: 1.5, c: [2.5, 1000, -0.125], d: 12345678901234568 } } } });
    await withVariables(
      'mutation($j: jsonb!) { insert_gauges_one(object: {label: "variable", j: $j}) { id } }',
      '{"j":{"b":1.5,"c":[2.50,1e3,-0.125],"d":12345678901234567.5}}',
    );
    const stored = await db.pool.query(
      "select label, j::text, jsonb_typeof(j->'b') as b from t.gauges where label in ('literal', 'variable') order by label",
    );
    expect(stored.rows).toEqual([
      { label: 'literal', j: '{"b": 1.5, "c": [2.5, 1000, -0.125], "d": 12345678901234567.5}', b: 'number' },
      { label: 'variable', j: '{"b": 1.5, "c": [2.5, 1000, -0.125], "d": 12345678901234567.5}', b: 'number' },
    ]);
    // The jsonb operators and a variable's default value read the literal the same way.
    const contains = await gql(engine, '{ gauges(where: {j: {_contains: {b: 1.5}}}, order_by: {label: asc}) { label } }');
    expect(contains.body).toEqual({ data: { gauges: [{ label: 'literal' }, { label: 'variable' }] } });
    const appended = await gql(
      engine,
      'mutation($e: jsonb = {e: 0.5}) { update_gauges(where: {label: {_eq: "literal"}}, _append: {j: $e}) { returning { e: j(path: "e") } } }',
    );
    expect(appended.body).toEqual({ data: { update_gauges: { returning: [{ e: 0.5 }] } } });
    const prepended = await gql(
      engine,
      'mutation { update_gauges(where: {label: {_eq: "variable"}}, _prepend: {j: {f: 0.25}}) { affected_rows } }',
    );
    expect(prepended.body).toEqual({ data: { update_gauges: { affected_rows: 1 } } });
    const types = await db.pool.query(
      "select jsonb_typeof(j->'e') as e, jsonb_typeof(j->'f') as f from t.gauges where label in ('literal', 'variable') order by label",
    );
    expect(types.rows).toEqual([
      { e: 'number', f: null },
      { e: null, f: 'number' },
    ]);
  });

  it('still give numeric and real columns, and their comparisons, a Float literal exactly as written', async () => {
    const inserted = await gql(engine, 'mutation { insert_gauges_one(object: {label: "exact", x: 1.50, r: 2.5}) { x r } }');
    expect(inserted.body).toEqual({ data: { insert_gauges_one: { x: '1.50', r: 2.5 } } });
    const query = `{
      eq: gauges(where: {x: {_eq: 1.50}}) { label }
      in: gauges(where: {x: {_in: [1.5, 2]}, r: {_in: [2.5]}}) { label }
      gt: gauges(where: {x: {_gt: 1.4999999999999999999}, r: {_gte: 2.5e0}}) { label }
    }`;
    const { body } = await gql(engine, query);
    expect(body).toEqual({ data: { eq: [{ label: 'exact' }], in: [{ label: 'exact' }], gt: [{ label: 'exact' }] } });
  });

  it('refuse a Float literal where an Int or a String is expected, naming it a float', async () => {
    const column = await gql(engine, 'mutation { insert_gauges_one(object: {n: 1.0}) { id } }');
    expect(column.body).toEqual(
      mismatch('expected a 32-bit integer for type "Int", but found a float', '$.selectionSet.insert_gauges_one.args.object.n'),
    );
    const limit = await gql(engine, '{ gauges(limit: 1.0) { id } }');
    expect(limit.body).toEqual(
      mismatch('expected a non-negative 32-bit integer for type "Int", but found a float', '$.selectionSet.gauges.args.limit'),
    );
    const text = await gql(engine, '{ gauges(where: {label: {_eq: 1.5}}) { id } }');
    expect(text.body).toEqual(
      mismatch('expected a string for type "String", but found a float', '$.selectionSet.gauges.args.where.label._eq'),
    );
  });

  it('refuse an Int column value beyond 32 bits at validation, literal or variable, before Postgres sees it', async () => {
    const insert = (n: string) => gql(engine, `mutation { insert_gauges_one(object: {label: "int", n: ${n}}) { n } }`);
    const path = '$.selectionSet.insert_gauges_one.args.object.n';
    expect((await insert('2147483647')).body).toEqual({ data: { insert_gauges_one: { n: 2147483647 } } });
    expect((await insert('-2147483648')).body).toEqual({ data: { insert_gauges_one: { n: -2147483648 } } });
    expect((await insert('2147483648')).body).toEqual(bounds('2.147483648e9', path));
    expect((await insert('-2147483649')).body).toEqual(bounds('-2.147483649e9', path));
    expect((await insert('3000000000')).body).toEqual(bounds('3.0e9', path));
    const byVariable = 'mutation($n: Int!) { insert_gauges_one(object: {label: "int", n: $n}) { n } }';
    expect((await withVariables(byVariable, '{"n":3000000000}')).body).toEqual(bounds('3.0e9', path));
    expect((await withVariables(byVariable, '{"n":12345678901234567890}')).body).toEqual(bounds('1.234567890123456789e19', path));
    // A JSON number with a fraction is refused by the same check; one without (2.0) is an Int.
    expect((await withVariables(byVariable, '{"n":1.5}')).body).toEqual(bounds('1.5', path));
    expect((await withVariables(byVariable, '{"n":2.0}')).body).toEqual({ data: { insert_gauges_one: { n: 2 } } });
    // In comparisons too (Postgres answered data-exception).
    const where = await gql(engine, '{ gauges(where: {n: {_eq: 3000000000}}) { id } }');
    expect(where.body).toEqual(bounds('3.0e9', '$.selectionSet.gauges.args.where.n._eq'));
    expect((await db.pool.query("select n from t.gauges where label = 'int' order by n")).rows).toEqual([
      { n: -2147483648 },
      { n: 2 },
      { n: 2147483647 },
    ]);
  });

  it('refuse a limit beyond 32 bits; take an offset up to 64 bits, or as a string of digits, as Hasura’s bigInt does', async () => {
    const limitPath = '$.selectionSet.gauges.args.limit';
    expect((await gql(engine, '{ gauges(limit: 3000000000) { id } }')).body).toEqual(bounds('3.0e9', limitPath));
    expect((await gql(engine, '{ gauges(limit: 2147483648) { id } }')).body).toEqual(bounds('2.147483648e9', limitPath));
    const byVariable = 'query($n: Int!) { gauges(limit: $n) { id } }';
    expect((await withVariables(byVariable, '{"n":3000000000}')).body).toEqual(bounds('3.0e9', limitPath));
    expect((await gql(engine, '{ gauges(limit: 2147483647, where: {label: {_eq: "exact"}}) { label } }')).body).toEqual({
      data: { gauges: [{ label: 'exact' }] },
    });
    const offsets = await gql(
      engine,
      `{
        big: gauges(offset: 3000000000) { id }
        text: gauges(offset: "1", order_by: {id: asc}, where: {label: {_in: ["literal", "variable"]}}) { label }
      }`,
    );
    expect(offsets.body).toEqual({ data: { big: [], text: [{ label: 'variable' }] } });
    const offsetPath = '$.selectionSet.gauges.args.offset';
    expect((await gql(engine, '{ gauges(offset: 9223372036854775808) { id } }')).body).toEqual(
      bounds('9.223372036854775808e18', offsetPath),
    );
    expect((await gql(engine, '{ gauges(offset: 1.5) { id } }')).body).toEqual(
      mismatch('expected a 32-bit integer, or a 64-bit integer represented as a string for type "Int", but found a float', offsetPath),
    );
  });

  it('refuse an action’s Int argument beyond 32 bits before calling the handler, and send one within as an integer', async () => {
    received.length = 0;
    const path = '$.selectionSet.echoGauge.args.n';
    expect((await gql(engine, 'mutation { echoGauge(n: 3000000000) { n } }')).body).toEqual(bounds('3.0e9', path));
    const byVariable = 'mutation($n: Int!) { echoGauge(n: $n) { n } }';
    expect((await withVariables(byVariable, '{"n":-2147483649}')).body).toEqual(bounds('-2.147483649e9', path));
    expect((await withVariables(byVariable, '{"n":1.5}')).body).toEqual(bounds('1.5', path));
    expect((await gql(engine, 'mutation { echoGauge(n: 1.0) { n } }')).body).toEqual(
      mismatch('expected a 32-bit integer for type "Int", but found a float', path),
    );
    expect(received).toEqual([]);
    expect((await gql(engine, 'mutation { echoGauge(n: -2147483648) { n } }')).body).toEqual({ data: { echoGauge: { n: -2147483648 } } });
    expect((await withVariables(byVariable, '{"n":2147483647.0}')).body).toEqual({ data: { echoGauge: { n: 2147483647 } } });
    expect(received).toEqual([{ n: -2147483648 }, { n: 2147483647 }]);
  });
});
