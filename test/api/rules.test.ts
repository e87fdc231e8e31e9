/**
 * Every rule of shared/API.md, against the real api on a fresh PostgreSQL database (medium test).
 * Each test builds what it needs with unique names, so tests do not depend on one another.
 */
import { ADMIN_TOKEN, expect400, expectInUse, expectOk, expectProblem, PROBLEM_JSON, TestApi } from '../support/api-harness';

let api: TestApi;
const P = 'p1';
const base = `/v1/projects/${P}`;
let seq = 0;
const uniq = (prefix: string) => `${prefix}-${++seq}`;

beforeAll(async () => {
  api = await TestApi.start(__filename);
  await api.project(P);
  await api.host('h1', 'r1');
  await api.host('h2', 'r1');
  await api.host('hr2', 'r2');
  await api.pool('pool1', 'r1', ['198.18.0.0/22']);
  await api.pool('pool2', 'r2', ['198.51.100.0/24']);
});

afterAll(async () => {
  await api?.close();
});

/** A fresh network with one subnet 10.0.0.0/24 (secondary range `pods` 10.4.0.0/16) in r1. */
async function world(opts: { subnet?: boolean } = {}): Promise<{ net: string; sub: string }> {
  const net = uniq('net');
  await api.network(P, net);
  const sub = uniq('sub');
  if (opts.subnet !== false) {
    await api.subnet(P, sub, { network: net, ipCidrRange: '10.0.0.0/24', secondaryIpRanges: [{ rangeName: 'pods', ipCidrRange: '10.4.0.0/16' }] });
  }
  return { net, sub };
}

async function addr(region = 'r1'): Promise<string> {
  const name = uniq('addr');
  await api.address(P, name, region);
  return name;
}

const gw = (body: Record<string, unknown>) => api.post(`${base}/natGateways`, { name: uniq('gw'), region: 'r1', ...body });

function matchRule(ruleNumber: number, ips: string[], match = "destination.ip == '192.0.2.7'") {
  return { ruleNumber, match, action: { sourceNatActiveIps: ips } };
}

// ------------------------------------------------------------------------------------------------
describe('conventions', () => {
  it('create: 201, Location = selfLink, the full resource', async () => {
    const r = await api.post(`${base}/networks`, { name: 'loc-net', description: 'd', labels: { env: 'x' } });
    const b = expectOk(r, 201);
    expect(r.headers.location).toBe(b.selfLink);
    expect(b.selfLink).toMatch(/\/v1\/projects\/p1\/networks\/loc-net$/);
    expect(b).toEqual(
      expect.objectContaining({
        id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
        name: 'loc-net',
        description: 'd',
        labels: { env: 'x' },
        generation: expect.any(Number),
        etag: expect.any(String),
        creationTimestamp: expect.any(String),
        updateTimestamp: expect.any(String),
      }),
    );
    expect(new Date(b.creationTimestamp).toISOString()).toBe(b.creationTimestamp);
    expect(await api.get(`${base}/networks/loc-net`).then((x) => x.body)).toEqual(b);
  });

  it.each([
    ['projects', '/v1/admin/projects', () => ({ name: uniq('prj') })],
    ['hosts', '/v1/admin/hosts', () => ({ name: uniq('hst'), region: 'r1', zone: 'r1-a', agentUrl: 'http://10.0.0.9:8081' })],
    ['addressPools', '/v1/admin/addressPools', () => ({ name: uniq('pl'), region: 'r9', cidrs: [`192.0.${++seq % 250}.0/24`] })],
    ['subnets', `${base}/subnets`, () => ({ name: uniq('sn'), network: 'loc-net', region: 'r1', ipCidrRange: `10.${100 + (++seq % 100)}.0.0/24` })],
    ['addresses', `${base}/addresses`, () => ({ name: uniq('ad'), region: 'r1' })],
  ])('create %s: 201 with Location = selfLink', async (_c, path, body) => {
    const r = await api.post(path, body());
    const b = expectOk(r, 201);
    expect(r.headers.location).toBe(b.selfLink);
    expect(b.selfLink.endsWith(`${path}/${b.name}`)).toBe(true);
  });

  it('create endpoint and gateway: 201 with Location', async () => {
    const { net, sub } = await world();
    const e = await api.post(`${base}/endpoints`, { name: uniq('ep'), subnet: sub, host: 'h1', networkIp: '10.0.0.5' });
    expect(expectOk(e, 201).selfLink).toBe(e.headers.location);
    const g = await gw({ network: net });
    expect(expectOk(g, 201).selfLink).toBe(g.headers.location);
    expect(g.headers.location).toMatch(/\/v1\/projects\/p1\/natGateways\/gw-\d+$/);
  });

  it('unknown field -> 400 naming it (create, nested, patch)', async () => {
    expect400(await api.post(`${base}/networks`, { name: uniq('n'), bogus: 1 }), 'bogus');
    const { net } = await world({ subnet: false });
    const a = await addr();
    expect400(await gw({ network: net, natIps: [a], rules: [{ ...matchRule(1, [await addr()]), color: 'red' }] }), 'rules[0].color');
    expect400(await gw({ network: net, logConfig: { enable: true, verbose: true } }), 'logConfig.verbose');
    expect400(await api.patch(`${base}/networks/${net}`, { nope: true }), 'nope');
    expect400(await api.post('/v1/admin/hosts', { name: uniq('h'), region: 'r1', zone: 'z', agentUrl: 'http://x:1', extra: 'x' }), 'extra');
  });

  it.each([['__proto__'], ['constructor'], ['prototype'], ['toString'], ['hasOwnProperty'], ['valueOf']])('unknown member named like an Object.prototype member (%s) -> 400 on create and patch', async (key) => {
    const name = uniq('proto');
    const created = await api.req('POST', `${base}/networks`, { raw: `{"name":"${name}","${key}":{"polluted":"yes"}}` });
    expect400(created, key);
    expect((await api.get(`${base}/networks/${name}`)).status).toBe(404);
    const { net } = await world({ subnet: false });
    expect400(await api.req('PATCH', `${base}/networks/${net}`, { raw: `{"${key}":1}` }), key);
    expect400(await api.req('POST', `${base}/natGateways`, { raw: `{"name":"${uniq('gw')}","network":"${net}","region":"r1","logConfig":{"${key}":1}}` }), `logConfig.${key}`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([['Bad'], ['1abc'], ['a_b'], ['ends-'], ['a'.repeat(64)], [''], ['a b']])('bad name %j -> 400 name', async (name) => {
    expect400(await api.post(`${base}/networks`, { name }), 'name');
  });

  it('names: 63 characters and single letters are fine', async () => {
    expectOk(await api.post(`${base}/networks`, { name: `a${'b'.repeat(61)}c` }), 201);
    expectOk(await api.post(`${base}/networks`, { name: 'z' }), 201);
  });

  it('missing name -> 400 name', async () => {
    expect400(await api.post(`${base}/networks`, { description: 'x' }), 'name');
  });

  it.each([
    ['networks', () => ({})],
    ['addresses', () => ({ region: 'r1' })],
  ])('duplicate name in %s -> 409', async (collection, extra) => {
    const name = uniq('dup');
    expectOk(await api.post(`${base}/${collection}`, { name, ...extra() }), 201);
    expectProblem(await api.post(`${base}/${collection}`, { name, ...extra() }), 409);
  });

  it('duplicate names: subnets, endpoints, gateways, hosts, pools, projects -> 409', async () => {
    const { net, sub } = await world();
    expectProblem(await api.post(`${base}/subnets`, { name: sub, network: net, region: 'r1', ipCidrRange: '10.9.0.0/24' }), 409);
    const ep = uniq('ep');
    await api.endpoint(P, ep, { subnet: sub, host: 'h1', networkIp: '10.0.0.10' });
    expectProblem(await api.post(`${base}/endpoints`, { name: ep, subnet: sub, host: 'h1', networkIp: '10.0.0.11' }), 409);
    const g = await api.gateway(P, uniq('gw'), { network: net, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub, sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }] });
    const again = await api.post(`${base}/natGateways`, { name: g.name, network: net, region: 'r1', sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub, sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods'] }] });
    expectProblem(again, 409);
    expectProblem(await api.post('/v1/admin/hosts', { name: 'h1', region: 'r1', zone: 'r1-a', agentUrl: 'http://x:1' }), 409);
    expectProblem(await api.post('/v1/admin/addressPools', { name: 'pool1', region: 'r7', cidrs: ['192.168.77.0/24'] }), 409);
    expectProblem(await api.post('/v1/admin/projects', { name: P }), 409);
  });

  it('DELETE -> 204, then GET -> 404, DELETE again -> 404', async () => {
    const { net, sub } = await world();
    const a = await addr();
    const ep = uniq('ep');
    await api.endpoint(P, ep, { subnet: sub, host: 'h1', networkIp: '10.0.0.3' });
    const g = await api.gateway(P, uniq('gw'), { network: net });
    for (const path of [`natGateways/${g.name}`, `endpoints/${ep}`, `subnets/${sub}`, `networks/${net}`, `addresses/${a}`]) {
      const d = await api.del(`${base}/${path}`);
      expect(d.status).toBe(204);
      expect(d.text).toBe('');
      expectProblem(await api.get(`${base}/${path}`), 404);
      expectProblem(await api.del(`${base}/${path}`), 404);
    }
    const h = await api.host(uniq('hx'));
    expect((await api.del(`/v1/admin/hosts/${h.name}`)).status).toBe(204);
    expectProblem(await api.get(`/v1/admin/hosts/${h.name}`), 404);
  });

  it('GET of a name that never existed -> 404 problem', async () => {
    for (const c of ['networks', 'subnets', 'endpoints', 'addresses', 'natGateways']) expectProblem(await api.get(`${base}/${c}/nothing-here`), 404);
    expectProblem(await api.get('/v1/projects/no-such-project/networks'), 404);
  });

  it('401 without a token, with a bad token, with a malformed header', async () => {
    expectProblem(await api.get(`${base}/networks`, { token: null }), 401);
    expectProblem(await api.get(`${base}/networks`, { token: 'not-a-real-token-xxxxxxxxxxxxxxxx' }), 401);
    expectProblem(await api.get(`${base}/networks`, { token: null, headers: { authorization: 'Basic Zm9vOmJhcg==' } }), 401);
    expectProblem(await api.get('/v1/admin/projects', { token: null }), 401);
    expectProblem(await api.post(`${base}/networks`, { name: uniq('n') }, { token: 'bad' }), 401);
    expectProblem(await api.del(`${base}/networks/loc-net`, { token: null }), 401);
    expect((await api.get(`${base}/networks/loc-net`)).status).toBe(200);
  });

  it('a project token works on its own project', async () => {
    const t = await api.projectToken(P);
    expectOk(await api.get(`${base}/networks`, { token: t }));
    expectOk(await api.post(`${base}/networks`, { name: uniq('tok') }, { token: t }), 201);
  });
});

// ------------------------------------------------------------------------------------------------
describe('immutable fields -> 400 on PATCH', () => {
  it('name of a network, an address, a host', async () => {
    const { net } = await world({ subnet: false });
    expect400(await api.patch(`${base}/networks/${net}`, { name: 'other' }), 'name');
    const a = await addr();
    expect400(await api.patch(`${base}/addresses/${a}`, { name: 'other' }), 'name');
    expect400(await api.patch(`${base}/addresses/${a}`, { region: 'r2' }), 'region');
    expect400(await api.patch('/v1/admin/hosts/h1', { region: 'r2' }), 'region');
    expect400(await api.patch('/v1/admin/addressPools/pool1', { region: 'r2' }), 'region');
  });

  it('the same value of an immutable field is fine', async () => {
    const { net } = await world({ subnet: false });
    expectOk(await api.patch(`${base}/networks/${net}`, { name: net, description: 'same name' }));
  });

  it('network and region of a subnet', async () => {
    const { sub } = await world();
    const { net: other } = await world({ subnet: false });
    expect400(await api.patch(`${base}/subnets/${sub}`, { network: other }), 'network');
    expect400(await api.patch(`${base}/subnets/${sub}`, { region: 'r2' }), 'region');
  });

  it('network, region, type and name of a gateway', async () => {
    const { net } = await world({ subnet: false });
    const { net: other } = await world({ subnet: false });
    const g = await api.gateway(P, uniq('gw'), { network: net });
    const path = `${base}/natGateways/${g.name}`;
    expect400(await api.patch(path, { network: other }), 'network');
    expect400(await api.patch(path, { region: 'r2' }), 'region');
    expect400(await api.patch(path, { type: 'PRIVATE' }), 'type');
    expect400(await api.patch(path, { name: 'renamed' }), 'name');
    // the network given in another accepted form is the same network: not a change
    expectOk(await api.patch(path, { network: `projects/${P}/networks/${net}` }));
    expect((await api.get(path)).body.network).toBe(net);
  });
});

// ------------------------------------------------------------------------------------------------
describe('If-Match / etag', () => {
  it('PATCH with a stale etag -> 412, with the current one -> 200 and a new etag', async () => {
    const { net } = await world({ subnet: false });
    const cur = (await api.get(`${base}/networks/${net}`)).body;
    const ok = await api.patch(`${base}/networks/${net}`, { description: 'v2' }, { headers: { 'if-match': cur.etag } });
    const v2 = expectOk(ok);
    expect(v2.etag).not.toBe(cur.etag);
    expectProblem(await api.patch(`${base}/networks/${net}`, { description: 'v3' }, { headers: { 'if-match': cur.etag } }), 412);
    expectProblem(await api.patch(`${base}/networks/${net}`, { description: 'v3' }, { headers: { 'if-match': '"junk"' } }), 412);
    expect((await api.get(`${base}/networks/${net}`)).body.description).toBe('v2');
    expectOk(await api.patch(`${base}/networks/${net}`, { description: 'v4' }, { headers: { 'if-match': '*' } }));
  });

  it('DELETE with a stale etag -> 412 and nothing deleted; the current one -> 204', async () => {
    const { net } = await world({ subnet: false });
    const cur = (await api.get(`${base}/networks/${net}`)).body;
    await api.patch(`${base}/networks/${net}`, { description: 'changed' });
    expectProblem(await api.del(`${base}/networks/${net}`, { headers: { 'if-match': cur.etag } }), 412);
    expect((await api.get(`${base}/networks/${net}`)).status).toBe(200);
    const now = (await api.get(`${base}/networks/${net}`)).body;
    expect((await api.del(`${base}/networks/${net}`, { headers: { 'if-match': now.etag } })).status).toBe(204);
  });

  it('gateway PATCH and DELETE honour If-Match', async () => {
    const { net } = await world({ subnet: false });
    const g = await api.gateway(P, uniq('gw'), { network: net });
    const path = `${base}/natGateways/${g.name}`;
    expectProblem(await api.patch(path, { udpIdleTimeoutSec: 40 }, { headers: { 'if-match': '"00000000-9"' } }), 412);
    expect((await api.get(path)).body.udpIdleTimeoutSec).toBe(30);
    const p = expectOk(await api.patch(path, { udpIdleTimeoutSec: 40 }, { headers: { 'if-match': g.etag } }));
    expectProblem(await api.del(path, { headers: { 'if-match': g.etag } }), 412);
    expect((await api.del(path, { headers: { 'if-match': p.etag } })).status).toBe(204);
  });
});

// ------------------------------------------------------------------------------------------------
describe('natGateways: 400 rules', () => {
  it('dynamic port allocation with endpoint-independent mapping', async () => {
    const { net } = await world({ subnet: false });
    expect400(await gw({ network: net, enableDynamicPortAllocation: true, enableEndpointIndependentMapping: true }), 'enableEndpointIndependentMapping');
  });

  it('rules with endpoint-independent mapping', async () => {
    const { net } = await world({ subnet: false });
    const [a, b] = [await addr(), await addr()];
    expect400(await gw({ network: net, natIps: [a], rules: [matchRule(10, [b])], enableEndpointIndependentMapping: true }), 'enableEndpointIndependentMapping');
  });

  it('natIps with AUTO_ONLY', async () => {
    const { net } = await world({ subnet: false });
    expect400(await gw({ network: net, natIpAllocateOption: 'AUTO_ONLY', natIps: [await addr()] }), 'natIps');
  });

  it('no natIps with MANUAL_ONLY', async () => {
    const { net } = await world({ subnet: false });
    expect400(await gw({ network: net, natIpAllocateOption: 'MANUAL_ONLY' }), 'natIps');
    expect400(await gw({ network: net, natIpAllocateOption: 'MANUAL_ONLY', natIps: [] }), 'natIps');
  });

  it('drainNatIps on create', async () => {
    const { net } = await world({ subnet: false });
    const [a, b] = [await addr(), await addr()];
    expect400(await gw({ network: net, natIps: [a], drainNatIps: [b] }), 'drainNatIps', { prefix: true });
  });

  it('a drain IP that was neither active nor draining before', async () => {
    const { net } = await world({ subnet: false });
    const [a, b, c] = [await addr(), await addr(), await addr()];
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a, b] });
    expect400(await api.patch(`${base}/natGateways/${g.name}`, { natIps: [a, b], drainNatIps: [c] }), 'drainNatIps[0]');
  });

  it('a drain IP that is still active', async () => {
    const { net } = await world({ subnet: false });
    const [a, b] = [await addr(), await addr()];
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a, b] });
    expect400(await api.patch(`${base}/natGateways/${g.name}`, { drainNatIps: [a] }), 'drainNatIps[0]');
  });

  it('draining every IP', async () => {
    const { net } = await world({ subnet: false });
    const [a, b] = [await addr(), await addr()];
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a, b] });
    expect400(await api.patch(`${base}/natGateways/${g.name}`, { natIps: [], drainNatIps: [a, b] }), 'natIps');
  });

  it('draining every IP of a rule', async () => {
    const { net } = await world({ subnet: false });
    const [a, b] = [await addr(), await addr()];
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a], rules: [matchRule(5, [b])] });
    const r = await api.patch(`${base}/natGateways/${g.name}`, { rules: [{ ruleNumber: 5, match: "destination.ip == '192.0.2.7'", action: { sourceNatActiveIps: [], sourceNatDrainIps: [b] } }] });
    expect400(r, 'rules[0].action.sourceNatActiveIps');
  });

  it('one address in two places of one gateway', async () => {
    const { net } = await world({ subnet: false });
    const a = await addr();
    expect400(await gw({ network: net, natIps: [a], rules: [matchRule(1, [a])] }), 'rules[0].action.sourceNatActiveIps[0]');
    expect400(await gw({ network: net, natIps: [a, a] }), 'natIps[1]');
    const b = await addr();
    expect400(await gw({ network: net, natIps: [b], rules: [matchRule(1, [a]), matchRule(2, [a])] }), 'rules[1].action.sourceNatActiveIps[0]');
    // the same address in two accepted forms is still the same address
    expect400(await gw({ network: net, natIps: [a, `projects/${P}/addresses/${a}`] }), 'natIps[1]');
  });

  it('type PRIVATE without rules -> 400 rules (test/api/private-nat.test.ts has the rest); a bad type -> 400', async () => {
    const { net } = await world({ subnet: false });
    expect400(await gw({ network: net, type: 'PRIVATE' }), 'rules');
    expect400(await gw({ network: net, type: 'SECRET' }), 'type');
  });

  it.each([
    [{ minPortsPerVm: 1 }, 'minPortsPerVm'],
    [{ minPortsPerVm: 57345 }, 'minPortsPerVm'],
    [{ minPortsPerVm: 0 }, 'minPortsPerVm'],
    [{ minPortsPerVm: -64 }, 'minPortsPerVm'],
    [{ minPortsPerVm: 64.5 }, 'minPortsPerVm'],
    [{ enableDynamicPortAllocation: true, minPortsPerVm: 48 }, 'minPortsPerVm'],
    [{ enableDynamicPortAllocation: true, minPortsPerVm: 16 }, 'minPortsPerVm'],
    [{ enableDynamicPortAllocation: true, minPortsPerVm: 65536 }, 'minPortsPerVm'],
    [{ maxPortsPerVm: 100 }, 'maxPortsPerVm'],
    [{ maxPortsPerVm: 32 }, 'maxPortsPerVm'],
    [{ maxPortsPerVm: 131072 }, 'maxPortsPerVm'],
    [{ enableDynamicPortAllocation: true, minPortsPerVm: 1024, maxPortsPerVm: 1024 }, 'maxPortsPerVm'],
    [{ enableDynamicPortAllocation: true, minPortsPerVm: 2048, maxPortsPerVm: 1024 }, 'maxPortsPerVm'],
    [{ udpIdleTimeoutSec: 0 }, 'udpIdleTimeoutSec'],
    [{ tcpEstablishedIdleTimeoutSec: 'long' }, 'tcpEstablishedIdleTimeoutSec'],
    [{ logConfig: { filter: 'SOME' } }, 'logConfig.filter'],
    [{ sourceSubnetworkIpRangesToNat: 'EVERYTHING' }, 'sourceSubnetworkIpRangesToNat'],
    [{ natIpAllocateOption: 'SOMETIMES' }, 'natIpAllocateOption'],
  ])('ports and enums: %j -> 400 %s', async (body, field) => {
    const { net } = await world({ subnet: false });
    expect400(await gw({ network: net, ...body }), field);
  });

  it.each([
    [{ minPortsPerVm: 2 }],
    [{ minPortsPerVm: 57344 }],
    [{ minPortsPerVm: 50 }],
    [{ enableDynamicPortAllocation: true, minPortsPerVm: 32, maxPortsPerVm: 64 }],
    [{ enableDynamicPortAllocation: true, minPortsPerVm: 32768, maxPortsPerVm: 65536 }],
    [{ maxPortsPerVm: 64 }],
  ])('ports in range accepted: %j', async (body) => {
    const { net } = await world({ subnet: false });
    expectOk(await gw({ network: net, ...body }), 201);
  });

  it('a bad match -> 400 naming the rule and the position', async () => {
    const { net } = await world({ subnet: false });
    const [a, b, c] = [await addr(), await addr(), await addr()];
    const r = await gw({
      network: net,
      natIps: [a],
      rules: [matchRule(1, [b], "inIpRange(destination.ip, '198.51.100.0/24') || destination.ip == '192.0.2.7'"), matchRule(2, [c], "inIpRange(destination.ip, '10.0.0.0/8') && destination.port == 80")],
    });
    const p = expect400(r, 'rules[1].match');
    expect(p.errors!.find((e) => e.field === 'rules[1].match')!.message).toMatch(/position \d+/);
    expect(p.errors!.some((e) => e.field === 'rules[0].match')).toBe(false);
  });

  it.each([["source.ip == '1.2.3.4' || destination.ip == '1.2.3.5'"], ["inIpRange(destination.ip, '10.0.0.0/33')"], ["destination.ip == '300.1.1.1'"], [''], ["destination.ip == '1.2.3.4' ||"]])(
    'match %j -> 400 rules[0].match',
    async (match) => {
      const { net } = await world({ subnet: false });
      expect400(await gw({ network: net, natIps: [await addr()], rules: [matchRule(1, [await addr()], match)] }), 'rules[0].match');
    },
  );

  it('rule numbers: out of range and duplicate -> 400', async () => {
    const { net } = await world({ subnet: false });
    const [a, b, c] = [await addr(), await addr(), await addr()];
    expect400(await gw({ network: net, natIps: [a], rules: [matchRule(65001, [b])] }), 'rules[0].ruleNumber');
    expect400(await gw({ network: net, natIps: [a], rules: [matchRule(-1, [b])] }), 'rules[0].ruleNumber');
    expect400(await gw({ network: net, natIps: [a], rules: [matchRule(7, [b]), matchRule(7, [c])] }), 'rules[1].ruleNumber');
  });

  it('references to missing addresses and subnets -> 400 naming them', async () => {
    const { net } = await world();
    expect400(await gw({ network: net, natIps: ['no-such-address'] }), 'natIps[0]');
    expect400(await gw({ network: net, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: 'no-such-subnet' }] }), 'subnetworks[0].name');
    expect400(await gw({ network: 'no-such-network' }), 'network');
    expect400(await gw({ network: net, natIps: [await addr('r2')] }), 'natIps[0]');
  });

  it('a reference to another project -> 400', async () => {
    const { net } = await world({ subnet: false });
    expect400(await gw({ network: net, natIps: ['projects/other/addresses/a'] }), 'natIps[0]');
    expect400(await gw({ network: `projects/other/networks/${net}` }), 'network');
  });
});

// ------------------------------------------------------------------------------------------------
describe('natGateways: 409 rules', () => {
  it('an address used by another gateway', async () => {
    const [{ net: n1 }, { net: n2 }] = [await world({ subnet: false }), await world({ subnet: false })];
    const a = await addr();
    await api.gateway(P, uniq('gw'), { network: n1, natIps: [a] });
    const p = expectProblem(await gw({ network: n2, natIps: [a] }), 409);
    expect(p.errors?.map((e) => e.field)).toContain('natIps[0]');
    // also in a rule, and also via PATCH
    const b = await addr();
    const p2 = expectProblem(await gw({ network: n2, natIps: [b], rules: [matchRule(3, [a])] }), 409);
    expect(p2.errors?.map((e) => e.field)).toContain('rules[0].action.sourceNatActiveIps[0]');
    const g2 = await api.gateway(P, uniq('gw'), { network: n2, natIps: [b] });
    expectProblem(await api.patch(`${base}/natGateways/${g2.name}`, { natIps: [b, a] }), 409);
  });

  it('a second gateway where one covers ALL_SUBNETWORKS_ALL_IP_RANGES (either order)', async () => {
    const { net, sub } = await world();
    await api.gateway(P, uniq('gw'), { network: net });
    const r = await gw({ network: net, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub, sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }] });
    expect(expectProblem(r, 409).errors?.map((e) => e.field)).toContain('sourceSubnetworkIpRangesToNat');
    expectProblem(await gw({ network: net, sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES' }), 409);

    const { net: n2, sub: s2 } = await world();
    await api.gateway(P, uniq('gw'), { network: n2, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: s2, sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }] });
    expectProblem(await gw({ network: n2 }), 409);
    // another region of the same network is fine
    expectOk(await gw({ network: n2, region: 'r2' }), 201);
  });

  it('a subnet range NATed twice', async () => {
    const { net, sub } = await world();
    await api.gateway(P, uniq('gw'), { network: net, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub, sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }] });
    const r = await gw({ network: net, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub, sourceIpRangesToNat: ['ALL_IP_RANGES'] }] });
    expect(expectProblem(r, 409).errors?.map((e) => e.field)).toContain('subnetworks[0]');
    // the secondary range alone is not NATed yet: fine
    expectOk(await gw({ network: net, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub, sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods'] }] }), 201);
    // now it is
    expectProblem(await gw({ network: net, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub, sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods'] }] }), 409);
  });
});

// ------------------------------------------------------------------------------------------------
describe('in-use deletes -> 409 naming the users', () => {
  it('an address used by a gateway; RESERVED/IN_USE status and users', async () => {
    const { net } = await world({ subnet: false });
    const a = await addr();
    expect((await api.get(`${base}/addresses/${a}`)).body).toEqual(expect.objectContaining({ status: 'RESERVED', users: [] }));
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a] });
    const view = (await api.get(`${base}/addresses/${a}`)).body;
    expect(view.status).toBe('IN_USE');
    expect(view.users).toHaveLength(1);
    expect(view.users[0]).toMatch(new RegExp(`natGateways/${g.name}$`));
    expectInUse(await api.del(`${base}/addresses/${a}`), [`natGateways/${g.name}`]);
    expect((await api.get(`${base}/addresses/${a}`)).status).toBe(200);
  });

  it('a subnet used by endpoints', async () => {
    const { sub } = await world();
    const ep = uniq('ep');
    await api.endpoint(P, ep, { subnet: sub, host: 'h1', networkIp: '10.0.0.7' });
    expectInUse(await api.del(`${base}/subnets/${sub}`), [`endpoints/${ep}`]);
  });

  it('a subnet used by a gateway', async () => {
    const { net, sub } = await world();
    const g = await api.gateway(P, uniq('gw'), { network: net, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub }] });
    expectInUse(await api.del(`${base}/subnets/${sub}`), [`natGateways/${g.name}`]);
  });

  it('a network with subnets', async () => {
    const { net, sub } = await world();
    expectInUse(await api.del(`${base}/networks/${net}`), [`subnets/${sub}`]);
  });

  it('a host with endpoints', async () => {
    const h = await api.host(uniq('hh'));
    const { sub } = await world();
    const ep = uniq('ep');
    await api.endpoint(P, ep, { subnet: sub, host: h.name, networkIp: '10.0.0.8' });
    expectInUse(await api.del(`/v1/admin/hosts/${h.name}`), [`endpoints/${ep}`]);
  });

  it('a pool with addresses', async () => {
    const pool = uniq('pool');
    await api.pool(pool, 'r5', ['100.64.5.0/24']);
    const a = uniq('addr');
    await api.address(P, a, 'r5');
    expectInUse(await api.del(`/v1/admin/addressPools/${pool}`), [`addresses/${a}`]);
  });

  it('a project with networks', async () => {
    const prj = uniq('prj');
    await api.project(prj);
    await api.network(prj, 'only-net');
    expectInUse(await api.del(`/v1/admin/projects/${prj}`), ['networks/only-net']);
    await api.del(`/v1/projects/${prj}/networks/only-net`);
    expect((await api.del(`/v1/admin/projects/${prj}`)).status).toBe(204);
  });
});

// ------------------------------------------------------------------------------------------------
describe('subnets and endpoints', () => {
  it.each([['10.0.0.0/33'], ['10.0.0.1/24'], ['300.0.0.0/8'], ['abc'], ['10.0.0.0'], ['10.0.0.0/-1'], ['::1/128']])('ipCidrRange %j -> 400', async (cidr) => {
    const { net } = await world({ subnet: false });
    expect400(await api.post(`${base}/subnets`, { name: uniq('s'), network: net, region: 'r1', ipCidrRange: cidr }), 'ipCidrRange');
  });

  it('a bad secondary range -> 400 naming it', async () => {
    const { net } = await world({ subnet: false });
    const r = await api.post(`${base}/subnets`, { name: uniq('s'), network: net, region: 'r1', ipCidrRange: '10.0.0.0/24', secondaryIpRanges: [{ rangeName: 'a', ipCidrRange: '10.1.0.0/16' }, { rangeName: 'b', ipCidrRange: 'nope' }] });
    expect400(r, 'secondaryIpRanges[1].ipCidrRange');
  });

  it('overlap within a network -> 400; the same range in another network is fine', async () => {
    const { net } = await world();
    expect400(await api.post(`${base}/subnets`, { name: uniq('s'), network: net, region: 'r1', ipCidrRange: '10.0.0.128/25' }), 'ipCidrRange');
    expect400(await api.post(`${base}/subnets`, { name: uniq('s'), network: net, region: 'r1', ipCidrRange: '10.0.0.0/8' }), 'ipCidrRange');
    expect400(await api.post(`${base}/subnets`, { name: uniq('s'), network: net, region: 'r2', ipCidrRange: '10.4.3.0/24' }), 'ipCidrRange');
    expect400(
      await api.post(`${base}/subnets`, { name: uniq('s'), network: net, region: 'r1', ipCidrRange: '10.1.0.0/24', secondaryIpRanges: [{ rangeName: 'x', ipCidrRange: '10.0.0.0/28' }] }),
      'secondaryIpRanges[0].ipCidrRange',
    );
    expect400(
      await api.post(`${base}/subnets`, { name: uniq('s'), network: net, region: 'r1', ipCidrRange: '10.2.0.0/24', secondaryIpRanges: [{ rangeName: 'x', ipCidrRange: '10.2.0.0/28' }] }),
      'secondaryIpRanges[0].ipCidrRange',
    );
    expectOk(await api.post(`${base}/subnets`, { name: uniq('s'), network: net, region: 'r1', ipCidrRange: '10.1.0.0/24' }), 201);
    const { net: other } = await world({ subnet: false });
    expectOk(await api.post(`${base}/subnets`, { name: uniq('s'), network: other, region: 'r1', ipCidrRange: '10.0.0.0/24' }), 201);
  });

  it('a PATCH that makes a subnet overlap another -> 400', async () => {
    const { net, sub } = await world();
    const s2 = uniq('s');
    await api.subnet(P, s2, { network: net, ipCidrRange: '10.1.0.0/24' });
    expect400(await api.patch(`${base}/subnets/${s2}`, { ipCidrRange: '10.0.0.0/23' }), 'ipCidrRange');
    expect((await api.get(`${base}/subnets/${sub}`)).body.ipCidrRange).toBe('10.0.0.0/24');
  });

  it('endpoint networkIp outside the primary range -> 400; duplicate in the network -> 409', async () => {
    const { net, sub } = await world();
    expect400(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: sub, host: 'h1', networkIp: '10.0.1.5' }), 'networkIp');
    expect400(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: sub, host: 'h1', networkIp: '10.4.0.5' }), 'networkIp');
    expect400(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: sub, host: 'h1', networkIp: 'ten' }), 'networkIp');
    await api.endpoint(P, uniq('e'), { subnet: sub, host: 'h1', networkIp: '10.0.0.20' });
    const dup = expectProblem(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: sub, host: 'h2', networkIp: '10.0.0.20' }), 409);
    expect(dup.errors?.map((e) => e.field)).toContain('networkIp');
    // another subnet of the same network cannot hold it either (it is outside its range), another network can
    // (on another host: on h1 the two endpoints would need their own devices, see the hostInterface tests)
    const s2 = uniq('s');
    await api.subnet(P, s2, { network: net, ipCidrRange: '10.9.0.0/24' });
    const { sub: otherNetSub } = await world();
    expectOk(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: otherNetSub, host: 'h2', networkIp: '10.0.0.20' }), 201);
  });

  it('PATCH networkIp onto a taken address -> 409', async () => {
    const { sub } = await world();
    const [e1, e2] = [uniq('e'), uniq('e')];
    await api.endpoint(P, e1, { subnet: sub, host: 'h1', networkIp: '10.0.0.30' });
    await api.endpoint(P, e2, { subnet: sub, host: 'h1', networkIp: '10.0.0.31' });
    expectProblem(await api.patch(`${base}/endpoints/${e2}`, { networkIp: '10.0.0.30' }), 409);
  });

  it('endpoint references: missing subnet or host -> 400; moving a VM = PATCH host', async () => {
    const { sub } = await world();
    expect400(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: 'nope', host: 'h1', networkIp: '10.0.0.40' }), 'subnet');
    expect400(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: sub, host: 'nope', networkIp: '10.0.0.40' }), 'host');
    const e = uniq('e');
    await api.endpoint(P, e, { subnet: sub, host: 'h1', networkIp: '10.0.0.40' });
    expect(expectOk(await api.patch(`${base}/endpoints/${e}`, { host: 'admin/hosts/h2' })).host).toBe('h2');
  });
});

// ------------------------------------------------------------------------------------------------
describe('natGateways: valid final states, drains, defaults, references', () => {
  it('switching dynamic allocation and EIM in ONE PATCH works, both ways', async () => {
    const { net } = await world({ subnet: false });
    const g = await api.gateway(P, uniq('gw'), { network: net, enableEndpointIndependentMapping: true });
    const path = `${base}/natGateways/${g.name}`;
    const v = expectOk(await api.patch(path, { enableEndpointIndependentMapping: false, enableDynamicPortAllocation: true }));
    expect(v).toEqual(expect.objectContaining({ enableEndpointIndependentMapping: false, enableDynamicPortAllocation: true, maxPortsPerVm: 65536 }));
    // the stored minPortsPerVm (64) is a valid dynamic value; null brings the dynamic default
    expect(expectOk(await api.patch(path, { minPortsPerVm: null })).minPortsPerVm).toBe(32);
    const back = expectOk(await api.patch(path, { enableEndpointIndependentMapping: true, enableDynamicPortAllocation: false, minPortsPerVm: null }));
    expect(back).toEqual(expect.objectContaining({ enableEndpointIndependentMapping: true, enableDynamicPortAllocation: false, minPortsPerVm: 64 }));
    // a minPortsPerVm valid only statically with a switch to dynamic in the same request -> 400
    expect400(await api.patch(path, { enableEndpointIndependentMapping: false, enableDynamicPortAllocation: true, minPortsPerVm: 100 }), 'minPortsPerVm');
  });

  it('AUTO_ONLY -> MANUAL_ONLY with natIps and rules in one PATCH; EIM off with rules on in one PATCH', async () => {
    const { net } = await world({ subnet: false });
    const g = await api.gateway(P, uniq('gw'), { network: net, enableEndpointIndependentMapping: true });
    const [a, b] = [await addr(), await addr()];
    const v = expectOk(await api.patch(`${base}/natGateways/${g.name}`, { natIpAllocateOption: 'MANUAL_ONLY', natIps: [a], rules: [matchRule(1, [b])], enableEndpointIndependentMapping: false }));
    expect(v.natIps).toEqual([a]);
    expect(v.rules).toHaveLength(1);
  });

  it('drain in the same request as the removal from natIps; later the drain ends', async () => {
    const { net } = await world({ subnet: false });
    const [a, b] = [await addr(), await addr()];
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a, b] });
    const path = `${base}/natGateways/${g.name}`;
    const v = expectOk(await api.patch(path, { natIps: [b], drainNatIps: [a] }));
    expect(v).toEqual(expect.objectContaining({ natIps: [b], drainNatIps: [a] }));
    expect((await api.get(path)).body.drainNatIps).toEqual([a]);
    // still draining: may stay draining in the next change
    expectOk(await api.patch(path, { udpIdleTimeoutSec: 45 }));
    // the draining address is still the gateway's
    expectInUse(await api.del(`${base}/addresses/${a}`), [`natGateways/${g.name}`]);
    const done = expectOk(await api.patch(path, { drainNatIps: [] }));
    expect(done.drainNatIps).toEqual([]);
    expect((await api.del(`${base}/addresses/${a}`)).status).toBe(204);
  });

  it('drain of a rule IP in the same request as its removal', async () => {
    const { net } = await world({ subnet: false });
    const [a, b, c] = [await addr(), await addr(), await addr()];
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a], rules: [matchRule(9, [b, c])] });
    const v = expectOk(await api.patch(`${base}/natGateways/${g.name}`, { rules: [{ ruleNumber: 9, match: "destination.ip == '192.0.2.7'", action: { sourceNatActiveIps: [c], sourceNatDrainIps: [b] } }] }));
    expect(v.rules[0].action).toEqual({ sourceNatActiveIps: [c], sourceNatDrainIps: [b], sourceNatActiveRanges: [] });
  });

  it('every server default is returned (create and GET)', async () => {
    const { net } = await world({ subnet: false });
    const created = expectOk(await gw({ network: net }), 201);
    const got = (await api.get(`${base}/natGateways/${created.name}`)).body;
    for (const v of [created, got]) {
      expect(v).toEqual(
        expect.objectContaining({
          network: net,
          region: 'r1',
          type: 'PUBLIC',
          natIpAllocateOption: 'AUTO_ONLY',
          natIps: [],
          drainNatIps: [],
          maxDrainDurationSec: 0,
          sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
          subnetworks: [],
          minPortsPerVm: 64,
          maxPortsPerVm: 65536,
          enableDynamicPortAllocation: false,
          enableEndpointIndependentMapping: false,
          udpIdleTimeoutSec: 30,
          icmpIdleTimeoutSec: 30,
          tcpEstablishedIdleTimeoutSec: 1200,
          tcpTransitoryIdleTimeoutSec: 30,
          tcpTimeWaitTimeoutSec: 30,
          logConfig: { enable: false, filter: 'ALL' },
          rules: [],
          labels: {},
          description: '',
          generation: 1,
        }),
      );
      expect(v.status).toEqual(expect.objectContaining({ state: expect.stringMatching(/^(PROVISIONING|READY|DEGRADED)$/), observedGeneration: expect.any(Number), hostsTotal: expect.any(Number), hostsProgrammed: expect.any(Number), message: expect.any(String) }));
    }
    expect(got).toEqual(created);
  });

  it('nested defaults: dynamic min 32, subnetwork and rule and logConfig defaults, MANUAL_ONLY when natIps given', async () => {
    const { net, sub } = await world();
    const [a, b] = [await addr(), await addr()];
    const v = expectOk(
      await gw({
        network: net,
        natIps: [a],
        enableDynamicPortAllocation: true,
        sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
        subnetworks: [{ name: sub }],
        logConfig: { enable: true },
        rules: [{ ruleNumber: 4, match: "destination.ip == '192.0.2.1'", action: { sourceNatActiveIps: [b] } }],
      }),
      201,
    );
    expect(v.natIpAllocateOption).toBe('MANUAL_ONLY');
    expect(v.minPortsPerVm).toBe(32);
    expect(v.maxPortsPerVm).toBe(65536);
    expect(v.subnetworks).toEqual([{ name: sub, sourceIpRangesToNat: ['ALL_IP_RANGES'], secondaryIpRangeNames: [] }]);
    expect(v.logConfig).toEqual({ enable: true, filter: 'ALL' });
    expect(v.rules).toEqual([{ ruleNumber: 4, description: '', match: "destination.ip == '192.0.2.1'", action: { sourceNatActiveIps: [b], sourceNatDrainIps: [], sourceNatActiveRanges: [] } }]);
  });

  it('other resources echo their defaults too', async () => {
    const { sub } = await world();
    expect((await api.get(`${base}/subnets/${sub}`)).body).toEqual(expect.objectContaining({ labels: {}, description: '' }));
    const e = expectOk(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: sub, host: 'h1', networkIp: '10.0.0.50' }), 201);
    expect(e.aliasIpRanges).toEqual([]);
    const s = expectOk(await api.post(`${base}/subnets`, { name: uniq('s'), network: e.subnet === sub ? (await api.get(`${base}/subnets/${sub}`)).body.network : '', region: 'r1', ipCidrRange: '10.50.0.0/24' }), 201);
    expect(s.secondaryIpRanges).toEqual([]);
    const h = (await api.get('/v1/admin/hosts/h1')).body;
    expect(h.status).toEqual(expect.objectContaining({ state: expect.any(String), desiredGeneration: expect.any(Number), appliedGeneration: expect.any(Number) }));
    expect(h.status).toHaveProperty('lastReportTime');
    expect(h.status).toHaveProperty('lastError');
  });

  it('references accepted as name, relative path and selfLink, returned as the bare name', async () => {
    const { net, sub } = await world();
    const [a, b, c] = [await addr(), await addr(), await addr()];
    const host = 'http://natplane.example:8080';
    const v = expectOk(
      await gw({
        network: `${host}/v1/projects/${P}/networks/${net}`,
        natIps: [a, `projects/${P}/addresses/${b}`],
        sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
        subnetworks: [{ name: `https://x.example/v1/projects/${P}/subnets/${sub}` }],
        rules: [matchRule(2, [`${host}/v1/projects/${P}/addresses/${c}`])],
      }),
      201,
    );
    expect(v.network).toBe(net);
    expect(v.natIps).toEqual([a, b]);
    expect(v.subnetworks[0].name).toBe(sub);
    expect(v.rules[0].action.sourceNatActiveIps).toEqual([c]);
    expect((await api.get(`${base}/natGateways/${v.name}`)).body.natIps).toEqual([a, b]);

    const e = expectOk(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: `projects/${P}/subnets/${sub}`, host: `${host}/v1/admin/hosts/h1`, networkIp: '10.0.0.60' }), 201);
    expect(e.subnet).toBe(sub);
    expect(e.host).toBe('h1');
    const e2 = expectOk(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: sub, host: 'admin/hosts/h2', networkIp: '10.0.0.61' }), 201);
    expect(e2.host).toBe('h2');
    const s = expectOk(await api.post(`${base}/subnets`, { name: uniq('s'), network: `projects/${P}/networks/${net}`, region: 'r1', ipCidrRange: '10.60.0.0/24' }), 201);
    expect(s.network).toBe(net);
  });

  it('references of the wrong collection -> 400', async () => {
    const { net, sub } = await world();
    expect400(await gw({ network: `projects/${P}/subnets/${sub}` }), 'network');
    expect400(await api.post(`${base}/endpoints`, { name: uniq('e'), subnet: `projects/${P}/networks/${net}`, host: 'h1', networkIp: '10.0.0.62' }), 'subnet');
  });
});

// ------------------------------------------------------------------------------------------------
describe('PATCH is a JSON merge patch', () => {
  it('null resets a default; absent members are kept', async () => {
    const { net } = await world({ subnet: false });
    const g = await api.gateway(P, uniq('gw'), { network: net, udpIdleTimeoutSec: 90, description: 'keep', logConfig: { enable: true, filter: 'ERRORS_ONLY' } });
    const path = `${base}/natGateways/${g.name}`;
    const v = expectOk(await api.patch(path, { udpIdleTimeoutSec: null, logConfig: { filter: null } }));
    expect(v.udpIdleTimeoutSec).toBe(30);
    expect(v.logConfig).toEqual({ enable: true, filter: 'ALL' });
    expect(v.description).toBe('keep');
    const v2 = expectOk(await api.patch(path, { logConfig: null, description: null }));
    expect(v2.logConfig).toEqual({ enable: false, filter: 'ALL' });
    expect(v2.description).toBe('');
  });

  it('labels merge member by member; null removes a label; labels: null clears them', async () => {
    const { net } = await world({ subnet: false });
    await api.patch(`${base}/networks/${net}`, { labels: { a: '1', b: '2' } });
    expect(expectOk(await api.patch(`${base}/networks/${net}`, { labels: { b: null, c: '3' } })).labels).toEqual({ a: '1', c: '3' });
    expect(expectOk(await api.patch(`${base}/networks/${net}`, { labels: null })).labels).toEqual({});
  });

  it('lists are replaced whole', async () => {
    const { net, sub } = await world();
    const s2 = uniq('s');
    await api.subnet(P, s2, { network: net, ipCidrRange: '10.1.0.0/24' });
    const [a, b, c] = [await addr(), await addr(), await addr()];
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a, b], sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub }, { name: s2 }] });
    const path = `${base}/natGateways/${g.name}`;
    const v = expectOk(await api.patch(path, { natIps: [c], subnetworks: [{ name: s2, sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }] }));
    expect(v.natIps).toEqual([c]);
    expect(v.subnetworks).toEqual([{ name: s2, sourceIpRangesToNat: ['PRIMARY_IP_RANGE'], secondaryIpRangeNames: [] }]);
    // the addresses left out are free again
    expect((await api.get(`${base}/addresses/${a}`)).body.status).toBe('RESERVED');
    expect((await api.get(`${base}/addresses/${c}`)).body.status).toBe('IN_USE');
    const sec = expectOk(await api.patch(`${base}/subnets/${s2}`, { secondaryIpRanges: [{ rangeName: 'x', ipCidrRange: '10.20.0.0/16' }] }));
    expect(sec.secondaryIpRanges).toEqual([{ rangeName: 'x', ipCidrRange: '10.20.0.0/16' }]);
    expect(expectOk(await api.patch(`${base}/subnets/${s2}`, { secondaryIpRanges: [] })).secondaryIpRanges).toEqual([]);
  });

  it('application/merge-patch+json is accepted', async () => {
    const { net } = await world({ subnet: false });
    const r = await api.req('PATCH', `${base}/networks/${net}`, { body: { description: 'mp' }, contentType: 'application/merge-patch+json' });
    expect(expectOk(r).description).toBe('mp');
    const g = await api.gateway(P, uniq('gw'), { network: net });
    const r2 = await api.req('PATCH', `${base}/natGateways/${g.name}`, { body: { tcpTimeWaitTimeoutSec: 60 }, contentType: 'application/merge-patch+json; charset=utf-8' });
    expect(expectOk(r2).tcpTimeWaitTimeoutSec).toBe(60);
  });

  it('a PATCH body that is not an object -> 400', async () => {
    const { net } = await world({ subnet: false });
    for (const raw of ['[]', '"x"', '42', 'null']) {
      expectProblem(await api.req('PATCH', `${base}/networks/${net}`, { raw }), 400);
    }
  });

  it('an invalid result of the merge -> 400 and nothing stored', async () => {
    const { net } = await world({ subnet: false });
    const g = await api.gateway(P, uniq('gw'), { network: net });
    const path = `${base}/natGateways/${g.name}`;
    expect400(await api.patch(path, { enableDynamicPortAllocation: true, enableEndpointIndependentMapping: true }), 'enableEndpointIndependentMapping');
    expect((await api.get(path)).body).toEqual(g);
  });
});

// ------------------------------------------------------------------------------------------------
describe('paging and filters', () => {
  const PG = 'paging';
  const names: string[] = [];

  beforeAll(async () => {
    await api.project(PG);
    for (let i = 0; i < 57; i++) {
      const n = `n${String((i * 37) % 57).padStart(3, '0')}`;
      names.push(n);
      await api.network(PG, n, { labels: i % 3 === 0 ? { env: 'x' } : { env: 'y' } });
    }
    names.sort();
  });

  it('pageSize defaults to 50', async () => {
    const r = expectOk(await api.get(`/v1/projects/${PG}/networks`));
    expect(r.items).toHaveLength(50);
    expect(r.nextPageToken).toEqual(expect.any(String));
    expect(r.nextPageToken).not.toBe('');
  });

  it('pageSize 500 is the max; 501, 0, -1, abc -> 400 naming pageSize', async () => {
    const r = expectOk(await api.get(`/v1/projects/${PG}/networks?pageSize=500`));
    expect(r.items).toHaveLength(57);
    expect(r.nextPageToken ?? '').toBe('');
    for (const s of ['501', '0', '-1', 'abc', '1.5', '1e2']) expect400(await api.get(`/v1/projects/${PG}/networks?pageSize=${s}`), 'pageSize');
  });

  it('a bad pageToken -> 400 naming pageToken', async () => {
    for (const t of ['garbage', 'n:x', '%00', 'AAAA', Buffer.from('x:n005').toString('base64url')]) expect400(await api.get(`/v1/projects/${PG}/networks?pageToken=${t}`), 'pageToken');
  });

  it.each([[1], [3], [7], [50]])('walking pages of %i returns every item once, in name order', async (size) => {
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const r = expectOk(await api.get(`/v1/projects/${PG}/networks`, { query: { pageSize: String(size), ...(token ? { pageToken: token } : {}) } }));
      expect(r.items.length).toBeLessThanOrEqual(size);
      seen.push(...r.items.map((i: { name: string }) => i.name));
      token = r.nextPageToken ?? '';
      if (++pages > 100) throw new Error('paging does not end');
    } while (token);
    expect(seen).toEqual(names);
  });

  it('filter labels.env = "x" and name', async () => {
    const r = expectOk(await api.get(`/v1/projects/${PG}/networks`, { query: { filter: 'labels.env = "x"', pageSize: '500' } }));
    expect(r.items.length).toBe(19);
    expect(r.items.every((i: { labels: Record<string, string> }) => i.labels.env === 'x')).toBe(true);
    const one = expectOk(await api.get(`/v1/projects/${PG}/networks`, { query: { filter: 'name = n005' } }));
    expect(one.items.map((i: { name: string }) => i.name)).toEqual(['n005']);
    const not = expectOk(await api.get(`/v1/projects/${PG}/networks`, { query: { filter: "labels.env != 'x'", pageSize: '500' } }));
    expect(not.items.length).toBe(38);
  });

  it('a filtered walk pages correctly', async () => {
    const seen: string[] = [];
    let token = '';
    do {
      const r = expectOk(await api.get(`/v1/projects/${PG}/networks`, { query: { filter: 'labels.env = "y"', pageSize: '5', ...(token ? { pageToken: token } : {}) } }));
      seen.push(...r.items.map((i: { name: string }) => i.name));
      token = r.nextPageToken ?? '';
    } while (token);
    expect(seen).toHaveLength(38);
    expect([...seen].sort()).toEqual(seen);
  });

  it('filter host = h1 on endpoints', async () => {
    const { sub } = await world();
    const [e1, e2] = [uniq('fe'), uniq('fe')];
    await api.endpoint(P, e1, { subnet: sub, host: 'h1', networkIp: '10.0.0.71' });
    await api.endpoint(P, e2, { subnet: sub, host: 'h2', networkIp: '10.0.0.72' });
    const r = expectOk(await api.get(`${base}/endpoints`, { query: { filter: `host = h2 AND subnet = ${sub}` } }));
    expect(r.items.map((i: { name: string }) => i.name)).toEqual([e2]);
    const r1 = expectOk(await api.get(`${base}/endpoints`, { query: { filter: 'host = h1', pageSize: '500' } }));
    expect(r1.items.length).toBeGreaterThan(0);
    expect(r1.items.every((i: { host: string }) => i.host === 'h1')).toBe(true);
    expect(r1.items.map((i: { name: string }) => i.name)).toContain(e1);
  });

  it.each([['labels.env ~ x'], ['name ='], ['= x'], ['nosuchfield = 1'], ['name = a OR name = b'], ['name = "unterminated'], ['(name = a)'], ['name = a AND']])('bad filter %j -> 400 naming filter', async (f) => {
    expect400(await api.get(`/v1/projects/${PG}/networks`, { query: { filter: f } }), 'filter');
  });

  it('unknown query parameters -> 400', async () => {
    expectProblem(await api.get(`/v1/projects/${PG}/networks?pageSize=5&color=red`), 400);
  });
});

// ------------------------------------------------------------------------------------------------
describe('gateway generation', () => {
  async function scoped(): Promise<{ net: string; sub: string; g: { generation: number; etag: string; name: string }; path: string }> {
    const { net, sub } = await world();
    const g = await api.gateway(P, uniq('gw'), { network: net, sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: sub }] });
    expect(g.generation).toBe(1);
    return { net, sub, g, path: `${base}/natGateways/${g.name}` };
  }

  it('does not bump on a label or description change (the etag changes)', async () => {
    const { g, path } = await scoped();
    const labelled = expectOk(await api.patch(path, { labels: { team: 'a' }, description: 'just words' }));
    expect(labelled.etag).not.toBe(g.etag);
    expect(labelled.generation).toBe(1);
  });

  it('does not bump on a PATCH that changes nothing in the spec', async () => {
    const { path } = await scoped();
    expect(expectOk(await api.patch(path, { udpIdleTimeoutSec: 30 })).generation).toBe(1);
  });

  it('bumps by one on a spec change', async () => {
    const { g, path } = await scoped();
    const changed = expectOk(await api.patch(path, { udpIdleTimeoutSec: 31 }));
    expect(changed.generation).toBe(g.generation + 1);
    expect((await api.get(path)).body.generation).toBe(g.generation + 1);
  });

  it('bumps when an endpoint joins its scope, not for an endpoint outside it', async () => {
    const { net, sub, path } = await scoped();
    await api.endpoint(P, uniq('ge'), { subnet: sub, host: 'h1', networkIp: '10.0.0.90' });
    expect((await api.get(path)).body.generation).toBe(2);
    const s2 = uniq('s');
    await api.subnet(P, s2, { network: net, ipCidrRange: '10.1.0.0/24' });
    await api.endpoint(P, uniq('ge'), { subnet: s2, host: 'h1', networkIp: '10.1.0.9' });
    expect((await api.get(path)).body.generation).toBe(2);
  });

  it('an ALL_SUBNETWORKS gateway bumps when an endpoint is added anywhere in its network and region', async () => {
    const { net, sub } = await world();
    const g = await api.gateway(P, uniq('gw'), { network: net });
    const path = `${base}/natGateways/${g.name}`;
    await api.endpoint(P, uniq('ge'), { subnet: sub, host: 'h1', networkIp: '10.0.0.91' });
    const after = (await api.get(path)).body.generation;
    expect(after).toBeGreaterThan(1);
    // moving the VM to another host concerns it too
    const e = uniq('ge');
    await api.endpoint(P, e, { subnet: sub, host: 'h1', networkIp: '10.0.0.92' });
    const before = (await api.get(path)).body.generation;
    await api.patch(`${base}/endpoints/${e}`, { host: 'h2' });
    expect((await api.get(path)).body.generation).toBeGreaterThan(before);
    // but a label change of the endpoint does not
    const now = (await api.get(path)).body.generation;
    await api.patch(`${base}/endpoints/${e}`, { labels: { x: 'y' } });
    expect((await api.get(path)).body.generation).toBe(now);
  });
});

// ------------------------------------------------------------------------------------------------
describe('errors are problem+json', () => {
  it('a body that is not JSON -> 400 problem', async () => {
    const r = await api.req('POST', `${base}/networks`, { raw: '{"name": ', contentType: 'application/json' });
    expectProblem(r, 400);
  });

  it('an unsupported content type -> 4xx problem', async () => {
    const r = await api.req('POST', `${base}/networks`, { raw: 'name=x', contentType: 'application/x-www-form-urlencoded' });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.contentType.startsWith(PROBLEM_JSON)).toBe(true);
  });

  it('a path segment longer than the router allows -> 4xx problem+json', async () => {
    for (const path of [`${base}/networks/${'a'.repeat(300)}`, `/v1/admin/projects/${'b'.repeat(300)}`]) {
      const r = await api.get(path);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.contentType.startsWith(PROBLEM_JSON)).toBe(true);
    }
  });

  it('an unknown route -> 404 problem', async () => {
    const r = await api.get('/v1/nothing-here', { token: ADMIN_TOKEN });
    expect(r.status).toBe(404);
    expect(r.contentType.startsWith(PROBLEM_JSON)).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------
describe('natGateways: drains that end by themselves (maxDrainDurationSec)', () => {
  it.each([-1, 1.5, 86401, '60', true, { s: 1 }])('maxDrainDurationSec %p -> 400 naming the field (create and PATCH)', async (value) => {
    const { net } = await world({ subnet: false });
    const a = await addr();
    expect400(await gw({ network: net, natIps: [a], maxDrainDurationSec: value }), 'maxDrainDurationSec');
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a] });
    expect400(await api.patch(`${base}/natGateways/${g.name}`, { maxDrainDurationSec: value }), 'maxDrainDurationSec');
  });

  it('merge patch: set, kept by other changes, null back to the default 0; If-Match on it', async () => {
    const { net } = await world({ subnet: false });
    const [a, b] = [await addr(), await addr()];
    const g = expectOk(await gw({ network: net, natIps: [a, b], maxDrainDurationSec: 350 }), 201);
    expect(g.maxDrainDurationSec).toBe(350);
    const path = `${base}/natGateways/${g.name}`;
    const v = expectOk(await api.patch(path, { udpIdleTimeoutSec: 40 }, { headers: { 'if-match': g.etag } }));
    expect(v.maxDrainDurationSec).toBe(350);
    // the etag of before the last change is stale
    expectProblem(await api.patch(path, { maxDrainDurationSec: 60 }, { headers: { 'if-match': g.etag } }), 412);
    expect((await api.get(path)).body.maxDrainDurationSec).toBe(350);
    const w = expectOk(await api.patch(path, { maxDrainDurationSec: 60 }, { headers: { 'if-match': v.etag } }));
    expect(w.maxDrainDurationSec).toBe(60);
    expect(w.generation).toBe(v.generation + 1);
    expect(expectOk(await api.patch(path, { maxDrainDurationSec: null })).maxDrainDurationSec).toBe(0);
  });

  it("status: each drain with its start and deadline; the start stays while the address drains; without a maximum, no deadline", async () => {
    const { net } = await world({ subnet: false });
    const [a, b, c, d] = [await addr(), await addr(), await addr(), await addr()];
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a, b], rules: [matchRule(3, [c, d])] });
    const path = `${base}/natGateways/${g.name}`;
    const ipOf = async (n: string) => (await api.get(`${base}/addresses/${n}`)).body.address as string;
    const t0 = Date.now();
    expectOk(await api.patch(path, { natIps: [b], drainNatIps: [a], rules: [{ ruleNumber: 3, match: "destination.ip == '192.0.2.7'", action: { sourceNatActiveIps: [d], sourceNatDrainIps: [c] } }] }));
    const st = expectOk(await api.get(`${path}/status`));
    expect(st.drains).toEqual([
      { natIp: await ipOf(a), address: a, ruleNumber: -1, drainStartTime: expect.any(String), drainDeadline: null },
      { natIp: await ipOf(c), address: c, ruleNumber: 3, drainStartTime: expect.any(String), drainDeadline: null },
    ]);
    const start = Date.parse(st.drains[0].drainStartTime as string);
    expect(Math.abs(start - t0)).toBeLessThan(10_000);

    // a maximum set later counts from each drain's start, which later changes do not move
    expectOk(await api.patch(path, { maxDrainDurationSec: 600 }));
    expectOk(await api.patch(path, { udpIdleTimeoutSec: 45 }));
    const later = expectOk(await api.get(`${path}/status`));
    expect(later.drains.map((x: { drainStartTime: string; drainDeadline: string }) => [x.drainStartTime, Date.parse(x.drainDeadline) - Date.parse(x.drainStartTime)])).toEqual(
      st.drains.map((x: { drainStartTime: string }) => [x.drainStartTime, 600_000]),
    );
    // the preview of a change shows the deadlines it would give
    const pv = expectOk(await api.post(`${path}/preview`, { maxDrainDurationSec: 60 }));
    expect(pv.status.drains.map((x: { drainStartTime: string; drainDeadline: string }) => Date.parse(x.drainDeadline) - Date.parse(x.drainStartTime))).toEqual([60_000, 60_000]);
    // an address active again, then drained again, starts a new drain
    expectOk(await api.patch(path, { natIps: [a, b], drainNatIps: [] }));
    expect(expectOk(await api.get(`${path}/status`)).drains).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 20));
    expectOk(await api.patch(path, { natIps: [b], drainNatIps: [a] }));
    const again = expectOk(await api.get(`${path}/status`)).drains.find((x: { address: string }) => x.address === a);
    expect(Date.parse(again.drainStartTime)).toBeGreaterThan(start);
  });
});
