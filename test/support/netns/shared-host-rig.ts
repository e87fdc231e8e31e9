/**
 * One host shared by VMs that all have the address 10.0.0.2, with real packets: the built api and
 * worker (a Stack), an api replica on a control network the agent reaches, a real agent (nftables
 * or eBPF) in a host namespace, and a server namespace ("ext") behind the host's uplink:
 *
 *   [vm] 10.0.0.2 --<device>--+
 *   [vm] 10.0.0.2 --<device>--+-- [host] up0 203.0.113.1/30 ---- [ext] 203.0.113.2, the server's addresses
 *
 * Each host-side device carries the VMs' gateway 10.0.0.1/24 (so the host's main table can route
 * 10.0.0.2 to one of them only) and the host runs strict reverse-path filtering: only the agent's
 * programming lets both directions work. ext routes `extRoutes` (the NAT addresses) back to the
 * host and nothing else. What natplane is told (projects, networks, gateways, endpoints) is the
 * test's `provision`. Used by the shared-host and Private NAT end-to-end tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNatplaneClient, listAll, ok, type NatplaneClient } from '@natplane/sdk';
import { deleteNamespaces, makeNamespace } from '../../../libs/nftables/src/testing/netns';
import type { Json } from '../control-loop/api-client';
import { ADMIN_TOKEN, ChildProc, FatalError, ROOT, Stack, eventually, freePort } from '../control-loop/stack';
import { byEndpoint, parseRange } from '../control-loop/world';
import { AgentProc } from './agent-proc';
import { Reaper } from './reaper';
import { TrafficServer, pairAtOnce, writeTrafficScripts, type Seen } from './traffic';

const API_MAIN = join(ROOT, 'dist/apps/api/src/main.js');

export interface RigVm {
  vm: string;
  project: string;
  network: string;
  gateway: string;
  /** Its device on the host (the endpoint's hostInterface). */
  device: string;
}

export interface RigOptions<V extends RigVm> {
  file: string;
  backend: 'nftables' | 'ebpf';
  /** Two letters naming the test's namespaces and links. */
  tag: string;
  /** The control network's /24 prefix (a.b.c): one per test file. */
  ctlPrefix: string;
  /** The host's name in natplane. */
  host: string;
  redisDb: number;
  vms: V[];
  /** The server's addresses in ext. */
  serverIps: string[];
  /** What ext routes back to the host. */
  extRoutes: string[];
  /** The VM's one active range, from its item of GET mappings (undefined: not there yet). */
  rangeIn(m: Json, v: V): string | undefined;
  /** Everything natplane is told, once the agent is up. */
  provision(api: NatplaneClient): Promise<void>;
}

export class SharedHostRig<V extends RigVm> {
  private readonly suffix = randomBytes(3).toString('hex');
  private readonly rootLinks: string[];
  private reaper: Reaper | undefined;
  private ctlApi: ChildProc | undefined;
  dir = '';
  ext = '';
  hostNs = '';
  readonly vmNs = new Map<string, string>();
  stack: Stack | undefined;
  agent: AgentProc | undefined;
  server: TrafficServer | undefined;
  api!: NatplaneClient;

  constructor(private readonly o: RigOptions<V>) {
    this.rootLinks = [`np${o.tag}-${this.suffix}`, `np${o.tag}-h-${this.suffix}`];
  }

  vm(name: string): V {
    return this.o.vms.find((v) => v.vm === name)!;
  }

  logs(): string {
    return [this.agent ? `===== agent (${this.agent.logFile})\n${this.agent.tail(30)}` : '', this.stack ? this.stack.logs(20) : ''].join('\n');
  }

  gateway(v: V) {
    return ok(this.api.GET('/v1/projects/{project}/natGateways/{name}', { params: { path: { project: v.project, name: v.gateway } } }));
  }

  /** The VM's gateway READY at its generation with its host programmed; the VM's range. */
  async rangeOf(v: V): Promise<string> {
    return eventually(
      `${v.project}/${v.gateway} READY with a mapping for ${v.vm}`,
      async () => {
        const g = await this.gateway(v);
        const s = g.status;
        if (s.state !== 'READY' || s.observedGeneration !== g.generation || s.hostsProgrammed !== s.hostsTotal || s.hostsTotal !== 1) {
          throw new Error(`${v.project}/${v.gateway} is ${s.state}, observed ${s.observedGeneration}/${g.generation}, hosts ${s.hostsProgrammed}/${s.hostsTotal}: ${s.message}`);
        }
        const items = byEndpoint(
          await listAll((pageToken) => this.api.GET('/v1/projects/{project}/natGateways/{name}/mappings', { params: { path: { project: v.project, name: v.gateway }, query: { pageToken } } })),
        );
        const m: Json = items.get(v.vm);
        const range = this.o.rangeIn(m, v);
        if (range === undefined) throw new Error(`no single active range for ${v.vm}: ${JSON.stringify(m)}`);
        return range;
      },
      30_000,
      100,
    ).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${this.logs()}`);
    });
  }

  static inRange(s: Seen, range: string): boolean {
    const b = parseRange(range);
    return s.peer === b.natIp && (s.port as number) >= b.portLo && (s.port as number) <= b.portHi;
  }

  /**
   * Two VMs send identical UDP and TCP tuples to `target` at once: each gets its own replies, and
   * the server saw each only from its range. Returns the two ranges.
   */
  async identicalTuplesAtOnce(a: V, b: V, round: string, target: string): Promise<Map<string, string>> {
    const ranges = new Map([
      [a.vm, await this.rangeOf(a)],
      [b.vm, await this.rangeOf(b)],
    ]);
    const tags = [a, b].map((v) => `${round}-${v.vm}`);
    const answers = await pairAtOnce(
      this.dir,
      [a, b].map((v, i) => ({ ns: this.vmNs.get(v.vm)!, tag: tags[i] })),
      target,
    );
    // every reply reached the VM that sent the request
    expect(answers).toEqual(tags.map((t) => ({ udp: `ok ${t}-u`, tcp: `${t}-t` })));
    const server = this.server!;
    for (const [i, v] of [a, b].entries()) {
      const mine = () => server.seen.filter((s) => s.tag === `${tags[i]}-u` || s.tag === `${tags[i]}-t`);
      await eventually(`the server's log of ${tags[i]}`, async () => mine().length === 2, 5_000, 20);
      expect({ vm: v.vm, outside: mine().filter((s) => !SharedHostRig.inRange(s, ranges.get(v.vm)!)) }).toEqual({ vm: v.vm, outside: [] });
    }
    return ranges;
  }

  async start(): Promise<void> {
    const { tag, ctlPrefix, backend, host: hostName } = this.o;
    const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
    const inNs = (ns: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
    const reaper = (this.reaper = Reaper.start());
    const ns = (prefix: string) => reaper.namespace(makeNamespace(prefix));
    this.rootLinks.forEach((l) => reaper.link(l));
    this.dir = mkdtempSync(join(tmpdir(), `natplane-${tag}-`));
    writeTrafficScripts(this.dir);
    const taken = ip('-4', '-o', 'addr', 'show').split('\n').find((l) => l.includes(` ${ctlPrefix}.`));
    if (taken) throw new Error(`the root namespace already uses ${ctlPrefix}.0/24 (${taken.trim()}): the test's control network needs it`);

    const ext = (this.ext = ns(`np-${tag}-ext`));
    const hostNs = (this.hostNs = ns(`np-${tag}-host`));
    for (const a of this.o.serverIps) ip('-n', ext, 'addr', 'add', `${a}/32`, 'dev', 'lo');
    ip('link', 'add', 'up0', 'netns', hostNs, 'type', 'veth', 'peer', 'name', 'wan', 'netns', ext);
    ip('-n', hostNs, 'addr', 'add', '203.0.113.1/30', 'dev', 'up0');
    ip('-n', hostNs, 'link', 'set', 'up0', 'up');
    ip('-n', hostNs, 'route', 'add', 'default', 'via', '203.0.113.2');
    ip('-n', ext, 'addr', 'add', '203.0.113.2/30', 'dev', 'wan');
    ip('-n', ext, 'link', 'set', 'wan', 'up');
    for (const r of this.o.extRoutes) ip('-n', ext, 'route', 'add', r, 'via', '203.0.113.1');
    // strict reverse-path filtering on the host: the VMs' devices share 10.0.0.0/24
    for (const k of ['all', 'default']) inNs(hostNs, 'sysctl', '-qw', `net.ipv4.conf.${k}.rp_filter=1`);
    inNs(hostNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    for (const v of this.o.vms) {
      const vns = ns(`np-${tag}-${v.vm}`);
      this.vmNs.set(v.vm, vns);
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
    const [bridge, hostLink] = this.rootLinks;
    const ctlApiIp = `${ctlPrefix}.1`;
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${ctlApiIp}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'ctl0', 'netns', hostNs);
    ip('link', 'set', hostLink, 'master', bridge, 'up');
    ip('-n', hostNs, 'addr', 'add', `${ctlPrefix}.2/24`, 'dev', 'ctl0');
    ip('-n', hostNs, 'link', 'set', 'ctl0', 'up');

    this.server = await TrafficServer.start(ext, this.dir, this.o.serverIps);
    reaper.pid(this.server.proc.pid);

    const stack = (this.stack = await Stack.start({ file: this.o.file, redisDb: this.o.redisDb }));
    this.api = createNatplaneClient(stack.api.baseUrl, ADMIN_TOKEN);
    [stack.apiProc, ...stack.workers].forEach((c) => reaper.pid(c.pid));
    const apiPort = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: stack.databaseUrl,
      REDIS_URL: stack.redisUrl,
      PORT: String(apiPort),
      HOST: ctlApiIp,
      NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'log,error,warn',
    };
    delete env.PUBLIC_URL;
    delete env.NODE_OPTIONS;
    const ctlApi = (this.ctlApi = new ChildProc('api (control network)', API_MAIN, env, join(this.dir, 'api-ctl.log')));
    ctlApi.start();
    reaper.pid(ctlApi.pid);
    const apiUrl = `http://${ctlApiIp}:${apiPort}`;
    await eventually(
      'the api replica on the control network',
      async () => {
        if (!ctlApi.running) throw new FatalError(`it exited:\n${ctlApi.tail()}`);
        return (await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200;
      },
      30_000,
      100,
    );

    const agentUrl = `http://${ctlPrefix}.2:8081`;
    const host = await ok(this.api.POST('/v1/admin/hosts', { body: { name: hostName, region: 'r1', zone: 'r1-a', agentUrl } }));
    const agentEnv: NodeJS.ProcessEnv = {
      ...process.env,
      NATPLANE_API_URL: apiUrl,
      NATPLANE_HOST: hostName,
      NATPLANE_HOST_TOKEN: host.hostToken,
      NATPLANE_PUSH_SECRET: host.pushSecret,
      AGENT_LISTEN: `${ctlPrefix}.2:8081`,
      AGENT_BACKEND: backend,
      AGENT_EBPF_PIN_DIR: `/sys/fs/bpf/natplane-e2e-${this.suffix}-${hostName}`,
      AGENT_UPLINK: 'up0',
      AGENT_STATE_DIR: join(this.dir, 'state'),
      AGENT_REPORT_INTERVAL_MS: '1000',
    };
    delete agentEnv.NODE_OPTIONS;
    delete agentEnv.AGENT_NETNS;
    const agent = (this.agent = new AgentProc(hostName, hostNs, agentUrl, agentEnv, this.dir));
    agent.start();
    reaper.pid(agent.pid);
    await eventually(
      'the agent up',
      async () => {
        if (!agent.running) throw new FatalError(`it exited:\n${agent.tail()}`);
        return (await agent.status()).backend === backend;
      },
      20_000,
      100,
    );
    await this.o.provision(this.api);
  }

  async stop(): Promise<void> {
    this.server?.stop();
    await this.agent?.stop();
    await this.ctlApi?.close();
    await this.stack?.close();
    deleteNamespaces();
    for (const l of this.rootLinks) spawnSync('ip', ['link', 'del', l], { stdio: 'ignore' });
    spawnSync('sh', ['-c', `rm -rf /sys/fs/bpf/natplane-e2e-${this.suffix}-*`], { stdio: 'ignore' });
    this.reaper?.done();
    if (this.dir && !process.env.E2E_KEEP_LOGS) rmSync(this.dir, { recursive: true, force: true });
  }
}
