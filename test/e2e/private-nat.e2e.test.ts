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
 * routes the two ranges back to the host, and nothing else of the VMs.
 *
 * 1. vm-a and vm-b send identical UDP and TCP tuples at the same moment to the service: it sees
 *    each from its own network's PRIVATE_NAT range, inside the block GET mappings reports on the
 *    rule (ruleMappings), and each VM gets its own replies.
 * 2. UDP to a destination no rule names leaves the host untranslated: the server sees 10.0.0.2.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNatplaneClient, listAll, ok, type NatplaneClient } from '@natplane/sdk';
import { deleteNamespaces, kernelTestsUnavailable, makeNamespace } from '../../libs/nftables/src/testing/netns';
import type { Json } from '../support/control-loop/api-client';
import { ADMIN_TOKEN, ChildProc, FatalError, ROOT, Stack, eventually, freePort } from '../support/control-loop/stack';
import { byEndpoint, parseRange } from '../support/control-loop/world';
import { AgentProc } from '../support/netns/agent-proc';
import { Reaper } from '../support/netns/reaper';
import { ebpfProblem } from '../../apps/host-agent/src/ebpf/loader-client';
import { TrafficServer, pairAtOnce, probe, writeTrafficScripts, type Seen } from '../support/netns/traffic';

const unavailable = kernelTestsUnavailable(['nft', 'ip', 'conntrack']);
const describeKernel = unavailable ? describe.skip : describe;
if (unavailable) console.warn(`shared-host.e2e.test skipped: ${unavailable} (it needs root and nftables to build network namespaces and program them)`);
const noEbpf = ebpfProblem();
if (!unavailable && noEbpf) console.warn(`the eBPF backend is not tested: ${noEbpf}`);
/** Each case runs once per backend: nftables, and eBPF where it is built (docs/ebpf-backend.md). */
const BACKENDS: ('nftables' | 'ebpf')[] = noEbpf ? ['nftables'] : ['nftables', 'ebpf'];

jest.setTimeout(60_000);

const SERVICE = '10.20.0.100';
const OUTSIDE = '203.0.113.100';
const CTL_PREFIX = '10.254.79';
const CTL_API = `${CTL_PREFIX}.1`;
const HOST = 'host-p';
const API_MAIN = join(ROOT, 'dist/apps/api/src/main.js');

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
  const suffix = randomBytes(3).toString('hex');
  const bridge = `nppn-${suffix}`;
  const rootLinks = [bridge, `nppn-h-${suffix}`];
  let reaper: Reaper | undefined;
  let dir = '';
  let ext = '';
  let hostNs = '';
  const vmNs = new Map<string, string>();
  let stack: Stack | undefined;
  let ctlApi: ChildProc | undefined;
  let agent: AgentProc | undefined;
  let server: TrafficServer | undefined;
  let api: NatplaneClient;
  const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
  const inNs = (ns: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
  const ns = (prefix: string) => reaper!.namespace(makeNamespace(prefix));
  const logs = () => [agent ? `===== agent (${agent.logFile})\n${agent.tail(30)}` : '', stack ? stack.logs(20) : ''].join('\n');

  const gatewayOf = (v: VmSpec) => api.GET('/v1/projects/{project}/natGateways/{name}', { params: { path: { project: v.project, name: v.gateway } } });

  /** Every gateway READY at its generation with its host programmed; the VM's mapping range. */
  async function rangeOf(v: VmSpec): Promise<string> {
    return eventually(
      `${v.project}/${v.gateway} READY with a mapping for ${v.vm}`,
      async () => {
        const g = await ok(gatewayOf(v));
        const s = g.status;
        if (s.state !== 'READY' || s.observedGeneration !== g.generation || s.hostsProgrammed !== s.hostsTotal || s.hostsTotal !== 1) {
          throw new Error(`${v.project}/${v.gateway} is ${s.state}, observed ${s.observedGeneration}/${g.generation}, hosts ${s.hostsProgrammed}/${s.hostsTotal}: ${s.message}`);
        }
        const items = byEndpoint(
          await listAll((pageToken) => api.GET('/v1/projects/{project}/natGateways/{name}/mappings', { params: { path: { project: v.project, name: v.gateway }, query: { pageToken } } })),
        );
        const m: Json = items.get(v.vm);
        // a PRIVATE gateway has no default IPs: its blocks are on its rule
        const onRule = (m?.ruleMappings as Json[] | undefined)?.find((r) => r.ruleNumber === RULE);
        if (!m || (m.natIpPortRanges as string[]).length !== 0 || !onRule || (onRule.natIpPortRanges as string[]).length !== 1) {
          throw new Error(`no single active range on rule ${RULE} for ${v.vm}: ${JSON.stringify(m)}`);
        }
        return onRule.natIpPortRanges[0] as string;
      },
      30_000,
      100,
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs()}`);
    });
  }

  const inRange = (s: Seen, range: string) => {
    const b = parseRange(range);
    return s.peer === b.natIp && (s.port as number) >= b.portLo && (s.port as number) <= b.portHi;
  };

  /** Two VMs with identical tuples at once: each seen only from its own range, each gets its own replies. */
  async function identicalTuplesAtOnce(a: VmSpec, b: VmSpec, round: string): Promise<void> {
    const ranges = new Map([
      [a.vm, await rangeOf(a)],
      [b.vm, await rangeOf(b)],
    ]);
    // each from its own network's PRIVATE_NAT range
    expect(parseRange(ranges.get(a.vm)!).natIp.startsWith(a.pnat.prefix)).toBe(true);
    expect(parseRange(ranges.get(b.vm)!).natIp.startsWith(b.pnat.prefix)).toBe(true);
    const tags = [a, b].map((v) => `${round}-${v.vm}`);
    const answers = await pairAtOnce(
      dir,
      [a, b].map((v, i) => ({ ns: vmNs.get(v.vm)!, tag: tags[i] })),
      SERVICE,
    );
    // every reply reached the VM that sent the request
    expect(answers).toEqual(tags.map((t) => ({ udp: `ok ${t}-u`, tcp: `${t}-t` })));
    for (const [i, v] of [a, b].entries()) {
      await eventually(`the server's log of ${tags[i]}`, async () => server!.seen.filter((s) => s.tag === `${tags[i]}-u` || s.tag === `${tags[i]}-t`).length === 2, 5_000, 20);
      const seen = server!.seen.filter((s) => s.tag === `${tags[i]}-u` || s.tag === `${tags[i]}-t`);
      expect({ vm: v.vm, outside: seen.filter((s) => !inRange(s, ranges.get(v.vm)!)) }).toEqual({ vm: v.vm, outside: [] });
    }
  }

  beforeAll(async () => {
    reaper = Reaper.start();
    rootLinks.forEach((l) => reaper!.link(l));
    dir = mkdtempSync(join(tmpdir(), 'natplane-privnat-'));
    writeTrafficScripts(dir);
    const taken = ip('-4', '-o', 'addr', 'show').split('\n').find((l) => l.includes(` ${CTL_PREFIX}.`));
    if (taken) throw new Error(`the root namespace already uses ${CTL_PREFIX}.0/24 (${taken.trim()}): the test's control network needs it`);

    ext = ns('np-pn-ext');
    hostNs = ns('np-pn-host');
    ip('-n', ext, 'addr', 'add', `${SERVICE}/32`, 'dev', 'lo');
    ip('-n', ext, 'addr', 'add', `${OUTSIDE}/32`, 'dev', 'lo');
    ip('link', 'add', 'up0', 'netns', hostNs, 'type', 'veth', 'peer', 'name', 'wan', 'netns', ext);
    ip('-n', hostNs, 'addr', 'add', '203.0.113.1/30', 'dev', 'up0');
    ip('-n', hostNs, 'link', 'set', 'up0', 'up');
    ip('-n', hostNs, 'route', 'add', 'default', 'via', '203.0.113.2');
    ip('-n', ext, 'addr', 'add', '203.0.113.2/30', 'dev', 'wan');
    ip('-n', ext, 'link', 'set', 'wan', 'up');
    // the PRIVATE_NAT ranges route back to the host; the VMs' 10.0.0.0/24 does not
    for (const v of VMS) ip('-n', ext, 'route', 'add', v.pnat.range, 'via', '203.0.113.1');
    // strict reverse-path filtering on the host: the VMs' devices share 10.0.0.0/24
    for (const k of ['all', 'default']) inNs(hostNs, 'sysctl', '-qw', `net.ipv4.conf.${k}.rp_filter=1`);
    inNs(hostNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    for (const v of VMS) {
      const vns = ns(`np-pn-${v.vm}`);
      vmNs.set(v.vm, vns);
      ip('link', 'add', v.device, 'netns', hostNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vns);
      ip('-n', hostNs, 'addr', 'add', '10.0.0.1/24', 'dev', v.device);
      ip('-n', hostNs, 'link', 'set', v.device, 'up');
      ip('-n', vns, 'addr', 'add', '10.0.0.2/24', 'dev', 'eth0');
      ip('-n', vns, 'link', 'set', 'eth0', 'up');
      ip('-n', vns, 'route', 'add', 'default', 'via', '10.0.0.1');
      // transmit checksum offload off: a checksum the NAT got wrong would not be fixed up later
      spawnSync('ip', ['netns', 'exec', vns, 'ethtool', '-K', 'eth0', 'tx', 'off'], { stdio: 'ignore' });
    }
    // control network: the api replica the agent talks to
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${CTL_API}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    ip('link', 'add', `nppn-h-${suffix}`, 'type', 'veth', 'peer', 'name', 'ctl0', 'netns', hostNs);
    ip('link', 'set', `nppn-h-${suffix}`, 'master', bridge, 'up');
    ip('-n', hostNs, 'addr', 'add', `${CTL_PREFIX}.2/24`, 'dev', 'ctl0');
    ip('-n', hostNs, 'link', 'set', 'ctl0', 'up');

    server = await TrafficServer.start(ext, dir, [SERVICE, OUTSIDE]);
    reaper.pid(server.proc.pid);

    stack = await Stack.start({ file: __filename, redisDb: 13 });
    api = createNatplaneClient(stack.api.baseUrl, ADMIN_TOKEN);
    [stack.apiProc, ...stack.workers].forEach((c) => reaper!.pid(c.pid));
    const apiPort = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: stack.databaseUrl, REDIS_URL: stack.redisUrl, PORT: String(apiPort), HOST: CTL_API, NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'log,error,warn' };
    delete env.PUBLIC_URL;
    delete env.NODE_OPTIONS;
    ctlApi = new ChildProc('api (control network)', API_MAIN, env, join(dir, 'api-ctl.log'));
    ctlApi.start();
    reaper.pid(ctlApi.pid);
    const apiUrl = `http://${CTL_API}:${apiPort}`;
    await eventually('the api replica on the control network', async () => {
      if (!ctlApi!.running) throw new FatalError(`it exited:\n${ctlApi!.tail()}`);
      return (await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200;
    }, 30_000, 100);

    const agentUrl = `http://${CTL_PREFIX}.2:8081`;
    const host = await ok(api.POST('/v1/admin/hosts', { body: { name: HOST, region: 'r1', zone: 'r1-a', agentUrl } }));
    const agentEnv: NodeJS.ProcessEnv = {
      ...process.env,
      NATPLANE_API_URL: apiUrl,
      NATPLANE_HOST: HOST,
      NATPLANE_HOST_TOKEN: host.hostToken,
      NATPLANE_PUSH_SECRET: host.pushSecret,
      AGENT_LISTEN: `${CTL_PREFIX}.2:8081`,
      AGENT_BACKEND: backend,
        AGENT_EBPF_PIN_DIR: `/sys/fs/bpf/natplane-e2e-${suffix}-${HOST}`,
      AGENT_UPLINK: 'up0',
      AGENT_STATE_DIR: join(dir, 'state'),
      AGENT_REPORT_INTERVAL_MS: '1000',
    };
    delete agentEnv.NODE_OPTIONS;
    delete agentEnv.AGENT_NETNS;
    agent = new AgentProc(HOST, hostNs, agentUrl, agentEnv, dir);
    agent.start();
    reaper.pid(agent.pid);
    await eventually('the agent up', async () => {
      if (!agent!.running) throw new FatalError(`it exited:\n${agent!.tail()}`);
      return (await agent!.status()).backend === backend;
    }, 20_000, 100);

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
  }, 120_000);

  afterAll(async () => {
    server?.stop();
    await agent?.stop();
    await ctlApi?.close();
    await stack?.close();
    deleteNamespaces();
    for (const l of rootLinks) spawnSync('ip', ['link', 'del', l], { stdio: 'ignore' });
    spawnSync('sh', ['-c', `rm -rf /sys/fs/bpf/natplane-e2e-${suffix}-*`], { stdio: 'ignore' });
    reaper?.done();
    if (dir && !process.env.E2E_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  });

  it('1. two networks, one address, one host: identical UDP and TCP tuples to the service at once, each from its own PRIVATE_NAT range and block, each reply home', async () => {
    await identicalTuplesAtOnce(vmSpec('vm-a'), vmSpec('vm-b'), 'r1');
    // attribution: who held a PRIVATE_NAT address and port, asked by each project
    for (const v of VMS) {
      const b = parseRange(await rangeOf(v));
      const held = await ok(
        api.GET('/v1/projects/{project}/attributions', { params: { path: { project: v.project }, query: { natIp: b.natIp, port: b.portLo, time: new Date().toISOString() } } }),
      );
      expect({ endpoint: held.endpoint.split('/').pop(), gateway: held.gateway.split('/').pop(), sourceIp: held.sourceIp }).toEqual({ endpoint: v.vm, gateway: v.gateway, sourceIp: '10.0.0.2' });
    }
  });

  it('2. a destination no rule names: the packet leaves untranslated (the server sees 10.0.0.2)', async () => {
    for (const v of VMS) {
      await rangeOf(v);
      const tag = `outside-${v.vm}`;
      // no answer can come back (ext has no route to 10.0.0.0/24): only what the server saw counts
      await probe(server!, dir, vmNs.get(v.vm)!, OUTSIDE, tag, 1);
      await eventually(`the server's log of ${tag}`, async () => server!.udp(tag).length > 0, 5_000, 20);
      expect(server!.udp(tag).map((s) => s.peer)).toEqual(server!.udp(tag).map(() => '10.0.0.2'));
    }
    // and the gateways stay READY: no endpoint lacks a mapping for want of default IPs
    for (const v of VMS) {
      const st = await ok(api.GET('/v1/projects/{project}/natGateways/{name}/status', { params: { path: { project: v.project, name: v.gateway } } }));
      expect({ without: st.numVmEndpointsWithoutNatMappings, extra: st.minExtraNatIpsNeeded }).toEqual({ without: 0, extra: 0 });
    }
  });
});
