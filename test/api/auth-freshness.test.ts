/**
 * Operator-facing traps of issue 13, item 10, on the api:
 *  - a deleted project's token stops working at once, on this api process and on another one
 *    (the token and project caches are dropped on every project create and delete, locally and,
 *    through PostgreSQL NOTIFY, on every other api process);
 *  - a project deleted and created again under its name, or looked up just before it was created,
 *    is usable at once;
 *  - /metrics answers only the operator: the admin token or NATPLANE_METRICS_TOKEN.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type * as AppModule from '../../apps/api/src/app';
import type * as AuthModule from '../../apps/api/src/common/auth';
import type * as ConfigModule from '../../apps/api/src/common/config';
import { ADMIN_TOKEN, expectOk, expectProblem, TEST_REDIS_URL, TestApi } from '../support/api-harness';
import { nativeRequire } from '../support/native-require';

const METRICS_TOKEN = 'metrics-scraper-token-0123456789';
let api: TestApi;
/** A second api process on the same database (another replica). */
let other: NestFastifyApplication;

beforeAll(async () => {
  process.env.NATPLANE_METRICS_TOKEN = METRICS_TOKEN;
  api = await TestApi.start(__filename);
  const { createApi } = nativeRequire<typeof AppModule>('apps/api/src/app.ts');
  const { loadApiConfig } = nativeRequire<typeof ConfigModule>('apps/api/src/common/config.ts');
  other = await createApi({ ...loadApiConfig({ ...process.env, DATABASE_URL: api.databaseUrl }), databaseUrl: api.databaseUrl, redisUrl: TEST_REDIS_URL, adminToken: ADMIN_TOKEN, dbPoolSize: 2 }, { logger: false });
  await other.init();
  await other.getHttpAdapter().getInstance().ready();
  // Both processes cache (their listeners are connected): what follows tests the invalidation,
  // not a cache that is off.
  const { AuthCache } = nativeRequire<typeof AuthModule>('apps/api/src/common/auth.ts');
  await until('both AuthCache listeners connected', async () => api.app.get(AuthCache).enabled && other.get(AuthCache).enabled, 5000);
});

afterAll(async () => {
  delete process.env.NATPLANE_METRICS_TOKEN;
  await other?.close();
  await api?.close();
});

async function onOther(method: 'GET' | 'POST', url: string, token: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await other.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, payload: body ? JSON.stringify(body) : undefined });
  return { status: r.statusCode, body: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {} };
}

async function until(what: string, check: () => Promise<boolean>, ms = 2000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a deleted project', () => {
  it("its token stops working at once, here and on another api process", async () => {
    await api.project('gone');
    const token = await api.projectToken('gone');
    // Both processes have the token and the project cached.
    expectOk(await api.get('/v1/projects/gone/networks', { token }));
    expect((await onOther('GET', '/v1/projects/gone/networks', token)).status).toBe(200);
    expect((await api.del('/v1/admin/projects/gone')).status).toBe(204);
    // This process: at once.
    expectProblem(await api.get('/v1/projects/gone/networks', { token }), 401);
    // The other one: as soon as PostgreSQL delivers the notification (milliseconds, not seconds).
    const ms = await until('the other process refuses the token', async () => (await onOther('GET', '/v1/projects/gone/networks', token)).status === 401, 1000);
    expect(ms).toBeLessThan(1000);
  });

  it('deleted and created again under its name: usable at once, here and on the other process', async () => {
    await api.project('again');
    await api.network('again', 'n1');
    expectOk(await api.get('/v1/projects/again/networks/n1'));
    expect((await onOther('GET', '/v1/projects/again/networks/n1', ADMIN_TOKEN)).status).toBe(200);
    expect((await api.del('/v1/projects/again/networks/n1')).status).toBe(204);
    expect((await api.del('/v1/admin/projects/again')).status).toBe(204);
    await api.project('again');
    // A write into the new project, right away (not a 409 "a referenced resource no longer exists").
    expectOk(await api.post('/v1/projects/again/networks', { name: 'n2' }), 201);
    await until('the other process sees the new project', async () => (await onOther('POST', '/v1/projects/again/networks', ADMIN_TOKEN, { name: 'n3' })).status === 201, 1000);
  });

  it('a project looked up (404) just before it is created is found at once', async () => {
    expectProblem(await api.get('/v1/projects/later/networks'), 404);
    expect((await onOther('GET', '/v1/projects/later/networks', ADMIN_TOKEN)).status).toBe(404);
    await api.project('later');
    expectOk(await api.get('/v1/projects/later/networks'));
    await until('the other process finds it', async () => (await onOther('GET', '/v1/projects/later/networks', ADMIN_TOKEN)).status === 200, 1000);
  });
});

describe('/metrics answers the operator only', () => {
  it('401 without a token or with another one, 404 to a project token, 200 to the admin and the metrics token', async () => {
    await api.project('m');
    const projectToken = await api.projectToken('m');
    expectProblem(await api.get('/metrics', { token: null }), 401);
    expectProblem(await api.get('/metrics', { token: 'not-a-token-at-all' }), 401);
    expectProblem(await api.get('/metrics', { token: projectToken }), 404);
    for (const token of [ADMIN_TOKEN, METRICS_TOKEN]) {
      const r = await api.get('/metrics', { token });
      expect(r.status).toBe(200);
      expect(r.text).toMatch(/^# HELP natplane_http_requests_total/m);
    }
    // The metrics token is good for nothing else.
    expectProblem(await api.get('/v1/admin/projects', { token: METRICS_TOKEN }), 401);
    // Health stays public: a load balancer needs no token.
    expect((await api.get('/healthz', { token: null })).status).toBe(200);
  });
});
