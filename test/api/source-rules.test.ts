/**
 * Source-based NAT rules and IP forwarding (issue #18), against the real api on a fresh
 * PostgreSQL database: the endpoint fields a forwarding VM needs, their validation, merge patches
 * and If-Match, source rules on gateways, and the churn a preview reports for adding one.
 */
import { expect400, expectOk, expectProblem, TestApi } from '../support/api-harness';

let api: TestApi;
const P = 'psrc';
const base = `/v1/projects/${P}`;
let seq = 0;
const uniq = (prefix: string) => `${prefix}-${++seq}`;

beforeAll(async () => {
  api = await TestApi.start(__filename);
  await api.project(P);
  await api.host('h1', 'r1');
  await api.pool('pool1', 'r1', ['198.18.0.0/22']);
});

afterAll(async () => {
  await api?.close();
});

/** A fresh network with subnet 10.0.0.0/24 (secondary range `pods` 10.4.0.0/16). */
async function world(): Promise<{ net: string; sub: string }> {
  const net = uniq('net');
  await api.network(P, net);
  const sub = uniq('sub');
  await api.subnet(P, sub, { network: net, ipCidrRange: '10.0.0.0/24', secondaryIpRanges: [{ rangeName: 'pods', ipCidrRange: '10.4.0.0/16' }] });
  return { net, sub };
}

async function addr(): Promise<string> {
  const name = uniq('addr');
  await api.address(P, name, 'r1');
  return name;
}

/** An endpoint on h1; each names its own device, so the networks' equal addresses do not collide on the host. */
const ep = (sub: string, networkIp: string, extra: Record<string, unknown> = {}) => {
  const name = uniq('vm');
  return api.post(`${base}/endpoints`, { name, subnet: sub, host: 'h1', hostInterface: `tap-${name}`, networkIp, ...extra });
};

const sourceRule = (ruleNumber: number, ips: string[], match: string) => ({ ruleNumber, match, action: { sourceNatActiveIps: ips } });

describe('endpoints: canIpForward and forwardedIpRanges', () => {
  it('default to false and [] on read', async () => {
    const { sub } = await world();
    const e = expectOk(await ep(sub, '10.0.0.2'), 201);
    expect({ canIpForward: e.canIpForward, forwardedIpRanges: e.forwardedIpRanges }).toEqual({ canIpForward: false, forwardedIpRanges: [] });
  });

  it('a forwarding VM: stored and returned (canonical CIDRs)', async () => {
    const { sub } = await world();
    const e = expectOk(await ep(sub, '10.0.0.2', { canIpForward: true, forwardedIpRanges: ['192.168.1.0/24', '172.16.0.0/12'] }), 201);
    expect({ canIpForward: e.canIpForward, forwardedIpRanges: e.forwardedIpRanges }).toEqual({ canIpForward: true, forwardedIpRanges: ['192.168.1.0/24', '172.16.0.0/12'] });
    expect(expectOk(await api.get(`${base}/endpoints/${e.name}`)).forwardedIpRanges).toEqual(['192.168.1.0/24', '172.16.0.0/12']);
  });

  it.each([
    ['without canIpForward', { forwardedIpRanges: ['192.168.1.0/24'] }, 'forwardedIpRanges'],
    ['with canIpForward false', { canIpForward: false, forwardedIpRanges: ['192.168.1.0/24'] }, 'forwardedIpRanges'],
    ['not a CIDR', { canIpForward: true, forwardedIpRanges: ['192.168.1.0'] }, 'forwardedIpRanges[0]'],
    ['host bits set', { canIpForward: true, forwardedIpRanges: ['192.168.1.1/24'] }, 'forwardedIpRanges[0]'],
    ['two that overlap', { canIpForward: true, forwardedIpRanges: ['192.168.0.0/16', '192.168.1.0/24'] }, 'forwardedIpRanges[1]'],
    ["over the VM's own address", { canIpForward: true, forwardedIpRanges: ['10.0.0.0/24'] }, 'forwardedIpRanges[0]'],
    ["over the VM's alias range", { canIpForward: true, forwardedIpRanges: ['10.4.1.0/25'], aliasIpRanges: [{ ipCidrRange: '10.4.1.0/24', subnetworkRangeName: 'pods' }] }, 'forwardedIpRanges[0]'],
    ['canIpForward not a boolean', { canIpForward: 'yes' }, 'canIpForward'],
    ['forwardedIpRanges not an array', { canIpForward: true, forwardedIpRanges: '192.168.1.0/24' }, 'forwardedIpRanges'],
    ['a range not a string', { canIpForward: true, forwardedIpRanges: [7] }, 'forwardedIpRanges'],
    ['more than 32 ranges', { canIpForward: true, forwardedIpRanges: Array.from({ length: 33 }, (_, i) => `192.168.${i}.0/24`) }, 'forwardedIpRanges'],
  ])('%s -> 400 naming %s', async (_what, extra, field) => {
    const { sub } = await world();
    expect400(await ep(sub, '10.0.0.2', extra), field, { prefix: true });
  });

  it('merge patches: set, replace whole, null back to the defaults; a bad final state -> 400, nothing changed', async () => {
    const { sub } = await world();
    const e = expectOk(await ep(sub, '10.0.0.2'), 201);
    const path = `${base}/endpoints/${e.name}`;
    const a = expectOk(await api.patch(path, { canIpForward: true, forwardedIpRanges: ['192.168.1.0/24'] }));
    expect([a.canIpForward, a.forwardedIpRanges]).toEqual([true, ['192.168.1.0/24']]);
    // a description change leaves them as they are
    expect(expectOk(await api.patch(path, { description: 'router' })).forwardedIpRanges).toEqual(['192.168.1.0/24']);
    const b = expectOk(await api.patch(path, { forwardedIpRanges: ['192.168.2.0/24', '192.168.3.0/24'] }));
    expect(b.forwardedIpRanges).toEqual(['192.168.2.0/24', '192.168.3.0/24']);
    // turning forwarding off while ranges stay is refused, whole
    expect400(await api.patch(path, { canIpForward: false }), 'forwardedIpRanges');
    expect400(await api.patch(path, { canIpForward: null }), 'forwardedIpRanges');
    expect(expectOk(await api.get(path)).canIpForward).toBe(true);
    const c = expectOk(await api.patch(path, { canIpForward: null, forwardedIpRanges: null }));
    expect([c.canIpForward, c.forwardedIpRanges]).toEqual([false, []]);
  });

  it('If-Match on the new fields: a stale etag -> 412 and nothing changed; the current one -> 200', async () => {
    const { sub } = await world();
    const e = expectOk(await ep(sub, '10.0.0.2'), 201);
    const path = `${base}/endpoints/${e.name}`;
    const v2 = expectOk(await api.patch(path, { canIpForward: true, forwardedIpRanges: ['192.168.1.0/24'] }, { headers: { 'if-match': e.etag } }));
    expectProblem(await api.patch(path, { forwardedIpRanges: ['192.168.9.0/24'] }, { headers: { 'if-match': e.etag } }), 412);
    expect(expectOk(await api.get(path)).forwardedIpRanges).toEqual(['192.168.1.0/24']);
    const v3 = expectOk(await api.patch(path, { forwardedIpRanges: ['192.168.9.0/24'] }, { headers: { 'if-match': v2.etag } }));
    expect(v3.forwardedIpRanges).toEqual(['192.168.9.0/24']);
    expect(v3.etag).not.toBe(v2.etag);
  });
});

describe('natGateways: source-based rules', () => {
  it('accepted, kept as written, with their IPs', async () => {
    const { net } = await world();
    const [a, b] = [await addr(), await addr()];
    const match = "inIpRange(source.ip, '192.168.1.0/24') || source.ip == '10.0.0.2'";
    const g = expectOk(await api.post(`${base}/natGateways`, { name: uniq('gw'), network: net, region: 'r1', natIpAllocateOption: 'MANUAL_ONLY', natIps: [a], rules: [sourceRule(10, [b], match)] }), 201);
    expect(g.rules).toEqual([expect.objectContaining({ ruleNumber: 10, match, action: expect.objectContaining({ sourceNatActiveIps: [b] }) })]);
  });

  it.each([
    ["source.ip == '1.2.3.4' || destination.ip == '1.2.3.5'", 26],
    ["inIpRange(destination.ip, '10.0.0.0/8') || inIpRange(source.ip, '192.168.0.0/16')", 53],
  ])('source and destination conditions in one rule (%j) -> 400 naming the rule and the position', async (match, position) => {
    const { net } = await world();
    const r = await api.post(`${base}/natGateways`, { name: uniq('gw'), network: net, region: 'r1', natIpAllocateOption: 'MANUAL_ONLY', natIps: [await addr()], rules: [sourceRule(1, [await addr()], match)] });
    const p = expect400(r, 'rules[0].match');
    expect(p.errors!.find((e) => e.field === 'rules[0].match')!.message).toBe(
      `at position ${position}: expected ${match.startsWith('source') ? 'source' : 'destination'}.ip, found '${match.startsWith('source') ? 'destination' : 'source'}': source and destination conditions cannot be combined in one rule`,
    );
  });

  it('a source rule with endpoint-independent mapping -> 400', async () => {
    const { net } = await world();
    const r = await api.post(`${base}/natGateways`, {
      name: uniq('gw'),
      network: net,
      region: 'r1',
      natIpAllocateOption: 'MANUAL_ONLY',
      natIps: [await addr()],
      enableEndpointIndependentMapping: true,
      rules: [sourceRule(1, [await addr()], "inIpRange(source.ip, '192.168.1.0/24')")],
    });
    expect400(r, 'enableEndpointIndependentMapping');
  });

  it('preview reports the churn of adding a source rule: only the endpoints it matches get a block on it', async () => {
    const { net, sub } = await world();
    const router = expectOk(await ep(sub, '10.0.0.2', { canIpForward: true, forwardedIpRanges: ['192.168.1.0/24'] }), 201);
    const plain = expectOk(await ep(sub, '10.0.0.3'), 201);
    const own = expectOk(await ep(sub, '10.0.0.4'), 201);
    const [a, b] = [await addr(), await addr()];
    const g = await api.gateway(P, uniq('gw'), { network: net, natIpAllocateOption: 'MANUAL_ONLY', natIps: [a] });
    const pv = expectOk(
      await api.post(`${base}/natGateways/${g.name}/preview`, {
        rules: [sourceRule(50, [b], "inIpRange(source.ip, '192.168.0.0/16') || source.ip == '10.0.0.4'")],
      }),
    );
    const on50 = (pv.changes as { endpoint: string; ruleNumber: number; kind: string; to: string | null; breaksConnections: boolean }[]).filter((c) => c.ruleNumber === 50);
    expect(on50.map((c) => [c.endpoint, c.kind, c.breaksConnections]).sort()).toEqual(
      [
        [own.name, 'ADDED', false],
        [router.name, 'ADDED', false],
      ].sort(),
    );
    const bIp = expectOk(await api.get(`${base}/addresses/${b}`)).address as string;
    expect(on50.every((c) => c.to !== null && c.to.startsWith(`${bIp}:`))).toBe(true);
    expect((pv.changes as { endpoint: string; ruleNumber: number }[]).some((c) => c.endpoint === plain.name && c.ruleNumber === 50)).toBe(false);
    // the rule's status counts only the endpoints it serves
    const rs = (pv.status.ruleStatus as { ruleNumber: number; minExtraIpsNeeded: number }[]).find((r) => r.ruleNumber === 50);
    expect(rs).toEqual(expect.objectContaining({ ruleNumber: 50, minExtraIpsNeeded: 0 }));
    expect(pv.status.numVmEndpointsWithNatMappings).toBe(3);
  });
});

describe('subnets: purpose (Private NAT, first piece)', () => {
  it('PRIVATE by default, PRIVATE_NAT accepted; returned on read', async () => {
    const net = uniq('net');
    await api.network(P, net);
    const a = expectOk(await api.post(`${base}/subnets`, { name: uniq('sub'), network: net, region: 'r1', ipCidrRange: '10.0.0.0/24' }), 201);
    expect(a.purpose).toBe('PRIVATE');
    const b = expectOk(await api.post(`${base}/subnets`, { name: uniq('sub'), network: net, region: 'r1', ipCidrRange: '100.64.0.0/24', purpose: 'PRIVATE_NAT' }), 201);
    expect(expectOk(await api.get(`${base}/subnets/${b.name}`)).purpose).toBe('PRIVATE_NAT');
  });

  it('a bad purpose -> 400 purpose; changing it -> 400 immutable; the same value is fine', async () => {
    const net = uniq('net');
    await api.network(P, net);
    expect400(await api.post(`${base}/subnets`, { name: uniq('sub'), network: net, region: 'r1', ipCidrRange: '10.0.0.0/24', purpose: 'PUBLIC' }), 'purpose');
    const s = expectOk(await api.post(`${base}/subnets`, { name: uniq('sub'), network: net, region: 'r1', ipCidrRange: '10.0.0.0/24' }), 201);
    const p = expect400(await api.patch(`${base}/subnets/${s.name}`, { purpose: 'PRIVATE_NAT' }), 'purpose');
    expect(p.errors!.find((e) => e.field === 'purpose')!.message).toBe('is immutable');
    expectOk(await api.patch(`${base}/subnets/${s.name}`, { purpose: 'PRIVATE', description: 'same purpose' }));
  });

  it('an endpoint in a PRIVATE_NAT subnet -> 400 subnet', async () => {
    const net = uniq('net');
    await api.network(P, net);
    const s = expectOk(await api.post(`${base}/subnets`, { name: uniq('sub'), network: net, region: 'r1', ipCidrRange: '100.64.1.0/24', purpose: 'PRIVATE_NAT' }), 201);
    const p = expect400(await ep(s.name as string, '100.64.1.2'), 'subnet');
    expect(p.errors!.find((e) => e.field === 'subnet')!.message).toMatch(/purpose PRIVATE_NAT/);
  });
});
