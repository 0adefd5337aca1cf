// Actions, cron triggers and event triggers: the parts of the metadata that call the api.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useTestDatabase } from '@org-credits/db/testing';
import { type DefinitionNode, Kind, parse, print } from 'graphql';
import { describe, expect, it } from 'vitest';
import { defaultSource, type HeaderConf, hasuraDir, loadMetadata, metadataDir } from './load-metadata.ts';
import { readSchemaFacts } from './schema-facts.ts';

const metadata = loadMetadata();
const actions = metadata.actions ?? [];
const objects = metadata.custom_types?.objects ?? [];
const inputs = metadata.custom_types?.input_objects ?? [];
const source = defaultSource(metadata);
const db = await useTestDatabase();

const SECRET_HEADER: HeaderConf = { name: 'X-Org-Credits-Secret', value_from_env: 'ACTION_SECRET' };
/** Scalars a Postgres source gives Hasura's schema, usable in action types without declaring them. */
const KNOWN_SCALARS = new Set(['String', 'Int', 'Float', 'Boolean', 'ID', 'numeric', 'uuid', 'timestamptz', 'date', 'jsonb', 'bigint']);
const baseType = (type: string) => type.replace(/[[\]!]/g, '');

/** The GraphQL block of docs/data-model.md: the actions every engineer builds against. */
function contract(): Map<string, string> {
  const doc = readFileSync(join(hasuraDir, '..', 'docs', 'data-model.md'), 'utf8');
  const block = /```graphql\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/data-model.md has no graphql block');
  return signatures(parse(block).definitions);
}

/** One line per action (`Mutation.name(args): Type`) and per field of every other type. */
function signatures(definitions: readonly DefinitionNode[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const def of definitions) {
    if (
      def.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      def.kind !== Kind.INPUT_OBJECT_TYPE_DEFINITION &&
      def.kind !== Kind.OBJECT_TYPE_EXTENSION
    )
      continue;
    for (const field of def.fields ?? []) {
      const args =
        'arguments' in field && field.arguments?.length
          ? `(${field.arguments.map((a) => `${a.name.value}: ${print(a.type)}`).join(', ')})`
          : '';
      out.set(`${def.name.value}.${field.name.value}`, `${args}: ${print(field.type)}`);
    }
  }
  return out;
}

describe('actions.graphql', () => {
  const document = parse(readFileSync(join(metadataDir, 'actions.graphql'), 'utf8'));

  it('defines exactly the actions and types of the contract in docs/data-model.md, with the same arguments and types', () => {
    expect(Object.fromEntries(signatures(document.definitions))).toEqual(Object.fromEntries(contract()));
  });

  it('uses only types it defines or that Hasura knows from Postgres', () => {
    const defined = new Set([...objects.map((o) => o.name), ...inputs.map((i) => i.name)]);
    const unknown: string[] = [];
    for (const action of actions) {
      for (const type of [action.definition.output_type, ...action.definition.arguments.map((a) => a.type)]) {
        if (!KNOWN_SCALARS.has(baseType(type)) && !defined.has(baseType(type))) unknown.push(`${action.name}: ${type}`);
      }
    }
    for (const type of [...objects, ...inputs]) {
      for (const field of type.fields) {
        if (!KNOWN_SCALARS.has(baseType(field.type)) && !defined.has(baseType(field.type)))
          unknown.push(`${type.name}.${field.name}: ${field.type}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});

describe('actions.yaml', () => {
  it('gives every action a comment, explicit permissions, the api handler and the shared-secret header', () => {
    const contracted = [...contract().keys()].filter((k) => /^(Query|Mutation)\./.test(k)).map((k) => k.split('.')[1]);
    expect(actions.map((a) => a.name).sort()).toEqual(contracted.sort());
    for (const action of actions) {
      expect(action.comment?.trim(), `${action.name} comment`).toBeTruthy();
      expect(action.permissions?.length, `${action.name} permissions`).toBeGreaterThan(0);
      expect(action.definition.handler, action.name).toBe('{{ACTIONS_BASE_URL}}/actions');
      expect(action.definition.headers, action.name).toContainEqual(SECRET_HEADER);
      expect(action.definition.forward_client_headers ?? false, `${action.name} forwards no client headers`).toBe(false);
      if (action.definition.type === 'mutation') expect(action.definition.kind, action.name).toBe('synchronous');
    }
  });

  it('lets services, not users, hold, settle and release credits; users act through the dashboard actions', () => {
    const roles = Object.fromEntries(actions.map((a) => [a.name, (a.permissions ?? []).map((p) => p.role).sort()]));
    expect(roles).toEqual({
      cancelPlanChange: ['user'],
      changePlan: ['user'],
      checkAIAccess: ['service', 'user'],
      createTopUpCheckout: ['user'],
      estimateCredits: ['service', 'user'],
      previewPlanChange: ['user'],
      releaseCredits: ['service'],
      reserveCredits: ['service'],
      runPlayground: ['user'],
      settleCredits: ['service'],
    });
  });

  it('links output types to their rows: reservations, the purchase and the plan', async () => {
    const facts = await readSchemaFacts(db.pool);
    const links: Record<string, string[]> = {};
    for (const type of objects) {
      for (const rel of type.relationships ?? []) {
        links[type.name] = [...(links[type.name] ?? []), `${rel.name} -> ${rel.remote_table.name}`];
        expect(
          source.tables.some((t) => t.table.name === rel.remote_table.name),
          `${type.name}.${rel.name}: ${rel.remote_table.name} is tracked`,
        ).toBe(true);
        for (const [field, column] of Object.entries(rel.field_mapping)) {
          expect(
            type.fields.map((f) => f.name),
            `${type.name} has ${field}`,
          ).toContain(field);
          expect(facts.columns.get(rel.remote_table.name), `${rel.remote_table.name} has ${column}`).toContain(column);
        }
      }
    }
    expect(links).toEqual({
      ReserveCreditsOutput: ['reservation -> credit_reservations'],
      SettleCreditsOutput: ['reservation -> credit_reservations'],
      ReleaseCreditsOutput: ['reservation -> credit_reservations'],
      PlaygroundRun: ['reservation -> credit_reservations'],
      TopUpCheckout: ['purchase -> topup_purchases'],
      PlanChangeResult: ['plan -> plans'],
    });
  });
});

describe('triggers', () => {
  const cronField = /^(\*|\d+)(\/\d+)?$/;

  it('run the five jobs on their schedules, each calling /cron/<job> of the api with the secret header', () => {
    const crons = metadata.cron_triggers ?? [];
    expect(Object.fromEntries(crons.map((c) => [c.name, c.schedule]))).toEqual({
      auto_topup_sweep: '*/5 * * * *',
      expire_grants: '0 * * * *',
      expire_reservations: '* * * * *',
      roll_billing_periods: '5 * * * *',
      usage_notifications: '*/15 * * * *',
    });
    for (const cron of crons) {
      expect(cron.webhook).toBe(`{{ACTIONS_BASE_URL}}/cron/${cron.name}`);
      expect(cron.headers).toContainEqual(SECRET_HEADER);
      expect(cron.include_in_metadata).toBe(true);
      expect(cron.comment?.trim()).toBeTruthy();
      expect(cron.schedule.split(' ').every((f) => cronField.test(f))).toBe(true);
    }
  });

  it('tell the api when a spend may call for an auto top-up, through the auto_topup_check event trigger', () => {
    const triggers = source.tables.flatMap((t) => (t.event_triggers ?? []).map((e) => ({ table: t.table.name, ...e })));
    expect(triggers.map((t) => `${t.table}.${t.name}`)).toEqual(['auto_topup_checks.auto_topup_check']);
    const [trigger] = triggers;
    expect(trigger!.definition.insert).toEqual({ columns: '*' });
    expect(trigger!.definition.update).toBeUndefined();
    expect(trigger!.webhook).toBe('{{ACTIONS_BASE_URL}}/events/auto_topup_check');
    expect(trigger!.headers).toContainEqual(SECRET_HEADER);
  });

  it('never write a secret into the metadata: every header of an action or trigger takes its value from the environment', () => {
    const headers = [
      ...actions.flatMap((a) => a.definition.headers ?? []),
      ...(metadata.cron_triggers ?? []).flatMap((c) => c.headers ?? []),
      ...source.tables.flatMap((t) => (t.event_triggers ?? []).flatMap((e) => e.headers ?? [])),
    ];
    expect(headers.length).toBeGreaterThan(0);
    expect(headers.filter((h) => h.value !== undefined || !h.value_from_env)).toEqual([]);
  });
});
