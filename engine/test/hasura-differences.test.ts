// Behaviours where the engine once differed from Hasura v2 (each such difference is a bug).
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { ADMIN_SECRET, type GqlAnswer, gql, ORG_A, setupFixture, startEngine } from './helpers.ts';

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
    expect(short.body.errors?.[0]?.extensions).toEqual({ code: 'validation-failed', path: '$.selectionSet.entries.args.limit' });
    expect(long.body).toEqual(short.body);
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
    expect(literal.body.errors?.[0]?.extensions).toEqual({ code: 'validation-failed', path: '$.selectionSet.entries.args.limit' });
    expect(literal.body).toEqual(variable.body);
  });
});
