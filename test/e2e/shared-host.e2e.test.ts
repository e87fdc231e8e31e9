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
 * beyond attaching the VMs' devices.
 *
 * 1. vm-a and vm-b (two projects) send UDP from port 40000 and TCP from port 40001 at the same
 *    moment to the same server and ports: the server sees each only from its own gateway's NAT IP
 *    and the block GET mappings reports, and each VM gets its own replies.
 * 2. The same for vm-a and vm-c (two networks of one project).
 * 3. While project pb creates, moves and deletes endpoints overlapping pa's addresses on the host
 *    in a loop (and is refused with 409 where the host could not tell them apart), pa's gateways
 *    stay READY throughout, the host never refuses a document, and pa's VMs still pass traffic.
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

const SERVER = '203.0.113.100';
const POOL = '203.0.113.32/28';
const CTL_PREFIX = '10.254.78';
const CTL_API = `${CTL_PREFIX}.1`;
const HOST = 'host-s';
const API_MAIN = join(ROOT, 'dist/apps/api/src/main.js');

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
  const suffix = randomBytes(3).toString('hex');
  const bridge = `npsh-${suffix}`;
  const rootLinks = [bridge, `npsh-h-${suffix}`];
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
        if (!m || (m.natIpPortRanges as string[]).length !== 1) throw new Error(`no single active range for ${v.vm}: ${JSON.stringify(m)}`);
        return m.natIpPortRanges[0] as string;
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
    expect(parseRange(ranges.get(a.vm)!).natIp).toBe(a.nat.ip);
    expect(parseRange(ranges.get(b.vm)!).natIp).toBe(b.nat.ip);
    const tags = [a, b].map((v) => `${round}-${v.vm}`);
    const answers = await pairAtOnce(
      dir,
      [a, b].map((v, i) => ({ ns: vmNs.get(v.vm)!, tag: tags[i] })),
      SERVER,
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
    dir = mkdtempSync(join(tmpdir(), 'natplane-shared-'));
    writeTrafficScripts(dir);
    const taken = ip('-4', '-o', 'addr', 'show').split('\n').find((l) => l.includes(` ${CTL_PREFIX}.`));
    if (taken) throw new Error(`the root namespace already uses ${CTL_PREFIX}.0/24 (${taken.trim()}): the test's control network needs it`);

    ext = ns('np-sh-ext');
    hostNs = ns('np-sh-host');
    ip('-n', ext, 'addr', 'add', `${SERVER}/32`, 'dev', 'lo');
    ip('link', 'add', 'up0', 'netns', hostNs, 'type', 'veth', 'peer', 'name', 'wan', 'netns', ext);
    ip('-n', hostNs, 'addr', 'add', '203.0.113.1/30', 'dev', 'up0');
    ip('-n', hostNs, 'link', 'set', 'up0', 'up');
    ip('-n', hostNs, 'route', 'add', 'default', 'via', '203.0.113.2');
    ip('-n', ext, 'addr', 'add', '203.0.113.2/30', 'dev', 'wan');
    ip('-n', ext, 'link', 'set', 'wan', 'up');
    ip('-n', ext, 'route', 'add', POOL, 'via', '203.0.113.1');
    // strict reverse-path filtering on the host: the VMs' devices share 10.0.0.0/24
    for (const k of ['all', 'default']) inNs(hostNs, 'sysctl', '-qw', `net.ipv4.conf.${k}.rp_filter=1`);
    inNs(hostNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    for (const v of VMS) {
      const vns = ns(`np-sh-${v.vm}`);
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
    ip('link', 'add', `npsh-h-${suffix}`, 'type', 'veth', 'peer', 'name', 'ctl0', 'netns', hostNs);
    ip('link', 'set', `npsh-h-${suffix}`, 'master', bridge, 'up');
    ip('-n', hostNs, 'addr', 'add', `${CTL_PREFIX}.2/24`, 'dev', 'ctl0');
    ip('-n', hostNs, 'link', 'set', 'ctl0', 'up');

    server = await TrafficServer.start(ext, dir, [SERVER]);
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
    await ok(api.POST('/v1/admin/hosts', { body: { name: 'host-z', region: 'r1', zone: 'r1-b', agentUrl: 'http://127.0.0.1:9' } }));
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

  it('1. two projects, one address, one host: identical UDP and TCP tuples at once, each from its own gateway, each reply home', async () => {
    await identicalTuplesAtOnce(vmSpec('vm-a'), vmSpec('vm-b'), 'r1');
    if (backend === 'ebpf') return; // its flows are keyed by device: no conntrack zones
    // conntrack holds the two identical original tuples apart by zone
    const listing = inNs(hostNs, 'conntrack', '-L', '-p', 'udp', '--orig-port-src', '40000');
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
      await rangeOf(v);
      generations.set(v.gateway, (await ok(gatewayOf(v))).generation);
    }
    const pb = { project: 'pb' };
    const notReady: string[] = [];
    let polls = 0;
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        for (const v of pa) {
          const g = await ok(gatewayOf(v));
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
      statuses.push((await api.POST('/v1/projects/{project}/endpoints', { params: { path: pb }, body: { name: `${name}-x`, subnet: 'sub-net-1', host: HOST, networkIp: `10.0.0.${100 + (i % 50)}` } })).response.status);
      const created = await api.POST('/v1/projects/{project}/endpoints', { params: { path: pb }, body: { name, subnet: 'sub-net-1', host: HOST, hostInterface: `tap-c${i % 7}`, networkIp: address } });
      statuses.push(created.response.status);
      if (created.response.status === 201) {
        // move it to another host and back, onto another device, then delete it
        statuses.push((await api.PATCH('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name } }, body: { host: 'host-z' } })).response.status);
        statuses.push((await api.PATCH('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name } }, body: { host: HOST, hostInterface: `tap-d${i % 5}` } })).response.status);
        statuses.push((await api.DELETE('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name } } })).response.status);
      }
      statuses.push((await api.DELETE('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name: `${name}-x` } } })).response.status);
      // vm-b's own address without its device: refused, never accepted and then wedged
      statuses.push((await api.PATCH('/v1/projects/{project}/endpoints/{name}', { params: { path: { ...pb, name: 'vm-b' } }, body: { hostInterface: null } })).response.status);
    }
    stop = true;
    await watcher;
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses).toContain(409);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(5);
    expect({ polls: polls > 20, notReady }).toEqual({ polls: true, notReady: [] });
    // the host never refused what it was sent: READY with no error about its documents
    const host = await ok(api.GET('/v1/admin/hosts/{name}', { params: { path: { name: HOST } } }));
    expect(host.status.lastError ?? '').not.toMatch(/invalid|collide|refus/i);
    // (no 400: a 409 'base generation mismatch' is two pushes racing, a different matter)
    expect(agent!.tail(1000)).not.toMatch(/"status":400|document is invalid|collide|left out/);
    // and pa's VMs still pass traffic from their own blocks
    for (const v of pa) {
      const range = await rangeOf(v);
      const tag = `after-${v.vm}`;
      expect(await probe(server!, dir, vmNs.get(v.vm)!, SERVER, tag, 2)).toEqual({ tcpOk: 2, udpOk: 2 });
      expect([...server!.udp(tag), ...server!.tcp(tag)].filter((s) => !inRange(s, range))).toEqual([]);
    }
  }, 60_000);
});
