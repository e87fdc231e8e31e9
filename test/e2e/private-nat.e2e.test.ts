/**
 * Private NAT end to end with real packets (issue 18): the built api and worker, a real agent
 * (nftables, and eBPF where it is built) in a host namespace, and two VMs of two projects on that
 * host that are both 10.0.0.2 in their own network's 10.0.0.0/24:
 *
 *   [vm-a] 10.0.0.2 --tap-pa-1--+                                       [ext] 10.20.0.100 (service, "network C")
 *   [vm-b] 10.0.0.2 --tap-pb-1--+-- [host] up0 203.0.113.1/30 ---------        203.0.113.100 (not in any rule)
 *
 * Each project's network has a PRIVATE_NAT subnet (pa 100.64.1.0/28, pb 100.64.2.0/28) and a
 * `type: PRIVATE` gateway whose one rule sends traffic to 10.20.0.0/24 through that subnet. ext
 * routes the two ranges back to the host, and nothing else of the VMs. The namespaces, processes
 * and agent: test/support/netns/shared-host-rig.ts.
 *
 * 1. vm-a and vm-b send identical UDP and TCP tuples at the same moment to the service: it sees
 *    each from its own network's PRIVATE_NAT range, inside the block GET mappings reports on the
 *    rule (ruleMappings), and each VM gets its own replies.
 * 2. UDP to a destination no rule names leaves the host untranslated: the server sees 10.0.0.2.
 */
import { ok } from '@natplane/sdk';
import type { Json } from '../support/control-loop/api-client';
import { eventually } from '../support/control-loop/stack';
import { parseRange } from '../support/control-loop/world';
import { SharedHostRig } from '../support/netns/shared-host-rig';
import { probe } from '../support/netns/traffic';
import { packetTestBackends } from '../support/netns/backends';

const { describeKernel, backends: BACKENDS } = packetTestBackends(__filename, ['nft', 'ip', 'conntrack']);

jest.setTimeout(60_000);

const SERVICE = '10.20.0.100';
const OUTSIDE = '203.0.113.100';
const HOST = 'host-p';

interface VmSpec {
  vm: string;
  project: string;
  network: string;
  gateway: string;
  device: string;
  /** The network's PRIVATE_NAT subnet. */
  pnat: { name: string; range: string; prefix: string };
}
const RULE = 100;
const VMS: VmSpec[] = [
  { vm: 'vm-a', project: 'pa', network: 'net-1', gateway: 'gw-p', device: 'tap-pa-1', pnat: { name: 'pnat-1', range: '100.64.1.0/28', prefix: '100.64.1.' } },
  { vm: 'vm-b', project: 'pb', network: 'net-1', gateway: 'gw-p', device: 'tap-pb-1', pnat: { name: 'pnat-1', range: '100.64.2.0/28', prefix: '100.64.2.' } },
];
const vmSpec = (vm: string) => VMS.find((v) => v.vm === vm)!;

describeKernel.each(BACKENDS)('Private NAT: two networks with one address on one host reach a third network, real packets, %s backend', (backend) => {
  const rig = new SharedHostRig({
    file: __filename,
    backend,
    tag: 'pn',
    ctlPrefix: '10.254.79',
    host: HOST,
    redisDb: 13,
    vms: VMS,
    serverIps: [SERVICE, OUTSIDE],
    // the PRIVATE_NAT ranges route back to the host; the VMs' 10.0.0.0/24 does not
    extRoutes: VMS.map((v) => v.pnat.range),
    // a PRIVATE gateway has no default IPs: its blocks are on its rule
    rangeIn: (m: Json) => {
      const onRule = (m?.ruleMappings as Json[] | undefined)?.find((r) => r.ruleNumber === RULE);
      return m && (m.natIpPortRanges as string[]).length === 0 && onRule && (onRule.natIpPortRanges as string[]).length === 1 ? (onRule.natIpPortRanges[0] as string) : undefined;
    },
    provision: async (api) => {
      for (const p of ['pa', 'pb']) await ok(api.POST('/v1/admin/projects', { body: { name: p } }));
      for (const v of VMS) {
        const project = { project: v.project };
        await ok(api.POST('/v1/projects/{project}/networks', { params: { path: project }, body: { name: v.network } }));
        await ok(api.POST('/v1/projects/{project}/subnets', { params: { path: project }, body: { name: `sub-${v.network}`, network: v.network, region: 'r1', ipCidrRange: '10.0.0.0/24' } }));
        await ok(api.POST('/v1/projects/{project}/subnets', { params: { path: project }, body: { name: v.pnat.name, network: v.network, region: 'r1', ipCidrRange: v.pnat.range, purpose: 'PRIVATE_NAT' } }));
        await ok(api.POST('/v1/projects/{project}/endpoints', { params: { path: project }, body: { name: v.vm, subnet: `sub-${v.network}`, host: HOST, hostInterface: v.device, networkIp: '10.0.0.2' } }));
        await ok(
          api.POST('/v1/projects/{project}/natGateways', {
            params: { path: project },
            body: {
              name: v.gateway,
              network: v.network,
              region: 'r1',
              type: 'PRIVATE',
              rules: [{ ruleNumber: RULE, match: "inIpRange(destination.ip, '10.20.0.0/24')", action: { sourceNatActiveRanges: [v.pnat.name] } }],
            },
          }),
        );
      }
    },
  });
  beforeAll(() => rig.start(), 120_000);
  afterAll(() => rig.stop());

  /** Two VMs with identical tuples at once, each seen only from its own network's PRIVATE_NAT range and block. */
  async function identicalTuplesAtOnce(a: VmSpec, b: VmSpec, round: string): Promise<void> {
    const ranges = await rig.identicalTuplesAtOnce(a, b, round, SERVICE);
    expect(parseRange(ranges.get(a.vm)!).natIp.startsWith(a.pnat.prefix)).toBe(true);
    expect(parseRange(ranges.get(b.vm)!).natIp.startsWith(b.pnat.prefix)).toBe(true);
  }

  it('1. two networks, one address, one host: identical UDP and TCP tuples to the service at once, each from its own PRIVATE_NAT range and block, each reply home', async () => {
    await identicalTuplesAtOnce(vmSpec('vm-a'), vmSpec('vm-b'), 'r1');
    // attribution: who held a PRIVATE_NAT address and port, asked by each project
    for (const v of VMS) {
      const b = parseRange(await rig.rangeOf(v));
      const held = await ok(
        rig.api.GET('/v1/projects/{project}/attributions', { params: { path: { project: v.project }, query: { natIp: b.natIp, port: b.portLo, time: new Date().toISOString() } } }),
      );
      expect({ endpoint: held.endpoint.split('/').pop(), gateway: held.gateway.split('/').pop(), sourceIp: held.sourceIp }).toEqual({ endpoint: v.vm, gateway: v.gateway, sourceIp: '10.0.0.2' });
    }
  });

  it('2. a destination no rule names: the packet leaves untranslated (the server sees 10.0.0.2)', async () => {
    for (const v of VMS) {
      await rig.rangeOf(v);
      const tag = `outside-${v.vm}`;
      // no answer can come back (ext has no route to 10.0.0.0/24): only what the server saw counts
      await probe(rig.server!, rig.dir, rig.vmNs.get(v.vm)!, OUTSIDE, tag, 1);
      await eventually(`the server's log of ${tag}`, async () => rig.server!.udp(tag).length > 0, 5_000, 20);
      expect(rig.server!.udp(tag).map((s) => s.peer)).toEqual(rig.server!.udp(tag).map(() => '10.0.0.2'));
    }
    // and the gateways stay READY: no endpoint lacks a mapping for want of default IPs
    for (const v of VMS) {
      const st = await ok(rig.api.GET('/v1/projects/{project}/natGateways/{name}/status', { params: { path: { project: v.project, name: v.gateway } } }));
      expect({ without: st.numVmEndpointsWithoutNatMappings, extra: st.minExtraNatIpsNeeded }).toEqual({ without: 0, extra: 0 });
    }
  });
});
