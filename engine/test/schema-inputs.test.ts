// Inputs the compiler runs that the role schema did not declare, now declared as Hasura v2 generates
// them, so introspection shows them and variables in them are type-checked (before, a variable there
// was refused as not-supported):
// - computed fields without input arguments in `<t>_bool_exp` (scalar: `<scalar>_comparison_exp`, table:
//   `<target>_bool_exp`) and `<t>_order_by` (scalar: `order_by`; table: `<cf>_aggregate:
//   <target>_aggregate_order_by`), Schema/BoolExp.hs and Schema/OrderBy.hs;
// - aggregation predicates `<rel>_aggregate: <target>_aggregate_bool_exp` (BoolExp/AggregationPredicates.hs,
//   Postgres `aggregationFunctions`: count, bool_and/bool_or over boolean columns, avg/max/min/sum/
//   stddev_samp/var_samp/corr/covar_samp over float8 ones), exactly one function per object;
// - a computed field's `args: <cf>_<table>_args` (non-null when an argument has no default).
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { as, type GqlAnswer, gql, ORG_A, ok, setupFixture, startEngine, USER_A } from './helpers.ts';

const db = await useTestDatabase();
let engine: Engine;

beforeAll(async () => {
  engine = await startEngine(db);
  await setupFixture(engine);
  await ok(
    engine,
    {
      type: 'run_sql',
      args: {
        sql: `alter table t.entries add column weight float8 not null default 1, add column settled boolean not null default false;
          update t.entries set weight = id * 1.5, settled = (kind = 'grant');
          create function t.org_big_entries(o t.orgs) returns setof t.entries language sql stable as $$ select * from t.entries where org_id = o.id and amount > 2 $$;`,
      },
    },
    '/v2/query',
  );
  await ok(engine, {
    type: 'pg_add_computed_field',
    args: { table: { schema: 't', name: 'orgs' }, name: 'big_entries', definition: { function: { schema: 't', name: 'org_big_entries' } } },
  });
});
afterAll(async () => {
  await engine?.close();
});

function refused(answer: GqlAnswer, message: string, path: string) {
  expect(answer.body).toEqual({ errors: [{ message, extensions: { code: 'validation-failed', path } }] });
}

type InputFields = { inputFields: { name: string; type: { kind: string; name: string | null; ofType: { name: string | null } | null } }[] };
async function inputFields(name: string, headers?: Record<string, string>) {
  const answer = await gql(engine, `{ __type(name: "${name}") { inputFields { name type { kind name ofType { name } } } } }`, { headers });
  return ((answer.body.data as { __type: InputFields | null }).__type?.inputFields ?? null)?.map(
    (f) =>
      `${f.name}: ${f.type.kind === 'NON_NULL' ? `${f.type.ofType?.name}!` : f.type.kind === 'LIST' ? `[${f.type.ofType?.name}]` : f.type.name}`,
  );
}

describe('introspection', () => {
  it('computed fields in bool_exp and order_by, without input arguments only', async () => {
    expect(await inputFields('entries_bool_exp')).toContain('double: numeric_comparison_exp');
    const orgs = await inputFields('orgs_bool_exp');
    expect(orgs).toContain('big_entries: entries_bool_exp');
    expect(orgs?.some((f) => f.startsWith('entries_over'))).toBe(false);
    expect(await inputFields('entries_order_by')).toContain('double: order_by');
    const orgsOrder = await inputFields('orgs_order_by');
    expect(orgsOrder).toContain('big_entries_aggregate: entries_aggregate_order_by');
    expect(orgsOrder?.some((f) => f.startsWith('big_entries:') || f.startsWith('entries_over'))).toBe(false);
    expect(await inputFields('entries_aggregate_order_by')).toEqual([
      'count: order_by',
      'avg: entries_avg_order_by',
      'max: entries_max_order_by',
      'min: entries_min_order_by',
      'stddev: entries_stddev_order_by',
      'stddev_pop: entries_stddev_pop_order_by',
      'stddev_samp: entries_stddev_samp_order_by',
      'sum: entries_sum_order_by',
      'var_pop: entries_var_pop_order_by',
      'var_samp: entries_var_samp_order_by',
      'variance: entries_variance_order_by',
    ]);
  });

  it('aggregation predicates', async () => {
    expect(await inputFields('orgs_bool_exp')).toContain('entries_aggregate: entries_aggregate_bool_exp');
    expect(await inputFields('entries_aggregate_bool_exp')).toEqual([
      'avg: entries_aggregate_bool_exp_avg',
      'bool_and: entries_aggregate_bool_exp_bool_and',
      'bool_or: entries_aggregate_bool_exp_bool_or',
      'count: entries_aggregate_bool_exp_count',
      'max: entries_aggregate_bool_exp_max',
      'min: entries_aggregate_bool_exp_min',
      'sum: entries_aggregate_bool_exp_sum',
      'corr: entries_aggregate_bool_exp_corr',
      'covar_samp: entries_aggregate_bool_exp_covar_samp',
      'stddev_samp: entries_aggregate_bool_exp_stddev_samp',
      'var_samp: entries_aggregate_bool_exp_var_samp',
    ]);
    expect(await inputFields('entries_aggregate_bool_exp_count')).toEqual([
      'arguments: [null]',
      'distinct: Boolean',
      'filter: entries_bool_exp',
      'predicate: Int_comparison_exp!',
    ]);
    expect(await inputFields('entries_aggregate_bool_exp_bool_and')).toEqual([
      'arguments: entries_select_column_entries_aggregate_bool_exp_bool_and_arguments_columns!',
      'distinct: Boolean',
      'filter: entries_bool_exp',
      'predicate: Boolean_comparison_exp!',
    ]);
    expect(await inputFields('entries_aggregate_bool_exp_corr_arguments')).toEqual([
      'Y: entries_select_column_entries_aggregate_bool_exp_corr_arguments_columns!',
      'X: entries_select_column_entries_aggregate_bool_exp_corr_arguments_columns!',
    ]);
    const e = await gql(
      engine,
      '{ __type(name: "entries_select_column_entries_aggregate_bool_exp_avg_arguments_columns") { enumValues { name } } }',
    );
    expect(e.body.data).toEqual({ __type: { enumValues: [{ name: 'weight' }] } });
    // The member may not select weight or settled: only count, and it may aggregate entries; not members.
    const member = as('member', { 'user-id': USER_A });
    expect(await inputFields('entries_aggregate_bool_exp', member)).toEqual(['count: entries_aggregate_bool_exp_count']);
    expect((await inputFields('orgs_bool_exp', member))?.filter((f) => f.includes('_aggregate'))).toEqual([
      'entries_aggregate: entries_aggregate_bool_exp',
    ]);
  });

  it('a computed field’s args', async () => {
    const answer = await gql(
      engine,
      '{ __type(name: "orgs") { fields { name args { name description type { kind ofType { name } } } } } }',
    );
    const fields = (answer.body.data as { __type: { fields: { name: string; args: { name: string }[] }[] } }).__type.fields;
    expect(fields.find((f) => f.name === 'entries_over')?.args[0]).toEqual({
      name: 'args',
      description: 'input parameters for computed field "entries_over" defined on table "t.orgs"',
      type: { kind: 'NON_NULL', ofType: { name: 'entries_over_orgs_args' } },
    });
    expect(fields.find((f) => f.name === 'big_entries')?.args.map((a) => a.name)).toEqual([
      'distinct_on',
      'limit',
      'offset',
      'order_by',
      'where',
    ]);
    expect(await inputFields('entries_over_orgs_args')).toEqual(['min: numeric']);
  });
});

describe('variables in them are typed and run', () => {
  it('a computed field in where and order_by', async () => {
    const q = 'query ($d: numeric!) { entries(where: {double: {_gt: $d}}, order_by: [{double: desc}]) { id } }';
    expect((await gql(engine, q, { variables: { d: 5 } })).body).toEqual({ data: { entries: [{ id: 1 }, { id: 4 }, { id: 3 }] } });
    refused(
      await gql(engine, q.replace('numeric!', 'Int!'), { variables: { d: 5 } }),
      'variable "d" is declared as Int!, but used where numeric is expected',
      '$.selectionSet.entries.args.where.double._gt',
    );
    const t = `query ($k: String!) { orgs(where: {big_entries: {kind: {_eq: $k}}}, order_by: {big_entries_aggregate: {count: desc}}) { name } }`;
    expect((await gql(engine, t, { variables: { k: 'grant' } })).body).toEqual({ data: { orgs: [{ name: 'Acme' }, { name: 'Beta' }] } });
  });

  it('aggregation predicates', async () => {
    const q = `query ($n: Int!) { orgs(where: {entries_aggregate: {count: {predicate: {_gte: $n}, filter: {kind: {_eq: "grant"}}}}}) { name } }`;
    expect((await gql(engine, q, { variables: { n: 2 } })).body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
    refused(
      await gql(engine, q.replace('Int!', 'String!'), { variables: { n: '2' } }),
      'variable "n" is declared as String!, but used where Int is expected',
      '$.selectionSet.orgs.args.where.entries_aggregate.count.predicate._gte',
    );
    const b = `{ orgs(where: {entries_aggregate: {bool_and: {arguments: settled, predicate: {_eq: true}}}}) { name } }`;
    expect((await gql(engine, b)).body).toEqual({ data: { orgs: [{ name: 'Beta' }] } });
    const d = `{ orgs(where: {entries_aggregate: {count: {arguments: [kind], distinct: true, predicate: {_eq: 2}}}}) { name } }`;
    expect((await gql(engine, d)).body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
    const s = `{ orgs(where: {entries_aggregate: {sum: {arguments: weight, predicate: {_gt: 6}}}}) { name } }`;
    expect((await gql(engine, s)).body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
    refused(
      await gql(engine, `{ orgs(where: {entries_aggregate: {}}) { name } }`),
      'exactly one predicate should be specified',
      '$.selectionSet.orgs.args.where.entries_aggregate',
    );
    refused(
      await gql(engine, `{ orgs(where: {entries_aggregate: {bool_or: {arguments: kind, predicate: {_eq: true}}}}) { name } }`),
      'expected one of the values settled for type "entries_select_column_entries_aggregate_bool_exp_bool_or_arguments_columns", but found "kind"',
      '$.selectionSet.orgs.args.where.entries_aggregate.bool_or.arguments',
    );
  });

  it('a computed field’s args', async () => {
    const a = `query ($m: numeric!) { orgs(where: {id: {_eq: "${ORG_A}"}}) { entries_over(args: {min: $m}, order_by: {id: asc}) { id } } }`;
    expect((await gql(engine, a, { variables: { m: 2 } })).body).toEqual({ data: { orgs: [{ entries_over: [{ id: 1 }, { id: 3 }] }] } });
    refused(
      await gql(engine, a.replace('numeric!', 'Int!'), { variables: { m: 2 } }),
      'variable "m" is declared as Int!, but used where numeric is expected',
      '$.selectionSet.orgs.selectionSet.entries_over.args.args.min',
    );
    refused(
      await gql(engine, `{ orgs { entries_over(args: {min: 1, max: 2}) { id } } }`),
      `field "max" not found in type: 'entries_over_orgs_args'`,
      '$.selectionSet.orgs.selectionSet.entries_over.args.args.max',
    );
    refused(
      await gql(engine, `{ orgs(where: {entries_over: {id: {_eq: 1}}}) { name } }`),
      `field "entries_over" not found in type: 'orgs_bool_exp'`,
      '$.selectionSet.orgs.args.where.entries_over',
    );
    refused(
      await gql(engine, `{ orgs(order_by: {big_entries: {count: asc}}) { name } }`),
      `field "big_entries" not found in type: 'orgs_order_by'`,
      '$.selectionSet.orgs.args.order_by.big_entries',
    );
  });
});
