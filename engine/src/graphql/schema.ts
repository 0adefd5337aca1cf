// The GraphQL schema of one role, as graphql-js objects, for introspection (Apollo Client,
// graphql-codegen). Execution does not go through it: compile.ts reads the model directly and
// enforces the same permissions.
import {
  GraphQLBoolean,
  GraphQLEnumType,
  type GraphQLFieldConfigArgumentMap,
  type GraphQLFieldConfigMap,
  GraphQLFloat,
  type GraphQLInputFieldConfigMap,
  GraphQLInputObjectType,
  type GraphQLInputType,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  type GraphQLOutputType,
  GraphQLScalarType,
  GraphQLSchema,
  GraphQLString,
} from 'graphql';
import { type ColumnInfo, type ComputedFieldInfo, type Model, numericScalars, type TableInfo } from '../model.ts';
import type { CompileOptions } from './compile.ts';
import {
  aggregatable,
  aggregatePredicateColumns,
  aggregatePredicateFunctions,
  comparisonTypeName,
  computedArgsTypeName,
  computedInputArgs,
  scalarOf,
} from './compile.ts';
import { type RootFieldRef, rootFields } from './plan.ts';

export function buildRoleSchema(options: CompileOptions): GraphQLSchema {
  const { model, role, isAdmin } = options;
  const scalars = new Map<string, GraphQLScalarType>([
    ['Int', GraphQLInt],
    ['String', GraphQLString],
    ['Boolean', GraphQLBoolean],
    ['Float', GraphQLFloat],
  ]);
  const scalar = (name: string): GraphQLScalarType => {
    let s = scalars.get(name);
    if (!s) {
      s = new GraphQLScalarType({ name });
      scalars.set(name, s);
    }
    return s;
  };
  const colType = (c: ColumnInfo): GraphQLOutputType & GraphQLInputType => {
    const base = scalar(c.scalar);
    return c.isArray ? new GraphQLList(new GraphQLNonNull(base)) : base;
  };
  const orderBy = new GraphQLEnumType({
    name: 'order_by',
    description: 'column ordering options',
    values: Object.fromEntries(
      ['asc', 'asc_nulls_first', 'asc_nulls_last', 'desc', 'desc_nulls_first', 'desc_nulls_last'].map((v) => [v, { value: v }]),
    ),
  });
  const inputCache = new Map<string, GraphQLInputObjectType>();
  const input = (name: string, fields: () => GraphQLInputFieldConfigMap) => {
    let i = inputCache.get(name);
    if (!i) {
      i = new GraphQLInputObjectType({ name, fields });
      inputCache.set(name, i);
    }
    return i;
  };
  const comparisons = new Map<string, GraphQLInputObjectType>();
  const comparison = (c: ColumnInfo): GraphQLInputObjectType => {
    const name = comparisonTypeName(c);
    let t = comparisons.get(name);
    if (t) return t;
    const type = colType(c);
    const fields: GraphQLInputFieldConfigMap = {};
    for (const op of ['_eq', '_neq', '_gt', '_lt', '_gte', '_lte']) fields[op] = { type };
    fields._in = { type: new GraphQLList(new GraphQLNonNull(type)) };
    fields._nin = { type: new GraphQLList(new GraphQLNonNull(type)) };
    fields._is_null = { type: GraphQLBoolean };
    if (c.scalar === 'String' && !c.isArray) {
      for (const op of ['_like', '_nlike', '_ilike', '_nilike', '_similar', '_nsimilar', '_regex', '_nregex', '_iregex', '_niregex']) {
        fields[op] = { type: GraphQLString };
      }
    }
    if (c.scalar === 'jsonb') {
      fields._contains = { type };
      fields._contained_in = { type };
      fields._has_key = { type: GraphQLString };
      fields._has_keys_any = { type: new GraphQLList(new GraphQLNonNull(GraphQLString)) };
      fields._has_keys_all = { type: new GraphQLList(new GraphQLNonNull(GraphQLString)) };
    }
    if (c.isArray) {
      fields._contains = { type };
      fields._contained_in = { type };
    }
    t = new GraphQLInputObjectType({
      name,
      description: `Boolean expression to compare columns of type "${c.scalar}". All fields are combined with logical 'AND'.`,
      fields,
    });
    comparisons.set(name, t);
    return t;
  };

  const visible = model.tables.filter(
    (t) => isAdmin || t.select.has(role) || t.insert.has(role) || t.update.has(role) || t.delete.has(role),
  );
  const selectCols = (t: TableInfo) => t.columns.filter((c) => isAdmin || selectable(t, c.name, role));
  const objects = new Map<TableInfo, GraphQLObjectType>();
  const boolExps = new Map<TableInfo, GraphQLInputObjectType>();
  const orderBys = new Map<TableInfo, GraphQLInputObjectType>();
  const selectColumnEnums = new Map<TableInfo, GraphQLEnumType>();
  const aggregates = new Map<TableInfo, GraphQLObjectType>();
  const canSelect = (t: TableInfo) => isAdmin || t.select.has(role);
  const canAggregate = (t: TableInfo) => isAdmin || t.select.get(role)?.allow_aggregations === true;
  const cfVisible = (t: TableInfo, cf: ComputedFieldInfo) =>
    (isAdmin || (t.select.get(role)?.computed_fields ?? []).includes(cf.name)) && (!cf.returnsTable || canSelect(cf.returnsTable));
  // Computed fields in bool_exp and order_by: those without input arguments only, as Hasura's.
  const cfNoArgs = (t: TableInfo) => [...t.computedFields.values()].filter((cf) => cfVisible(t, cf) && computedInputArgs(cf).length === 0);
  const enumOf = (name: string, cols: ColumnInfo[], description?: string) =>
    new GraphQLEnumType({
      name,
      description,
      values: Object.fromEntries(cols.map((c) => [c.field, { value: c.field, description: 'column name' }])),
    });
  /** `<t>_aggregate_bool_exp`: Hasura's aggregation predicates over the rows of `t` the role may read and aggregate. */
  const aggregateBoolExp = (t: TableInfo): GraphQLInputObjectType | null => {
    const typeName = `${t.name}_aggregate_bool_exp`;
    const cols = selectCols(t);
    const fns = aggregatePredicateFunctions.filter((fn) => aggregatePredicateColumns(fn, cols).length > 0);
    if (!fns.length) return null;
    return input(typeName, () => {
      const fields: GraphQLInputFieldConfigMap = {};
      for (const fn of fns) {
        const bodyName = `${typeName}_${fn.name}`;
        let args: GraphQLInputType;
        if (fn.args === '*') args = new GraphQLList(new GraphQLNonNull(selectColumnEnum(t)));
        else {
          const enumName = `${t.name}_select_column_${bodyName}_arguments_columns`;
          const e = enumOf(
            enumName,
            aggregatePredicateColumns(fn, cols),
            `select "${bodyName}_arguments_columns" columns of table "${qualifiedName(t)}"`,
          );
          args =
            typeof fn.args === 'string'
              ? new GraphQLNonNull(e)
              : new GraphQLNonNull(
                  input(`${bodyName}_arguments`, () =>
                    Object.fromEntries((fn.args as string[]).map((n) => [n, { type: new GraphQLNonNull(e) }])),
                  ),
                );
        }
        fields[fn.name] = {
          type: input(bodyName, () => ({
            arguments: { type: args },
            distinct: { type: GraphQLBoolean },
            filter: { type: boolExp(t) },
            predicate: { type: new GraphQLNonNull(comparison({ scalar: fn.returns, isArray: false } as ColumnInfo)) },
          })),
        };
      }
      return fields;
    });
  };
  /** `<t>_aggregate_order_by`: count, and each aggregate operator over the columns it applies to (Hasura's orderByAggregation). */
  const aggregateOrderBy = (t: TableInfo): GraphQLInputObjectType =>
    new GraphQLInputObjectType({
      name: `${t.name}_aggregate_order_by`,
      description: `order by aggregate values of table "${qualifiedName(t)}"`,
      fields: () => {
        const fields: GraphQLInputFieldConfigMap = { count: { type: orderBy } };
        for (const op of ['avg', 'max', 'min', 'stddev', 'stddev_pop', 'stddev_samp', 'sum', 'var_pop', 'var_samp', 'variance']) {
          const cols = selectCols(t).filter((c) => aggregatable(op, c));
          if (!cols.length) continue;
          fields[op] = {
            type: input(`${t.name}_${op}_order_by`, () => Object.fromEntries(cols.map((c) => [c.field, { type: orderBy }]))),
          };
        }
        return fields;
      },
    });
  const aggregateOrderBys = new Map<TableInfo, GraphQLInputObjectType>();
  const aggregateOrderByOf = (t: TableInfo) => {
    let o = aggregateOrderBys.get(t);
    if (!o) {
      o = aggregateOrderBy(t);
      aggregateOrderBys.set(t, o);
    }
    return o;
  };
  /** A computed field's `args` (`<cf>_<table>_args`), when its function takes input arguments; non-null when one has no default. */
  const computedArgs = (t: TableInfo, cf: ComputedFieldInfo): GraphQLFieldConfigArgumentMap => {
    const inputs = computedInputArgs(cf);
    if (!inputs.length) return {};
    const type = input(computedArgsTypeName(t, cf), () =>
      Object.fromEntries(
        inputs.map((a, i) => {
          const base = scalar(scalarOf(a.type));
          return [a.name ?? `arg_${i + 1}`, { type: a.type.startsWith('_') ? new GraphQLList(new GraphQLNonNull(base)) : base }];
        }),
      ),
    );
    return {
      args: {
        type: inputs.some((a) => !a.hasDefault) ? new GraphQLNonNull(type) : type,
        description: `input parameters for computed field "${cf.name}" defined on table "${qualifiedName(t)}"`,
      },
    };
  };

  const selectColumnEnum = (t: TableInfo): GraphQLEnumType => {
    let e = selectColumnEnums.get(t);
    if (!e) {
      const cols = selectCols(t);
      e = new GraphQLEnumType({
        name: `${t.name}_select_column`,
        description: `select columns of table "${t.name}"`,
        values: Object.fromEntries(
          (cols.length ? cols : t.columns.slice(0, 1)).map((c) => [c.field, { value: c.field, description: 'column name' }]),
        ),
      });
      selectColumnEnums.set(t, e);
    }
    return e;
  };
  const boolExp = (t: TableInfo): GraphQLInputObjectType => {
    let b = boolExps.get(t);
    if (b) return b;
    b = new GraphQLInputObjectType({
      name: `${t.name}_bool_exp`,
      description: `Boolean expression to filter rows from the table "${t.name}". All fields are combined with a logical 'AND'.`,
      fields: () => {
        const self = boolExps.get(t) as GraphQLInputObjectType;
        const fields: GraphQLInputFieldConfigMap = {
          _and: { type: new GraphQLList(new GraphQLNonNull(self)) },
          _not: { type: self },
          _or: { type: new GraphQLList(new GraphQLNonNull(self)) },
        };
        for (const c of selectCols(t)) fields[c.field] = { type: comparison(c) };
        for (const rel of [...t.objectRelationships.values(), ...t.arrayRelationships.values()]) {
          if (canSelect(rel.target)) fields[rel.name] = { type: boolExp(rel.target) };
        }
        for (const cf of cfNoArgs(t)) {
          fields[cf.name] = {
            type: cf.returnsTable ? boolExp(cf.returnsTable) : comparison({ scalar: cf.scalar, isArray: false } as ColumnInfo),
          };
        }
        for (const rel of t.arrayRelationships.values()) {
          const agg = canSelect(rel.target) && canAggregate(rel.target) ? aggregateBoolExp(rel.target) : null;
          if (agg) fields[`${rel.name}_aggregate`] = { type: agg };
        }
        return fields;
      },
    });
    boolExps.set(t, b);
    return b;
  };
  const orderByType = (t: TableInfo): GraphQLInputObjectType => {
    let o = orderBys.get(t);
    if (o) return o;
    o = new GraphQLInputObjectType({
      name: `${t.name}_order_by`,
      description: `Ordering options when selecting data from "${t.name}".`,
      fields: () => {
        const fields: GraphQLInputFieldConfigMap = {};
        for (const c of selectCols(t)) fields[c.field] = { type: orderBy };
        for (const rel of t.objectRelationships.values()) if (canSelect(rel.target)) fields[rel.name] = { type: orderByType(rel.target) };
        for (const rel of t.arrayRelationships.values()) {
          if (canSelect(rel.target)) {
            fields[`${rel.name}_aggregate`] = { type: aggregateOrderByOf(rel.target) };
          }
        }
        for (const cf of cfNoArgs(t)) {
          if (cf.returnsTable) fields[`${cf.name}_aggregate`] = { type: aggregateOrderByOf(cf.returnsTable) };
          else fields[cf.name] = { type: orderBy };
        }
        return fields;
      },
    });
    orderBys.set(t, o);
    return o;
  };
  const listArgs = (t: TableInfo): GraphQLFieldConfigArgumentMap => ({
    distinct_on: { type: new GraphQLList(new GraphQLNonNull(selectColumnEnum(t))), description: 'distinct select on columns' },
    limit: { type: GraphQLInt, description: 'limit the number of rows returned' },
    offset: { type: GraphQLInt, description: 'skip the first n rows. Use only with order_by' },
    order_by: { type: new GraphQLList(new GraphQLNonNull(orderByType(t))), description: 'sort the rows by one or more columns' },
    where: { type: boolExp(t), description: 'filter the rows returned' },
  });
  const objectType = (t: TableInfo): GraphQLObjectType => {
    let o = objects.get(t);
    if (o) return o;
    o = new GraphQLObjectType({
      name: t.name,
      description: t.entry.configuration?.comment ?? t.pg.comment ?? `columns and relationships of "${t.pg.name}"`,
      fields: () => {
        const fields: GraphQLFieldConfigMap<unknown, unknown> = {};
        for (const c of selectCols(t)) {
          fields[c.field] = { type: c.pg.nullable ? colType(c) : new GraphQLNonNull(colType(c)), description: c.pg.comment ?? undefined };
          // Hasura's json/jsonb columns take `path: String` (compile.ts reads it).
          if (c.scalar === 'json' || c.scalar === 'jsonb') {
            (fields[c.field] as { args?: GraphQLFieldConfigArgumentMap }).args = {
              path: { type: GraphQLString, description: 'JSON select path' },
            };
          }
        }
        for (const rel of t.objectRelationships.values()) {
          if (!canSelect(rel.target)) continue;
          const type = rel.nullable ? objectType(rel.target) : new GraphQLNonNull(objectType(rel.target));
          fields[rel.name] = { type, description: 'An object relationship' };
        }
        for (const rel of t.arrayRelationships.values()) {
          if (!canSelect(rel.target)) continue;
          fields[rel.name] = {
            type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(objectType(rel.target)))),
            args: listArgs(rel.target),
            description: 'An array relationship',
          };
          if (canAggregate(rel.target)) {
            fields[`${rel.name}_aggregate`] = {
              type: new GraphQLNonNull(aggregateType(rel.target)),
              args: listArgs(rel.target),
              description: 'An aggregate relationship',
            };
          }
        }
        for (const cf of t.computedFields.values()) {
          if (!cfVisible(t, cf)) continue;
          if (cf.returnsTable) {
            fields[cf.name] = {
              type: new GraphQLList(new GraphQLNonNull(objectType(cf.returnsTable))),
              args: { ...computedArgs(t, cf), ...listArgs(cf.returnsTable) },
              description: cf.comment,
            };
          } else fields[cf.name] = { type: scalar(cf.scalar), args: computedArgs(t, cf), description: cf.comment };
        }
        return fields;
      },
    });
    objects.set(t, o);
    return o;
  };
  const aggregateType = (t: TableInfo): GraphQLObjectType => {
    let a = aggregates.get(t);
    if (a) return a;
    const cols = selectCols(t);
    const numeric = cols.filter((c) => !c.isArray && numericScalars.has(c.scalar));
    const comparable = cols.filter((c) => !c.isArray && !['json', 'jsonb', 'Boolean', 'uuid'].includes(c.scalar));
    const opFields: GraphQLFieldConfigMap<unknown, unknown> = {
      count: {
        type: new GraphQLNonNull(GraphQLInt),
        args: { columns: { type: new GraphQLList(new GraphQLNonNull(selectColumnEnum(t))) }, distinct: { type: GraphQLBoolean } },
      },
    };
    const opType = (op: string, list: ColumnInfo[], typeOf: (c: ColumnInfo) => GraphQLOutputType) => {
      if (!list.length) return;
      opFields[op] = {
        type: new GraphQLObjectType({
          name: `${t.name}_${op}_fields`,
          description: `aggregate ${op} on columns`,
          fields: Object.fromEntries(list.map((c) => [c.field, { type: typeOf(c) }])),
        }),
      };
    };
    opType('avg', numeric, () => GraphQLFloat);
    opType('max', comparable, (c) => scalar(c.scalar));
    opType('min', comparable, (c) => scalar(c.scalar));
    for (const op of ['stddev', 'stddev_pop', 'stddev_samp']) opType(op, numeric, () => GraphQLFloat);
    opType('sum', numeric, (c) => scalar(c.scalar));
    for (const op of ['var_pop', 'var_samp', 'variance']) opType(op, numeric, () => GraphQLFloat);
    a = new GraphQLObjectType({
      name: `${t.name}_aggregate`,
      description: `aggregated selection of "${t.pg.name}"`,
      fields: () => ({
        aggregate: {
          type: new GraphQLObjectType({
            name: `${t.name}_aggregate_fields`,
            description: `aggregate fields of "${t.pg.name}"`,
            fields: opFields,
          }),
        },
        nodes: { type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(objectType(t)))) },
      }),
    });
    aggregates.set(t, a);
    return a;
  };

  const constraintEnums = new Map<TableInfo, GraphQLEnumType>();
  const roots = rootFields(options);
  const queryFields: GraphQLFieldConfigMap<unknown, unknown> = {};
  const subscriptionFields: GraphQLFieldConfigMap<unknown, unknown> = {};
  const mutationFields: GraphQLFieldConfigMap<unknown, unknown> = {};
  // query_root and subscription_root: the same kinds of fields, each root with its own list.
  const selectRoots: [Map<string, RootFieldRef>, GraphQLFieldConfigMap<unknown, unknown>][] = [
    [roots.query, queryFields],
    [roots.subscription, subscriptionFields],
  ];
  for (const [refs, fields] of selectRoots)
    for (const [name, ref] of refs) {
      const t = ref.table;
      if (ref.kind === 'select') {
        fields[name] = {
          type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(objectType(t)))),
          args: listArgs(t),
          description: `fetch data from the table: "${t.pg.name}"`,
        };
      } else if (ref.kind === 'select_by_pk') {
        const args: GraphQLFieldConfigArgumentMap = {};
        for (const pk of t.pg.primaryKey) {
          const c = t.byName.get(pk) as ColumnInfo;
          args[c.field] = { type: new GraphQLNonNull(colType(c)) };
        }
        fields[name] = {
          type: objectType(t),
          args,
          description: `fetch data from the table: "${t.pg.name}" using primary key columns`,
        };
      } else if (ref.kind === 'select_aggregate') {
        fields[name] = {
          type: new GraphQLNonNull(aggregateType(t)),
          args: listArgs(t),
          description: `fetch aggregated fields from the table: "${t.pg.name}"`,
        };
      } else if (ref.kind === 'function' || ref.kind === 'function_aggregate') {
        const fn = ref.fn as NonNullable<typeof ref.fn>;
        const args = { ...listArgs(t), ...functionArgs(fn, scalar, inputCache) };
        const type =
          ref.kind === 'function_aggregate'
            ? new GraphQLNonNull(aggregateType(t))
            : fn.fn.returnsSet
              ? new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(objectType(t))))
              : objectType(t);
        fields[name] = { type, args };
      }
    }
  const mutationResponses = new Map<TableInfo, GraphQLObjectType>();
  const mutationResponse = (t: TableInfo) => {
    let r = mutationResponses.get(t);
    if (!r) {
      const fields: GraphQLFieldConfigMap<unknown, unknown> = {
        affected_rows: { type: new GraphQLNonNull(GraphQLInt), description: 'number of rows affected by the mutation' },
      };
      if (canSelect(t))
        fields.returning = {
          type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(objectType(t)))),
          description: 'data from the rows affected by the mutation',
        };
      r = new GraphQLObjectType({
        name: `${t.name}_mutation_response`,
        description: `response of any mutation on the table "${t.pg.name}"`,
        fields,
      });
      mutationResponses.set(t, r);
    }
    return r;
  };
  const insertInput = (t: TableInfo): GraphQLInputObjectType =>
    input(`${t.name}_insert_input`, () => {
      const perm = t.insert.get(role);
      const fields: GraphQLInputFieldConfigMap = {};
      for (const c of t.columns) {
        if (c.pg.generated) continue;
        if (!isAdmin && perm && perm.columns !== undefined && perm.columns !== '*' && !perm.columns.includes(c.name)) continue;
        fields[c.field] = { type: colType(c) };
      }
      for (const rel of t.objectRelationships.values()) {
        if (isAdmin || rel.target.insert.has(role)) {
          fields[rel.name] = {
            type: input(`${rel.target.name}_obj_rel_insert_input`, () => ({ data: { type: new GraphQLNonNull(insertInput(rel.target)) } })),
          };
        }
      }
      for (const rel of t.arrayRelationships.values()) {
        if (isAdmin || rel.target.insert.has(role)) {
          fields[rel.name] = {
            type: input(`${rel.target.name}_arr_rel_insert_input`, () => ({
              data: { type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(insertInput(rel.target)))) },
            })),
          };
        }
      }
      return fields;
    });
  const updateCols = (t: TableInfo) => {
    const perm = t.update.get(role);
    return t.columns.filter((c) => !c.pg.generated && (isAdmin || (perm && (perm.columns === '*' || perm.columns.includes(c.name)))));
  };
  for (const [name, ref] of roots.mutation) {
    const t = ref.table;
    const setInput = () =>
      input(`${t.name}_set_input`, () => Object.fromEntries(updateCols(t).map((c) => [c.field, { type: colType(c) }])));
    const updateArgs = (): GraphQLFieldConfigArgumentMap => {
      const args: GraphQLFieldConfigArgumentMap = { _set: { type: setInput() } };
      const numeric = updateCols(t).filter((c) => numericScalars.has(c.scalar) && !c.isArray);
      if (numeric.length)
        args._inc = {
          type: input(`${t.name}_inc_input`, () => Object.fromEntries(numeric.map((c) => [c.field, { type: scalar(c.scalar) }]))),
        };
      const jsonb = updateCols(t).filter((c) => c.scalar === 'jsonb');
      if (jsonb.length) {
        args._append = {
          type: input(`${t.name}_append_input`, () => Object.fromEntries(jsonb.map((c) => [c.field, { type: scalar('jsonb') }]))),
        };
        args._prepend = {
          type: input(`${t.name}_prepend_input`, () => Object.fromEntries(jsonb.map((c) => [c.field, { type: scalar('jsonb') }]))),
        };
        args._delete_key = {
          type: input(`${t.name}_delete_key_input`, () => Object.fromEntries(jsonb.map((c) => [c.field, { type: GraphQLString }]))),
        };
        // Hasura's Postgres update operators: an Int index, a path of non-null Strings.
        args._delete_elem = {
          type: input(`${t.name}_delete_elem_input`, () => Object.fromEntries(jsonb.map((c) => [c.field, { type: GraphQLInt }]))),
        };
        args._delete_at_path = {
          type: input(`${t.name}_delete_at_path_input`, () =>
            Object.fromEntries(jsonb.map((c) => [c.field, { type: new GraphQLList(new GraphQLNonNull(GraphQLString)) }])),
          ),
        };
      }
      return args;
    };
    const constraintEnum = () => {
      let e = constraintEnums.get(t);
      if (!e && t.pg.constraints.length) {
        e = new GraphQLEnumType({
          name: `${t.name}_constraint`,
          values: Object.fromEntries(t.pg.constraints.map((k) => [k.name, { value: k.name }])),
        });
        constraintEnums.set(t, e);
      }
      return e ?? null;
    };
    switch (ref.kind) {
      case 'insert':
      case 'insert_one': {
        const args: GraphQLFieldConfigArgumentMap =
          ref.kind === 'insert'
            ? { objects: { type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(insertInput(t)))) } }
            : { object: { type: new GraphQLNonNull(insertInput(t)) } };
        const ce = t.pg.constraints.length ? constraintEnum() : null;
        if (ce) {
          args.on_conflict = {
            type: input(`${t.name}_on_conflict`, () => ({
              constraint: { type: new GraphQLNonNull(ce) },
              // Hasura: an enum of the columns the role may update (`_PLACEHOLDER` when none), default [].
              update_columns: {
                type: new GraphQLNonNull(
                  new GraphQLList(
                    new GraphQLNonNull(
                      new GraphQLEnumType({
                        name: `${t.name}_update_column`,
                        values: updateCols(t).length
                          ? Object.fromEntries(updateCols(t).map((c) => [c.field, { value: c.field, description: 'column name' }]))
                          : { _PLACEHOLDER: { value: '_PLACEHOLDER', description: 'placeholder (do not use)' } },
                      }),
                    ),
                  ),
                ),
                defaultValue: [],
              },
              where: { type: boolExp(t) },
            })),
          };
        }
        if (ref.kind === 'insert_one' && !canSelect(t)) continue;
        mutationFields[name] = { type: ref.kind === 'insert' ? mutationResponse(t) : objectType(t), args };
        break;
      }
      case 'update':
        mutationFields[name] = { type: mutationResponse(t), args: { ...updateArgs(), where: { type: new GraphQLNonNull(boolExp(t)) } } };
        break;
      case 'update_by_pk': {
        if (!canSelect(t)) continue;
        const pk = input(`${t.name}_pk_columns_input`, () =>
          Object.fromEntries(
            t.pg.primaryKey.map((n) => t.byName.get(n) as ColumnInfo).map((c) => [c.field, { type: new GraphQLNonNull(colType(c)) }]),
          ),
        );
        mutationFields[name] = { type: objectType(t), args: { ...updateArgs(), pk_columns: { type: new GraphQLNonNull(pk) } } };
        break;
      }
      case 'update_many': {
        const updates = input(`${t.name}_updates`, () => {
          const fields: GraphQLInputFieldConfigMap = { where: { type: new GraphQLNonNull(boolExp(t)) } };
          for (const [k, v] of Object.entries(updateArgs())) fields[k] = { type: v.type };
          return fields;
        });
        mutationFields[name] = {
          type: new GraphQLList(mutationResponse(t)),
          args: { updates: { type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(updates))) } },
        };
        break;
      }
      case 'delete':
        mutationFields[name] = { type: mutationResponse(t), args: { where: { type: new GraphQLNonNull(boolExp(t)) } } };
        break;
      case 'delete_by_pk': {
        if (!canSelect(t)) continue;
        const args: GraphQLFieldConfigArgumentMap = {};
        for (const pk of t.pg.primaryKey) {
          const c = t.byName.get(pk) as ColumnInfo;
          args[c.field] = { type: new GraphQLNonNull(colType(c)) };
        }
        mutationFields[name] = { type: objectType(t), args };
        break;
      }
      case 'function': {
        const fn = ref.fn as NonNullable<typeof ref.fn>;
        mutationFields[name] = {
          type: fn.fn.returnsSet ? new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(objectType(t)))) : objectType(t),
          args: { ...listArgs(t), ...functionArgs(fn, scalar, inputCache) },
        };
        break;
      }
    }
  }
  for (const t of visible) if (canSelect(t)) objectType(t);
  if (Object.keys(queryFields).length === 0) {
    queryFields.no_queries_available = { type: new GraphQLNonNull(GraphQLString) };
  }
  return new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'query_root', fields: queryFields }),
    ...(Object.keys(mutationFields).length ? { mutation: new GraphQLObjectType({ name: 'mutation_root', fields: mutationFields }) } : {}),
    // Live queries (src/subscriptions): table fields as subscription_root_fields allows, and functions.
    ...(Object.keys(subscriptionFields).length
      ? { subscription: new GraphQLObjectType({ name: 'subscription_root', fields: subscriptionFields }) }
      : {}),
  });
}

/** A table's name as Hasura's descriptions print it: `name` in public, else `schema.name`. */
function qualifiedName(t: TableInfo): string {
  return t.pg.schema === 'public' ? t.pg.name : `${t.pg.schema}.${t.pg.name}`;
}

function selectable(t: TableInfo, column: string, role: string): boolean {
  const perm = t.select.get(role);
  return !!perm && (perm.columns === '*' || perm.columns.includes(column));
}

function functionArgs(
  fn: import('../model.ts').FunctionInfo,
  scalar: (name: string) => GraphQLScalarType,
  cache: Map<string, GraphQLInputObjectType>,
): GraphQLFieldConfigArgumentMap {
  if (!fn.args.length) return {};
  const required = fn.args.some((a) => !a.hasDefault);
  const argsType =
    cache.get(`${fn.field}_args`) ??
    new GraphQLInputObjectType({
      name: `${fn.field}_args`,
      fields: Object.fromEntries(
        fn.args.map((a) => [
          a.name,
          { type: a.type.startsWith('_') ? new GraphQLList(scalar(a.scalar.replace(/^_/, ''))) : scalar(a.scalar) },
        ]),
      ),
    });
  cache.set(`${fn.field}_args`, argsType);
  return { args: { type: required ? new GraphQLNonNull(argsType) : argsType, description: `input parameters for function "${fn.field}"` } };
}

export type { Model };
