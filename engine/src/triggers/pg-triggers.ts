// The Postgres side of event triggers. For each event trigger and operation, as Hasura does: a
// function `hdb_catalog."notify_hasura_<name>_<OP>"()` and a row trigger of that name on the
// table, AFTER the operation, which writes the change into `hdb_catalog.event_log` through
// `hdb_catalog.insert_event_log` in the same transaction as the change — so no change is lost
// while the engine is down. An UPDATE fires only when one of the trigger's columns changed.
//
// `syncPgTriggers` makes the database match the metadata in one transaction: it creates what is
// missing, replaces what changed (known by a hash kept in the function's comment) and drops the
// `notify_hasura_*` triggers and functions that metadata no longer has.
import { createHash } from 'node:crypto';
import { inTransaction } from '@org-credits/db';
import type pg from 'pg';
import { CATALOG_LOCK_KEY } from './catalog.ts';
import type { ResolvedEventTrigger, ResolvedOpSpec, TriggerOp } from './types.ts';

const COMMENT_PREFIX = 'org-credits engine event trigger ';

export interface PgTriggerPlan {
  /** `notify_hasura_<name>_<OP>` */
  name: string;
  schema: string;
  table: string;
  sql: string;
  hash: string;
}

export interface SyncResult {
  created: string[];
  replaced: string[];
  dropped: string[];
  /** Undelivered events of dropped event triggers, archived as Hasura does. */
  archived: number;
}

export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function rowJson(row: 'OLD' | 'NEW', payload: ResolvedOpSpec['payload']): string {
  if (payload === '*') return `row_to_json(${row})`;
  return `json_build_object(${payload.map((c) => `${literal(c)}, ${row}.${ident(c)}`).join(', ')})`;
}

function changedColumns(row: 'OLD' | 'NEW', columns: ResolvedOpSpec['columns']): string {
  // jsonb has equality for every column type (json and point columns have none of their own).
  if (columns === '*') return `to_jsonb(${row})`;
  return `jsonb_build_array(${columns.map((c) => `${row}.${ident(c)}`).join(', ')})`;
}

export function planTrigger(trigger: ResolvedEventTrigger, op: TriggerOp, spec: ResolvedOpSpec): PgTriggerPlan {
  const name = `notify_hasura_${trigger.name}_${op}`;
  const fn = `hdb_catalog.${ident(name)}`;
  const table = `${ident(trigger.schema)}.${ident(trigger.table)}`;
  const oldData = op === 'INSERT' ? 'null' : rowJson('OLD', spec.payload);
  const newData = op === 'DELETE' ? 'null' : rowJson('NEW', spec.payload);
  const onlyWhenChanged =
    op === 'UPDATE'
      ? `  if ${changedColumns('OLD', spec.columns)} is not distinct from ${changedColumns('NEW', spec.columns)} then
    return null;
  end if;
`
      : '';
  const of = op === 'UPDATE' && spec.columns !== '*' ? ` of ${spec.columns.map(ident).join(', ')}` : '';
  const sql = `create or replace function ${fn}() returns trigger
  language plpgsql volatile
as $fn$
begin
${onlyWhenChanged}  perform hdb_catalog.insert_event_log(
    tg_table_schema::text, tg_table_name::text, ${literal(trigger.name)}, tg_op,
    json_build_object('old', ${oldData}, 'new', ${newData})
  );
  return null;
end
$fn$;
drop trigger if exists ${ident(name)} on ${table};
create trigger ${ident(name)} after ${op.toLowerCase()}${of} on ${table} for each row execute function ${fn}();
`;
  const hash = createHash('sha256').update(sql).digest('hex').slice(0, 32);
  return {
    name,
    schema: trigger.schema,
    table: trigger.table,
    sql: `${sql}comment on function ${fn}() is ${literal(COMMENT_PREFIX + hash)};\n`,
    hash,
  };
}

export function planTriggers(triggers: Iterable<ResolvedEventTrigger>): PgTriggerPlan[] {
  const plans: PgTriggerPlan[] = [];
  for (const trigger of triggers) {
    for (const op of ['INSERT', 'UPDATE', 'DELETE'] as const) {
      const spec = trigger.ops[op];
      if (spec) plans.push(planTrigger(trigger, op, spec));
    }
  }
  return plans;
}

/**
 * Makes the database's `notify_hasura_*` triggers match `plans`, all or nothing. The pending
 * events of an event trigger that is dropped (no longer in `triggerNames`) are archived.
 */
export async function syncPgTriggers(pool: pg.Pool, plans: PgTriggerPlan[], triggerNames: string[]): Promise<SyncResult> {
  const result: SyncResult = { created: [], replaced: [], dropped: [], archived: 0 };
  await inTransaction(pool, async (client) => {
    await client.query('select pg_advisory_xact_lock($1)', [CATALOG_LOCK_KEY]);
    const existingTriggers = (
      await client.query<{ name: string; schema: string; table: string }>(
        `select t.tgname as name, n.nspname as schema, c.relname as table
           from pg_catalog.pg_trigger t
           join pg_catalog.pg_class c on c.oid = t.tgrelid
           join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          where not t.tgisinternal and t.tgname like 'notify\\_hasura\\_%'`,
      )
    ).rows;
    const existingFunctions = new Map(
      (
        await client.query<{ name: string; comment: string | null }>(
          `select p.proname as name, obj_description(p.oid, 'pg_proc') as comment
             from pg_catalog.pg_proc p
             join pg_catalog.pg_namespace n on n.oid = p.pronamespace
            where n.nspname = 'hdb_catalog' and p.proname like 'notify\\_hasura\\_%'`,
        )
      ).rows.map((r) => [r.name, r.comment]),
    );
    const wanted = new Map(plans.map((p) => [p.name, p]));

    for (const t of existingTriggers) {
      const plan = wanted.get(t.name);
      if (plan && plan.schema === t.schema && plan.table === t.table) continue;
      await client.query(`drop trigger if exists ${ident(t.name)} on ${ident(t.schema)}.${ident(t.table)}`);
      if (!plan) result.dropped.push(t.name);
    }
    for (const name of existingFunctions.keys()) {
      if (!wanted.has(name)) {
        await client.query(`drop function if exists hdb_catalog.${ident(name)}() cascade`);
        if (!result.dropped.includes(name)) result.dropped.push(name);
      }
    }
    for (const plan of plans) {
      const onTable = existingTriggers.some((t) => t.name === plan.name && t.schema === plan.schema && t.table === plan.table);
      const comment = existingFunctions.get(plan.name);
      if (onTable && comment === COMMENT_PREFIX + plan.hash) continue;
      try {
        await client.query(plan.sql);
      } catch (error) {
        throw new Error(`cannot create Postgres trigger ${plan.name} on ${plan.schema}.${plan.table}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      (onTable || existingFunctions.has(plan.name) ? result.replaced : result.created).push(plan.name);
    }
    const droppedTriggers = [
      ...new Set(result.dropped.map((name) => name.replace(/^notify_hasura_(.*)_(INSERT|UPDATE|DELETE)$/, '$1'))),
    ].filter((name) => !triggerNames.includes(name));
    if (droppedTriggers.length > 0) {
      const archived = await client.query(
        `update hdb_catalog.event_log set archived = true
          where trigger_name = any($1::text[]) and not delivered and not error and not archived`,
        [droppedTriggers],
      );
      result.archived = archived.rowCount ?? 0;
    }
  });
  return result;
}
