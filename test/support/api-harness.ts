/**
 * Medium-test harness for the api: a fresh PostgreSQL database per test file (migrated with the
 * real migrations), the real Nest/Fastify app booted in-process and driven through Fastify's
 * `inject()` (no port), BullMQ queues on a dedicated Redis database. No mocks.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { basename } from 'node:path';
import { Client } from 'pg';
import type * as AppModule from '../../apps/api/src/app';
import type * as ConfigModule from '../../apps/api/src/common/config';
import type * as Persistence from '../../libs/persistence/src';
import { nativeRequire } from './native-require';
import { dropDatabase } from './databases';

/** A parsed JSON body: tests read fields of responses freely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of a test client are untyped by nature
export type Json = any;

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const PROBLEM_JSON = 'application/problem+json';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/5';

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE' | 'HEAD' | 'OPTIONS';

export interface ReqOptions {
  /** Bearer token; default the admin token; `null` sends no Authorization header. */
  token?: string | null;
  /** A JSON body (serialized here), sent as application/json unless `contentType` says otherwise. */
  body?: unknown;
  /** A raw payload sent as is (for malformed JSON and other content types). */
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

export interface ApiResponse<B = Json> {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  /** The parsed JSON body, or undefined when there is none or it is not JSON. */
  body: B;
  /** The raw body text. */
  text: string;
  contentType: string;
}

/** Body of a problem+json response. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { field: string; message: string }[];
  users?: string[];
}

function dbNameFor(file: string): string {
  const stem = basename(file)
    .replace(/\.(test|spec)\.ts$/, '')
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase();
  return `natplane_test_${stem}_${process.pid}`.slice(0, 63);
}

function withDatabase(base: string, db: string): string {
  const u = new URL(base);
  u.pathname = `/${db}`;
  return u.toString();
}

export class TestApi {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly databaseUrl: string,
    readonly databaseName: string,
    private readonly adminUrl: string,
    private readonly pg: Client,
  ) {}

  /** Creates and migrates a fresh database for `file` (pass `__filename`), boots the app on it. */
  static async start(file: string): Promise<TestApi> {
    const base = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    const name = dbNameFor(file);
    const adminUrl = withDatabase(base, 'postgres');
    const databaseUrl = withDatabase(base, name);
    const { createDataSource, ensureDatabase, runMigrations } = nativeRequire<typeof Persistence>('libs/persistence/src/index.ts');
    const { createApi } = nativeRequire<typeof AppModule>('apps/api/src/app.ts');
    const { loadApiConfig } = nativeRequire<typeof ConfigModule>('apps/api/src/common/config.ts');
    await dropDatabase(adminUrl, name);
    await ensureDatabase(databaseUrl);
    const ds = createDataSource(databaseUrl, 2);
    await ds.initialize();
    try {
      await runMigrations(ds);
    } finally {
      await ds.destroy();
    }
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL, NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN };
    delete env.PUBLIC_URL;
    const app = await createApi({ ...loadApiConfig(env), databaseUrl, redisUrl: TEST_REDIS_URL, adminToken: ADMIN_TOKEN, dbPoolSize: 10 }, { logger: false });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    const pg = new Client({ connectionString: databaseUrl });
    await pg.connect();
    return new TestApi(app, databaseUrl, name, adminUrl, pg);
  }

  async close(): Promise<void> {
    await this.pg.end().catch(() => undefined);
    await this.app.close();
    await dropDatabase(this.adminUrl, this.databaseName);
  }

  async req<B = Json>(method: Method, path: string, opts: ReqOptions = {}): Promise<ApiResponse<B>> {
    const headers: Record<string, string> = {};
    const token = opts.token === undefined ? ADMIN_TOKEN : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let payload: string | Buffer | undefined;
    if (opts.raw !== undefined) {
      payload = opts.raw;
      headers['content-type'] = opts.contentType ?? 'application/json';
    } else if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
    }
    Object.assign(headers, opts.headers ?? {});
    let url = path;
    if (opts.query) {
      const qs = new URLSearchParams(opts.query).toString();
      if (qs) url += (url.includes('?') ? '&' : '?') + qs;
    }
    const res = await this.app.inject({ method, url, headers, payload });
    const text = res.body;
    const contentType = String(res.headers['content-type'] ?? '');
    let body: Json;
    if (text !== '' && /json/.test(contentType)) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    return { status: res.statusCode, headers: res.headers, body: body as B, text, contentType };
  }

  get = <B = Json>(path: string, opts?: ReqOptions) => this.req<B>('GET', path, opts);
  post = <B = Json>(path: string, body: unknown, opts?: ReqOptions) => this.req<B>('POST', path, { ...opts, body });
  patch = <B = Json>(path: string, body: unknown, opts?: ReqOptions) => this.req<B>('PATCH', path, { ...opts, body });
  del = <B = Json>(path: string, opts?: ReqOptions) => this.req<B>('DELETE', path, opts);

  /** SQL on the test database (for counts and snapshots). */
  async sql<R extends Record<string, Json> = Record<string, Json>>(text: string, params: unknown[] = []): Promise<R[]> {
    return (await this.pg.query<R>(text, params)).rows;
  }

  async count(table: string): Promise<number> {
    const [r] = await this.sql<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
    return Number(r.n);
  }

  /** Every public table with its row count and an md5 of all its rows: equal snapshots = nothing changed. */
  async snapshot(): Promise<Record<string, string>> {
    const tables = await this.sql<{ t: string }>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'typeorm_migrations' ORDER BY 1`,
    );
    const out: Record<string, string> = {};
    for (const { t } of tables) {
      const [r] = await this.sql<{ n: string; h: string | null }>(`SELECT count(*)::text AS n, md5(string_agg(x::text, ',' ORDER BY x::text)) AS h FROM "${t}" x`);
      out[t] = `${r.n}:${r.h ?? '-'}`;
    }
    return out;
  }

  private fingerprintSql: string | undefined;

  /** The same as snapshot() in one round trip: one string per table, `count:md5`. */
  async fingerprint(): Promise<Record<string, string>> {
    if (!this.fingerprintSql) {
      const tables = await this.sql<{ t: string }>(
        `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'typeorm_migrations' ORDER BY 1`,
      );
      this.fingerprintSql = `SELECT ${tables
        .map(({ t }) => `(SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '-') FROM "${t}" x) AS "${t}"`)
        .join(', ')}`;
    }
    const [row] = await this.sql<Record<string, string>>(this.fingerprintSql);
    return row;
  }

  // ------------------------------------------------------------------------------------------
  // Seeding: each helper asserts a 201 and returns the created resource.
  // ------------------------------------------------------------------------------------------

  private async created(path: string, body: unknown, token?: string): Promise<Json> {
    const r = await this.post(path, body, { token });
    if (r.status !== 201) throw new Error(`seed POST ${path} ${JSON.stringify(body)} -> ${r.status} ${r.text}`);
    return r.body;
  }

  project(name: string, extra: Record<string, unknown> = {}): Promise<Json> {
    return this.created('/v1/admin/projects', { name, ...extra });
  }

  async projectToken(project: string): Promise<string> {
    const r = await this.post(`/v1/admin/projects/${project}/tokens`, undefined);
    if (r.status !== 201 || typeof r.body?.token !== 'string') throw new Error(`token for ${project} -> ${r.status} ${r.text}`);
    return r.body.token as string;
  }

  host(name: string, region = 'r1', extra: Record<string, unknown> = {}): Promise<Json> {
    return this.created('/v1/admin/hosts', { name, region, zone: `${region}-a`, agentUrl: 'http://127.0.0.1:1', ...extra });
  }

  pool(name: string, region: string, cidrs: string[]): Promise<Json> {
    return this.created('/v1/admin/addressPools', { name, region, cidrs });
  }

  network(project: string, name: string, extra: Record<string, unknown> = {}, token?: string): Promise<Json> {
    return this.created(`/v1/projects/${project}/networks`, { name, ...extra }, token);
  }

  subnet(project: string, name: string, body: { network: string; region?: string; ipCidrRange: string; [k: string]: unknown }, token?: string): Promise<Json> {
    return this.created(`/v1/projects/${project}/subnets`, { name, region: 'r1', ...body }, token);
  }

  endpoint(project: string, name: string, body: { subnet: string; host: string; networkIp: string; [k: string]: unknown }, token?: string): Promise<Json> {
    return this.created(`/v1/projects/${project}/endpoints`, { name, ...body }, token);
  }

  address(project: string, name: string, region = 'r1', extra: Record<string, unknown> = {}, token?: string): Promise<Json> {
    return this.created(`/v1/projects/${project}/addresses`, { name, region, ...extra }, token);
  }

  gateway(project: string, name: string, body: { network: string; region?: string; [k: string]: unknown }, token?: string): Promise<Json> {
    return this.created(`/v1/projects/${project}/natGateways`, { name, region: 'r1', ...body }, token);
  }
}


/** Asserts a problem+json response with `status`; returns the problem. */
export function expectProblem(r: ApiResponse, status: number): Problem {
  if (r.status !== status || !r.contentType.startsWith(PROBLEM_JSON)) {
    throw new Error(`expected ${status} ${PROBLEM_JSON}, got ${r.status} ${r.contentType}: ${r.text.slice(0, 2000)}`);
  }
  const p = r.body as Problem;
  expect(p).toEqual(expect.objectContaining({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String) }));
  return p;
}

/** A 400 whose errors[] names `field` (exactly, or a field starting with `field` when `prefix`). */
export function expect400(r: ApiResponse, field: string, opts: { prefix?: boolean } = {}): Problem {
  const p = expectProblem(r, 400);
  const fields = (p.errors ?? []).map((e) => e.field);
  const ok = opts.prefix ? fields.some((f) => f.startsWith(field)) : fields.includes(field);
  if (!ok) throw new Error(`expected errors[].field ${opts.prefix ? 'starting with ' : ''}'${field}', got ${JSON.stringify(p.errors)} (${p.detail})`);
  return p;
}

/** A 409 in-use problem whose `users` contains each of `users` (compared by suffix, so names or paths). */
export function expectInUse(r: ApiResponse, users: string[]): Problem {
  const p = expectProblem(r, 409);
  if (!Array.isArray(p.users)) throw new Error(`expected users[] in the 409, got ${r.text}`);
  for (const u of users) {
    if (!p.users.some((x) => x === u || x.endsWith(`/${u}`))) throw new Error(`expected users to contain '${u}', got ${JSON.stringify(p.users)}`);
  }
  return p;
}

/** Asserts a 2xx with status `status`; returns the body. */
export function expectOk<B = Json>(r: ApiResponse<B>, status = 200): B {
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${r.text.slice(0, 2000)}`);
  return r.body;
}
