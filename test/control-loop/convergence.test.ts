/**
 * Convergence (medium test): real PostgreSQL, Redis, the built api and a built worker process,
 * fake agents that are real HTTP servers on loopback. Creating, changing and deleting gateways,
 * endpoints, addresses and subnets, and moving a VM between hosts, each converges: every host and
 * gateway READY, every agent holding exactly the document the API serves, and the documents
 * agreeing with the gateway mappings. The tests run in order on one world.
 */
import { DEFAULT_RULE } from '@natplane/contracts';
import { byEndpoint, parseRange, World, type Converged } from '../support/control-loop/world';

jest.setTimeout(90_000);

const P = 'p1';
let w: World;
const ip = new Map<string, string>();
let conv: Converged;

const mappingsOf = (gw: string) => byEndpoint(conv.mappings.get(`${P}/${gw}`) ?? []);
const docHas = (host: string, endpoint: string) =>
  conv.docs.get(host)!.gateways.some((g) => g.endpoints.some((e) => e.name === `projects/${P}/endpoints/${endpoint}`));
/** The endpoint has an active block (new flows) in the host's document; released blocks stay listed as drain while quarantined. */
const docActive = (host: string, endpoint: string) =>
  conv.docs.get(host)!.gateways.some((g) => g.endpoints.some((e) => e.name === `projects/${P}/endpoints/${endpoint}` && e.mappings.some((m) => m.active !== undefined)));

async function address(name: string): Promise<void> {
  const a = await w.create(P, 'addresses', { name, region: 'r1' });
  ip.set(name, a.address as string);
}

async function endpoint(name: string, subnet: string, host: string, networkIp: string): Promise<void> {
  await w.create(P, 'endpoints', { name, subnet, host, networkIp });
}

beforeAll(async () => {
  w = await World.start({ file: __filename, redisDb: 11 });
  await w.project(P);
  await w.api.must('POST', '/v1/admin/addressPools', 201, { name: 'pool1', region: 'r1', cidrs: ['198.18.0.0/24'] });
  await w.host('h1');
  await w.host('h2');
  // h3 implements only the full document (PUT); a PATCH gets 404 there.
  await w.host('h3', 'r1', { acceptPatch: false });
  await w.create(P, 'networks', { name: 'n1' });
  await w.create(P, 'subnets', { name: 's1', network: 'n1', region: 'r1', ipCidrRange: '10.1.0.0/16' });
  await w.create(P, 'subnets', { name: 's2', network: 'n1', region: 'r1', ipCidrRange: '10.2.0.0/16' });
  for (const a of ['a1', 'a2', 'a3', 'a4', 'a5']) await address(a);
}, 120_000);

afterAll(async () => {
  await w?.close();
});

afterEach(() => {
  for (const a of w.agents.values()) expect(a.refused.filter((r) => r.status !== 409)).toEqual([]);
});

describe('convergence', () => {
  it('hosts alone: every registered host is programmed with an empty document', async () => {
    conv = await w.converged();
    for (const h of ['h1', 'h2', 'h3']) expect(conv.docs.get(h)!.gateways).toEqual([]);
  });

  it('create a gateway and endpoints: each endpoint mapped once, on its own host, 64 ports on the gateway IP', async () => {
    await w.create(P, 'natGateways', {
      name: 'gw1',
      network: 'n1',
      region: 'r1',
      natIps: ['a1'],
      sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
      subnetworks: [{ name: 's1', sourceIpRangesToNat: ['ALL_IP_RANGES'] }],
    });
    for (let i = 1; i <= 6; i++) await endpoint(`e${i}`, 's1', `h${((i - 1) % 3) + 1}`, `10.1.0.${i + 10}`);
    conv = await w.converged();
    const m = mappingsOf('gw1');
    expect([...m.keys()].sort()).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e6']);
    for (let i = 1; i <= 6; i++) {
      const item = m.get(`e${i}`);
      expect(item.host).toBe(`h${((i - 1) % 3) + 1}`);
      expect(item.numTotalNatPorts).toBe(64);
      expect(parseRange(item.natIpPortRanges[0]).natIp).toBe(ip.get('a1'));
      expect(docHas(item.host, `e${i}`)).toBe(true);
    }
    expect(conv.natStatus.get(`${P}/gw1`).numVmEndpointsWithNatMappings).toBe(6);
  });

  it('add a NAT IP: converges and moves nobody (stability)', async () => {
    const before = mappingsOf('gw1');
    await w.patch(P, 'natGateways', 'gw1', { natIps: ['a1', 'a2'] });
    conv = await w.converged();
    expect(conv.natStatus.get(`${P}/gw1`).userAllocatedNatIps.sort()).toEqual([ip.get('a1'), ip.get('a2')].sort());
    const after = mappingsOf('gw1');
    for (const [e, item] of before) expect(after.get(e).natIpPortRanges).toEqual(item.natIpPortRanges);
  });

  it('change minPortsPerVm: every endpoint gets 1,024 ports on every host', async () => {
    await w.patch(P, 'natGateways', 'gw1', { minPortsPerVm: 1000 });
    conv = await w.converged();
    const m = mappingsOf('gw1');
    expect(m.size).toBe(6);
    for (const item of m.values()) expect(item.numTotalNatPorts).toBe(1024);
    for (const doc of conv.docs.values()) {
      for (const g of doc.gateways) for (const e of g.endpoints) {
        const a = e.mappings.find((x) => x.ruleNumber === DEFAULT_RULE)!.active!;
        expect(a.portHi - a.portLo + 1).toBe(1024);
      }
    }
  });

  it('drain an IP, then remove it, then delete the address: blocks move off it and it ends unused', async () => {
    const onA1 = [...mappingsOf('gw1').values()].filter((m) => parseRange(m.natIpPortRanges[0]).natIp === ip.get('a1')).map((m) => m.endpoint as string);
    expect(onA1.length).toBeGreaterThan(0);
    await w.patch(P, 'natGateways', 'gw1', { natIps: ['a2'], drainNatIps: ['a1'] });
    conv = await w.converged();
    let m = mappingsOf('gw1');
    for (const item of m.values()) expect(parseRange(item.natIpPortRanges[0]).natIp).toBe(ip.get('a2'));
    for (const e of onA1) expect(m.get(e).drainNatIpPortRanges.map((r: string) => parseRange(r).natIp)).toEqual([ip.get('a1')]);
    expect(conv.natStatus.get(`${P}/gw1`).drainUserAllocatedNatIps).toEqual([ip.get('a1')]);

    await w.patch(P, 'natGateways', 'gw1', { drainNatIps: [] });
    conv = await w.converged();
    m = mappingsOf('gw1');
    for (const item of m.values()) {
      expect(item.drainNatIpPortRanges).toEqual([]);
      expect(parseRange(item.natIpPortRanges[0]).natIp).toBe(ip.get('a2'));
    }
    await w.remove(P, 'addresses', 'a1');
    conv = await w.converged();
    expect(await w.stack.sql(`SELECT 1 FROM allocations WHERE nat_ip = $1::inet AND state <> 'QUARANTINE'`, [ip.get('a1')])).toEqual([]);
  });

  it('a second gateway, a new subnet added to its list, then removed and deleted', async () => {
    await w.create(P, 'natGateways', {
      name: 'gw2',
      network: 'n1',
      region: 'r1',
      natIps: ['a3'],
      sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
      subnetworks: [{ name: 's2', sourceIpRangesToNat: ['ALL_IP_RANGES'] }],
    });
    await endpoint('f1', 's2', 'h1', '10.2.0.11');
    await endpoint('f2', 's2', 'h3', '10.2.0.12');
    conv = await w.converged();
    expect([...mappingsOf('gw2').keys()].sort()).toEqual(['f1', 'f2']);
    expect(mappingsOf('gw1').has('f1')).toBe(false);

    await w.create(P, 'subnets', { name: 's3', network: 'n1', region: 'r1', ipCidrRange: '10.3.0.0/16' });
    await endpoint('g1', 's3', 'h2', '10.3.0.11');
    conv = await w.converged();
    expect(mappingsOf('gw2').has('g1')).toBe(false);
    expect(docHas('h2', 'g1')).toBe(false);

    await w.patch(P, 'natGateways', 'gw2', {
      subnetworks: [
        { name: 's2', sourceIpRangesToNat: ['ALL_IP_RANGES'] },
        { name: 's3', sourceIpRangesToNat: ['ALL_IP_RANGES'] },
      ],
    });
    conv = await w.converged();
    expect(mappingsOf('gw2').get('g1').host).toBe('h2');
    expect(docActive('h2', 'g1')).toBe(true);

    await w.patch(P, 'natGateways', 'gw2', { subnetworks: [{ name: 's2', sourceIpRangesToNat: ['ALL_IP_RANGES'] }] });
    conv = await w.converged();
    expect(mappingsOf('gw2').has('g1')).toBe(false);
    expect(docActive('h2', 'g1')).toBe(false);
    await w.remove(P, 'endpoints', 'g1');
    await w.remove(P, 'subnets', 's3');
    conv = await w.converged();
    expect(docHas('h2', 'g1')).toBe(false);
  });

  it('a subnet in a network covered by ALL_SUBNETWORKS: its endpoints are mapped, then deleted with it', async () => {
    await w.create(P, 'networks', { name: 'n2' });
    await w.create(P, 'natGateways', { name: 'gw3', network: 'n2', region: 'r1', natIps: ['a4'], sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES' });
    await w.create(P, 'subnets', { name: 't1', network: 'n2', region: 'r1', ipCidrRange: '10.20.0.0/16' });
    await endpoint('k1', 't1', 'h3', '10.20.0.11');
    await endpoint('k2', 't1', 'h1', '10.20.0.12');
    conv = await w.converged();
    expect([...mappingsOf('gw3').keys()].sort()).toEqual(['k1', 'k2']);
    expect(parseRange(mappingsOf('gw3').get('k1').natIpPortRanges[0]).natIp).toBe(ip.get('a4'));
    await w.remove(P, 'endpoints', 'k1');
    await w.remove(P, 'endpoints', 'k2');
    await w.remove(P, 'subnets', 't1');
    conv = await w.converged();
    expect(mappingsOf('gw3').size).toBe(0);
    expect(docHas('h3', 'k1') || docHas('h1', 'k2')).toBe(false);
  });

  it('delete endpoints: their mappings and document entries are gone, the others stay put', async () => {
    const before = mappingsOf('gw1');
    await w.remove(P, 'endpoints', 'e5');
    await w.remove(P, 'endpoints', 'e6');
    conv = await w.converged();
    const m = mappingsOf('gw1');
    expect([...m.keys()].sort()).toEqual(['e1', 'e2', 'e3', 'e4']);
    for (const [e, item] of m) expect(item.natIpPortRanges).toEqual(before.get(e).natIpPortRanges);
    expect(docHas('h2', 'e5') || docHas('h3', 'e6')).toBe(false);
  });

  it('move a VM to another host: its mapping is on the new host document and gone from the old one', async () => {
    const before = mappingsOf('gw1').get('e1');
    expect(before.host).toBe('h1');
    await w.patch(P, 'endpoints', 'e1', { host: 'h2' });
    conv = await w.converged();
    const after = mappingsOf('gw1').get('e1');
    expect(after.host).toBe('h2');
    expect(after.natIpPortRanges).toEqual(before.natIpPortRanges);
    expect(docHas('h2', 'e1')).toBe(true);
    expect(docHas('h1', 'e1')).toBe(false);
  });

  it('move ordering: the new host gets a document with the VM no later than the old host gets one without it (5 moves)', async () => {
    const problems: string[] = [];
    const hostsCycle = ['h3', 'h1', 'h2', 'h1', 'h3'];
    let from = 'h2'; // e2 was created on h2
    for (const to of hostsCycle) {
      const t0 = Date.now();
      const name = 'projects/p1/endpoints/e2';
      const has = (d: { gateways: { endpoints: { name: string }[] }[] }) => d.gateways.some((g) => g.endpoints.some((e) => e.name === name));
      await w.patch(P, 'endpoints', 'e2', { host: to });
      conv = await w.converged();
      const gained = w.agents.get(to)!.received.find((r) => r.at >= t0 && has(r.doc));
      const lost = w.agents.get(from)!.received.find((r) => r.at >= t0 && !has(r.doc));
      expect(gained).toBeDefined();
      expect(lost).toBeDefined();
      if (gained!.at > lost!.at) {
        problems.push(`${from} -> ${to}: old host ${from} dropped it (generation ${lost!.doc.generation}) ${gained!.at - lost!.at} ms before ${to} got it (generation ${gained!.doc.generation})`);
      }
      expect(mappingsOf('gw1').get('e2').host).toBe(to);
      from = to;
    }
    expect(problems).toEqual([]);
  });

  it('a PUT-only agent (h3) was programmed with whole documents all along', () => {
    expect(w.agents.get('h3')!.received.length).toBeGreaterThan(3);
    expect(w.agents.get('h3')!.received.every((r) => r.via === 'PUT')).toBe(true);
  });

  it('delete a gateway: its endpoints leave every document, its blocks go to quarantine, its address can be deleted', async () => {
    await w.remove(P, 'natGateways', 'gw2');
    conv = await w.converged();
    for (const doc of conv.docs.values()) expect(doc.gateways.map((g) => g.name)).not.toContain(`projects/${P}/natGateways/gw2`);
    await w.api.must('GET', `/v1/projects/${P}/natGateways/gw2`, 404);
    const held = await w.stack.sql(`SELECT state FROM allocations WHERE nat_ip = $1::inet`, [ip.get('a3')]);
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((r) => r.state === 'QUARANTINE')).toBe(true);
    await w.remove(P, 'addresses', 'a3');
    conv = await w.converged();
  });
});
