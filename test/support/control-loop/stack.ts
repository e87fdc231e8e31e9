/**
 * The control loop under test, as real processes: a fresh PostgreSQL database per test file
 * (migrated with the built migration CLI), its own Redis database index (flushed at start), the
 * built api (`dist/apps/api/src/main.js`) on a free loopback port and one or more built workers
 * (`dist/apps/worker/src/main.js`), each a child process with its own environment that a test may
 * SIGKILL and restart. Every child's output goes to a log file, printed when a test asks for it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { ApiClient } from './api-client';
import { dropDatabase } from '../databases';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const ADMIN_TOKEN = 'control-loop-admin-token-0123456789';
const WORKER_MAIN = join(ROOT, 'dist/apps/worker/src/main.js');
const API_MAIN = join(ROOT, 'dist/apps/api/src/main.js');
const MIGRATE_CLI = join(ROOT, 'dist/libs/persistence/src/cli.js');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An error that stops `eventually` at once (a process the test relies on is gone). */
export class FatalError extends Error {}

/** Polls `check` (which throws or returns false while not there yet) until it passes or the deadline. */
export async function eventually<T>(what: string, check: () => Promise<T | false>, timeoutMs = 30_000, everyMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const r = await check();
      if (r !== false) return r;
      last = 'not yet';
    } catch (e) {
      if (e instanceof FatalError) throw e;
      last = e;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? last.message : String(last);
      throw new Error(`${what}: not reached within ${timeoutMs} ms; last check: ${why}`);
    }
    await sleep(everyMs);
  }
}

export class ChildProc {
  readonly exits: { code: number | null; signal: NodeJS.Signals | null }[] = [];
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private out?: WriteStream;
  starts = 0;

  constructor(
    readonly label: string,
    private readonly script: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) throw new Error(`${this.label} already running`);
    this.out ??= createWriteStream(this.logFile, { flags: 'a' });
    this.out.write(`\n----- ${this.label} start #${++this.starts} at ${new Date().toISOString()}\n`);
    // The script's path travels in the environment, not on the command line: a broad `pkill -f
    // dist/apps/...` run by someone else on this machine must not take this test's processes down.
    const child = spawn(process.execPath, ['-e', 'require(process.env.CONTROL_LOOP_MAIN)', this.label], {
      cwd: ROOT,
      env: { ...this.env, CONTROL_LOOP_MAIN: this.script },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(this.out, { end: false });
    child.stderr.pipe(this.out, { end: false });
    this.exited = new Promise((res) =>
      child.once('exit', (code, signal) => {
        this.exits.push({ code, signal });
        res();
      }),
    );
    this.child = child;
  }

  /** Sends `signal` to this child (by its pid) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    this.start();
  }

  /** Exits other than the ones the test caused (a crash on its own). */
  unexpectedExits(): { code: number | null; signal: NodeJS.Signals | null }[] {
    return this.exits.filter((e) => e.signal !== 'SIGKILL' && e.signal !== 'SIGTERM');
  }

  tail(lines = 60): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async close(): Promise<void> {
    await this.kill('SIGKILL');
    await new Promise<void>((r) => (this.out ? this.out.end(r) : r()));
  }
}

export interface StackOptions {
  /** The test file (`__filename`): names the database. */
  file: string;
  /** Redis database index of this file (flushed at start); one per test file. */
  redisDb: number;
  /** Workers started with the stack (default 1). */
  workers?: number;
  /** More environment for the api process. */
  apiEnv?: NodeJS.ProcessEnv;
}

function withDatabase(base: string, db: string): string {
  const u = new URL(base);
  u.pathname = `/${db}`;
  return u.toString();
}

export class Stack {
  readonly workers: ChildProc[] = [];
  api!: ApiClient;
  apiProc!: ChildProc;
  pg!: Client;
  redis!: Redis;
  private readonly logDir: string;

  private constructor(
    readonly databaseName: string,
    readonly databaseUrl: string,
    readonly redisUrl: string,
    private readonly adminUrl: string,
  ) {
    this.logDir = mkdtempSync(join(tmpdir(), `natplane-${databaseName}-`));
  }

  static async start(opts: StackOptions): Promise<Stack> {
    for (const f of [WORKER_MAIN, API_MAIN, MIGRATE_CLI]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: build first (npx nest build api, or npm test which builds)`);
    }
    const stem = basename(opts.file).replace(/\.test\.ts$/, '').replace(/[^a-z0-9]/gi, '_').toLowerCase();
    const name = `natplane_cl_${stem}_${process.pid}`.slice(0, 63);
    const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    const redisBase = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    redisBase.pathname = `/${opts.redisDb}`;
    const stack = new Stack(name, withDatabase(base, name), redisBase.toString(), withDatabase(base, 'postgres'));
    await stack.init(opts.workers ?? 1, opts.apiEnv ?? {});
    return stack;
  }

  private async init(workers: number, apiEnv: NodeJS.ProcessEnv): Promise<void> {
    await dropDatabase(this.adminUrl, this.databaseName);
    const mig = spawnSync(process.execPath, [MIGRATE_CLI, 'migrate'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: this.databaseUrl }, encoding: 'utf8' });
    if (mig.status !== 0) throw new Error(`migrate failed: ${mig.stdout}\n${mig.stderr}`);
    this.pg = new Client({ connectionString: this.databaseUrl });
    await this.pg.connect();
    const u = new URL(this.redisUrl);
    this.redis = new Redis({ host: u.hostname, port: Number(u.port || 6379), db: Number(u.pathname.slice(1)), maxRetriesPerRequest: 3 });
    await this.redis.flushdb();

    const port = await freePort();
    this.apiProc = new ChildProc('api', API_MAIN, { ...this.baseEnv(), LOG_LEVEL: 'error,warn', PORT: String(port), HOST: '127.0.0.1', NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, ...apiEnv }, join(this.logDir, 'api.log'));
    this.apiProc.start();
    this.api = new ApiClient(`http://127.0.0.1:${port}`, ADMIN_TOKEN);
    await eventually(
      'api ready',
      async () => {
        if (!this.apiProc.running) throw new Error(`api exited:\n${this.apiProc.tail()}`);
        return (await this.api.get('/readyz', { token: null })).status === 200;
      },
      30_000,
      100,
    );
    for (let i = 0; i < workers; i++) this.addWorker();
  }

  private baseEnv(): NodeJS.ProcessEnv {
    // workers serve no /metrics unless a test asks (WORKER_METRICS_LISTEN): many run at once here
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: this.databaseUrl, REDIS_URL: this.redisUrl, LOG_LEVEL: process.env.CONTROL_LOOP_LOG_LEVEL ?? 'log,error,warn', WORKER_METRICS_LISTEN: 'off' };
    delete env.PUBLIC_URL;
    delete env.NODE_OPTIONS;
    return env;
  }

  /** Starts one more worker process (its own environment and log file). */
  addWorker(extraEnv: NodeJS.ProcessEnv = {}): ChildProc {
    const n = this.workers.length + 1;
    const w = new ChildProc(`worker-${n}`, WORKER_MAIN, { ...this.baseEnv(), DB_POOL_SIZE: '8', ...extraEnv }, join(this.logDir, `worker-${n}.log`));
    w.start();
    this.workers.push(w);
    return w;
  }

  async sql<R extends Record<string, unknown> = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
    return (await this.pg.query<R>(text, params)).rows;
  }

  /** FLUSHDB of this file's Redis database index: every queued job is lost. */
  async flushRedis(): Promise<void> {
    await this.redis.flushdb();
  }

  /** Throws a FatalError when the api or every worker has exited (not restarted by the test). */
  assertAlive(): void {
    const dead = [this.apiProc, ...this.workers].filter((p) => !p.running);
    if (!this.apiProc.running || (this.workers.length > 0 && this.workers.every((w) => !w.running))) {
      throw new FatalError(`process(es) gone: ${dead.map((p) => `${p.label} pid ${p.pid} exits ${JSON.stringify(p.exits)}`).join('; ')}\n${this.logs(15)}`);
    }
  }

  /** The last lines of every child's log, for a failing test's message. */
  logs(lines = 40): string {
    return [this.apiProc, ...this.workers].map((p) => `===== ${p.label} (${p.logFile})\n${p.tail(lines)}`).join('\n');
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    await this.apiProc?.close();
    await this.pg?.end().catch(() => undefined);
    this.redis?.disconnect();
    if (!process.env.CONTROL_LOOP_KEEP_DB) await dropDatabase(this.adminUrl, this.databaseName).catch(() => undefined);
  }
}

