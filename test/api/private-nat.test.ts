/**
 * Private NAT (issue 18): `type: PRIVATE` gateways whose rules take their NAT IPs from subnets
 * with purpose PRIVATE_NAT (`action.sourceNatActiveRanges`), against the real api on a fresh
 * PostgreSQL database: what is accepted and returned, every 400 naming its field, the 409s of
 * ranges held twice, merge patches and If-Match on the new fields, and what preview and status
 * report (blocks on the range's addresses, on the rule only).
 */
import { expect400, expectInUse, expectOk, expectProblem, TestApi } from '../support/api-harness';

let api: TestApi;
const P = 'ppriv';
const OTHER = 'ppriv-other';
const base = `/v1/projects/${P}`;
let seq = 0;
const uniq = (prefix: string) => `${prefix}-${++seq}`;
/** A distinct /28 per call: 100.64.<n>.0/28. */
let third = 0;
const nextRange = () => `100.64.${++third}.0/28`;

beforeAll(async () => {
  api = await TestApi.start(__filename);
  await api.project(P);
  await api.project(OTHER);
  await api.host('h1', 'r1');
  await api.pool('pool1', 'r1', ['198.18.0.0/22']);
  await api.pool('pool-cgn', 'r1', ['100.100.0.0/24']);
});

afterAll(async () => {
  await api?.close();
});

const TO_B = "inIpRange(destination.ip, '10.20.0.0/16')";
const privateRule = (ruleNumber: number, ranges: string[], match = TO_B) => ({ ruleNumber, match, action: { sourceNatActiveRanges: ranges } });

/** A network with subnet 10.0.0.0/24 and a PRIVATE_NAT subnet (its own /28 unless given). */
async function world(project = P, range = nextRange()): Promise<{ net: string; sub: string; pnat: string; range: string }> {
  const net = uniq('net');
  await api.network(project, net);
  const sub = uniq('sub');
  await api.subnet(project, sub, { network: net, ipCidrRange: '10.0.0.0/24' });
  const pnat = uniq('pnat');
  await api.subnet(project, pnat, { network: net, ipCidrRange: range, purpose: 'PRIVATE_NAT' });
  return { net, sub, pnat, range };
}

const createPrivate = (net: string, rules: unknown[], extra: Record<string, unknown> = {}, project = P) =>
  api.post(`/v1/projects/${project}/natGateways`, { name: uniq('gw'), network: net, region: 'r1', type: 'PRIVATE', rules, ...extra });

describe('PRIVATE gateways: accepted and returned', () => {
  it('a rule naming a PRIVATE_NAT subnet (any reference form) -> 201; canonical names, server defaults', async () => {
    const { net, pnat } = await world();
    const g = expectOk(await createPrivate(net, [privateRule(10, [`projects/${P}/subnets/${pnat}`])]), 201);
    expect(g.type).toBe('PRIVATE');
    expect(g.natIpAllocateOption).toBe('MANUAL_ONLY');
    expect(g.natIps).toEqual([]);
    expect(g.rules).toEqual([{ ruleNumber: 10, description: '', match: TO_B, action: { sourceNatActiveIps: [], sourceNatDrainIps: [], sourceNatActiveRanges: [pnat] } }]);
    expect(expectOk(await api.get(`${base}/natGateways/${g.name}`)).rules[0].action.sourceNatActiveRanges).toEqual([pnat]);
  });

  it('a PUBLIC gateway returns sourceNatActiveRanges [] on its rules', async () => {
    const { net } = await world();
    const [a, b] = [uniq('addr'), uniq('addr')];
    await api.address(P, a);
    await api.address(P, b);
    const g = await api.gateway(P, uniq('gw'), { network: net, natIps: [a], rules: [{ ruleNumber: 1, match: TO_B, action: { sourceNatActiveIps: [b] } }] });
    expect(g.type).toBe('PUBLIC');
    expect(g.rules[0].action.sourceNatActiveRanges).toEqual([]);
  });
});

describe('PRIVATE gateways: 400 naming the field', () => {
  it.each([
    ['natIps', (pnat: string, addr: string) => ({ natIps: [addr], rules: [privateRule(1, [pnat])] }), 'natIps'],
    ['AUTO_ONLY', (pnat: string) => ({ natIpAllocateOption: 'AUTO_ONLY', rules: [privateRule(1, [pnat])] }), 'natIpAllocateOption'],
    ['no rule', () => ({ rules: [] }), 'rules'],
    ['a rule without ranges', () => ({ rules: [privateRule(1, [])] }), 'rules[0].action.sourceNatActiveRanges'],
    ['a rule with addresses', (pnat: string, addr: string) => ({ rules: [{ ...privateRule(1, [pnat]), action: { sourceNatActiveRanges: [pnat], sourceNatActiveIps: [addr] } }] }), 'rules[0].action.sourceNatActiveIps'],
    ['a source rule', (pnat: string) => ({ rules: [privateRule(1, [pnat], "inIpRange(source.ip, '10.0.0.0/24')")] }), 'rules[0].match'],
    ['one subnet in two rules', (pnat: string) => ({ rules: [privateRule(1, [pnat]), privateRule(2, [pnat], "destination.ip == '10.30.0.1'")] }), 'rules[1].action.sourceNatActiveRanges[0]'],
    ['an unknown subnet', () => ({ rules: [privateRule(1, ['nope'])] }), 'rules[0].action.sourceNatActiveRanges[0]'],
    ['a reference to another collection', () => ({ rules: [privateRule(1, [`projects/${P}/addresses/x`])] }), 'rules[0].action.sourceNatActiveRanges[0]'],
  ])('%s -> 400', async (_what, body, field) => {
    const { net, pnat } = await world();
    const addr = uniq('addr');
    await api.address(P, addr);
    const { rules, ...extra } = body(pnat, addr) as { rules: unknown[] };
    expect400(await createPrivate(net, rules, extra), field);
  });

  it('a subnet of purpose PRIVATE -> 400 naming the purpose', async () => {
    const { net, sub } = await world();
    const p = expect400(await createPrivate(net, [privateRule(1, [sub])]), 'rules[0].action.sourceNatActiveRanges[0]');
    expect(p.errors!.find((e) => e.field === 'rules[0].action.sourceNatActiveRanges[0]')!.message).toMatch(/purpose PRIVATE; .* PRIVATE_NAT/);
  });

  it("a PRIVATE_NAT subnet of another network -> 400; one larger than /24 -> 400", async () => {
    const a = await world();
    const b = await world();
    expect400(await createPrivate(a.net, [privateRule(1, [b.pnat])]), 'rules[0].action.sourceNatActiveRanges[0]');
    const big = uniq('pnat');
    await api.subnet(P, big, { network: a.net, ipCidrRange: '100.65.0.0/23', purpose: 'PRIVATE_NAT' });
    const p = expect400(await createPrivate(a.net, [privateRule(1, [big])]), 'rules[0].action.sourceNatActiveRanges[0]');
    expect(p.errors![0].message).toMatch(/510 usable addresses/);
  });

  it('sourceNatActiveRanges on a PUBLIC gateway -> 400', async () => {
    const { net, pnat } = await world();
    const [a, b] = [uniq('addr'), uniq('addr')];
    await api.address(P, a);
    await api.address(P, b);
    const r = await api.post(`${base}/natGateways`, {
      name: uniq('gw'),
      network: net,
      region: 'r1',
      natIps: [a],
      rules: [{ ruleNumber: 1, match: TO_B, action: { sourceNatActiveIps: [b], sourceNatActiveRanges: [pnat] } }],
    });
    expect400(r, 'rules[0].action.sourceNatActiveRanges');
  });

  it('a wrong type for the field -> 400, never a 5xx', async () => {
    const { net } = await world();
    expect400(await createPrivate(net, [{ ruleNumber: 1, match: TO_B, action: { sourceNatActiveRanges: 'pnat' } }]), 'rules[0].action.sourceNatActiveRanges', { prefix: true });
    expect400(await createPrivate(net, [{ ruleNumber: 1, match: TO_B, action: { sourceNatActiveRanges: [7] } }]), 'rules[0].action.sourceNatActiveRanges', { prefix: true });
  });
});

describe('PRIVATE_NAT ranges are held once: 409', () => {
  it('a subnet another gateway uses -> 409 naming that gateway', async () => {
    const { net, sub, pnat } = await world();
    const sub2 = uniq('sub');
    await api.subnet(P, sub2, { network: net, ipCidrRange: '10.1.0.0/24' });
    const list = (s: string) => ({ sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: s }] });
    const first = expectOk(await createPrivate(net, [privateRule(1, [pnat])], list(sub)), 201);
    const p = expectProblem(await createPrivate(net, [privateRule(1, [pnat], "destination.ip == '10.30.0.1'")], list(sub2)), 409);
    expect(p.detail).toContain(`natGateway '${first.name}'`);
    expect(p.errors).toEqual([expect.objectContaining({ field: 'rules[0].action.sourceNatActiveRanges[0]' })]);
  });

  it("an overlapping range of another project's gateway -> 409 that does not name it", async () => {
    const mine = await world(P, '100.64.200.0/28');
    expectOk(await createPrivate(mine.net, [privateRule(1, [mine.pnat])]), 201);
    const theirs = await world(OTHER, '100.64.200.0/29');
    const p = expectProblem(await createPrivate(theirs.net, [privateRule(1, [theirs.pnat])], {}, OTHER), 409);
    expect(p.detail).toContain('a gateway of another project');
  });

  it('a range inside an address pool -> 409', async () => {
    const { net } = await world();
    const pnat = uniq('pnat');
    await api.subnet(P, pnat, { network: net, ipCidrRange: '100.100.0.16/28', purpose: 'PRIVATE_NAT' });
    const p = expectProblem(await createPrivate(net, [privateRule(1, [pnat])]), 409);
    expect(p.detail).toContain('an address pool');
  });

  it('deleting a PRIVATE_NAT subnet a gateway uses, or changing its range -> 409 naming the gateway; free once the gateway is gone', async () => {
    const { net, pnat } = await world();
    const g = expectOk(await createPrivate(net, [privateRule(1, [pnat])]), 201);
    expectInUse(await api.del(`${base}/subnets/${pnat}`), [`natGateways/${g.name}`]);
    // nor can its range change under the gateway (another gateway's could overlap it then)
    expectInUse(await api.patch(`${base}/subnets/${pnat}`, { ipCidrRange: '100.64.250.0/28' }), [`natGateways/${g.name}`]);
    expectOk(await api.patch(`${base}/subnets/${pnat}`, { description: 'still the same range' }));
    expectOk(await api.del(`${base}/natGateways/${g.name}`), 204);
    expectOk(await api.del(`${base}/subnets/${pnat}`), 204);
  });
});

describe('PRIVATE gateways: merge patches and If-Match', () => {
  it('a PATCH replaces the rules (and their ranges) whole; type stays immutable', async () => {
    const { net, pnat } = await world();
    const other = uniq('pnat');
    await api.subnet(P, other, { network: net, ipCidrRange: nextRange(), purpose: 'PRIVATE_NAT' });
    const g = expectOk(await createPrivate(net, [privateRule(1, [pnat])]), 201);
    const path = `${base}/natGateways/${g.name}`;
    const v2 = expectOk(await api.patch(path, { rules: [privateRule(1, [pnat]), privateRule(2, [other], "destination.ip == '10.30.0.1'")] }));
    expect(v2.rules.map((r: { action: { sourceNatActiveRanges: string[] } }) => r.action.sourceNatActiveRanges)).toEqual([[pnat], [other]]);
    expect(v2.generation).toBe(g.generation + 1);
    expect400(await api.patch(path, { type: 'PUBLIC' }), 'type');
    expect400(await api.patch(path, { natIps: ['x'] }), 'natIps');
    expect400(await api.patch(path, { rules: [privateRule(1, [])] }), 'rules[0].action.sourceNatActiveRanges');
    // the second subnet is now the gateway's: deleting it is refused
    expectInUse(await api.del(`${base}/subnets/${other}`), [`natGateways/${g.name}`]);
    // and free again once no rule names it
    expectOk(await api.patch(path, { rules: [privateRule(1, [pnat])] }));
    expectOk(await api.del(`${base}/subnets/${other}`), 204);
  });

  it('If-Match on the new fields: a stale etag -> 412 and nothing changed; the current one -> 200', async () => {
    const { net, pnat } = await world();
    const other = uniq('pnat');
    await api.subnet(P, other, { network: net, ipCidrRange: nextRange(), purpose: 'PRIVATE_NAT' });
    const g = expectOk(await createPrivate(net, [privateRule(1, [pnat])]), 201);
    const path = `${base}/natGateways/${g.name}`;
    const v2 = expectOk(await api.patch(path, { rules: [privateRule(1, [other])] }, { headers: { 'if-match': g.etag } }));
    expectProblem(await api.patch(path, { rules: [privateRule(1, [pnat])] }, { headers: { 'if-match': g.etag } }), 412);
    expect(expectOk(await api.get(path)).rules[0].action.sourceNatActiveRanges).toEqual([other]);
    expectOk(await api.patch(path, { rules: [privateRule(1, [pnat])] }, { headers: { 'if-match': v2.etag } }));
  });
});

describe('PRIVATE gateways: preview and status', () => {
  it("preview gives each endpoint a block on the rule only, on the range's addresses; status lists them", async () => {
    const { net, sub, pnat } = await world(P, '100.64.150.0/29');
    const vms = [];
    for (const ip of ['10.0.0.2', '10.0.0.3']) vms.push(expectOk(await api.post(`${base}/endpoints`, { name: uniq('vm'), subnet: sub, host: 'h1', hostInterface: `tap-${seq}`, networkIp: ip }), 201));
    const pv = expectOk(await api.post(`${base}/natGateways:preview`, { name: uniq('gw'), network: net, region: 'r1', type: 'PRIVATE', rules: [privateRule(10, [pnat])] }));
    const changes = pv.changes as { endpoint: string; ruleNumber: number; kind: string; to: string | null }[];
    expect(changes.map((c) => [c.endpoint, c.ruleNumber, c.kind]).sort()).toEqual(vms.map((v) => [v.name, 10, 'ADDED']).sort());
    expect(changes.every((c) => c.to !== null && /^100\.64\.150\.[1-6]:\d+-\d+$/.test(c.to))).toBe(true);
    expect(pv.status.ruleStatus).toEqual([expect.objectContaining({ ruleNumber: 10, activeNatIps: ['100.64.150.1', '100.64.150.2', '100.64.150.3', '100.64.150.4', '100.64.150.5', '100.64.150.6'] })]);
    expect(pv.status.userAllocatedNatIps).toEqual([]);
    expect(pv.status.autoAllocatedNatIps).toEqual([]);
    expect(pv.status.numVmEndpointsWithNatMappings).toBe(2);
    // the gateway itself, then its status
    const g = expectOk(await createPrivate(net, [privateRule(10, [pnat])]), 201);
    const st = expectOk(await api.get(`${base}/natGateways/${g.name}/status`));
    expect(st.ruleStatus[0].activeNatIps).toHaveLength(6);
  });
});
