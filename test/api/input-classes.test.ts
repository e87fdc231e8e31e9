/**
 * Classes of input PostgreSQL cannot take or the process cannot walk, on every route that accepts
 * them (issue 13, items 2, 3, 4 and the 431 of 10): each answers 400 (431) application/problem+json
 * naming the field, and nothing changes.
 *  - strings PostgreSQL cannot store: NUL (text and jsonb) and lone UTF-16 surrogates (which
 *    node-postgres would silently turn into U+FFFD in text, and jsonb refuses), in bodies, path
 *    parameters, query parameters and what the api decodes from them (a pageToken);
 *  - bodies nested deeper than the api walks (10,000 levels of labels or natIps);
 *  - numbers outside the column they land in (host reports: bigint generations, int counters).
 */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect400, expectOk, expectProblem, PROBLEM_JSON, TestApi } from '../support/api-harness';

let api: TestApi;
let hostToken: string;
const P = 'p1';
const base = `/v1/projects/${P}`;
const NUL = 'a\u0000b';
const LONE_HIGH = 'a\ud800b';
const LONE_LOW = 'a\udc00b';

beforeAll(async () => {
  api = await TestApi.start(__filename);
  await api.project(P);
  hostToken = (await api.host('h1', 'r1')).hostToken as string;
  await api.pool('pool1', 'r1', ['198.18.0.0/24']);
  await api.network(P, 'net');
  await api.subnet(P, 'sub', { network: 'net', ipCidrRange: '10.0.0.0/24' });
  await api.endpoint(P, 'ep', { subnet: 'sub', host: 'h1', networkIp: '10.0.0.2' });
  await api.address(P, 'addr', 'r1');
  await api.address(P, 'addr2', 'r1');
  await api.gateway(P, 'gw', { network: 'net', natIps: ['addr'], rules: [{ ruleNumber: 1, match: "destination.ip == '192.0.2.1'", action: { sourceNatActiveIps: ['addr2'] } }] });
});

afterAll(async () => {
  await api?.close();
});

/** Asserts the request changes no row of any table and answers a 400 naming `field`. */
async function refused(send: () => Promise<Parameters<typeof expect400>[0]>, field: string, opts: { prefix?: boolean } = {}): Promise<void> {
  const before = await api.fingerprint();
  expect400(await send(), field, opts);
  expect(await api.fingerprint()).toEqual(before);
}

describe('strings PostgreSQL cannot store -> 400 naming the field', () => {
  it.each([
    ['NUL', NUL],
    ['a lone high surrogate', LONE_HIGH],
    ['a lone low surrogate', LONE_LOW],
  ])('%s in a description: create, PATCH, preview', async (_what, bad) => {
    await refused(() => api.post(`${base}/networks`, { name: 'n-bad', description: bad }), 'description');
    await refused(() => api.patch(`${base}/networks/net`, { description: bad }), 'description');
    await refused(() => api.patch(`${base}/natGateways/gw`, { description: bad }), 'description');
    // Preview refuses what PATCH would refuse.
    await refused(() => api.post(`${base}/natGateways/gw/preview`, { description: bad }), 'description');
    await refused(() => api.post(`${base}/natGateways:preview`, { name: 'gw-new', network: 'net', region: 'r2', description: bad }), 'description');
  });

  it.each([
    ['NUL', NUL],
    ['a lone surrogate', LONE_HIGH],
  ])('%s in a rule description (jsonb), a label value, a list item, a nested reference', async (_what, bad) => {
    await refused(
      () => api.patch(`${base}/natGateways/gw`, { rules: [{ ruleNumber: 1, description: bad, match: "destination.ip == '192.0.2.1'", action: { sourceNatActiveIps: ['addr2'] } }] }),
      'rules[0].description',
    );
    await refused(() => api.patch(`${base}/subnets/sub`, { labels: { env: bad } }), 'labels.env');
    await refused(() => api.post(`${base}/subnets`, { name: 's-bad', network: 'net', region: 'r1', ipCidrRange: '10.9.0.0/24', secondaryIpRanges: [{ rangeName: bad, ipCidrRange: '10.8.0.0/24' }] }), 'secondaryIpRanges[0].rangeName');
    await refused(() => api.post('/v1/admin/addressPools', { name: 'pool-bad', region: 'r1', cidrs: [bad] }), 'cidrs[0]');
    // A member name is a string too.
    await refused(() => api.req('POST', `${base}/networks`, { raw: `{"name":"n-bad",${JSON.stringify(bad)}:1}` }), bad);
  });

  it('NUL in a host agentUrl, on create and PATCH', async () => {
    await refused(() => api.post('/v1/admin/hosts', { name: 'h-bad', region: 'r1', zone: 'r1-a', agentUrl: `http://127.0.0.1:1/${NUL}` }), 'agentUrl');
    await refused(() => api.patch('/v1/admin/hosts/h1', { agentUrl: `http://127.0.0.1:1/${NUL}` }), 'agentUrl');
  });

  it('NUL or a lone surrogate in a host report error', async () => {
    for (const bad of [NUL, LONE_HIGH]) {
      await refused(() => api.post('/v1/hosts/h1/reports', { appliedGeneration: 0, usage: [], errors: ['fine', bad] }, { token: hostToken }), 'errors[1]');
    }
  });

  it('NUL in a path parameter: the project, the resource name, the host', async () => {
    await refused(() => api.get(`/v1/projects/pa%00/networks`), 'project');
    await refused(() => api.post(`/v1/projects/pa%00/networks`, { name: 'n' }), 'project');
    await refused(() => api.get(`${base}/networks/n%00x`), 'name');
    await refused(() => api.patch(`${base}/networks/n%00x`, { description: 'x' }), 'name');
    await refused(() => api.del(`${base}/networks/n%00x`), 'name');
    await refused(() => api.get('/v1/hosts/h%001/programming', { token: hostToken }), 'host');
    await refused(() => api.get('/v1/admin/hosts/h%001'), 'name');
  });

  it('NUL in a query parameter: filter, pageToken, attribution parameters', async () => {
    await refused(() => api.get(`${base}/networks`, { query: { filter: `name = "${NUL}"` } }), 'filter');
    await refused(() => api.get(`${base}/endpoints`, { query: { filter: `host = ${NUL}` } }), 'filter');
    await refused(() => api.get(`${base}/networks`, { query: { pageToken: NUL } }), 'pageToken');
    await refused(() => api.get(`${base}/attributions`, { query: { natIp: NUL, port: '1024', time: new Date().toISOString() } }), 'natIp');
  });

  it('a pageToken that decodes to a string PostgreSQL cannot store (bjphAA is "n:a" + NUL)', async () => {
    expect(Buffer.from('bjphAA', 'base64url').toString('utf8')).toBe('n:a\u0000');
    await refused(() => api.get(`${base}/networks`, { query: { pageToken: 'bjphAA' } }), 'pageToken');
    // The same for a lone surrogate the token would decode to (invalid UTF-8 is not a token of ours).
    const surrogate = Buffer.concat([Buffer.from('n:a'), Buffer.from([0xed, 0xa0, 0x80])]).toString('base64url');
    await refused(() => api.get(`${base}/networks`, { query: { pageToken: surrogate } }), 'pageToken');
  });
});

/** `{"k": {"k": ... "leaf"}}` or `[[[...]]]`, `depth` levels, as text (JSON.parse takes it). */
function deep(depth: number, kind: 'object' | 'array'): string {
  return kind === 'object' ? `${'{"k":'.repeat(depth)}"leaf"${'}'.repeat(depth)}` : `${'['.repeat(depth)}"leaf"${']'.repeat(depth)}`;
}

describe('deep nesting -> 400 (the walk is iterative, with a stated limit)', () => {
  const LEVELS = 10_000;
  it.each([
    ['POST networks labels', 'POST', `${base}/networks`, (d: string) => `{"name":"n-deep","labels":${d}}`, 'labels'],
    ['PATCH networks labels', 'PATCH', `${base}/networks/net`, (d: string) => `{"labels":${d}}`, 'labels'],
    ['POST natGateways natIps', 'POST', `${base}/natGateways`, (d: string) => `{"name":"gw-deep","network":"net","region":"r2","natIps":${d}}`, 'natIps'],
    ['PATCH natGateways natIps', 'PATCH', `${base}/natGateways/gw`, (d: string) => `{"natIps":${d}}`, 'natIps'],
    ['preview natGateways', 'POST', `${base}/natGateways/gw/preview`, (d: string) => `{"rules":${d}}`, 'rules'],
    ['POST hosts', 'POST', '/v1/admin/hosts', (d: string) => `{"name":"h-deep","region":"r1","zone":"r1-a","agentUrl":"http://127.0.0.1:1","labels":${d}}`, 'labels'],
    ['POST endpoints', 'POST', `${base}/endpoints`, (d: string) => `{"name":"e-deep","subnet":"sub","host":"h1","networkIp":"10.0.0.9","aliasIpRanges":${d}}`, 'aliasIpRanges'],
    ['host report usage', 'POST', '/v1/hosts/h1/reports', (d: string) => `{"appliedGeneration":0,"errors":[],"usage":${d}}`, 'usage'],
  ] as const)('%s, 10,000 levels of objects and of arrays', async (_name, method, url, body, field) => {
    for (const kind of ['object', 'array'] as const) {
      const raw = body(deep(LEVELS, kind));
      await refused(() => api.req(method, url, { raw, token: url.startsWith('/v1/hosts/') ? hostToken : undefined }), field, { prefix: true });
    }
  });

  it('the limit is 32 levels: 32 is walked (and judged on its content), 33 is refused', async () => {
    // 31 levels of labels below the body object: depth 32 in all; refused for being a bad label, not for depth.
    const at32 = await api.req('POST', `${base}/networks`, { raw: `{"name":"n-deep","labels":${deep(31, 'object')}}` });
    const p32 = expect400(at32, 'labels');
    expect(JSON.stringify(p32)).not.toMatch(/deeper/);
    const at33 = await api.req('POST', `${base}/networks`, { raw: `{"name":"n-deep","labels":${deep(32, 'object')}}` });
    const p33 = expect400(at33, 'labels', { prefix: true });
    expect(p33.detail).toMatch(/deeper than 32/);
  });
});

describe('numbers outside their column -> 400 naming the field (host reports)', () => {
  const report = (over: Record<string, unknown>) => ({ appliedGeneration: 0, usage: [], errors: [], ...over });
  const EP = '00000000-0000-4000-8000-000000000001';
  it.each([
    ['appliedGeneration 1e300', { appliedGeneration: 1e300 }, 'appliedGeneration'],
    ['appliedGeneration 2^63', { appliedGeneration: 2 ** 63 }, 'appliedGeneration'],
    ['appliedGeneration 2^53 (beyond an exact JSON integer)', { appliedGeneration: 2 ** 53 }, 'appliedGeneration'],
    ['usage portsInUse 2^31', { usage: [{ endpoint: EP, ruleNumber: -1, portsInUse: 2 ** 31 }] }, 'usage[0].portsInUse'],
    ['usage ruleNumber 2^31', { usage: [{ endpoint: EP, ruleNumber: 2 ** 31, portsInUse: 1 }] }, 'usage[0].ruleNumber'],
    ['usage ruleNumber 65,001 (past the last rule number)', { usage: [{ endpoint: EP, ruleNumber: 65001, portsInUse: 1 }] }, 'usage[0].ruleNumber'],
  ])('%s', async (_what, over, field) => {
    await refused(() => api.post('/v1/hosts/h1/reports', report(over), { token: hostToken }), field);
  });

  it('the bounds themselves are accepted', async () => {
    expectOk(
      await api.post('/v1/hosts/h1/reports', report({ appliedGeneration: Number.MAX_SAFE_INTEGER, usage: [{ endpoint: EP, ruleNumber: 65000, portsInUse: 2 ** 31 - 1 }] }), { token: hostToken }),
      200,
    );
  });
});

describe('a request line or headers too large -> 431 problem+json', () => {
  it('a 100 KB query string', async () => {
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = api.app.getHttpServer().address() as AddressInfo;
    const res = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `${base}/networks?filter=${'a'.repeat(100_000)}`, headers: { authorization: 'Bearer x' } }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, type: String(r.headers['content-type'] ?? ''), body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(431);
    expect(res.type).toMatch(new RegExp(`^${PROBLEM_JSON.replace('+', '\\+')}`));
    expect(JSON.parse(res.body)).toEqual(expect.objectContaining({ status: 431, type: expect.any(String), title: expect.any(String), detail: expect.any(String) }));
  });
});

it('(control) a well-formed request still passes', async () => {
  expectOk(await api.post(`${base}/networks`, { name: 'n-ok', description: 'plain \u00e9\u{1f600}' }), 201);
  expectProblem(await api.get(`${base}/networks/none`), 404);
});
