/**
 * Hosts shared by networks, end to end with real packets (issue 12): the built api and worker, a
 * real nftables agent in a host namespace, and three VMs on that host that are all 10.0.0.2:
 *
 *   [vm-a] 10.0.0.2 --tap-pa-1--+   project pa, network net-1, gateway pa/gw-1
 *   [vm-b] 10.0.0.2 --tap-pb-1--+-- [host] up0 203.0.113.1/30 ---- [ext] 203.0.113.100 (server)
 *   [vm-c] 10.0.0.2 --tap-pa-2--+   vm-b: project pb, net-1, pb/gw-1; vm-c: project pa, net-2, pa/gw-2
 *
 * Each host-side device carries the VMs' gateway 10.0.0.1/24 (so the host's main table can route
 * 10.0.0.2 to one of them only) and the host runs strict reverse-path filtering: only the agent's
 * zones, marks and per-device routing let both directions work. The NAT IPs (203.0.113.32/28) are
 * on no interface; ext routes the pool back to the host. The operator does nothing on the host
 * beyond attaching the VMs' devices. The namespaces, processes and agent: test/support/netns/shared-host-rig.ts.
 *
 * 1. vm-a and vm-b (two projects) send UDP from port 40000 and TCP from port 40001 at the same
 *    moment to the same server and ports: the server sees each only from its own gateway's NAT IP
 *    and the block GET mappings reports, and each VM gets its own replies.
 * 2. The same for vm-a and vm-c (two networks of one project).
 * 3. While project pb creates, moves and deletes endpoints overlapping pa's addresses on the host
 *    in a loop (and is refused with 409 where the host could not tell them apart), pa's gateways
 *    stay READY throughout, the host never refuses a document, and pa's VMs still pass traffic.
 */
import { execFileSync } from 'node:child_process';
import { ok } from '@natplane/sdk';
import type { Json } from '../support/control-loop/api-client';
import { parseRange } from '../support/control-loop/world';
import { SharedHostRig } from '../support/netns/shared-host-rig';
import { probe } from '../support/netns/traffic';
import { packetTestBackends } from '../support/netns/backends';

const { describeKernel, backends: BACKENDS } = packetTestBackends(__filename, ['nft', 'ip', 'conntrack']);

jest.setTimeout(60_000);

const SERVER = '203.0.113.100';
const POOL = '203.0.113.32/28';
const HOST = 'host-s';

interface VmSpec {
  vm: string;
  project: string;
  network: string;
  gateway: string;
  device: string;
  nat: { name: string; ip: string };
}
const VMS: VmSpec[] = [
  { vm: 'vm-a', project: 'pa', network: 'net-1', gateway: 'gw-1', device: 'tap-pa-1', nat: { name: 'nat-1', ip: '203.0.113.33' } },
  { vm: 'vm-b', project: 'pb', network: 'net-1', gateway: 'gw-1', device: 'tap-pb-1', nat: { name: 'nat-1', ip: '203.0.113.34' } },
  { vm: 'vm-c', project: 'pa', network: 'net-2', gateway: 'gw-2', device: 'tap-pa-2', nat: { name: 'nat-2', ip: '203.0.113.35' } },
];
const vmSpec = (vm: string) => VMS.find((v) => v.vm === vm)!;

describeKernel.each(BACKENDS)('hosts shared by networks: three VMs with one address on one host, real packets, %s backend', (backend) => {
  const rig = new SharedHostRig({
    file: __filename,
    backend,
    tag: 'sh',
    ctlPrefix: '10.254.78',
    host: HOST,
    redisDb: 13,
    vms: VMS,
    serverIps: [SERVER],
    extRoutes: [POOL],
    rangeIn: (m: Json) => (m && (m.natIpPortRanges as string[]).length === 1 ? (m.natIpPortRanges[0] as string) : undefined),
    provision: async (api) => {
      await ok(api.POST('/v1/admin/hosts', { body: { name: 'host-z', region: 'r1', zone: 'r1-b', agentUrl: 'http://127.0.0.1:9' } }));
      await ok(api.POST('/v1/admin/addressPools', { body: { name: 'pool-1', region: 'r1', cidrs: [POOL] } }));
      for (const p of ['pa', 'pb']) await ok(api.POST('/v1/admin/projects', { body: { name: p } }));
      for (const v of VMS) {
        const project = { project: v.project };
        await ok(api.POST('/v1/projects/{project}/addresses', { params: { path: project }, body: { name: v.nat.name, region: 'r1', address: v.nat.ip } }));
        await ok(api.POST('/v1/projects/{project}/networks', { params: { path: project }, body: { name: v.network } }));
        await ok(api.POST('/v1/projects/{project}/subnets', { params: { path: project }, body: { name: `sub-${v.network}`, network: v.network, region: 'r1', ipCidrRange: '10.0.0.0/24' } }));
        await ok(api.POST('/v1/projects/{project}/endpoints', { params: { path: project }, body: { name: v.vm, subnet: `sub-${v.network}`, host: HOST, hostInterface: v.device, networkIp: '10.0.0.2' } }));
        await ok(
          api.POST('/v1/projects/{project}/natGateways', {
            params: { path: project },
            body: { name: v.gateway, network: v.network, region: 'r1', natIpAllocateOption: 'MANUAL_ONLY', natIps: [v.nat.name], sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES' },
          }),
        );
      }
    },
  });
  beforeAll(() => rig.start(), 120_000);
  afterAll(() => rig.stop());

  /** Two VMs with identical tuples at once, each seen only from its own gateway's NAT IP and block. */
  async function identicalTuplesAtOnce(a: VmSpec, b: VmSpec, round: string): Promise<void> {
    const ranges = await rig.identicalTuplesAtOnce(a, b, round, SERVER);
    expect(parseRange(ranges.get(a.vm)!).natIp).toBe(a.nat.ip);
    expect(parseRange(ranges.get(b.vm)!).natIp).toBe(b.nat.ip);
  }

  it('1. two projects, one address, one host: identical UDP and TCP tuples at once, each from its own gateway, each reply home', async () => {
    await identicalTuplesAtOnce(vmSpec('vm-a'), vmSpec('vm-b'), 'r1');
    if (backend === 'ebpf') return; // its flows are keyed by device: no conntrack zones
    // conntrack holds the two identical original tuples apart by zone
    const listing = execFileSync('ip', ['netns', 'exec', rig.hostNs, 'conntrack', '-L', '-p', 'udp', '--orig-port-src', '40000'], { encoding: 'utf8' });
    expect(listing.split('\n').filter((l) => l.includes('src=10.0.0.2') && l.includes(`dst=${SERVER}`)).map((l) => /zone-orig=(\d+)/.exec(l)?.[1] ?? '0').sort()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^[1-9]\d*$/), expect.stringMatching(/^[1-9]\d*$/)]),
    );
  });

  it('2. two networks of one project, one address, one host: the same', async () => {
    await identicalTuplesAtOnce(vmSpec('vm-a'), vmSpec('vm-c'), 'r2');
  });

  it("3. another project's writes on the host never change pa's READY state, and the host never refuses a document", async () => {
    const pa = VMS.filter((v) => v.project === 'pa');
    const generations = new Map<string, number>();
    for (const v of pa) {
      await rig.rangeOf(v);
      generations.set(v.gateway, (await rig.gateway(v)).generation);
    }
    const pb = { project: 'pb' };
    const notReady: string[] = [];
    let polls = 0;
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        for (const v of pa) {
          const g = await rig.gateway(v);
          polls++;
          const s = g.status;
          if (g.generation !== generations.get(v.gateway) || s.state !== 'READY' || s.hostsProgrammed !== s.hostsTotal) {
            notReady.push(`${v.gateway}: generation ${g.generation}, ${s.state}, hosts ${s.hostsProgrammed}/${s.hostsTotal}: ${s.message}`);
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const statuses: number[] = [];
    const deadline = Date.now() + 8_000;
    for (let i = 0; Date.now() < deadline; i++) {
      const name = `churn-${i}`;
      const address = `10.0.0.${2 + (i % 3)}`;
      // without a device: refused (pa holds 10.0.0.2 on this host), or accepted at .3/.4
      statuses.push((await rig.api.POST('/v1/projects/{project}/endpoints', { params: { path: pb }, body: { name: `${name}-x`, subnet: 'sub-net-1', host: HOST, networkIp: `10.0.0.${100 + (i % 50)}` } })).response.status);
      const created = await rig.api.POST('/v1/projects/{project}/endpoints', { params: { path: pb }, body: { name, subnet: 'sub-net-1', host: HOST, hostInterface: `tap-c${i % 7}`, networkIp: address } });
      statuses.push(created.response.status);
      if (created.response.status === 201) {
        // move it to another host and back, onto another device, then delete it
        statuses.push((await rig.api.PATCH('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name } }, body: { host: 'host-z' } })).response.status);
        statuses.push((await rig.api.PATCH('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name } }, body: { host: HOST, hostInterface: `tap-d${i % 5}` } })).response.status);
        statuses.push((await rig.api.DELETE('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name } } })).response.status);
      }
      statuses.push((await rig.api.DELETE('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name: `${name}-x` } } })).response.status);
      // vm-b's own address without its device: refused, never accepted and then wedged
      statuses.push((await rig.api.PATCH('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name: 'vm-b' } }, body: { hostInterface: null } })).response.status);
    }
    stop = true;
    await watcher;
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses).toContain(409);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(5);
    expect({ polls: polls > 20, notReady }).toEqual({ polls: true, notReady: [] });
    // the host never refused what it was sent: READY with no error about its documents
    const host = await ok(rig.api.GET('/v1/admin/hosts/{name}', { params: { path: { name: HOST } } }));
    expect(host.status.lastError ?? '').not.toMatch(/invalid|collide|refus/i);
    // (no 400: a 409 'base generation mismatch' is two pushes racing, a different matter)
    expect(rig.agent!.tail(1000)).not.toMatch(/"status":400|document is invalid|collide|left out/);
    // and pa's VMs still pass traffic from their own blocks
    for (const v of pa) {
      const range = await rig.rangeOf(v);
      const tag = `after-${v.vm}`;
      expect(await probe(rig.server!, rig.dir, rig.vmNs.get(v.vm)!, SERVER, tag, 2)).toEqual({ tcpOk: 2, udpOk: 2 });
      expect([...rig.server!.udp(tag), ...rig.server!.tcp(tag)].filter((s) => !SharedHostRig.inRange(s, range))).toEqual([]);
    }
  }, 60_000);
});
