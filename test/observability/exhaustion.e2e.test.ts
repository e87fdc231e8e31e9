/**
 * Port exhaustion seen end to end, with real packets (issue 17, first "done when" line): the built
 * api and worker, a real host agent (nftables backend, its nft and conntrack in the host's network
 * namespace), a VM that opens more UDP flows to one server than its 64-port block holds, and
 * Debian's Prometheus scraping the api, the worker and the agent with deploy/prometheus's rules.
 *
 *   [vm] 10.99.0.2 --veth-- vm-h 10.99.0.1 [host] up0 203.0.113.1/30 ---- wan 203.0.113.2 [ext] lo 203.0.113.100 (server)
 *   NAT IP 203.0.113.33 (pool 203.0.113.32/28): ext routes the pool back through the host.
 *
 * The drop must show on the endpoint through the host's report: in status and mappings, in the
 * api's /metrics, in the time series, in a NAT log line with allocation_status DROPPED, and as the
 * NatPortsExhausted alert firing in Prometheus; shrinking the traffic below the block clears it.
 * Run it under `flock /tmp/natplane-netns.lock` (namespaces and a root-namespace process).
 */
import { execFileSync, spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteNamespaces, kernelTestsUnavailable, makeNamespace } from '../../libs/nftables/src/testing/netns';
import type { Json } from '../support/control-loop/api-client';
import { ADMIN_TOKEN, ROOT, Stack, eventually, freePort } from '../support/control-loop/stack';
import { Reaper } from '../support/netns/reaper';
import { TrafficServer, writeTrafficScripts } from '../support/netns/traffic';
import { promtoolCheck, sample } from './support';

const PROMETHEUS = '/usr/bin/prometheus';
const unavailable = kernelTestsUnavailable(['nft', 'ip', 'conntrack']) ?? (existsSync(PROMETHEUS) ? null : `${PROMETHEUS} is missing (apt-get install prometheus)`);
const describeKernel = unavailable ? describe.skip : describe;
if (unavailable) console.warn(`exhaustion.e2e.test skipped: ${unavailable}`);

jest.setTimeout(120_000);

const P = 'obs';
const GW = `/v1/projects/${P}/natGateways/gw-1`;
const SERVER = '203.0.113.100';
const AGENT_MAIN = join(ROOT, 'dist/apps/host-agent/src/main.js');

/** UDP sockets to the server, each sending every 300 ms; a line on stdin sets how many. */
const FLOWS_JS = `
const d = require('dgram');
const [dst, n0] = process.argv.slice(2);
const socks = [];
function set(n) {
  while (socks.length < n) { const u = d.createSocket('udp4'); u.on('error', () => {}); u.on('message', () => {}); socks.push(u); }
  while (socks.length > n) socks.pop().close();
}
set(Number(n0));
setInterval(() => { for (const u of socks) u.send('x', 9090, dst, () => {}); }, 300);
process.stdin.on('data', (b) => set(Number(String(b).trim())));
`;

describeKernel('port exhaustion, end to end: host report, api, time series, NAT log, Prometheus alert', () => {
  let reaper: Reaper | undefined;
  let stack: Stack | undefined;
  let agent: ChildProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let flows: ChildProcessWithoutNullStreams | undefined;
  let server: TrafficServer | undefined;
  let dir = '';
  let host = '';
  let vmNs = '';
  let promUrl = '';
  let agentUrl = '';
  let natLog = '';

  const alert = async (name: string): Promise<string | undefined> => {
    const r = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as Json;
    return (r.data.alerts as Json[]).find((a) => a.labels.alertname === name)?.state as string | undefined;
  };

  beforeAll(async () => {
    reaper = Reaper.start();
    dir = mkdtempSync(join(tmpdir(), 'natplane-obs-e2e-'));
    writeTrafficScripts(dir);
    writeFileSync(join(dir, 'flows.js'), FLOWS_JS);
    const ns = (p: string) => reaper!.namespace(makeNamespace(p));
    host = ns('np-obs-host');
    const vm = ns('np-obs-vm');
    vmNs = vm;
    const ext = ns('np-obs-ext');
    const ip = (...a: string[]) => execFileSync('ip', a);
    ip('link', 'add', 'vm-h', 'netns', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm);
    ip('-n', host, 'addr', 'add', '10.99.0.1/24', 'dev', 'vm-h');
    ip('-n', host, 'link', 'set', 'vm-h', 'up');
    ip('-n', vm, 'addr', 'add', '10.99.0.2/24', 'dev', 'eth0');
    ip('-n', vm, 'link', 'set', 'eth0', 'up');
    ip('-n', vm, 'route', 'add', 'default', 'via', '10.99.0.1');
    ip('link', 'add', 'up0', 'netns', host, 'type', 'veth', 'peer', 'name', 'wan', 'netns', ext);
    ip('-n', host, 'addr', 'add', '203.0.113.1/30', 'dev', 'up0');
    ip('-n', host, 'link', 'set', 'up0', 'up');
    ip('-n', host, 'route', 'add', 'default', 'via', '203.0.113.2');
    ip('-n', ext, 'addr', 'add', '203.0.113.2/30', 'dev', 'wan');
    ip('-n', ext, 'link', 'set', 'wan', 'up');
    ip('-n', ext, 'addr', 'add', `${SERVER}/32`, 'dev', 'lo');
    ip('-n', ext, 'route', 'add', '203.0.113.32/28', 'via', '203.0.113.1');
    execFileSync('ip', ['netns', 'exec', host, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    server = await TrafficServer.start(ext, dir, [SERVER]);
    reaper.pid(server.proc.pid);

    stack = await Stack.start({ file: __filename, redisDb: 7, workers: 0, apiEnv: { NATPLANE_METRICS_PER_ENDPOINT: 'true' } });
    reaper.pid(stack.apiProc.pid);
    const workerPort = await freePort();
    reaper.pid(stack.addWorker({ WORKER_METRICS_LISTEN: `127.0.0.1:${workerPort}` }).pid);
    const api = stack.api;
    const agentPort = await freePort();
    agentUrl = `http://127.0.0.1:${agentPort}`;
    await api.must('POST', '/v1/admin/projects', 201, { name: P });
    await api.must('POST', '/v1/admin/addressPools', 201, { name: 'pool', region: 'r1', cidrs: ['203.0.113.32/28'] });
    const created = await api.must('POST', '/v1/admin/hosts', 201, { name: 'hv-1', region: 'r1', zone: 'r1-a', agentUrl });
    natLog = join(dir, 'nat-flows.log');
    // the agent runs in the root namespace (its HTTP on loopback) and programs the host's namespace
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NATPLANE_API_URL: api.baseUrl,
      NATPLANE_HOST: 'hv-1',
      NATPLANE_HOST_TOKEN: created.hostToken,
      NATPLANE_PUSH_SECRET: created.pushSecret,
      AGENT_LISTEN: `127.0.0.1:${agentPort}`,
      AGENT_BACKEND: 'nftables',
      AGENT_UPLINK: 'up0',
      AGENT_NETNS: host,
      AGENT_STATE_DIR: join(dir, 'agent'),
      AGENT_NAT_LOG: natLog,
      AGENT_REPORT_INTERVAL_MS: '1000',
    };
    delete env.NODE_OPTIONS;
    // started through a link in the test's directory (as AgentProc does): the agent runs main() only
    // as the main module, and a broad `pkill -f dist/apps/...` elsewhere must not take it down
    const main = join(dir, 'agent-hv-1.js');
    symlinkSync(AGENT_MAIN, main);
    const log = createWriteStream(join(dir, 'agent.log'));
    agent = spawn(process.execPath, [main], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout!.pipe(log);
    agent.stderr!.pipe(log);
    reaper.pid(agent.pid);
    await eventually('the agent up', async () => (await fetch(`${agentUrl}/healthz`).catch(() => undefined))?.status === 200, 20_000, 100);

    await api.must('POST', `/v1/projects/${P}/networks`, 201, { name: 'net' });
    await api.must('POST', `/v1/projects/${P}/subnets`, 201, { name: 'sub', network: 'net', region: 'r1', ipCidrRange: '10.99.0.0/24' });
    await api.must('POST', `/v1/projects/${P}/endpoints`, 201, { name: 'vm-1', subnet: 'sub', host: 'hv-1', networkIp: '10.99.0.2' });
    await api.must('POST', `/v1/projects/${P}/addresses`, 201, { name: 'nat-1', region: 'r1', address: '203.0.113.33' });
    const gw = await api.must('POST', `/v1/projects/${P}/natGateways`, 201, {
      name: 'gw-1',
      network: 'net',
      region: 'r1',
      natIpAllocateOption: 'MANUAL_ONLY',
      natIps: ['nat-1'],
      sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
      minPortsPerVm: 64,
      udpIdleTimeoutSec: 3,
      logConfig: { enable: true, filter: 'ALL' },
    });
    await eventually(
      'the gateway READY on the host',
      async () => {
        const g = await api.must('GET', GW, 200);
        if (g.status.state !== 'READY' || g.status.observedGeneration < gw.generation) throw new Error(JSON.stringify(g.status));
        return true;
      },
      30_000,
      200,
    );

    // Prometheus: the deploy rules as they are, everything scraped and evaluated every second
    const promDir = join(dir, 'prometheus');
    cpSync(join(ROOT, 'deploy/prometheus/rules'), join(promDir, 'rules'), { recursive: true });
    writeFileSync(join(promDir, 'token'), ADMIN_TOKEN);
    const target = (job: string, url: string) => `  - job_name: ${job}\n    scrape_interval: 1s\n    authorization: { credentials_file: ${join(promDir, 'token')} }\n    static_configs: [{ targets: ['${new URL(url).host}'] }]\n`;
    writeFileSync(
      join(promDir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }\nrule_files: ['rules/*.rules.yml']\nscrape_configs:\n${target('natplane-api', api.baseUrl)}${target('natplane-worker', `http://127.0.0.1:${workerPort}`)}${target('natplane-agent', agentUrl)}`,
    );
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = spawn(PROMETHEUS, [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    reaper.pid(prometheus?.pid);
    await eventually('prometheus ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200, 30_000, 200);
  }, 120_000);

  afterAll(async () => {
    flows?.kill('SIGKILL');
    prometheus?.kill('SIGKILL');
    server?.stop();
    agent?.kill('SIGKILL');
    await stack?.close();
    deleteNamespaces();
    reaper?.done();
    if (dir && !process.env.E2E_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  });

  it('a VM with 70 flows to one server from a 64-port block: the drop is counted on its endpoint everywhere, and the exhaustion alert fires', async () => {
    flows = spawn('ip', ['netns', 'exec', vmNs, process.execPath, join(dir, 'flows.js'), SERVER, '70']);
    reaper!.pid(flows.pid);
    const api = stack!.api;
    const mapping = await eventually(
      'drops of vm-1 in its mapping',
      async () => {
        const m = (await api.listAll(`${GW}/mappings`)).find((x) => x.endpoint === 'vm-1');
        if (!((m?.traffic.droppedSentPackets.OUT_OF_RESOURCES ?? 0) > 0) || m.traffic.portsInUse < 64) throw new Error(JSON.stringify(m?.traffic));
        return m;
      },
      30_000,
      500,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${readFileSync(join(dir, 'agent.log'), 'utf8').split('\n').slice(-30).join('\n')}`);
    });
    expect(mapping.traffic).toEqual(expect.objectContaining({ allocatedPorts: 64, portsInUse: 64, openConnections: expect.any(Number) }));
    expect(mapping.traffic.newConnections).toBeGreaterThanOrEqual(64);
    expect(mapping.traffic.sentPackets).toBeGreaterThan(0);
    expect(mapping.traffic.droppedSentPackets).toEqual(expect.objectContaining({ ENDPOINT_INDEPENDENCE_CONFLICT: 0, UNTRANSLATABLE_FRAGMENT: null }));

    const status = await api.must('GET', `${GW}/status`, 200);
    expect(status.traffic.droppedSentPackets.OUT_OF_RESOURCES).toBeGreaterThan(0);

    const metrics = await eventually(
      "the drop on the api's /metrics",
      async () => {
        const t = (await api.get('/metrics')).text;
        if (!((sample(t, 'natplane_endpoint_nat_dropped_sent_packets_total', { project: P, gateway: 'gw-1', endpoint: 'vm-1', reason: 'OUT_OF_RESOURCES' }) ?? 0) > 0)) throw new Error('not yet');
        return t;
      },
      20_000,
      500,
    );
    expect(sample(metrics, 'natplane_nat_dropped_sent_packets_total', { project: P, gateway: 'gw-1', reason: 'OUT_OF_RESOURCES' })).toBeGreaterThan(0);
    expect(sample(metrics, 'natplane_nat_endpoints_out_of_ports', { project: P, gateway: 'gw-1' })).toBe(1);

    const series = await api.must('GET', `${GW}/timeSeries?endpoint=vm-1`, 200);
    expect(series.points.reduce((n: number, p: Json) => n + (p.droppedSentPackets.OUT_OF_RESOURCES ?? 0), 0)).toBeGreaterThan(0);
    const gwSeries = await api.must('GET', `${GW}/timeSeries`, 200);
    expect(gwSeries.points.some((p: Json) => (p.droppedSentPackets.OUT_OF_RESOURCES ?? 0) > 0)).toBe(true);

    const lines = () => (existsSync(natLog) ? readFileSync(natLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
    const dropped = await eventually('a DROPPED NAT log line', async () => lines().find((l) => l.allocation_status === 'DROPPED') ?? false, 20_000, 500);
    expect(dropped).toEqual(
      expect.objectContaining({
        allocation_status: 'DROPPED',
        reason: 'OUT_OF_RESOURCES',
        connection: expect.objectContaining({ src_ip: '10.99.0.2', dest_ip: SERVER, dest_port: 9090, protocol: 17 }),
        endpoint: expect.objectContaining({ project_id: P, vm_name: 'vm-1', host: 'hv-1' }),
        gateway_identifiers: expect.objectContaining({ project_id: P, gateway_name: 'gw-1' }),
      }),
    );
    const translated = lines().find((l) => l.allocation_status === 'OK');
    expect(translated.connection).toEqual(expect.objectContaining({ src_ip: '10.99.0.2', nat_ip: '203.0.113.33', dest_port: 9090, protocol: 17 }));
    expect(translated.connection.nat_port).toBeGreaterThanOrEqual(1024);

    expect(promtoolCheck(await (await fetch(`${agentUrl}/metrics`)).text())).toBe('');
    await eventually('NatPortsExhausted firing in Prometheus', async () => (await alert('NatPortsExhausted')) === 'firing', 30_000, 500);
  });

  it('shrinking the traffic below the block clears the exhaustion (and the alert)', async () => {
    flows!.stdin.write('32\n');
    await eventually(
      'vm-1 back under its block, no new drop',
      async () => {
        const t = (await stack!.api.get('/metrics')).text;
        if (sample(t, 'natplane_nat_endpoints_out_of_ports', { project: P, gateway: 'gw-1' }) !== 0) throw new Error(`out of ports: ${sample(t, 'natplane_nat_endpoints_out_of_ports', { project: P, gateway: 'gw-1' })}`);
        return true;
      },
      70_000,
      1000,
    );
    await eventually('NatPortsExhausted no longer firing', async () => (await alert('NatPortsExhausted')) === undefined, 20_000, 500);
    const m = (await stack!.api.listAll(`${GW}/mappings`)).find((x) => x.endpoint === 'vm-1');
    expect(m.traffic.openConnections).toBeLessThanOrEqual(40);
  });
});
