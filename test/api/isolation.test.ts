/**
 * Tenant isolation: a project token sees nothing outside its project (404, never 403, and the same
 * 404 whether the resource exists or not), changes nothing there, and has no admin routes; a host
 * token has no project routes.
 */
import { expectOk, expectProblem, PROBLEM_JSON, TestApi, type ApiResponse } from '../support/api-harness';

let api: TestApi;
let tokenA: string;
let tokenB: string;
let hostToken: string;

const COLLECTIONS = ['networks', 'subnets', 'endpoints', 'addresses', 'natGateways'] as const;
type Collection = (typeof COLLECTIONS)[number];
/** The one resource of each collection in each project. */
const NAMES: Record<Collection, string> = { networks: 'net', subnets: 'sub', endpoints: 'ep', addresses: 'addr', natGateways: 'gw' };

/** A valid create body per collection (valid in project B, so only the token can make it fail). */
const CREATE: Record<Collection, Record<string, unknown>> = {
  networks: { name: 'net2' },
  subnets: { name: 'sub2', network: 'net', region: 'r1', ipCidrRange: '10.1.0.0/24' },
  endpoints: { name: 'ep2', subnet: 'sub', host: 'h1', networkIp: '10.0.0.3' },
  addresses: { name: 'addr2', region: 'r1' },
  natGateways: { name: 'gw2', network: 'net', region: 'r2' },
};

/** A valid patch per collection. */
const PATCH: Record<Collection, Record<string, unknown>> = {
  networks: { description: 'pwned' },
  subnets: { labels: { pwned: 'yes' } },
  endpoints: { host: 'h2' },
  addresses: { description: 'pwned' },
  natGateways: { udpIdleTimeoutSec: 99 },
};

async function seedProject(p: string): Promise<void> {
  await api.project(p);
  await api.network(p, 'net');
  await api.subnet(p, 'sub', { network: 'net', ipCidrRange: '10.0.0.0/24' });
  // two projects, one host, one address: each VM on its own device (hosts shared by networks)
  await api.endpoint(p, 'ep', { subnet: 'sub', host: 'h1', hostInterface: `tap-${p}`, networkIp: '10.0.0.2' });
  await api.address(p, 'addr', 'r1');
  await api.gateway(p, 'gw', { network: 'net', natIps: ['addr'] });
}

beforeAll(async () => {
  api = await TestApi.start(__filename);
  const h = await api.host('h1', 'r1');
  hostToken = h.hostToken as string;
  expect(typeof hostToken).toBe('string');
  await api.host('h2', 'r1');
  await api.pool('pool1', 'r1', ['198.18.0.0/24']);
  await api.pool('pool2', 'r2', ['198.18.1.0/24']);
  await seedProject('pa');
  await seedProject('pb');
  tokenA = await api.projectToken('pa');
  tokenB = await api.projectToken('pb');
});

afterAll(async () => {
  await api?.close();
});

function expect404(r: ApiResponse, what: string): void {
  if (r.status !== 404 || !r.contentType.startsWith(PROBLEM_JSON)) throw new Error(`${what}: expected 404 problem+json, got ${r.status} ${r.text.slice(0, 500)}`);
}

/** Every route of project B's collections, as (label, request) pairs. */
function routesOf(project: string): Array<[string, (token: string) => Promise<ApiResponse>]> {
  const out: Array<[string, (token: string) => Promise<ApiResponse>]> = [];
  for (const c of COLLECTIONS) {
    const base = `/v1/projects/${project}/${c}`;
    const name = NAMES[c];
    out.push(
      [`GET ${base}`, (t) => api.get(base, { token: t })],
      [`GET ${base}?filter`, (t) => api.get(`${base}?pageSize=1&filter=name%20%3D%20${name}`, { token: t })],
      [`GET ${base}/${name}`, (t) => api.get(`${base}/${name}`, { token: t })],
      [`GET ${base}/missing`, (t) => api.get(`${base}/missing`, { token: t })],
      [`POST ${base}`, (t) => api.post(base, CREATE[c], { token: t })],
      [`POST ${base} (idempotent)`, (t) => api.post(base, CREATE[c], { token: t, headers: { 'idempotency-key': `iso-${c}` } })],
      [`POST ${base} (invalid body)`, (t) => api.post(base, { bogus: true }, { token: t })],
      [`PATCH ${base}/${name}`, (t) => api.patch(`${base}/${name}`, PATCH[c], { token: t })],
      [`PATCH ${base}/${name} (If-Match *)`, (t) => api.patch(`${base}/${name}`, PATCH[c], { token: t, headers: { 'if-match': '*' } })],
      [`PATCH ${base}/missing`, (t) => api.patch(`${base}/missing`, PATCH[c], { token: t })],
      [`DELETE ${base}/${name}`, (t) => api.del(`${base}/${name}`, { token: t })],
      [`DELETE ${base}/missing`, (t) => api.del(`${base}/missing`, { token: t })],
    );
  }
  return out;
}

describe('a project token on another project', () => {
  it.each(routesOf('pb'))('%s -> 404 and nothing changes', async (label, call) => {
    const before = await api.snapshot();
    expect404(await call(tokenA), label);
    expect(await api.snapshot()).toEqual(before);
  });

  it('the 404 is the same for an existing and a missing project (no existence leak)', async () => {
    const real = await api.get('/v1/projects/pb/networks/net', { token: tokenA });
    const fake = await api.get('/v1/projects/pzzz/networks/net', { token: tokenA });
    expect404(real, 'real');
    expect404(fake, 'fake');
    const strip = (b: Record<string, unknown>) => ({ ...b, detail: String(b.detail).replace(/pb|pzzz/g, 'X'), instance: undefined });
    expect(strip(real.body)).toEqual(strip(fake.body));
  });

  it('B is untouched and still works for its own token and the admin', async () => {
    for (const c of COLLECTIONS) {
      const own = expectOk(await api.get(`/v1/projects/pb/${c}/${NAMES[c]}`, { token: tokenB }));
      expect(own.name).toBe(NAMES[c]);
      expect(own.generation).toBe(1);
      expect(expectOk(await api.get(`/v1/projects/pb/${c}`)).items.map((i: { name: string }) => i.name)).toEqual([NAMES[c]]);
    }
    expect((await api.get('/v1/projects/pb/networks/net')).body.description).toBe('');
    expect((await api.get('/v1/projects/pb/endpoints/ep')).body.host).toBe('h1');
  });

  it('the token works on its own project, and lists there show only its own resources', async () => {
    for (const c of COLLECTIONS) {
      const list = expectOk(await api.get(`/v1/projects/pa/${c}`, { token: tokenA }));
      expect(list.items.map((i: { name: string }) => i.name)).toEqual([NAMES[c]]);
      expect(list.items.every((i: { selfLink: string }) => i.selfLink.includes('/v1/projects/pa/'))).toBe(true);
    }
  });

  it("B's resources cannot be referenced from A, by bare name or by path", async () => {
    await api.address('pb', 'only-in-b', 'r1');
    await api.network('pb', 'net-only-in-b');
    const before = await api.snapshot();
    const r1 = await api.post('/v1/projects/pa/natGateways', { name: 'gw-x', network: 'net', region: 'r2', natIps: ['only-in-b'] }, { token: tokenA });
    expectProblem(r1, 400);
    const r2 = await api.post('/v1/projects/pa/natGateways', { name: 'gw-x', network: 'net', region: 'r2', natIps: ['projects/pb/addresses/only-in-b'] }, { token: tokenA });
    expectProblem(r2, 400);
    const r3 = await api.post('/v1/projects/pa/subnets', { name: 'sx', network: 'net-only-in-b', region: 'r1', ipCidrRange: '10.9.0.0/24' }, { token: tokenA });
    expectProblem(r3, 400);
    const r4 = await api.post('/v1/projects/pa/endpoints', { name: 'ex', subnet: 'projects/pb/subnets/sub', host: 'h1', networkIp: '10.0.0.9' }, { token: tokenA });
    expectProblem(r4, 400);
    expect(await api.snapshot()).toEqual(before);
  });

  it('names are per project: A and B may both have "net"; an address of B used by a gateway of B is not A\'s', async () => {
    expect((await api.get('/v1/projects/pa/networks/net', { token: tokenA })).body.id).not.toBe((await api.get('/v1/projects/pb/networks/net')).body.id);
    expect((await api.get('/v1/projects/pa/addresses/addr', { token: tokenA })).body.address).not.toBe((await api.get('/v1/projects/pb/addresses/addr')).body.address);
  });
});

describe('admin routes', () => {
  const adminRoutes: Array<[string, (t: string) => Promise<ApiResponse>]> = [
    ['GET /v1/admin/projects', (t) => api.get('/v1/admin/projects', { token: t })],
    ['GET /v1/admin/projects/pa', (t) => api.get('/v1/admin/projects/pa', { token: t })],
    ['POST /v1/admin/projects', (t) => api.post('/v1/admin/projects', { name: 'evil' }, { token: t })],
    ['PATCH /v1/admin/projects/pa', (t) => api.patch('/v1/admin/projects/pa', { description: 'x' }, { token: t })],
    ['DELETE /v1/admin/projects/pb', (t) => api.del('/v1/admin/projects/pb', { token: t })],
    ['POST /v1/admin/projects/pa/tokens', (t) => api.post('/v1/admin/projects/pa/tokens', undefined, { token: t })],
    ['POST /v1/admin/projects/pb/tokens', (t) => api.post('/v1/admin/projects/pb/tokens', undefined, { token: t })],
    ['GET /v1/admin/hosts', (t) => api.get('/v1/admin/hosts', { token: t })],
    ['GET /v1/admin/hosts/h1', (t) => api.get('/v1/admin/hosts/h1', { token: t })],
    ['POST /v1/admin/hosts', (t) => api.post('/v1/admin/hosts', { name: 'evil', region: 'r1', zone: 'r1-a', agentUrl: 'http://x:1' }, { token: t })],
    ['PATCH /v1/admin/hosts/h1', (t) => api.patch('/v1/admin/hosts/h1', { agentUrl: 'http://evil:1' }, { token: t })],
    ['DELETE /v1/admin/hosts/h2', (t) => api.del('/v1/admin/hosts/h2', { token: t })],
    ['GET /v1/admin/addressPools', (t) => api.get('/v1/admin/addressPools', { token: t })],
    ['GET /v1/admin/addressPools/pool1', (t) => api.get('/v1/admin/addressPools/pool1', { token: t })],
    ['POST /v1/admin/addressPools', (t) => api.post('/v1/admin/addressPools', { name: 'evil', region: 'r1', cidrs: ['192.0.2.0/24'] }, { token: t })],
    ['PATCH /v1/admin/addressPools/pool1', (t) => api.patch('/v1/admin/addressPools/pool1', { cidrs: ['198.18.0.0/23'] }, { token: t })],
    ['DELETE /v1/admin/addressPools/pool2', (t) => api.del('/v1/admin/addressPools/pool2', { token: t })],
  ];

  it.each(adminRoutes)('project token: %s -> 404 and nothing changes', async (label, call) => {
    const before = await api.snapshot();
    expect404(await call(tokenA), label);
    expect(await api.snapshot()).toEqual(before);
  });

  it.each(adminRoutes)('host token: %s -> 404 and nothing changes', async (label, call) => {
    const before = await api.snapshot();
    expect404(await call(hostToken), label);
    expect(await api.snapshot()).toEqual(before);
  });
});

describe('a host token on project routes', () => {
  it.each([...routesOf('pa'), ...routesOf('pb')])('%s -> 404 and nothing changes', async (label, call) => {
    const before = await api.snapshot();
    expect404(await call(hostToken), label);
    expect(await api.snapshot()).toEqual(before);
  });
});
