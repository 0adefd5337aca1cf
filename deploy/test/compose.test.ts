import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { composeVariables, envFileNames, secretLiterals } from './compose-check.ts';

const root = join(import.meta.dirname, '..', '..');
const composeText = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
const envExample = readFileSync(join(root, '.env.example'), 'utf8');

interface ComposeConfig {
  services: Record<string, { image?: string; build?: unknown; healthcheck?: { test: unknown }; environment?: Record<string, string> }>;
}

describe('docker-compose.yml', () => {
  it("is accepted by Debian's docker-compose with .env.example as its env file", () => {
    const rendered = execFileSync(
      'docker-compose',
      ['--env-file', join(root, '.env.example'), '-f', join(root, 'docker-compose.yml'), 'config'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const config = parse(rendered) as ComposeConfig;
    expect(Object.keys(config.services).sort()).toEqual(['api', 'hasura', 'postgres', 'web']);
    expect(config.services.hasura?.image).toMatch(/^hasura\/graphql-engine:v2\.\d+\.\d+\.cli-migrations-v3$/);
    for (const [name, service] of Object.entries(config.services)) {
      expect(service.healthcheck?.test, `${name} has a health check`).toBeDefined();
    }
    // The rendered file has every variable filled in: none was left unset.
    expect(rendered).not.toMatch(/\$\{/);
  });

  it('gives Hasura every environment variable its metadata names, and is healthy only when the metadata is consistent', () => {
    const rendered = execFileSync(
      'docker-compose',
      ['--env-file', join(root, '.env.example'), '-f', join(root, 'docker-compose.yml'), 'config'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const config = parse(rendered) as ComposeConfig;
    const names = new Set<string>();
    const metadataDir = join(root, 'hasura', 'metadata');
    for (const file of readdirSync(metadataDir, { recursive: true, encoding: 'utf8' })) {
      if (!/\.(ya?ml|graphql)$/.test(file)) continue;
      const text = readFileSync(join(metadataDir, file), 'utf8');
      for (const m of text.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) names.add(m[1]!);
      for (const m of text.matchAll(/\b(?:from_env|value_from_env|webhook_from_env|url_from_env)\s*:\s*["']?([A-Za-z_][A-Za-z0-9_]*)/g))
        names.add(m[1]!);
    }
    expect([...names].sort()).toEqual(expect.arrayContaining(['ACTIONS_BASE_URL', 'ACTION_SECRET', 'HASURA_GRAPHQL_DATABASE_URL']));
    const environment = config.services.hasura?.environment ?? {};
    expect([...names].filter((name) => !(name in environment) || environment[name] === '')).toEqual([]);
    // Without strict, /healthz answers 200 with inconsistent objects (Hasura leaves them out of the API).
    expect(JSON.stringify(config.services.hasura?.healthcheck?.test)).toContain('/healthz?strict=true');
  });

  it('has the api listen where Hasura and nginx reach it, and publishes only the web app beyond the host', () => {
    const rendered = execFileSync(
      'docker-compose',
      ['--env-file', join(root, '.env.example'), '-f', join(root, 'docker-compose.yml'), 'config'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const config = parse(rendered) as ComposeConfig & {
      services: Record<string, { ports?: { host_ip?: string; published?: string | number; target?: number }[] | string[] }>;
    };
    // The api's own default is 127.0.0.1: in its container nothing else could reach it.
    expect(config.services.api?.environment?.HOST).toBe('0.0.0.0');
    expect(config.services.api?.environment).not.toHaveProperty('HASURA_GRAPHQL_JWT_SECRET');
    const published = (name: string) => JSON.stringify(config.services[name]?.ports ?? []);
    expect(published('api')).toContain('127.0.0.1');
    expect(published('hasura')).toContain('127.0.0.1');
  });

  it("passes only Stripe's webhook of the api's routes through nginx, and checks its health on IPv4", () => {
    const nginx = readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8');
    const apiLocations = [...nginx.matchAll(/location\s+(=\s+)?(\S+)\s*\{[^}]*proxy_pass http:\/\/api:3001([^;]*);/g)].map((m) => [
      m[2],
      m[3],
    ]);
    expect(apiLocations).toEqual([['/api/webhooks/stripe', '/webhooks/stripe']]);
    expect(composeText).toContain('wget -q --spider http://127.0.0.1:80/');
  });

  it('sends the security headers with every answer of the app, and no version', () => {
    const nginx = readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8');
    const headers = readFileSync(join(root, 'deploy', 'nginx-security-headers.conf'), 'utf8');
    // A location with an add_header of its own drops the server's: each one that serves the app
    // includes the headers itself.
    for (const location of ['/assets/', '/']) {
      const block = new RegExp(`location ${location.replace(/\//g, '\\/')} \\{([^}]*)\\}`).exec(nginx)?.[1] ?? '';
      expect(block, location).toContain('include /etc/nginx/snippets/security-headers.conf;');
    }
    expect(nginx).toMatch(/server_tokens off;/);
    const csp = /add_header Content-Security-Policy "([^"]+)" always;/.exec(headers)?.[1] ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(/script-src ([^;]*)/.exec(csp)?.[1]).toBe("'self'");
    expect(/default-src ([^;]*)/.exec(csp)?.[1]).toBe("'self'");
    for (const header of ['X-Frame-Options "DENY"', 'X-Content-Type-Options "nosniff"', 'Referrer-Policy', 'Strict-Transport-Security']) {
      expect(headers).toMatch(new RegExp(`add_header ${header}.* always;`));
    }
    const dockerfile = readFileSync(join(root, 'deploy', 'web.Dockerfile'), 'utf8');
    expect(dockerfile).toContain('COPY deploy/nginx-security-headers.conf /etc/nginx/snippets/security-headers.conf');
  });

  it('uses only variables that .env.example lists', () => {
    const used = composeVariables(composeText);
    expect(used.length).toBeGreaterThan(5);
    const listed = envFileNames(envExample);
    expect(used.filter((name) => !listed.has(name))).toEqual([]);
  });

  it('writes no secret into the file itself', () => {
    expect(secretLiterals(composeText)).toEqual([]);
  });

  it('names the same secrets the local engine and api read', () => {
    const listed = envFileNames(envExample);
    for (const name of [
      'HASURA_GRAPHQL_ADMIN_SECRET',
      'HASURA_GRAPHQL_JWT_SECRET',
      'ACTION_SECRET',
      'STRIPE_SECRET_KEY',
      'STRIPE_WEBHOOK_SECRET',
      'POSTGRES_PASSWORD',
    ]) {
      expect(listed.has(name), name).toBe(true);
    }
  });
});

describe('the compose checks themselves', () => {
  it('find a variable that the env file does not list', () => {
    const used = composeVariables(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation, not a JS template
      'services:\n  a:\n    environment:\n      X: ${MISSING_ONE}\n      Y: "$${NOT_A_VARIABLE}"\n      Z: $PLAIN\n',
    );
    expect(used).toEqual(['MISSING_ONE', 'PLAIN']);
    expect(envFileNames('# comment\nA=1\n\nB=\n').has('MISSING_ONE')).toBe(false);
  });

  it('find a secret written as a literal', () => {
    const text =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation, not a JS template
      'services:\n  a:\n    environment:\n      ADMIN_SECRET: hunter2\n      DB_PASSWORD: ${DB_PASSWORD}\n      STRIPE_KEY: "sk_live_x"\n';
    expect(secretLiterals(text)).toEqual(['ADMIN_SECRET', 'STRIPE_KEY']);
  });
});
