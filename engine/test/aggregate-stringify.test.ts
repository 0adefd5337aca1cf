// Aggregates under HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES, as Hasura v2 answers them: every aggregate
// of a bigint, numeric, float8 or money column is a JSON string (Translate/Select: `toJSONableExp
// strfyNum <column type>` around each operator; `isBigNum`), `avg`/`stddev`/`variance`/… included although
// their GraphQL type is Float; aggregates of Int, smallint and Float (real) columns stay numbers. `money`
// is one of Hasura's numeric types (`isNumType`): it has sum/avg/… fields and `_inc`. The engine
// answered avg and the like of numeric and bigint columns as numbers and left money out of the schema.
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { gql, ok, startEngine } from './helpers.ts';

const db = await useTestDatabase();
let strings: Engine;
let numbers: Engine;

beforeAll(async () => {
  strings = await startEngine(db, { HASURA_GRAPHQL_STRINGIFY_NUMERIC_TYPES: 'true' });
  await ok(
    strings,
    {
      type: 'run_sql',
      args: {
        sql: `create schema s;
          create table s.nums (id int primary key, i int not null, sm smallint not null, b bigint not null,
            n numeric(10,2) not null, f float8 not null, r real not null, m money not null);
          insert into s.nums values (1, 1, 1, 1, 1.50, 1.5, 1.5, 1.50), (2, 2, 2, 4, 2.00, 2, 2, 2.25);`,
      },
    },
    '/v2/query',
  );
  await ok(strings, { type: 'pg_track_table', args: { table: { schema: 's', name: 'nums' }, configuration: { custom_name: 'nums' } } });
  numbers = await startEngine(db);
});
afterAll(async () => {
  await strings?.close();
  await numbers?.close();
});

const aggregates = `{ nums_aggregate { aggregate {
  avg { i sm b n f r } sum { i sm b n f r m } max { i b n f m } min { i n m }
  stddev { i b n } stddev_pop { b n } stddev_samp { b n } var_pop { i b n } var_samp { b n } variance { i b n f }
} } }`;

describe('aggregates with stringified numeric types', () => {
  it('are strings for bigint, numeric, float8 and money columns, numbers for Int, smallint and Float', async () => {
    const answer = await gql(strings, aggregates);
    expect(answer.body).toEqual({
      data: {
        nums_aggregate: {
          aggregate: {
            avg: { i: 1.5, sm: 1.5, b: '2.5000000000000000', n: '1.7500000000000000', f: '1.75', r: 1.75 },
            sum: { i: 3, sm: 3, b: '5', n: '3.50', f: '3.5', r: 3.5, m: '$3.75' },
            max: { i: 2, b: '4', n: '2.00', f: '2', m: '$2.25' },
            min: { i: 1, n: '1.50', m: '$1.50' },
            stddev: { i: Math.SQRT1_2, b: '2.1213203435596426', n: '0.35355339059327376220' },
            stddev_pop: { b: '1.5000000000000000', n: '0.25000000000000000000' },
            stddev_samp: { b: '2.1213203435596426', n: '0.35355339059327376220' },
            var_pop: { i: 0.25, b: '2.2500000000000000', n: '0.06250000000000000000' },
            var_samp: { b: '4.5000000000000000', n: '0.12500000000000000000' },
            variance: { i: 0.5, b: '4.5000000000000000', n: '0.12500000000000000000', f: '0.125' },
          },
        },
      },
    });
  });

  it('are numbers without the option (money is text either way, as Postgres writes it)', async () => {
    const answer = await gql(
      numbers,
      '{ nums_aggregate { aggregate { avg { b n f } sum { b n m } var_pop { n } variance { b } max { m } } } }',
    );
    expect(answer.body).toEqual({
      data: {
        nums_aggregate: {
          aggregate: {
            avg: { b: 2.5, n: 1.75, f: 1.75 },
            sum: { b: 5, n: 3.5, m: '$3.75' },
            var_pop: { n: 0.0625 },
            variance: { b: 4.5 },
            max: { m: '$2.25' },
          },
        },
      },
    });
  });

  it('a money column is selected as a string', async () => {
    const answer = await gql(strings, '{ nums(order_by: {id: asc}) { m b } }');
    expect(answer.body).toEqual({
      data: {
        nums: [
          { m: '$1.50', b: '1' },
          { m: '$2.25', b: '4' },
        ],
      },
    });
  });
});

describe('introspection of the aggregate fields', () => {
  const fieldsOf = async (name: string) => {
    const answer = await gql(strings, `{ __type(name: "${name}") { fields { name type { kind name } } } }`);
    const type = answer.body.data?.__type as { fields: { name: string; type: { kind: string; name: string } }[] } | null;
    return Object.fromEntries((type?.fields ?? []).map((f) => [f.name, `${f.type.kind} ${f.type.name}`]));
  };

  it('types avg and the like Float for every numeric column, money included; sum, max and min like the column', async () => {
    const float = 'SCALAR Float';
    const all = { id: float, i: float, sm: float, b: float, n: float, f: float, r: float, m: float };
    for (const op of ['avg', 'stddev', 'stddev_pop', 'stddev_samp', 'var_pop', 'var_samp', 'variance']) {
      expect(await fieldsOf(`nums_${op}_fields`)).toEqual(all);
    }
    const asColumn = {
      id: 'SCALAR Int',
      i: 'SCALAR Int',
      sm: 'SCALAR smallint',
      b: 'SCALAR bigint',
      n: 'SCALAR numeric',
      f: 'SCALAR float8',
      r: 'SCALAR Float',
      m: 'SCALAR money',
    };
    expect(await fieldsOf('nums_sum_fields')).toEqual(asColumn);
    expect(await fieldsOf('nums_max_fields')).toEqual(asColumn);
  });

  it('offers _inc on a money column', async () => {
    const answer = await gql(strings, '{ __type(name: "nums_inc_input") { inputFields { name type { name } } } }');
    const type = answer.body.data?.__type as { inputFields: { name: string; type: { name: string } }[] };
    expect(Object.fromEntries(type.inputFields.map((f) => [f.name, f.type.name]))).toEqual({
      id: 'Int',
      i: 'Int',
      sm: 'smallint',
      b: 'bigint',
      n: 'numeric',
      f: 'float8',
      r: 'Float',
      m: 'money',
    });
  });
});
