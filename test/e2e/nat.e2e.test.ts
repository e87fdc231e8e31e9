/**
 * End to end, with real packets (issue 5, first "done when" line): the built api and worker as
 * child processes on a fresh database, two real host agents (nftables backend), each running
 * inside its host's network namespace, and traffic from four VMs to an external server.
 *
 *   root namespace (PostgreSQL, Redis, api on 127.0.0.1 and a second api replica on 10.254.77.1,
 *   worker): bridge npe2e-* 10.254.77.1/24 --veth-- ctl0 10.254.77.2 [host-a]  agent :8081
 *                                         --veth-- ctl0 10.254.77.3 [host-b]  agent :8081
 *
 *   [vm-a1] 10.99.0.2 -+                                                      +- wan-a 203.0.113.2/30
 *   [vm-a2] 10.99.0.3 -+- br-vms 10.99.0.1 [host-a] up0 203.0.113.1/30 ------+
 *                                                                           [ext] lo 203.0.113.100 (server)
 *   [vm-b1] 10.99.0.4 -+- br-vms 10.99.0.1 [host-b] up0 203.0.113.5/30 ------+        198.51.100.10 (rule destination)
 *   [vm-b2] 10.99.0.5 -+                                                      +- wan-b 203.0.113.6/30
 *
 * Both hosts' VM bridges carry the same gateway address and MAC (an anycast gateway, as DVR
 * does), so a VM whose link moves to the other host keeps its ARP entry. NAT IPs come from the
 * pool 203.0.113.32/28 and belong to no interface: the NAT IP and port blocks of one address are
 * spread over both hosts, so ext routes each (NAT IP, protocol, port block) back to the host that
 * GET mappings names for it (policy routing by destination port, the job of the provider's
 * fabric), rewritten after each change. ext has no route to 10.99.0.0/24: untranslated traffic
 * reaches the server but gets no answer. An nftables set in ext (its own namespace) records the
 * interface each flow came in on, so the test knows which host sent it.
 *
 * Convergence is polled through the API (hosts READY; the gateway READY at its generation with
 * every host programmed) with deadlines; the root namespace's firewall is never touched. Every API
 * call goes through the generated SDK (libs/sdk), as a tenant's or an operator's program would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteNamespaces, makeNamespace } from '../../libs/nftables/src/testing/netns';
import type { HostDocument } from '@natplane/contracts';
import { createNatplaneClient, listAll, ok, type NatGateway, type NatplaneClient } from '@natplane/sdk';
import type { Json } from '../support/control-loop/api-client';
import { ADMIN_TOKEN, ChildProc, FatalError, ROOT, Stack, eventually, freePort } from '../support/control-loop/stack';
import { byEndpoint, parseRange } from '../support/control-loop/world';
import { Reaper } from '../support/netns/reaper';
import { AgentProc } from '../support/netns/agent-proc';
import { HeldConnection, TrafficServer, probe, writeTrafficScripts, type Seen } from '../support/netns/traffic';
import { packetTestBackends } from '../support/netns/backends';

const { describeKernel, backends: BACKENDS } = packetTestBackends(__filename, ['nft', 'ip']);

jest.setTimeout(60_000);

const P = 'e2e';
const GW = 'gw-1';
const SERVER = '203.0.113.100';
const RULE_DST = '198.51.100.10';
const RULE_CIDR = '198.51.100.0/24';
const POOL = '203.0.113.32/28';
const NAT = { 'nat-1': '203.0.113.33', 'nat-2': '203.0.113.34', 'nat-r': '203.0.113.35' } as const;
const CTL_PREFIX = '10.254.77';
const CTL_API = `${CTL_PREFIX}.1`;
const AGENT_PORT = 8081;
const GATEWAY_MAC = '02:00:5e:e2:e2:01';
const API_MAIN = join(ROOT, 'dist/apps/api/src/main.js');

interface HostSpec {
  name: 'host-a' | 'host-b';
  ctlIp: string;
  uplinkIp: string;
  extIp: string;
  extDev: string;
  table: number;
}
const HOSTS: HostSpec[] = [
  { name: 'host-a', ctlIp: `${CTL_PREFIX}.2`, uplinkIp: '203.0.113.1', extIp: '203.0.113.2', extDev: 'wan-a', table: 101 },
  { name: 'host-b', ctlIp: `${CTL_PREFIX}.3`, uplinkIp: '203.0.113.5', extIp: '203.0.113.6', extDev: 'wan-b', table: 102 },
];
const hostSpec = (name: string) => HOSTS.find((h) => h.name === name)!;

interface VmSpec {
  name: string;
  ip: string;
  host: HostSpec['name'];
}
const VMS: VmSpec[] = [
  { name: 'vm-a1', ip: '10.99.0.2', host: 'host-a' },
  { name: 'vm-a2', ip: '10.99.0.3', host: 'host-a' },
  { name: 'vm-b1', ip: '10.99.0.4', host: 'host-b' },
  { name: 'vm-b2', ip: '10.99.0.5', host: 'host-b' },
];

describeKernel.each(BACKENDS)('natplane end to end: api, worker, two agents, real packets, %s backend', (backend) => {
  const suffix = randomBytes(3).toString('hex');
  const bridge = `npe2e-${suffix}`;
  const rootLinks = [bridge, ...HOSTS.map((h) => `npe2${h.name.slice(-1)}-${suffix}`)];
  const hostNs = new Map<string, string>();
  const vmNs = new Map<string, string>();
  let ext = '';
  let dir = '';
  let stack: Stack | undefined;
  let ctlApi: ChildProc | undefined;
  /** The SDK with the admin token. */
  let api: NatplaneClient;
  const agents = new Map<string, AgentProc>();
  let server: TrafficServer | undefined;
  let held: HeldConnection | undefined;
  /** ip rules in ext, by their spec: `to X ipproto P dport LO-HI lookup T` -> pref. */
  const extRules = new Map<string, number>();
  let nextPref = 1000;
  /** Where each VM is now. */
  const vmHost = new Map<string, string>(VMS.map((v) => [v.name, v.host]));
  const hostTokens = new Map<string, string>();
  /** The gateway's generation after its create, and its latest mappings. */
  let gwGeneration = 0;
  let mappings: Map<string, Json>;
  /** Time from each change to convergence, printed at the end. */
  const timings: string[] = [];
  const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
  const inNs = (ns: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });

  // ---- clean-up: afterAll, and a reaper process for a test process that dies before it runs --
  let reaper: Reaper | undefined;
  const ns = (prefix: string) => reaper!.namespace(makeNamespace(prefix));

  // ---- helpers -----------------------------------------------------------------------------
  const logs = () =>
    [...[...agents.values()].map((a) => `===== agent ${a.host} (${a.logFile})\n${a.tail(20)}`), stack ? stack.logs(20) : '', ctlApi ? `===== ${ctlApi.label}\n${ctlApi.tail(10)}` : ''].join('\n');

  const gwPath = { project: P, name: GW };
  const getGateway = (): Promise<NatGateway> => ok(api.GET('/v1/projects/{project}/natGateways/{name}', { params: { path: gwPath } }));

  /** Throws unless every host is READY (it acknowledged its desired generation). */
  async function hostsReady(): Promise<void> {
    for (const h of await listAll((pageToken) => api.GET('/v1/admin/hosts', { params: { query: { pageSize: 500, pageToken } } }))) {
      if (h.status.state !== 'READY') throw new Error(`host ${h.name} is ${h.status.state} (desired ${h.status.desiredGeneration}, applied ${h.status.appliedGeneration}, ${h.status.lastError})`);
    }
  }

  /**
   * Hosts READY and the gateway READY at its generation (at least `minGeneration`,
   * the one the change gave it, so a READY from before the change does not count) on every host.
   * Returns its mappings.
   */
  async function converged(what: string, minGeneration: number): Promise<Map<string, Json>> {
    const t0 = Date.now();
    const result = await eventually(
      what,
      async () => {
        await hostsReady();
        const g = await getGateway();
        const s = g.status;
        if (g.generation < minGeneration || s.state !== 'READY' || s.observedGeneration !== g.generation || s.hostsProgrammed !== s.hostsTotal) {
          throw new Error(`gateway generation ${g.generation} (at least ${minGeneration}) is ${s.state}, observed ${s.observedGeneration}, hosts ${s.hostsProgrammed}/${s.hostsTotal}: ${s.message}`);
        }
        return byEndpoint(await listAll((pageToken) => api.GET('/v1/projects/{project}/natGateways/{name}/mappings', { params: { path: gwPath, query: { pageSize: 500, pageToken } } })));
      },
      30_000,
      100,
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs()}`);
    });
    timings.push(`${what}: ${Date.now() - t0} ms`);
    return result;
  }

  /** Every block of a mapping item (active and drain, default and rules). */
  const blocksOf = (m: Json): string[] => [
    ...(m.natIpPortRanges as string[]),
    ...(m.drainNatIpPortRanges as string[]),
    ...(m.ruleMappings as Json[]).flatMap((r) => [...(r.natIpPortRanges as string[]), ...(r.drainNatIpPortRanges as string[])]),
  ];

  /** ext routes every block of the mappings back to the host that holds it (TCP and UDP). */
  function routeBlocks(items: Map<string, Json>): void {
    const want = new Set<string>();
    for (const m of items.values()) {
      for (const range of blocksOf(m)) {
        const b = parseRange(range);
        for (const proto of ['tcp', 'udp']) want.add(`to ${b.natIp}/32 ipproto ${proto} dport ${b.portLo}-${b.portHi} lookup ${hostSpec(m.host as string).table}`);
      }
    }
    for (const [spec, pref] of extRules) {
      if (want.has(spec)) continue;
      ip('-n', ext, 'rule', 'del', 'pref', String(pref));
      extRules.delete(spec);
    }
    for (const spec of want) {
      if (extRules.has(spec)) continue;
      const pref = nextPref++;
      ip('-n', ext, 'rule', 'add', ...spec.split(' '), 'pref', String(pref));
      extRules.set(spec, pref);
    }
  }

  /** The ext interface each flow (source address, source port) came in on, from the nft set. */
  function ingress(): Map<string, string> {
    const out = new Map<string, string>();
    const listing = JSON.parse(inNs(ext, 'nft', '-j', 'list', 'set', 'ip', 'e2e', 'seen')) as { nftables: Json[] };
    for (const o of listing.nftables) {
      for (const e of (o.set?.elem as Json[] | undefined) ?? []) {
        const concat = (e.concat ?? e.elem?.val?.concat) as [string, string, number] | undefined;
        if (concat) out.set(`${concat[1]}:${concat[2]}`, concat[0]);
      }
    }
    return out;
  }

  const inRange = (s: Seen, range: string) => {
    const b = parseRange(range);
    return s.peer === b.natIp && (s.port as number) >= b.portLo && (s.port as number) <= b.portHi;
  };

  /**
   * n TCP connections and n UDP exchanges from `vm` to `dst`: all answered, and every one seen by
   * the server from inside `range`, coming in from the host the VM is on now.
   */
  async function expectTranslated(vm: string, dst: string, range: string, tag: string, n = 2): Promise<void> {
    expect(await probe(server!, dir, vmNs.get(vm)!, dst, tag, n)).toEqual({ tcpOk: n, udpOk: n });
    const flows = [...server!.udp(tag), ...server!.tcp(tag)];
    expect(flows).toHaveLength(2 * n);
    const outside = flows.filter((s) => !inRange(s, range));
    expect({ vm, range, outside }).toEqual({ vm, range, outside: [] });
    const via = ingress();
    const wan = hostSpec(vmHost.get(vm)!).extDev;
    expect({ vm, cameIn: flows.map((s) => via.get(`${s.peer}:${s.port}`)) }).toEqual({ vm, cameIn: flows.map(() => wan) });
  }

  const mappingsRange = (m: Json, rule?: number): string => {
    const r = rule === undefined ? m : (m.ruleMappings as Json[]).find((x) => x.ruleNumber === rule);
    expect(r?.natIpPortRanges).toHaveLength(1);
    return r.natIpPortRanges[0] as string;
  };

  // ---- the world -----------------------------------------------------------------------------
  beforeAll(async () => {
    reaper = Reaper.start();
    rootLinks.forEach((l) => reaper!.link(l));
    dir = mkdtempSync(join(tmpdir(), 'natplane-e2e-'));
    writeTrafficScripts(dir);

    const taken = ip('-4', '-o', 'addr', 'show').split('\n').find((l) => l.includes(` ${CTL_PREFIX}.`));
    if (taken) throw new Error(`the root namespace already uses ${CTL_PREFIX}.0/24 (${taken.trim()}): the e2e control network needs it`);

    // ext: the server, its two WAN links, return routes per host table, the ingress recorder
    ext = ns('np-e2e-ext');
    ip('-n', ext, 'addr', 'add', `${SERVER}/32`, 'dev', 'lo');
    ip('-n', ext, 'addr', 'add', `${RULE_DST}/32`, 'dev', 'lo');
    for (const k of ['all', 'default']) inNs(ext, 'sysctl', '-qw', `net.ipv4.conf.${k}.rp_filter=0`);

    // the control network: one bridge in the root namespace, a veth to each host namespace
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${CTL_API}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');

    for (const h of HOSTS) {
      const hns = ns(`np-e2e-${h.name}`);
      hostNs.set(h.name, hns);
      const rootEnd = `npe2${h.name.slice(-1)}-${suffix}`;
      ip('link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', 'ctl0', 'netns', hns);
      ip('link', 'set', rootEnd, 'master', bridge, 'up');
      ip('-n', hns, 'addr', 'add', `${h.ctlIp}/24`, 'dev', 'ctl0');
      ip('-n', hns, 'link', 'set', 'ctl0', 'up');
      // the VM bridge: the same gateway address and MAC on every host
      ip('-n', hns, 'link', 'add', 'br-vms', 'type', 'bridge');
      ip('-n', hns, 'link', 'set', 'br-vms', 'address', GATEWAY_MAC);
      ip('-n', hns, 'addr', 'add', '10.99.0.1/24', 'dev', 'br-vms');
      ip('-n', hns, 'link', 'set', 'br-vms', 'up');
      // the uplink to ext
      ip('link', 'add', 'up0', 'netns', hns, 'type', 'veth', 'peer', 'name', h.extDev, 'netns', ext);
      ip('-n', hns, 'addr', 'add', `${h.uplinkIp}/30`, 'dev', 'up0');
      ip('-n', hns, 'link', 'set', 'up0', 'up');
      ip('-n', hns, 'route', 'add', 'default', 'via', h.extIp);
      ip('-n', ext, 'addr', 'add', `${h.extIp}/30`, 'dev', h.extDev);
      ip('-n', ext, 'link', 'set', h.extDev, 'up');
      ip('-n', ext, 'route', 'add', 'default', 'via', h.uplinkIp, 'dev', h.extDev, 'table', String(h.table));
      inNs(hns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    }
    for (const vm of VMS) {
      const vns = ns(`np-e2e-${vm.name}`);
      vmNs.set(vm.name, vns);
      const host = hostNs.get(vm.host)!;
      ip('link', 'add', `${vm.name}-h`, 'netns', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vns);
      ip('-n', host, 'link', 'set', `${vm.name}-h`, 'master', 'br-vms', 'up');
      ip('-n', vns, 'addr', 'add', `${vm.ip}/24`, 'dev', 'eth0');
      ip('-n', vns, 'link', 'set', 'eth0', 'up');
      ip('-n', vns, 'route', 'add', 'default', 'via', '10.99.0.1');
    }
    execFileSync('ip', ['netns', 'exec', ext, 'nft', '-f', '-'], {
      input: `table ip e2e {
        set seen { type ifname . ipv4_addr . inet_service; flags dynamic; size 65535; }
        chain pre { type filter hook prerouting priority raw; policy accept;
          meta l4proto { tcp, udp } th dport { 8080, 9090 } add @seen { iifname . ip saddr . th sport }
        }
      }`,
    });
    server = await TrafficServer.start(ext, dir, [SERVER, RULE_DST]);
    reaper.pid(server.proc.pid);

    // the control plane: database, Redis db 14, api on loopback, worker; a second api replica
    // on the control network for the agents (the api is stateless: any number of replicas)
    stack = await Stack.start({ file: __filename, redisDb: 14 });
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

    for (const h of HOSTS) {
      const agentUrl = `http://${h.ctlIp}:${AGENT_PORT}`;
      const created = await ok(api.POST('/v1/admin/hosts', { body: { name: h.name, region: 'r1', zone: 'r1-a', agentUrl } }));
      hostTokens.set(h.name, created.hostToken);
      const agentEnv: NodeJS.ProcessEnv = {
        ...process.env,
        NATPLANE_API_URL: apiUrl,
        NATPLANE_HOST: h.name,
        NATPLANE_HOST_TOKEN: created.hostToken,
        NATPLANE_PUSH_SECRET: created.pushSecret,
        AGENT_LISTEN: `${h.ctlIp}:${AGENT_PORT}`,
        AGENT_BACKEND: backend,
        AGENT_EBPF_PIN_DIR: `/sys/fs/bpf/natplane-e2e-${suffix}-${h.name}`,
        AGENT_UPLINK: 'up0',
        AGENT_STATE_DIR: join(dir, `state-${h.name}`),
        AGENT_REPORT_INTERVAL_MS: '1000',
      };
      delete agentEnv.NODE_OPTIONS;
      delete agentEnv.AGENT_NETNS;
      const agent = new AgentProc(h.name, hostNs.get(h.name)!, agentUrl, agentEnv, dir);
      agents.set(h.name, agent);
      agent.start();
      reaper.pid(agent.pid);
    }
    for (const agent of agents.values()) {
      await eventually(`agent ${agent.host} up`, async () => {
        if (!agent.running) throw new FatalError(`it exited:\n${agent.tail()}`);
        return (await agent.status()).backend === backend;
      }, 20_000, 100);
    }

    // tenant resources through the API
    const project = { project: P };
    await ok(api.POST('/v1/admin/projects', { body: { name: P } }));
    await ok(api.POST('/v1/admin/addressPools', { body: { name: 'pool-1', region: 'r1', cidrs: [POOL] } }));
    for (const [name, address] of Object.entries(NAT)) {
      const a = await ok(api.POST('/v1/projects/{project}/addresses', { params: { path: project }, body: { name, region: 'r1', address } }));
      expect(a.address).toBe(address);
    }
    await ok(api.POST('/v1/projects/{project}/networks', { params: { path: project }, body: { name: 'net-1' } }));
    await ok(api.POST('/v1/projects/{project}/subnets', { params: { path: project }, body: { name: 'sub-1', network: 'net-1', region: 'r1', ipCidrRange: '10.99.0.0/24' } }));
    for (const vm of VMS) {
      await ok(api.POST('/v1/projects/{project}/endpoints', { params: { path: project }, body: { name: vm.name, subnet: 'sub-1', host: vm.host, networkIp: vm.ip } }));
    }
    const created = await ok(
      api.POST('/v1/projects/{project}/natGateways', {
        params: { path: project },
        body: {
          name: GW,
          network: 'net-1',
          region: 'r1',
          natIpAllocateOption: 'MANUAL_ONLY',
          natIps: ['nat-1', 'nat-2'],
          sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
          minPortsPerVm: 64,
        },
      }),
    );
    gwGeneration = created.generation;
  }, 120_000);

  afterAll(async () => {
    if (timings.length) console.log(`nat.e2e convergence after each change:\n  ${timings.join('\n  ')}`);
    held?.close();
    server?.stop();
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await ctlApi?.close();
    await stack?.close();
    deleteNamespaces();
    for (const l of rootLinks) spawnSync('ip', ['link', 'del', l], { stdio: 'ignore' });
    spawnSync('sh', ['-c', `rm -rf /sys/fs/bpf/natplane-e2e-${suffix}-*`], { stdio: 'ignore' });
    reaper?.done();
    if (dir && !process.env.E2E_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  });

  it('1. TCP and UDP from every VM reach the server only from the NAT IP and port block GET mappings reports for it', async () => {
    mappings = await converged('the gateway programmed on both hosts', gwGeneration);
    expect([...mappings.keys()].sort()).toEqual(VMS.map((v) => v.name).sort());
    for (const vm of VMS) {
      const m = mappings.get(vm.name);
      expect({ vm: vm.name, host: m.host, ports: m.numTotalNatPorts }).toEqual({ vm: vm.name, host: vm.host, ports: 64 });
      expect([NAT['nat-1'], NAT['nat-2']]).toContain(parseRange(mappingsRange(m)).natIp);
    }
    expect((await getGateway()).status).toEqual(expect.objectContaining({ state: 'READY', hostsTotal: 2, hostsProgrammed: 2 }));
    for (const h of HOSTS) expect({ host: h.name, endpoints: (await agents.get(h.name)!.status()).endpoints }).toEqual({ host: h.name, endpoints: 2 });
    routeBlocks(mappings);
    await Promise.all(VMS.map((vm) => expectTranslated(vm.name, SERVER, mappingsRange(mappings.get(vm.name)), `s1-${vm.name}`, 3)));
  });

  it('2. drain an IP: new flows use the new block, an established TCP connection on the drained block keeps working', async () => {
    // an established connection from vm-b1, on its current block
    const before = mappingsRange(mappings.get('vm-b1'));
    held = await HeldConnection.open(dir, vmNs.get('vm-b1')!, SERVER);
    reaper!.pid(held.proc.pid);
    await held.echo('before-drain');
    const heldSeen = server!.seen.find((s) => s.proto === 'tcp-data' && s.tag === 'before-drain')!;
    expect(inRange(heldSeen, before)).toBe(true);

    const drainedIp = parseRange(before).natIp;
    const [drainName] = Object.entries(NAT).find(([, a]) => a === drainedIp)!;
    const keepName = drainName === 'nat-1' ? 'nat-2' : 'nat-1';
    const drained = await ok(api.PATCH('/v1/projects/{project}/natGateways/{name}', { params: { path: gwPath }, body: { natIps: [keepName], drainNatIps: [drainName] } }));
    mappings = await converged('the drain programmed', drained.generation);
    routeBlocks(mappings);
    for (const vm of VMS) {
      const m = mappings.get(vm.name);
      expect({ vm: vm.name, ip: parseRange(mappingsRange(m)).natIp }).toEqual({ vm: vm.name, ip: NAT[keepName] });
    }
    expect(mappings.get('vm-b1').drainNatIpPortRanges).toEqual([before]);

    await Promise.all(VMS.map((vm) => expectTranslated(vm.name, SERVER, mappingsRange(mappings.get(vm.name)), `s2-${vm.name}`)));
    // the connection opened before the drain still carries data, both ways, on the drained block
    await held.echo('after-drain');
    const after = server!.seen.filter((s) => s.proto === 'tcp' && s.peer === heldSeen.peer && s.port === heldSeen.port);
    expect(after).toHaveLength(1);
  });

  it("3. a rule for the server's CIDR with its own IP: flows there leave by that IP, others by the gateway's", async () => {
    const ruled = await ok(
      api.PATCH('/v1/projects/{project}/natGateways/{name}', {
        params: { path: gwPath },
        body: { rules: [{ ruleNumber: 100, description: 'the rule destination', match: `inIpRange(destination.ip, '${RULE_CIDR}')`, action: { sourceNatActiveIps: ['nat-r'] } }] },
      }),
    );
    mappings = await converged('the rule programmed', ruled.generation);
    routeBlocks(mappings);
    for (const vm of VMS) expect({ vm: vm.name, ip: parseRange(mappingsRange(mappings.get(vm.name), 100)).natIp }).toEqual({ vm: vm.name, ip: NAT['nat-r'] });
    await Promise.all(
      VMS.map(async (vm) => {
        const m = mappings.get(vm.name);
        await expectTranslated(vm.name, RULE_DST, mappingsRange(m, 100), `s3-rule-${vm.name}`);
        await expectTranslated(vm.name, SERVER, mappingsRange(m), `s3-default-${vm.name}`, 1);
      }),
    );
    await held!.echo('after-rule');
  });

  it('4. move a VM to the other host: its traffic leaves through the new host with its block', async () => {
    const moved = 'vm-a1';
    const before = mappings.get(moved);
    const generation = (await getGateway()).generation;
    await ok(api.PATCH('/v1/projects/{project}/endpoints/{name}', { params: { path: { project: P, name: moved } }, body: { host: 'host-b' } }));
    // the live migration: the VM's link now ends on host-b's VM bridge
    const link = `${moved}-h`;
    ip('-n', hostNs.get('host-a')!, 'link', 'set', link, 'netns', hostNs.get('host-b')!);
    ip('-n', hostNs.get('host-b')!, 'link', 'set', link, 'master', 'br-vms', 'up');
    vmHost.set(moved, 'host-b');

    // the move changes what the gateway's hosts must do: it bumps the gateway's generation
    mappings = await converged('the move programmed', generation + 1);
    routeBlocks(mappings);
    const after = mappings.get(moved);
    expect(after.host).toBe('host-b');
    expect(after.natIpPortRanges).toEqual(before.natIpPortRanges);
    expect(mappingsRange(after, 100)).toEqual(mappingsRange(before, 100));
    // the old host forgot it, the new one programs it
    expect({ a: (await agents.get('host-a')!.status()).endpoints, b: (await agents.get('host-b')!.status()).endpoints }).toEqual({ a: 1, b: 3 });
    await Promise.all([
      expectTranslated(moved, SERVER, mappingsRange(after), 's4-default'),
      expectTranslated(moved, RULE_DST, mappingsRange(after, 100), 's4-rule'),
      // the others are where they were, with the same blocks
      ...VMS.filter((v) => v.name !== moved).map((vm) => expectTranslated(vm.name, SERVER, mappingsRange(mappings.get(vm.name)), `s4-${vm.name}`, 1)),
    ]);
    await held!.echo('after-move');
  });

  it('4b. a drain with a deadline: its last connection lives until the deadline the status shows, then it is cut and the address can be deleted', async () => {
    const statusOf = () => ok(api.GET('/v1/projects/{project}/natGateways/{name}/status', { params: { path: gwPath } }));
    const [drainName] = (await getGateway()).drainNatIps;
    expect(drainName).toBeDefined();
    const heldSeen = server!.seen.find((s) => s.proto === 'tcp-data' && s.tag === 'before-drain')!;
    const start = Date.parse((await statusOf()).drains.find((d) => d.address === drainName)!.drainStartTime);
    // a deadline a few seconds ahead of now, counted from the drain's start (test 2)
    const maxSec = Math.ceil((Date.now() - start) / 1000) + 6;
    const patched = await ok(api.PATCH('/v1/projects/{project}/natGateways/{name}', { params: { path: gwPath }, body: { maxDrainDurationSec: maxSec } }));
    expect(patched.maxDrainDurationSec).toBe(maxSec);
    await converged('the max drain duration', patched.generation);
    const [d] = (await statusOf()).drains;
    expect(d).toEqual(expect.objectContaining({ address: drainName, natIp: heldSeen.peer, ruleNumber: -1 }));
    const deadline = Date.parse(d.drainDeadline!);
    expect(deadline).toBe(start + maxSec * 1000);
    // before the deadline: the drained IP's last connection still carries data; the address is the gateway's
    await held!.echo('before-deadline');
    expect(Date.now()).toBeLessThan(deadline);
    expect((await api.DELETE('/v1/projects/{project}/addresses/{name}', { params: { path: { project: P, name: drainName } } })).response.status).toBe(409);

    // nothing else happens: the drain ends by itself at the deadline
    const heldAgent = agents.get(vmHost.get('vm-b1')!)!;
    const cleanups = () => readFileSync(heldAgent.logFile, 'utf8').split('removed leftover connections of released ports').length - 1;
    const cleanupsBefore = cleanups();
    const t0 = Date.now();
    const ended = await eventually(
      'the drain ended by itself',
      async () => {
        const g = await getGateway();
        if (g.drainNatIps.length) throw new Error(`drainNatIps still ${g.drainNatIps.join(', ')}`);
        return g;
      },
      30_000,
      200,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(deadline);
    mappings = await converged('the drain ended', ended.generation);
    timings.push(`drain deadline to convergence: ${Date.now() - Math.max(t0, deadline)} ms`);
    const st = await statusOf();
    expect({ drains: st.drains, drain: st.drainUserAllocatedNatIps }).toEqual({ drains: [], drain: [] });
    for (const vm of VMS) expect({ vm: vm.name, drain: mappings.get(vm.name).drainNatIpPortRanges }).toEqual({ vm: vm.name, drain: [] });
    // no host keeps a block on the drained IP any more (its ports stay quarantined in the api)
    for (const h of HOSTS) {
      const doc: HostDocument = await ok(createNatplaneClient(stack!.api.baseUrl, hostTokens.get(h.name)).GET('/v1/hosts/{host}/programming', { params: { path: { host: h.name } } }));
      const onIt = doc.gateways.flatMap((g) => g.endpoints.flatMap((e) => e.mappings.flatMap((m) => [...(m.active ? [m.active] : []), ...m.drain]))).filter((b) => b.natIp === heldSeen.peer);
      expect({ host: h.name, onIt }).toEqual({ host: h.name, onIt: [] });
    }
    // the last connection on the drained IP is cut at the host (its conntrack entries removed just
    // after the apply): ext still routes that block back to its host (its route is removed only
    // below), yet its data no longer reaches the server
    await eventually('the agent removed the connections of the ended drain', async () => cleanups() > cleanupsBefore, 10_000, 100);
    await expect(held!.echo('after-deadline', 4_000)).rejects.toThrow();
    expect(server!.seen.filter((s) => s.tag === 'after-deadline' && s.peer === heldSeen.peer && s.port === heldSeen.port)).toEqual([]);
    held!.close();
    held = undefined;
    routeBlocks(mappings);
    // the address is free to delete; new flows leave as before
    expect((await api.DELETE('/v1/projects/{project}/addresses/{name}', { params: { path: { project: P, name: drainName } } })).response.status).toBe(204);
    await Promise.all(VMS.map((vm) => expectTranslated(vm.name, SERVER, mappingsRange(mappings.get(vm.name)), `s4b-${vm.name}`, 1)));
  });

  it("4c. a source-based rule: what a VM forwards from a range behind it leaves by the rule's IP in its block, the VM's own traffic by the default IPs", async () => {
    // behind vm-a2 (host-a): a namespace in 192.168.77.0/24 routed through it, the VM forwarding
    const forwarder = 'vm-a2';
    const FWD_CIDR = '192.168.77.0/24';
    const behind = ns('np-e2e-behind');
    const vns = vmNs.get(forwarder)!;
    ip('link', 'add', 'fwd0', 'netns', vns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', behind);
    ip('-n', vns, 'addr', 'add', '192.168.77.1/24', 'dev', 'fwd0');
    ip('-n', vns, 'link', 'set', 'fwd0', 'up');
    inNs(vns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    ip('-n', behind, 'addr', 'add', '192.168.77.2/24', 'dev', 'eth0');
    ip('-n', behind, 'link', 'set', 'eth0', 'up');
    ip('-n', behind, 'route', 'add', 'default', 'via', '192.168.77.1');
    // the provider's fabric routes the forwarded range to the VM (answers come back that way)
    ip('-n', hostNs.get(vmHost.get(forwarder)!)!, 'route', 'add', FWD_CIDR, 'via', VMS.find((v) => v.name === forwarder)!.ip, 'dev', 'br-vms');

    const project = { project: P };
    const natS = '203.0.113.36';
    await ok(api.POST('/v1/projects/{project}/addresses', { params: { path: project }, body: { name: 'nat-s', region: 'r1', address: natS } }));
    const ep = await ok(
      api.PATCH('/v1/projects/{project}/endpoints/{name}', { params: { path: { project: P, name: forwarder } }, body: { canIpForward: true, forwardedIpRanges: [FWD_CIDR] } }),
    );
    expect({ canIpForward: ep.canIpForward, forwardedIpRanges: ep.forwardedIpRanges }).toEqual({ canIpForward: true, forwardedIpRanges: [FWD_CIDR] });
    const rules = (await getGateway()).rules;
    const ruled = await ok(
      api.PATCH('/v1/projects/{project}/natGateways/{name}', {
        params: { path: gwPath },
        body: { rules: [...rules, { ruleNumber: 200, description: 'what vm-a2 forwards', match: `inIpRange(source.ip, '${FWD_CIDR}')`, action: { sourceNatActiveIps: ['nat-s'] } }] },
      }),
    );
    mappings = await converged('the source rule programmed', ruled.generation);
    routeBlocks(mappings);
    // only the forwarder has a mapping on the source rule
    for (const vm of VMS) {
      const r200 = (mappings.get(vm.name).ruleMappings as Json[]).find((r) => r.ruleNumber === 200);
      expect({ vm: vm.name, on200: r200 ? parseRange(mappingsRange(mappings.get(vm.name), 200)).natIp : null }).toEqual({ vm: vm.name, on200: vm.name === forwarder ? natS : null });
    }
    const st = await ok(api.GET('/v1/projects/{project}/natGateways/{name}/status', { params: { path: gwPath } }));
    expect(st.ruleStatus.find((r) => r.ruleNumber === 200)).toEqual(expect.objectContaining({ activeNatIps: [natS], minExtraIpsNeeded: 0 }));

    const m = mappings.get(forwarder);
    const ruleRange = mappingsRange(m, 200);
    // forwarded: TCP and UDP from 192.168.77.2 answered, seen by the server inside the rule's block
    expect(await probe(server!, dir, behind, SERVER, 's4c-fwd', 2)).toEqual({ tcpOk: 2, udpOk: 2 });
    const flows = [...server!.udp('s4c-fwd'), ...server!.tcp('s4c-fwd')];
    expect(flows).toHaveLength(4);
    expect(flows.filter((s) => !inRange(s, ruleRange))).toEqual([]);
    const via = ingress();
    expect(flows.map((s) => via.get(`${s.peer}:${s.port}`))).toEqual(flows.map(() => hostSpec(vmHost.get(forwarder)!).extDev));
    // the VM's own traffic keeps the default IPs, its rule-100 destination the rule's IP
    await expectTranslated(forwarder, SERVER, mappingsRange(m), 's4c-own');
    await expectTranslated(forwarder, RULE_DST, mappingsRange(m, 100), 's4c-own-rule', 1);
  });

  it('5. delete the gateway: the VMs traffic is no longer translated (it reaches the server with the VM address, no answer comes back)', async () => {
    const t0 = Date.now();
    await ok(api.DELETE('/v1/projects/{project}/natGateways/{name}', { params: { path: gwPath } }));
    await eventually(
      'both agents without the gateway',
      async () => {
        const gone = (await api.GET('/v1/projects/{project}/natGateways/{name}', { params: { path: gwPath } })).response.status === 404;
        if (!gone) return false;
        await hostsReady();
        for (const a of agents.values()) {
          const st = await a.status();
          const asHost = createNatplaneClient(stack!.api.baseUrl, hostTokens.get(a.host));
          // typed by the OpenAPI document, which must agree with libs/contracts
          const doc: HostDocument = await ok(asHost.GET('/v1/hosts/{host}/programming', { params: { path: { host: a.host } } }));
          if (doc.gateways.length !== 0 || st.endpoints !== 0 || st.appliedGeneration !== doc.generation) {
            throw new Error(`${a.host}: the API serves generation ${doc.generation} with ${doc.gateways.length} gateways, the agent applied ${st.appliedGeneration} with ${st.endpoints} endpoints`);
          }
        }
        return true;
      },
      30_000,
      100,
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs()}`);
    });
    timings.push(`gateway deleted on both agents: ${Date.now() - t0} ms`);
    // unanswered flows wait for the client's timeout: probe the four VMs at once
    const results = await Promise.all(VMS.map(async (vm) => ({ vm: vm.name, result: await probe(server!, dir, vmNs.get(vm.name)!, SERVER, `s5-${vm.name}`, 1) })));
    expect(results).toEqual(VMS.map((vm) => ({ vm: vm.name, result: { tcpOk: 0, udpOk: 0 } })));
    expect(VMS.map((vm) => ({ vm: vm.name, peers: server!.udp(`s5-${vm.name}`).map((s) => s.peer) }))).toEqual(VMS.map((vm) => ({ vm: vm.name, peers: [vm.ip] })));
  });
});
