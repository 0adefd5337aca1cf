// From metadata to resolved triggers: Hasura's defaults applied, names and schedules checked,
// `{{ENV}}` templates, `webhook_from_env` and `value_from_env` looked up. Anything the engine does
// not implement (request/response transforms, event log cleanup) fails loudly here, at reload,
// rather than being silently ignored at delivery time.
import { CronSchedule } from './schedule.ts';
import type {
  CronTrigger,
  EventTrigger,
  HeaderConf,
  Metadata,
  ResolvedCronTrigger,
  ResolvedEventTrigger,
  ResolvedHeader,
  ResolvedOpSpec,
  ResolvedTriggers,
  TriggerOp,
} from './types.ts';

// Hasura's defaults (event triggers: `retry_conf`; cron triggers: `retry_conf` of scheduled triggers).
export const EVENT_RETRY_DEFAULTS = { num_retries: 0, interval_sec: 10, timeout_sec: 60 } as const;
export const CRON_RETRY_DEFAULTS = { num_retries: 0, retry_interval_seconds: 10, timeout_seconds: 60, tolerance_seconds: 21600 } as const;

/** Postgres names are at most 63 bytes; `notify_hasura_<name>_INSERT` leaves 42 for the trigger name, as in Hasura. */
/**
 * Metadata the trigger service cannot run. Shaped like the engine's errors (`code`, `path`,
 * `status`) so the metadata API can answer it as Hasura answers an inconsistent metadata.
 */
export class TriggerConfigError extends Error {
  readonly status = 400;
  constructor(
    readonly code: 'validation-failed' | 'not-supported' | 'invalid-configuration' | 'not-found',
    message: string,
    readonly path = '$',
  ) {
    super(message);
    this.name = 'TriggerConfigError';
  }
}

const validation = (message: string, path: string) => new TriggerConfigError('validation-failed', message, path);
const notSupported = (message: string, path: string) => new TriggerConfigError('not-supported', message, path);

const TRIGGER_NAME = /^[A-Za-z0-9_-]{1,42}$/;

const CRON_KEYS = new Set([
  'name',
  'webhook',
  'schedule',
  'payload',
  'headers',
  'retry_conf',
  'comment',
  'include_in_metadata',
  'request_transform',
  'response_transform',
]);
const CRON_RETRY_KEYS = new Set(['num_retries', 'retry_interval_seconds', 'timeout_seconds', 'tolerance_seconds']);
const EVENT_KEYS = new Set([
  'name',
  'definition',
  'retry_conf',
  'webhook',
  'webhook_from_env',
  'headers',
  'request_transform',
  'response_transform',
  'cleanup_config',
]);
const EVENT_RETRY_KEYS = new Set(['num_retries', 'interval_sec', 'timeout_sec']);
const DEFINITION_KEYS = new Set(['enable_manual', 'insert', 'update', 'delete']);
const OP_KEYS = new Set(['columns', 'payload']);
const UNSUPPORTED = ['request_transform', 'response_transform', 'cleanup_config'];

export function resolveTriggers(metadata: Metadata, env: NodeJS.ProcessEnv): ResolvedTriggers {
  const cron = new Map<string, ResolvedCronTrigger>();
  (metadata.cron_triggers ?? []).forEach((trigger, index) => {
    const resolved = resolveCronTrigger(trigger, env, `$.cron_triggers[${index}]`);
    if (cron.has(resolved.name)) throw validation(`cron trigger "${resolved.name}" is defined twice`, `$.cron_triggers[${index}].name`);
    cron.set(resolved.name, resolved);
  });

  const events = new Map<string, ResolvedEventTrigger>();
  metadata.sources.forEach((source, sourceIndex) => {
    source.tables.forEach((entry, tableIndex) => {
      (entry.event_triggers ?? []).forEach((trigger, index) => {
        const path = `$.sources[${sourceIndex}].tables[${tableIndex}].event_triggers[${index}]`;
        if (sourceIndex !== 0 || source.kind !== 'postgres') {
          throw notSupported(
            `event trigger "${trigger.name}" is on source "${source.name}"; the engine runs event triggers on its first Postgres source only`,
            path,
          );
        }
        const resolved = resolveEventTrigger(trigger, entry.table.schema ?? 'public', entry.table.name, env, path);
        if (events.has(resolved.name)) throw validation(`event trigger "${resolved.name}" is defined twice`, `${path}.name`);
        events.set(resolved.name, resolved);
      });
    });
  });
  return { cron, events };
}

function resolveCronTrigger(trigger: CronTrigger, env: NodeJS.ProcessEnv, path: string): ResolvedCronTrigger {
  checkKeys(trigger, CRON_KEYS, path, 'cron trigger');
  checkName(trigger.name, `${path}.name`, 'cron trigger');
  const what = `cron trigger "${trigger.name}"`;
  checkUnsupported(trigger, what, path);
  if (typeof trigger.webhook !== 'string' || trigger.webhook === '') throw validation(`${what} has no webhook`, `${path}.webhook`);
  if (typeof trigger.schedule !== 'string') throw validation(`${what} has no schedule`, `${path}.schedule`);
  parseSchedule(trigger.schedule, what, `${path}.schedule`);
  const retry = trigger.retry_conf ?? {};
  checkKeys(retry, CRON_RETRY_KEYS, `${path}.retry_conf`, `${what} retry_conf`);
  return {
    name: trigger.name,
    url: resolveTemplate(trigger.webhook, env, what, `${path}.webhook`),
    schedule: trigger.schedule,
    payloadJson: JSON.stringify(trigger.payload ?? null),
    comment: trigger.comment ?? null,
    headers: resolveHeaders(trigger.headers, env, what, `${path}.headers`),
    numRetries: count(retry.num_retries, CRON_RETRY_DEFAULTS.num_retries, what, `${path}.retry_conf.num_retries`),
    retryIntervalSeconds: seconds(
      retry.retry_interval_seconds,
      CRON_RETRY_DEFAULTS.retry_interval_seconds,
      what,
      `${path}.retry_conf.retry_interval_seconds`,
    ),
    timeoutSeconds: positive(retry.timeout_seconds, CRON_RETRY_DEFAULTS.timeout_seconds, what, `${path}.retry_conf.timeout_seconds`),
    toleranceSeconds: seconds(retry.tolerance_seconds, CRON_RETRY_DEFAULTS.tolerance_seconds, what, `${path}.retry_conf.tolerance_seconds`),
  };
}

function resolveEventTrigger(
  trigger: EventTrigger,
  schema: string,
  table: string,
  env: NodeJS.ProcessEnv,
  path: string,
): ResolvedEventTrigger {
  checkKeys(trigger, EVENT_KEYS, path, 'event trigger');
  checkName(trigger.name, `${path}.name`, 'event trigger');
  const what = `event trigger "${trigger.name}"`;
  checkUnsupported(trigger, what, path);
  const definition = trigger.definition ?? {};
  checkKeys(definition, DEFINITION_KEYS, `${path}.definition`, `${what} definition`);

  const ops: Partial<Record<TriggerOp, ResolvedOpSpec>> = {};
  for (const [key, op] of [
    ['insert', 'INSERT'],
    ['update', 'UPDATE'],
    ['delete', 'DELETE'],
  ] as const) {
    const spec = definition[key] as { columns?: unknown; payload?: unknown } | null | undefined;
    if (spec == null) continue;
    const specPath = `${path}.definition.${key}`;
    checkKeys(spec, OP_KEYS, specPath, `${what} ${key}`);
    const columns = columnList(spec.columns ?? '*', what, `${specPath}.columns`);
    ops[op] = { columns: op === 'UPDATE' ? columns : '*', payload: columnList(spec.payload ?? '*', what, `${specPath}.payload`) };
  }
  const enableManual = definition.enable_manual === true;
  if (Object.keys(ops).length === 0 && !enableManual) {
    throw validation(`${what} fires on nothing: give insert, update, delete or enable_manual`, `${path}.definition`);
  }

  let url: string;
  if (trigger.webhook != null && trigger.webhook_from_env != null) {
    throw validation(`${what} has both webhook and webhook_from_env`, path);
  } else if (trigger.webhook != null) {
    url = resolveTemplate(trigger.webhook, env, what, `${path}.webhook`);
  } else if (trigger.webhook_from_env != null) {
    url = fromEnv(trigger.webhook_from_env, env, what, `${path}.webhook_from_env`);
  } else {
    throw validation(`${what} has neither webhook nor webhook_from_env`, path);
  }

  const retry = trigger.retry_conf ?? {};
  checkKeys(retry, EVENT_RETRY_KEYS, `${path}.retry_conf`, `${what} retry_conf`);
  return {
    name: trigger.name,
    schema,
    table,
    ops,
    enableManual,
    url,
    headers: resolveHeaders(trigger.headers, env, what, `${path}.headers`),
    numRetries: count(retry.num_retries, EVENT_RETRY_DEFAULTS.num_retries, what, `${path}.retry_conf.num_retries`),
    intervalSeconds: seconds(retry.interval_sec, EVENT_RETRY_DEFAULTS.interval_sec, what, `${path}.retry_conf.interval_sec`),
    timeoutSeconds: positive(retry.timeout_sec, EVENT_RETRY_DEFAULTS.timeout_sec, what, `${path}.retry_conf.timeout_sec`),
  };
}

/** A UTC cron schedule of five fields (minute hour day-of-month month day-of-week), as Hasura takes. */
export function parseSchedule(schedule: string, what = 'cron trigger', path = '$'): CronSchedule {
  try {
    return new CronSchedule(schedule);
  } catch (error) {
    throw validation(`${what} has an invalid schedule "${schedule}": ${(error as Error).message}`, path);
  }
}

/** `{{NAME}}` anywhere in a URL is replaced by the environment variable NAME, which must be set. */
export function resolveTemplate(template: string, env: NodeJS.ProcessEnv, what: string, path: string): string {
  return template.replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, (_, name: string) => fromEnv(name, env, what, path));
}

function fromEnv(name: string, env: NodeJS.ProcessEnv, what: string, path: string): string {
  const value = env[name];
  // The message names the variable, never a value.
  if (value === undefined)
    throw new TriggerConfigError('invalid-configuration', `${what}: environment variable "${name}" is not set`, path);
  return value;
}

function resolveHeaders(headers: HeaderConf[] | undefined, env: NodeJS.ProcessEnv, what: string, path: string): ResolvedHeader[] {
  return (headers ?? []).map((header, index) => {
    const at = `${path}[${index}]`;
    if (typeof header.name !== 'string' || header.name === '') throw validation(`${what} has a header without a name`, at);
    if (header.value != null && header.value_from_env != null) {
      throw validation(`${what} header "${header.name}" has both value and value_from_env`, at);
    }
    if (header.value_from_env != null) {
      return {
        name: header.name,
        value: fromEnv(header.value_from_env, env, what, `${at}.value_from_env`),
        fromEnv: header.value_from_env,
      };
    }
    if (typeof header.value !== 'string') throw validation(`${what} header "${header.name}" has no value`, at);
    return { name: header.name, value: header.value, fromEnv: null };
  });
}

function columnList(value: unknown, what: string, path: string): '*' | string[] {
  if (value === '*') return '*';
  if (Array.isArray(value) && value.length > 0 && value.every((c) => typeof c === 'string' && c !== '')) return value as string[];
  throw validation(`${what}: columns must be "*" or a non-empty list of column names`, path);
}

function checkName(name: unknown, path: string, kind: string) {
  if (typeof name !== 'string' || !TRIGGER_NAME.test(name)) {
    throw validation(`${kind} name ${JSON.stringify(name)} must be 1 to 42 letters, digits, "_" or "-"`, path);
  }
}

function checkKeys(value: object, known: Set<string>, path: string, what: string) {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw validation(`${what} has an unknown key "${key}"`, `${path}.${key}`);
  }
}

function checkUnsupported(value: object, what: string, path: string) {
  for (const key of UNSUPPORTED) {
    if ((value as Record<string, unknown>)[key] != null)
      throw notSupported(`${what} uses ${key}, which the engine does not implement`, `${path}.${key}`);
  }
}

function count(value: unknown, fallback: number, what: string, path: string): number {
  if (value == null) return fallback;
  if (!Number.isInteger(value) || (value as number) < 0) throw validation(`${what}: must be a whole number ≥ 0`, path);
  return value as number;
}

function seconds(value: unknown, fallback: number, what: string, path: string): number {
  return count(value, fallback, what, path);
}

function positive(value: unknown, fallback: number, what: string, path: string): number {
  const n = count(value, fallback, what, path);
  if (n === 0) throw validation(`${what}: must be a whole number > 0`, path);
  return n;
}
