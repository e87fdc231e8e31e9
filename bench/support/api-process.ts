/**
 * Bench support: a scratch PostgreSQL database, the built api as a child process, and JSON calls
 * to it. Everything here cleans up after itself; callers wrap use in try/finally.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import Redis from 'ioredis';

const execFileP = promisify(execFile);

/** dist/ (this file runs as dist/bench/support/api-process.js). */
export const DIST = join(__dirname, '..', '..');

export function databaseUrl(db: string): string {
  const base = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
  return `${base.replace(/\/+$/, '')}/${db}`;
}

/** DROP (forcing out stray sessions) and CREATE the database, then run the migrations. */
export async function freshDatabase(db: string): Promise<string> {
  await dropDatabase(db);
  await adminQuery(`CREATE DATABASE "${db}"`);
  const url = databaseUrl(db);
  await execFileP(process.execPath, [join(DIST, 'libs/persistence/src/cli.js'), 'migrate'], {
    env: { ...process.env, DATABASE_URL: url },
  });
  return url;
}

export async function dropDatabase(db: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
}

/** ANALYZE every table (planner statistics for the freshly seeded rows). */
export async function analyze(db: string): Promise<void> {
  await adminQuery('ANALYZE', db);
}

/** VACUUM (ANALYZE) every table: what autovacuum does on a server where it runs. */
export async function vacuumAnalyze(db: string): Promise<void> {
  await adminQuery('VACUUM (ANALYZE)', db);
}

/** Dead rows and pages of the busiest tables (this server may run without autovacuum). */
export async function tableStats(db: string): Promise<string> {
  const c = new Client({ connectionString: databaseUrl(db) });
  await c.connect();
  try {
    const { rows } = await c.query<{ t: string }>(
      `SELECT relname || ' dead ' || n_dead_tup || ' live ' || n_live_tup || ' upd ' || n_tup_upd || ' hot ' || n_tup_hot_upd || ' pages ' || pg_relation_size(relid) / 8192 || ' idx ' || pg_indexes_size(relid) / 8192 AS t
       FROM pg_stat_user_tables ORDER BY n_dead_tup DESC LIMIT 8`,
    );
    return rows.map((r) => r.t).join('; ');
  } finally {
    await c.end();
  }
}

/** Writes every dirty page now (so that a setup's writes do not land in the measured phase). */
export async function checkpoint(db: string): Promise<void> {
  await adminQuery('CHECKPOINT', db);
}

async function adminQuery(sql: string, db = 'postgres'): Promise<void> {
  const c = new Client({ connectionString: databaseUrl(db) });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Empty the Redis database the bench api enqueues into (nobody consumes its jobs). */
export async function flushRedis(url: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    await r.flushdb();
  } finally {
    r.disconnect();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface ApiProcess {
  url: string;
  child: ChildProcess;
  /** Last lines the api wrote (for error messages). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * argv for `node` that runs the script named by NATPLANE_BENCH_MAIN without naming it on the
 * command line, so that a broad `pkill -f dist/apps/...` run by someone else on a shared machine
 * does not take a long benchmark down (test/support/control-loop does the same).
 */
export function hiddenArgs(nodeArgs: string[], label: string): string[] {
  return [...nodeArgs, '-e', 'require(process.env.NATPLANE_BENCH_MAIN)', label];
}

/**
 * Start dist/apps/api/src/main.js (see hiddenArgs). `nodeArgs` go before the script (e.g.
 * --cpu-prof); `env` overrides are applied over the inherited environment (so DB_POOL_SIZE etc.
 * pass through).
 */
export async function startApi(env: Record<string, string>, nodeArgs: string[] = []): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, hiddenArgs(nodeArgs, 'bench-api'), {
    env: { ...process.env, LOG_LEVEL: 'error', ...env, PORT: String(port), HOST: '127.0.0.1', NATPLANE_BENCH_MAIN: join(DIST, 'apps/api/src/main.js') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (b: Buffer) => {
    tail = (tail + b.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const api: ApiProcess = {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => tail,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`api exited with ${child.exitCode} before ready:\n${tail}`);
    try {
      const r = await fetch(`${api.url}/readyz`);
      if (r.ok) return api;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await api.stop();
      throw new Error(`api not ready within 30 s:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A JSON call that must succeed (2xx); returns the parsed body. */
export async function call<T = Record<string, unknown>>(base: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path} -> ${r.status}: ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

/** Run `fn(i)` for i in [0, n) with at most `width` in flight. */
export async function parallel(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, lane));
}
