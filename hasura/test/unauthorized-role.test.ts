// The unauthorized role (HASURA_GRAPHQL_UNAUTHORIZED_ROLE, for requests with no token) gets its
// session variables from the request's own X-Hasura-* headers: Hasura builds its session with
// mkSessionVariablesHeaders (Hasura.Server.Auth, and withoutAuthZ in Hasura.Server.Auth.JWT). Anyone
// can send those headers, so nothing that role may reach may depend on a session variable: no
// permission of it names one, no function or computed field it reaches takes the session, and no
// action (whose handler receives the session) is open to it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { defaultSource, hasuraDir, loadMetadata } from './load-metadata.ts';

const repoRoot = join(hasuraDir, '..');
const compose = parseYaml(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8')) as {
  services: { hasura: { environment: Record<string, string> } };
};
/** The role production runs Hasura with (docker-compose.yml). */
const ROLE = compose.services.hasura.environment.HASURA_GRAPHQL_UNAUTHORIZED_ROLE as string;

const metadata = loadMetadata();
const source = defaultSource(metadata);
const SESSION_VARIABLE = /x-hasura-/i;

interface ComputedField {
  name: string;
  definition: { session_argument?: string };
}

describe(`the unauthorized role (${ROLE})`, () => {
  it('is the same wherever the stack is configured', () => {
    expect(ROLE).toBeTruthy();
    for (const file of ['scripts/stack.ts', 'hasura/test/stack.ts']) {
      const text = readFileSync(join(repoRoot, file), 'utf8');
      expect(/HASURA_GRAPHQL_UNAUTHORIZED_ROLE: '([^']+)'/.exec(text)?.[1], file).toBe(ROLE);
    }
  });

  it('has permissions that name no session variable (the caller sends those)', () => {
    const offenders: string[] = [];
    for (const table of source.tables) {
      const kinds = {
        select: table.select_permissions,
        insert: table.insert_permissions,
        update: table.update_permissions,
        delete: table.delete_permissions,
      };
      for (const [kind, permissions] of Object.entries(kinds)) {
        for (const p of permissions ?? []) {
          if (p.role === ROLE && SESSION_VARIABLE.test(JSON.stringify(p.permission))) offenders.push(`${table.table.name} ${kind}`);
        }
      }
      const computed = (table as { computed_fields?: ComputedField[] }).computed_fields ?? [];
      const allowed = table.select_permissions?.find((p) => p.role === ROLE)?.permission.computed_fields ?? [];
      for (const field of computed) {
        if (field.definition.session_argument && allowed.includes(field.name))
          offenders.push(`${table.table.name}.${field.name} takes the session`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('reaches no function that takes the session, and no action', () => {
    const selects = source.tables.some((t) => t.select_permissions?.some((p) => p.role === ROLE));
    const functions = (source.functions ?? []).filter(
      (f) =>
        f.configuration?.session_argument &&
        // Function permissions are inferred from the returned table's select permission by default
        // (HASURA_GRAPHQL_INFER_FUNCTION_PERMISSIONS): any select permission of the role may reach it.
        (f.permissions?.some((p) => p.role === ROLE) || selects),
    );
    expect(functions.map((f) => f.function.name)).toEqual([]);
    const actions = (metadata.actions ?? []).filter((a) => a.permissions?.some((p) => p.role === ROLE));
    expect(actions.map((a) => a.name)).toEqual([]);
  });
});
