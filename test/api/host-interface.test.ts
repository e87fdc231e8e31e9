/**
 * Hosts shared by networks (issue 12): an endpoint names the host-side device of its NIC
 * (`hostInterface`), and two endpoints of different networks may share an address on one host
 * only when each names its own device. Anything the host could not tell apart is refused with 409
 * (never accepted and then wedged), including when the writes race.
 */
import { TestApi, expect400, expectOk, expectProblem } from '../support/api-harness';

let api: TestApi;

/** Endpoints of project `p` in its networks net-1 and net-2 (both 10.0.0.0/24, alias range 10.8.0.0/16 on net-1). */
async function seedProject(p: string): Promise<void> {
  await api.project(p);
  for (const net of ['net-1', 'net-2']) {
    await api.network(p, net);
    await api.subnet(p, `sub-${net}`, { network: net, ipCidrRange: '10.0.0.0/24', secondaryIpRanges: [{ rangeName: 'pods', ipCidrRange: '10.8.0.0/16' }] });
  }
}

const post = (p: string, body: Record<string, unknown>) => api.post(`/v1/projects/${p}/endpoints`, body);

beforeAll(async () => {
  api = await TestApi.start(__filename);
  await api.host('h1', 'r1');
  await api.host('h2', 'r1');
  await seedProject('pa');
  await seedProject('pb');
});

afterAll(async () => {
  await api?.close();
});

describe('hostInterface', () => {
  it('is stored, returned, and removed by a merge patch with null', async () => {
    const created = await api.endpoint('pa', 'round-trip', { subnet: 'sub-net-1', host: 'h2', hostInterface: 'tap3f6b7a4e-2c', networkIp: '10.0.0.250' });
    expect(created.hostInterface).toBe('tap3f6b7a4e-2c');
    expect((await api.get('/v1/projects/pa/endpoints/round-trip')).body.hostInterface).toBe('tap3f6b7a4e-2c');
    const cleared = expectOk(await api.patch('/v1/projects/pa/endpoints/round-trip', { hostInterface: null }));
    expect(cleared.hostInterface).toBeNull();
    const plain = await api.endpoint('pa', 'no-device', { subnet: 'sub-net-1', host: 'h2', networkIp: '10.0.0.251' });
    expect(plain.hostInterface).toBeNull();
  });

  it('must be a device name Linux takes: 400 naming the field, nothing stored', async () => {
    const before = await api.count('endpoints');
    for (const bad of ['', '.', '..', 'tap/1', 'tap:1', 'tap 1', 'tap\u00001', 'a-name-too-long-1', 42, ['tap0']]) {
      expect400(await post('pa', { name: 'bad-device', subnet: 'sub-net-1', host: 'h1', hostInterface: bad, networkIp: '10.0.0.99' }), 'hostInterface');
    }
    expect(await api.count('endpoints')).toBe(before);
  });
});

describe('two networks with the same addresses on one host', () => {
  it('two projects share 10.0.0.2 on one host when each VM names its own device', async () => {
    await api.endpoint('pa', 'vm-1', { subnet: 'sub-net-1', host: 'h1', hostInterface: 'tap-pa-1', networkIp: '10.0.0.2' });
    await api.endpoint('pb', 'vm-1', { subnet: 'sub-net-1', host: 'h1', hostInterface: 'tap-pb-1', networkIp: '10.0.0.2' });
    // and two networks of one project
    await api.endpoint('pa', 'vm-2', { subnet: 'sub-net-2', host: 'h1', hostInterface: 'tap-pa-2', networkIp: '10.0.0.2' });
  });

  it('the same address without a device to tell the VMs apart -> 409, nothing stored', async () => {
    const before = await api.count('endpoints');
    // another project: refused without naming that project's resources
    const other = expectProblem(await post('pb', { name: 'vm-x', subnet: 'sub-net-2', host: 'h1', networkIp: '10.0.0.2' }), 409);
    expect(other.errors).toEqual([{ field: 'networkIp', message: 'collides on the host with another endpoint' }]);
    expect(other.detail).toContain("networkIp 10.0.0.2 is already used on this host by an endpoint of another project's network");
    expect(other.detail).toContain('each names its own hostInterface');
    expect(other.detail).not.toContain('pa');
    // the same project: the other endpoint and its network are named
    await api.endpoint('pa', 'plain-3', { subnet: 'sub-net-1', host: 'h1', networkIp: '10.0.0.3' });
    const own = expectProblem(await post('pa', { name: 'vm-y', subnet: 'sub-net-2', host: 'h1', hostInterface: 'tap-pa-y', networkIp: '10.0.0.3' }), 409);
    expect(own.detail).toContain('by projects/pa/endpoints/plain-3 of network projects/pa/networks/net-1 (which names no device)');
    // one device named twice on a host
    const device = expectProblem(await post('pb', { name: 'vm-z', subnet: 'sub-net-2', host: 'h1', hostInterface: 'tap-pa-1', networkIp: '10.0.0.9' }), 409);
    expect(device.errors).toEqual([{ field: 'hostInterface', message: 'is already used on this host' }]);
    // an alias range over another VM's address on the same device-less terms
    const alias = expectProblem(
      await post('pb', { name: 'vm-w', subnet: 'sub-net-2', host: 'h1', networkIp: '10.0.0.10', aliasIpRanges: [{ ipCidrRange: '10.0.0.0/29', subnetworkRangeName: '' }] }),
      409,
    );
    expect(alias.errors?.map((e) => e.field)).toEqual(['aliasIpRanges']);
    expect(await api.count('endpoints')).toBe(before + 1);
  });

  it('alias ranges may overlap on one host on two devices, not on one or none', async () => {
    await api.endpoint('pa', 'pods-a', { subnet: 'sub-net-1', host: 'h1', hostInterface: 'tap-pods-a', networkIp: '10.0.0.20', aliasIpRanges: [{ ipCidrRange: '10.8.1.0/24', subnetworkRangeName: 'pods' }] });
    await api.endpoint('pb', 'pods-b', { subnet: 'sub-net-1', host: 'h1', hostInterface: 'tap-pods-b', networkIp: '10.0.0.20', aliasIpRanges: [{ ipCidrRange: '10.8.1.0/25', subnetworkRangeName: 'pods' }] });
    expectProblem(await post('pb', { name: 'pods-c', subnet: 'sub-net-2', host: 'h1', networkIp: '10.0.0.21', aliasIpRanges: [{ ipCidrRange: '10.8.1.128/25', subnetworkRangeName: 'pods' }] }), 409);
  });

  it('a PATCH that would make two VMs indistinguishable -> 409 and changes nothing', async () => {
    const etag = (await api.get('/v1/projects/pb/endpoints/vm-1')).body.etag;
    const dropped = expectProblem(await api.patch('/v1/projects/pb/endpoints/vm-1', { hostInterface: null }), 409);
    expect(dropped.errors?.map((e) => e.field)).toEqual(['networkIp']);
    const same = expectProblem(await api.patch('/v1/projects/pb/endpoints/vm-1', { hostInterface: 'tap-pa-2' }), 409);
    expect(same.errors?.map((e) => e.field)).toEqual(['hostInterface']);
    const got = (await api.get('/v1/projects/pb/endpoints/vm-1')).body;
    expect({ etag: got.etag, hostInterface: got.hostInterface }).toEqual({ etag, hostInterface: 'tap-pb-1' });
    // moving a VM with no device onto a host where its address is taken
    await api.endpoint('pb', 'mover', { subnet: 'sub-net-2', host: 'h2', networkIp: '10.0.0.2' });
    expectProblem(await api.patch('/v1/projects/pb/endpoints/mover', { host: 'h1' }), 409);
    // with its own device it moves
    expect(expectOk(await api.patch('/v1/projects/pb/endpoints/mover', { host: 'h1', hostInterface: 'tap-mover' })).host).toBe('h1');
  });

  it('racing creates of one address on one host: exactly one wins, the others get 409, never 500', async () => {
    // one create per network (4 networks, so only the host check can refuse), at once, 20 times
    const networks = [
      ['pa', 'sub-net-1'],
      ['pa', 'sub-net-2'],
      ['pb', 'sub-net-1'],
      ['pb', 'sub-net-2'],
    ];
    for (let round = 0; round < 20; round++) {
      const ip = `10.0.0.${100 + round}`;
      const answers = await Promise.all(networks.map(([p, subnet], i) => post(p, { name: `race-${round}-${i}`, subnet, host: 'h2', networkIp: ip })));
      expect({ ip, statuses: answers.map((a) => a.status).sort() }).toEqual({ ip, statuses: [201, 409, 409, 409] });
    }
    const rows = await api.sql<{ n: number }>(`SELECT count(*)::int AS n FROM endpoints WHERE name LIKE 'race-%'`);
    expect(rows[0].n).toBe(20);
    // with a device each, all of them fit (16 devices, one address, one host)
    const named = await Promise.all(
      Array.from({ length: 8 }, (_, i) => post(i % 2 === 0 ? 'pa' : 'pb', { name: `named-${i}`, subnet: i % 4 < 2 ? 'sub-net-1' : 'sub-net-2', host: 'h1', hostInterface: `tap-named-${i}`, networkIp: '10.0.0.78' })),
    );
    // two per (project, network): the second of each pair breaks the network's own uniqueness (409 too)
    expect(named.map((a) => a.status).sort()).toEqual([201, 201, 201, 201, 409, 409, 409, 409]);
  });
});
