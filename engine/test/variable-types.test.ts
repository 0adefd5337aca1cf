// A variable's declared type against the type where it is used, as Hasura v2 checks it before running
// anything (Hasura's Parser/Internal/TypeChecking.hs `typeCheck`): `variable "id" is declared as String!,
// but used where uuid! is expected`, validation-failed, at the argument's path. Before this check the
// engine ran such operations (a String id found the row, an undefined type name was accepted, an Int
// id reached Postgres as a data-exception).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/index.ts';
import { as, type GqlAnswer, gql, metadata, ORG_A, ORG_B, setupFixture, startEngine, USER_A } from './helpers.ts';
import { firstAnswer } from './subscriptions-client.ts';

const db = await useTestDatabase();
let engine: Engine;
let handler: Server;
let calls = 0;

beforeAll(async () => {
  handler = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => handler.listen(0, '127.0.0.1', resolve));
  engine = await startEngine(db);
  await setupFixture(engine);
  const port = (handler.address() as AddressInfo).port;
  const set = await metadata(engine, {
    type: 'set_custom_types',
    args: {
      input_objects: [
        {
          name: 'VtInput',
          fields: [
            { name: 'n', type: 'Int!' },
            { name: 'tags', type: '[String!]' },
            { name: 'org', type: 'uuid' },
          ],
        },
      ],
      enums: [{ name: 'VtKind', values: [{ value: 'a' }, { value: 'b' }] }],
      objects: [{ name: 'VtOut', fields: [{ name: 'ok', type: 'Boolean!' }] }],
      scalars: [],
    },
  });
  expect(set.status).toBe(200);
  const created = await metadata(engine, {
    type: 'create_action',
    args: {
      name: 'vtAction',
      definition: {
        kind: 'synchronous',
        type: 'mutation',
        arguments: [
          { name: 'input', type: 'VtInput!' },
          { name: 'kind', type: 'VtKind' },
        ],
        output_type: 'VtOut',
        handler: `http://127.0.0.1:${port}/`,
      },
    },
  });
  expect(created.status).toBe(200);
});
afterAll(async () => {
  await engine?.close();
  handler?.closeAllConnections();
  await new Promise((resolve) => handler?.close(resolve));
});

const member = { headers: as('member', { 'user-id': USER_A }) };

function refused(answer: GqlAnswer, message: string, path: string, code = 'validation-failed') {
  expect(answer.status).toBe(200);
  expect(answer.body).toEqual({ errors: [{ message, extensions: { code, path } }] });
}

const mismatch = (name: string, declared: string, expected: string) =>
  `variable "${name}" is declared as ${declared}, but used where ${expected} is expected`;

const table = async (name: string) => (await db.pool.query(`select * from t.${name} order by 1, 2`)).rows;

describe('a variable used where its declared type is not expected', () => {
  it('is refused for a _by_pk key declared as String! or Int! (uuid! expected)', async () => {
    refused(
      await gql(engine, 'query($id: String!) { orgs_by_pk(id: $id) { id } }', { variables: { id: ORG_A } }),
      mismatch('id', 'String!', 'uuid!'),
      '$.selectionSet.orgs_by_pk.args.id',
    );
    refused(
      await gql(engine, 'query($id: Int!) { orgs_by_pk(id: $id) { id } }', { variables: { id: 1 } }),
      mismatch('id', 'Int!', 'uuid!'),
      '$.selectionSet.orgs_by_pk.args.id',
    );
  });

  it('is refused for a type name the schema does not define, where it is used', async () => {
    refused(
      await gql(engine, 'query($l: Foo) { orgs(limit: $l) { id } }', { variables: { l: 1 } }),
      mismatch('l', 'Foo', 'Int'),
      '$.selectionSet.orgs.args.limit',
    );
  });

  it('is refused for a nullable variable where a non-null type is expected, unless it has a non-null default', async () => {
    refused(
      await gql(engine, 'query($id: uuid) { orgs_by_pk(id: $id) { id } }', { variables: { id: ORG_A } }),
      mismatch('id', 'uuid', 'uuid!'),
      '$.selectionSet.orgs_by_pk.args.id',
    );
    refused(
      await gql(engine, 'query($id: uuid = null) { orgs_by_pk(id: $id) { id } }', { variables: { id: ORG_A } }),
      mismatch('id', 'uuid', 'uuid!'),
      '$.selectionSet.orgs_by_pk.args.id',
    );
    const withDefault = await gql(engine, `query($id: uuid = "${ORG_A}") { orgs_by_pk(id: $id) { id } }`);
    expect(withDefault.body).toEqual({ data: { orgs_by_pk: { id: ORG_A } } });
  });

  it('allows no coercion between variables (an Int where numeric or String is expected)', async () => {
    refused(
      await gql(engine, 'query($a: Int) { entries(where: {amount: {_gt: $a}}) { id } }', { variables: { a: 1 } }),
      mismatch('a', 'Int', 'numeric'),
      '$.selectionSet.entries.args.where.amount._gt',
    );
    refused(
      await gql(engine, 'query($l: String) { orgs(offset: $l) { id } }', { variables: { l: '1' } }),
      mismatch('l', 'String', 'Int'),
      '$.selectionSet.orgs.args.offset',
    );
  });

  it('compares list nesting: a single value or a list of lists is refused where a list is expected', async () => {
    refused(
      await gql(engine, 'query($ids: uuid) { orgs(where: {id: {_in: $ids}}) { id } }', { variables: { ids: ORG_A } }),
      mismatch('ids', 'uuid', '[uuid!]'),
      '$.selectionSet.orgs.args.where.id._in',
    );
    refused(
      await gql(engine, 'query($ids: [[uuid!]!]) { orgs(where: {id: {_in: $ids}}) { id } }', { variables: { ids: [[ORG_A]] } }),
      mismatch('ids', '[[uuid!]!]', '[uuid!]'),
      '$.selectionSet.orgs.args.where.id._in',
    );
    refused(
      await gql(engine, 'query($o: orgs_order_by!) { orgs(order_by: $o) { id } }', { variables: { o: { name: 'asc' } } }),
      mismatch('o', 'orgs_order_by!', '[orgs_order_by!]'),
      '$.selectionSet.orgs.args.order_by',
    );
  });

  it('is refused inside list and object literals at any depth, at the item’s path', async () => {
    refused(
      await gql(engine, 'query($a: uuid!, $b: String!) { orgs(where: {id: {_in: [$a, $b]}}) { id } }', {
        variables: { a: ORG_A, b: ORG_B },
      }),
      mismatch('b', 'String!', 'uuid!'),
      '$.selectionSet.orgs.args.where.id._in[1]',
    );
    refused(
      await gql(engine, 'query($n: Int) { orgs(where: {_or: [{id: {_is_null: true}}, {_and: {name: {_eq: $n}}}]}) { id } }', {
        variables: { n: 1 },
      }),
      mismatch('n', 'Int', 'String'),
      '$.selectionSet.orgs.args.where._or[1]._and[0].name._eq',
    );
    refused(
      await gql(engine, 'query($d: String) { orgs(order_by: [{name: $d}]) { id } }', { variables: { d: 'asc' } }),
      mismatch('d', 'String', 'order_by'),
      '$.selectionSet.orgs.args.order_by[0].name',
    );
    refused(
      await gql(engine, 'query($c: String!) { orgs(distinct_on: [$c]) { id } }', { variables: { c: 'name' } }),
      mismatch('c', 'String!', 'orgs_select_column!'),
      '$.selectionSet.orgs.args.distinct_on[0]',
    );
  });

  it('is refused in nested fields, function arguments, fragments, aggregates and introspection', async () => {
    refused(
      await gql(engine, 'query($l: String) { orgs { entries(limit: $l) { id } } }', { variables: { l: '1' } }),
      mismatch('l', 'String', 'Int'),
      '$.selectionSet.orgs.selectionSet.entries.args.limit',
    );
    refused(
      await gql(engine, 'query($q: Int) { t_search_entries(args: {q: $q}) { id } }', { variables: { q: 1 } }),
      mismatch('q', 'Int', 'String'),
      '$.selectionSet.t_search_entries.args.args.q',
    );
    refused(
      await gql(engine, 'query($l: String) { ...F } fragment F on query_root { orgs(limit: $l) { id } }', { variables: { l: '1' } }),
      mismatch('l', 'String', 'Int'),
      '$.selectionSet.F.selectionSet.orgs.args.limit',
    );
    refused(
      await gql(engine, 'query($d: String) { entries_aggregate { aggregate { count(distinct: $d) } } }', { variables: { d: 'x' } }),
      mismatch('d', 'String', 'Boolean'),
      '$.selectionSet.entries_aggregate.selectionSet.aggregate.selectionSet.count.args.distinct',
    );
    refused(
      await gql(engine, 'query($n: Int) { __type(name: $n) { name } }', { variables: { n: 1 } }),
      mismatch('n', 'Int', 'String!'),
      '$.selectionSet.__type.args.name',
    );
  });

  it('is checked for a jsonb column’s path argument (String)', async () => {
    const ok = await gql(engine, `query($p: String) { orgs_by_pk(id: "${ORG_A}") { meta(path: $p) } }`, { variables: { p: '$.tier' } });
    expect(ok.body).toEqual({ data: { orgs_by_pk: { meta: 'pro' } } });
    refused(
      await gql(engine, `query($p: Int) { orgs_by_pk(id: "${ORG_A}") { meta(path: $p) } }`, { variables: { p: 1 } }),
      mismatch('p', 'Int', 'String'),
      '$.selectionSet.orgs_by_pk.selectionSet.meta.args.path',
    );
  });

  it('is refused loudly where the engine’s schema does not type the position (_cast)', async () => {
    const answer = await gql(engine, 'query($s: String) { orgs(where: {name: {_cast: {String: {_eq: $s}}}}) { id } }', {
      variables: { s: 'Acme' },
    });
    refused(
      answer,
      'variable "s" is used where this engine cannot determine the expected type, so its declared type cannot be checked',
      '$.selectionSet.orgs.args.where.name._cast',
      'not-supported',
    );
    // without a variable it runs as before
    const literal = await gql(engine, '{ orgs(where: {name: {_cast: {String: {_eq: "Acme"}}}}) { name } }');
    expect(literal.body).toEqual({ data: { orgs: [{ name: 'Acme' }] } });
  });

  it('is refused for @skip/@include unless declared Boolean! (or Boolean with a non-null default)', async () => {
    refused(
      await gql(engine, 'query($s: String) { orgs @skip(if: $s) { id } }', { variables: { s: 'yes' } }),
      mismatch('s', 'String', 'Boolean!'),
      '$.selectionSet.skip.args.if',
    );
    refused(
      await gql(engine, 'query($s: Boolean) { orgs { id name @include(if: $s) } }', { variables: { s: true } }),
      mismatch('s', 'Boolean', 'Boolean!'),
      '$.selectionSet.orgs.selectionSet.include.args.if',
    );
    const ok = await gql(
      engine,
      'query($s: Boolean!, $t: Boolean = true) { orgs(order_by: {name: asc}) { id @skip(if: $s) name @include(if: $t) } }',
      {
        variables: { s: true },
      },
    );
    expect(ok.body).toEqual({ data: { orgs: [{ name: 'Acme' }, { name: 'Beta' }] } });
  });

  it('is not checked in a field @skip leaves out (Hasura does not parse it)', async () => {
    const answer = await gql(
      engine,
      'query($id: String!) { orgs(limit: 1, order_by: {name: asc}) { id } x: orgs_by_pk(id: $id) @skip(if: true) { id } }',
      {
        variables: { id: ORG_A },
      },
    );
    expect(answer.body).toEqual({ data: { orgs: [{ id: ORG_A }] } });
  });

  it('is refused in a subscription', async () => {
    expect(
      await firstAnswer(`${engine.url}/v1/graphql`, member, {
        query: 'subscription($n: Int) { entries(where: {note: {_eq: $n}}) { id } }',
        variables: { n: 1 },
      }),
    ).toEqual({
      type: 'error',
      id: 's1',
      payload: [
        {
          message: mismatch('n', 'Int', 'String'),
          extensions: { code: 'validation-failed', path: '$.selectionSet.entries.args.where.note._eq' },
        },
      ],
    });
  });
});

describe('a mutation with a variable of the wrong type', () => {
  it('is refused before anything is written: insert, update, delete, on_conflict, function', async () => {
    const before = await table('entries');
    const cases: [string, Record<string, unknown>, string, string][] = [
      [
        'mutation($o: String!) { insert_entries(objects: [{org_id: $o, amount: 1, kind: "x"}]) { affected_rows } }',
        { o: ORG_A },
        mismatch('o', 'String!', 'uuid'),
        '$.selectionSet.insert_entries.args.objects[0].org_id',
      ],
      [
        'mutation($o: entries_insert_input!) { insert_entries(objects: $o) { affected_rows } }',
        { o: { org_id: ORG_A, amount: 1, kind: 'x' } },
        mismatch('o', 'entries_insert_input!', '[entries_insert_input!]!'),
        '$.selectionSet.insert_entries.args.objects',
      ],
      [
        'mutation($c: String!) { insert_entries_one(object: {org_id: "' +
          ORG_A +
          '", amount: 1, kind: "x"}, on_conflict: {constraint: $c, update_columns: []}) { id } }',
        { c: 'entries_pkey' },
        mismatch('c', 'String!', 'entries_constraint!'),
        '$.selectionSet.insert_entries_one.args.on_conflict.constraint',
      ],
      [
        'mutation($n: Int) { update_entries(where: {id: {_eq: 1}}, _set: {note: $n}) { affected_rows } }',
        { n: 1 },
        mismatch('n', 'Int', 'String'),
        '$.selectionSet.update_entries.args._set.note',
      ],
      [
        'mutation($a: Int) { update_entries(where: {id: {_eq: 1}}, _inc: {amount: $a}) { affected_rows } }',
        { a: 1 },
        mismatch('a', 'Int', 'numeric'),
        '$.selectionSet.update_entries.args._inc.amount',
      ],
      [
        'mutation($pk: entries_pk_columns_input) { update_entries_by_pk(pk_columns: $pk, _set: {note: "y"}) { id } }',
        { pk: { id: 1 } },
        mismatch('pk', 'entries_pk_columns_input', 'entries_pk_columns_input!'),
        '$.selectionSet.update_entries_by_pk.args.pk_columns',
      ],
      [
        'mutation($w: entries_bool_exp!) { update_entries_many(updates: [{where: $w, _set: {note: $w}}]) { affected_rows } }',
        { w: { id: { _eq: 1 } } },
        mismatch('w', 'entries_bool_exp!', 'String'),
        '$.selectionSet.update_entries_many.args.updates[0]._set.note',
      ],
      [
        'mutation($id: Int!) { delete_entries(where: {id: {_eq: $id}}) { affected_rows } }',
        { id: 1 },
        mismatch('id', 'Int!', 'bigint'),
        '$.selectionSet.delete_entries.args.where.id._eq',
      ],
      [
        'mutation($id: Int!) { delete_entries_by_pk(id: $id) { id } }',
        { id: 1 },
        mismatch('id', 'Int!', 'bigint!'),
        '$.selectionSet.delete_entries_by_pk.args.id',
      ],
      [
        'mutation($org: String!) { t_add_entry(args: {org: $org, amount: 1}) { id } }',
        { org: ORG_A },
        mismatch('org', 'String!', 'uuid'),
        '$.selectionSet.t_add_entry.args.args.org',
      ],
    ];
    for (const [query, variables, message, path] of cases) refused(await gql(engine, query, { variables }), message, path);
    expect(await table('entries')).toEqual(before);
  });

  it('refuses the whole operation when a later root field is wrong: the first one is not run', async () => {
    const before = await table('entries');
    refused(
      await gql(
        engine,
        'mutation($o: uuid!, $id: Int!) { insert_entries(objects: [{org_id: $o, amount: 1, kind: "x"}]) { affected_rows } delete_entries_by_pk(id: $id) { id } }',
        { variables: { o: ORG_A, id: 1 } },
      ),
      mismatch('id', 'Int!', 'bigint!'),
      '$.selectionSet.delete_entries_by_pk.args.id',
    );
    expect(await table('entries')).toEqual(before);
  });

  it('refuses an action argument of the wrong type, inside its input object or for its enum, without calling the handler', async () => {
    const start = calls;
    refused(
      await gql(engine, 'mutation($n: String!) { vtAction(input: {n: $n}) { ok } }', { variables: { n: '1' } }),
      mismatch('n', 'String!', 'Int!'),
      '$.selectionSet.vtAction.args.input.n',
    );
    refused(
      await gql(engine, 'mutation($t: [Int!]) { vtAction(input: {n: 1, tags: $t}) { ok } }', { variables: { t: [1] } }),
      mismatch('t', '[Int!]', '[String!]'),
      '$.selectionSet.vtAction.args.input.tags',
    );
    refused(
      await gql(engine, 'mutation($k: String) { vtAction(input: {n: 1}, kind: $k) { ok } }', { variables: { k: 'a' } }),
      mismatch('k', 'String', 'VtKind'),
      '$.selectionSet.vtAction.args.kind',
    );
    refused(
      await gql(engine, 'mutation($i: VtInput) { vtAction(input: $i) { ok } }', { variables: { i: { n: 1 } } }),
      mismatch('i', 'VtInput', 'VtInput!'),
      '$.selectionSet.vtAction.args.input',
    );
    expect(calls).toBe(start);
  });
});

describe('variables declared as the schema expects', () => {
  it('run: non-null into nullable, nullable into nullable, a default, lists (inner nullability not compared, as Hasura)', async () => {
    const q = `query($id: uuid!, $l: Int, $ids: [uuid!]!, $loose: [uuid], $o: [orgs_order_by!], $d: [orgs_select_column!], $n: String = "Acme") {
      byId: orgs_by_pk(id: $id) { id }
      list: orgs(limit: $l, order_by: $o, distinct_on: $d, where: {id: {_in: $ids}, _or: [{id: {_in: $loose}}, {name: {_eq: $n}}]}) { id }
      one: orgs(where: {id: {_eq: $id}}) { id }
    }`;
    const answer = await gql(engine, q, {
      variables: { id: ORG_A, l: null, ids: [ORG_A, ORG_B], loose: [ORG_B], o: [{ id: 'asc' }], d: ['id'] },
    });
    expect(answer.body).toEqual({ data: { byId: { id: ORG_A }, list: [{ id: ORG_A }, { id: ORG_B }], one: [{ id: ORG_A }] } });
  });

  it('run as a member, with a whole where, an order_by list item and an aggregate', async () => {
    const answer = await gql(
      engine,
      'query($w: entries_bool_exp, $dir: order_by, $distinct: Boolean) { entries(where: $w, order_by: [{id: $dir}], limit: 1) { id } entries_aggregate { aggregate { count(distinct: $distinct) } } }',
      { ...member, variables: { w: { kind: { _eq: 'grant' } }, dir: 'asc', distinct: false } },
    );
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data?.entries).toHaveLength(1);
  });

  it('run in mutations: objects, update_columns with its default (a nullable variable is allowed there), _set', async () => {
    const inserted = await gql(
      engine,
      'mutation($objs: [entries_insert_input!]!, $cols: [entries_update_column!]) { insert_entries(objects: $objs, on_conflict: {constraint: entries_pkey, update_columns: $cols}) { affected_rows } }',
      { variables: { objs: [{ org_id: ORG_A, amount: 1, kind: 'vt' }], cols: null } },
    );
    expect(inserted.body).toEqual({ data: { insert_entries: { affected_rows: 1 } } });
    const updated = await gql(
      engine,
      'mutation($n: String, $k: String!) { update_entries(where: {kind: {_eq: $k}}, _set: {note: $n}) { affected_rows } }',
      { variables: { n: 'vt note', k: 'vt' } },
    );
    expect(updated.body).toEqual({ data: { update_entries: { affected_rows: 1 } } });
    const deleted = await gql(engine, 'mutation($k: String!) { delete_entries(where: {kind: {_eq: $k}}) { affected_rows } }', {
      variables: { k: 'vt' },
    });
    expect(deleted.body).toEqual({ data: { delete_entries: { affected_rows: 1 } } });
  });

  it('run an action with its input object, list and enum variables', async () => {
    const start = calls;
    const answer = await gql(
      engine,
      'mutation($i: VtInput!, $k: VtKind, $t: [String!], $n: Int!) { a: vtAction(input: $i, kind: $k) { ok } b: vtAction(input: {n: $n, tags: $t}) { ok } }',
      { variables: { i: { n: 1, org: ORG_A }, k: 'a', t: ['x'], n: 2 } },
    );
    expect(answer.body).toEqual({ data: { a: { ok: true }, b: { ok: true } } });
    expect(calls).toBe(start + 2);
  });
});
