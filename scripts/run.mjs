#!/usr/bin/env node
// The entry point behind `npm test` / `npm run dev` (and `pnpm test` / `pnpm dev`).
// It works on a fresh machine with only Node 20: it gets pnpm through corepack, installs
// the workspace, then runs the stage asked for. Node built-ins only: nothing is installed yet.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pnpmVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];

// corepack checks package signatures against keys that this machine's registry copy does not
// carry; the pinned version in package.json is what we trust instead.
const env = {
  ...process.env,
  COREPACK_ENABLE_DOWNLOAD_PROMPT: '0',
  COREPACK_ENABLE_STRICT: '0',
  COREPACK_INTEGRITY_KEYS: '0',
};

function log(message) {
  process.stdout.write(`\x1b[36m[org-credits]\x1b[0m ${message}\n`);
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env, ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function must(cmd, args, what) {
  const status = run(cmd, args);
  if (status !== 0) {
    log(`${what} failed (exit ${status})`);
    process.exit(status);
  }
}

// Makes `pnpm` (the pinned version) callable by name here and in every child process: through
// corepack shims in an ignored folder of the repo, put first on PATH.
function ensurePnpm() {
  const probe = spawnSync('pnpm', ['--version'], { cwd: root, env, encoding: 'utf8' });
  if (probe.status === 0 && probe.stdout.trim() === pnpmVersion) return;
  const shims = join(root, '.data', 'bin');
  mkdirSync(shims, { recursive: true });
  const enable = spawnSync('corepack', ['enable', 'pnpm', '--install-directory', shims], { cwd: root, env, encoding: 'utf8' });
  if (enable.status !== 0) {
    log(`corepack could not provide pnpm ${pnpmVersion}: ${enable.stderr || enable.error}`);
    process.exit(1);
  }
  env.PATH = `${shims}${delimiter}${env.PATH ?? ''}`;
  const check = spawnSync('pnpm', ['--version'], { cwd: root, env, encoding: 'utf8' });
  if (check.status !== 0 || check.stdout.trim() !== pnpmVersion) {
    log(`pnpm ${pnpmVersion} is not runnable after corepack enable: ${check.stderr}`);
    process.exit(1);
  }
}

ensurePnpm();
const pnpm = (args, what) => must('pnpm', args, what);

function ensureInstalled() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  const lock = join(root, 'pnpm-lock.yaml');
  const fresh = existsSync(marker) && existsSync(lock) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
  if (fresh && !process.env.CI) return;
  log('installing the workspace');
  pnpm(['install', ...(process.env.CI && existsSync(lock) ? ['--frozen-lockfile'] : [])], 'pnpm install');
}

// Debian packages the test suite drives: Chromium for the end-to-end journeys and
// docker-compose to check the production compose file. Installed when missing and apt is there.
function ensureAptPackages() {
  const wanted = [];
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (existsSync(join(root, 'e2e', 'package.json')) && !existsSync(chromium)) wanted.push('chromium');
  if (existsSync(join(root, 'deploy', 'package.json')) && spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status !== 0) {
    wanted.push('docker-compose');
  }
  if (wanted.length === 0) return;
  if (spawnSync('which', ['apt-get'], { encoding: 'utf8' }).status !== 0) {
    log(`missing ${wanted.join(' and ')} and no apt-get to install them; install them (or set CHROMIUM_PATH)`);
    process.exit(1);
  }
  log(`installing Debian packages: ${wanted.join(' ')}`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const apt = (args, what) => must(sudo[0] ?? 'apt-get', sudo.length ? ['apt-get', ...args] : args, what);
  apt(['update', '-qq'], 'apt-get update');
  apt(['install', '-y', '-qq', '--no-install-recommends', ...wanted], `apt-get install ${wanted.join(' ')}`);
}

const stage = process.argv[2];
const rest = process.argv.slice(3);

ensureInstalled();

// The stage itself runs asynchronously so that Ctrl-C (which reaches every process of the
// terminal's group at once) finds this process waiting for its child to finish stopping — pnpm dev
// stops the database and servers cleanly — and ends quietly instead of reporting a failure.
function runStage(script, what) {
  let interrupted = false;
  process.on('SIGINT', () => {
    interrupted = true;
  });
  const child = spawn('pnpm', ['exec', 'tsx', script, ...rest], { cwd: root, stdio: 'inherit', env });
  child.on('exit', (code, signal) => {
    if (interrupted) process.exit(0);
    if (code !== 0) log(`${what} failed (${signal ?? `exit ${code}`})`);
    process.exit(code ?? 1);
  });
}

if (stage === 'test') {
  ensureAptPackages();
  runStage('scripts/test.ts', 'the test suite');
} else if (stage === 'dev') {
  runStage('scripts/dev.ts', 'pnpm dev');
} else {
  log(`unknown stage "${stage}"; use test or dev`);
  process.exit(2);
}
