/**
 * The two data planes side by side, in one run on the same scratch namespaces (the machine's own
 * network is never touched). Needs root, nft, and the eBPF build (dist/ebpf) for its rows.
 *
 *   [gen] 10.77.0.2 --veth-- 10.77.0.1 [host] up0 192.0.2.1 --veth-- 192.0.2.2 [sink]
 *
 *   1. Packets/s forwarded by host, 64-byte UDP frames over 32 flows from gen to sink, counted at
 *      sink's device: with no NAT, with the nftables table, with the eBPF programs (one endpoint
 *      covering gen, a 1,024-port block), each as a ratio to no NAT. Target: eBPF >= 1.0 x nftables.
 *   2. One endpoint's block changed in an ENDPOINTS-endpoint table, signed PATCH over HTTP on
 *      loopback, push sent -> applied (the agent answers after its data plane took the change),
 *      per backend. Target: eBPF <= 1 ms median.
 *   3. ENDPOINTS endpoints programmed from empty (document validated in memory -> applied), per
 *      backend. Target <= 1 s.
 *
 * Beside each latency, the CPU it cost: `agentCpuMs` the bench process's own (the agent, and the
 * HTTP client of the pushes, which runs in it: process.cpuUsage), `dataplaneCpuMs` its child
 * processes' (the eBPF loader, nft; /proc/<pid>/stat of the live ones, /proc/self/stat's
 * cutime+cstime for those already reaped), per operation for the patches.
 *
 * BENCH_DATAPLANE_ENDPOINTS (default 50,000), BENCH_DATAPLANE_SECONDS (default 5 per rate sample,
 * 3 samples), BENCH_DATAPLANE_PATCHES (default 300) shrink it for a smoke run.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RULE, HostDocument, HostDocumentPatch, HostEndpoint, HostGateway } from '@natplane/contracts';
import { InterfaceIds, validateHostDocument } from '@natplane/nftables';
import { Agent } from '../apps/host-agent/src/agent';
import { ApiClient } from '../apps/host-agent/src/api-client';
import { Backend, NftablesBackend } from '../apps/host-agent/src/backend';
import { EbpfBackend } from '../apps/host-agent/src/ebpf/backend';
import { ebpfProblem } from '../apps/host-agent/src/ebpf/loader-client';
import { jsonLogger } from '../apps/host-agent/src/log';
import { createAgentServer } from '../apps/host-agent/src/server';
import { Benchmark, BenchRow, median, percentile } from './harness';
import { cannotRun, signedPush } from './support/agent-push';
import { num } from './support/knobs';

const ENDPOINTS = num('BENCH_DATAPLANE_ENDPOINTS', 50_000);
const SECONDS = num('BENCH_DATAPLANE_SECONDS', 5);
const PATCHES = num('BENCH_DATAPLANE_PATCHES', 300);
const SAMPLES = 3;
const FLOWS = 32;
/** 18 bytes of UDP payload: a 64-byte Ethernet frame with its FCS. */
const PAYLOAD = 18;
const HOST = 'bench-host';
const SECRET = 'bench-secret';
const UPLINK = 'up0';
const GEN_IP = '10.77.0.2';
const SINK_IP = '192.0.2.2';
const NAT_IP = '192.0.2.10';

const noApi: ApiClient = {
  fetchProgramming: () => Promise.reject(new Error('no API in the benchmark')),
  postReport: () => Promise.resolve({}),
};

const ip4 = (n: number) => `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** utime, stime, cutime, cstime of a /proc/<pid>/stat, in clock ticks, and the parent's pid. */
function procTimes(pid: number | 'self'): { ppid: number; own: number; children: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command (which may hold spaces), from field 3 (state) on
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
  } catch {
    return null; // gone between the listing and the read
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * CPU used so far (ms): by this process (agent and bench), and by its child processes, live
 * (the eBPF loader, nft) or reaped.
 */
function cpuNow(): { agent: number; dataplane: number } {
  const u = process.cpuUsage();
  let ticks = procTimes('self')?.children ?? 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const t = procTimes(Number(d));
    if (t && t.ppid === process.pid) ticks += t.own + t.children;
  }
  return { agent: (u.user + u.system) / 1000, dataplane: (ticks * 1000) / CLK_TCK };
}

function cpuSince(start: { agent: number; dataplane: number }, per = 1): { agentCpuMs: number; dataplaneCpuMs: number } {
  const now = cpuNow();
  return { agentCpuMs: (now.agent - start.agent) / per, dataplaneCpuMs: (now.dataplane - start.dataplane) / per };
}

function sh(args: string[], input?: string): string {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Endpoint i: source 10.64.0.0 + i, a 64-port block (shifted by `shift` blocks) on one of many NAT IPs. */
function endpoint(i: number, shift = 0): HostEndpoint {
  const slot = ((i % 1008) + shift) % 1008;
  const lo = 1024 + 64 * slot;
  return {
    id: `ep-${i}`,
    name: `projects/bench/endpoints/vm-${i}`,
    networkIp: ip4(0x0a400000 + i),
    aliasRanges: [],
    natPrimary: true,
    mappings: [{ ruleNumber: DEFAULT_RULE, active: { natIp: ip4(0xc6336400 + Math.floor(i / 1008)), portLo: lo, portHi: lo + 63 }, drain: [] }],
  };
}

const GATEWAY = (endpoints: HostEndpoint[], g = 0): HostGateway => ({
  id: `0bench00-0000-4000-8000-00000000000${g}`,
  name: `projects/bench/natGateways/nat-${g}`,
  mapping: 'ENDPOINT_DEPENDENT',
  timeouts: { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 30, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 30, tcpTimeWaitTimeoutSec: 30 },
  logging: { enable: false, filter: 'ALL' },
  rules: [],
  endpoints,
});

function bigDocument(generation: number): HostDocument {
  const gateways: HostGateway[] = [];
  const per = Math.ceil(ENDPOINTS / 5);
  for (let g = 0; g < 5; g++) {
    const endpoints: HostEndpoint[] = [];
    for (let i = g * per; i < Math.min(ENDPOINTS, (g + 1) * per); i++) endpoints.push(endpoint(i));
    gateways.push(GATEWAY(endpoints, g));
  }
  return { apiVersion: 'natplane.host/v1', host: HOST, generation, gateways };
}

/** The packet-rate document: gen's address in one 1,024-port block. */
function genDocument(): HostDocument {
  const e: HostEndpoint = {
    id: 'gen',
    name: 'projects/bench/endpoints/gen',
    networkIp: GEN_IP,
    aliasRanges: [],
    natPrimary: true,
    mappings: [{ ruleNumber: DEFAULT_RULE, active: { natIp: NAT_IP, portLo: 1024, portHi: 2047 }, drain: [] }],
  };
  return { apiVersion: 'natplane.host/v1', host: HOST, generation: 1, gateways: [GATEWAY([e])] };
}

const bench: Benchmark = {
  name: 'dataplane',
  async run(): Promise<BenchRow[]> {
    const why = cannotRun('network namespaces', [
      ['nft', 'nft is not installed'],
      ['clang', 'clang is not installed (it builds the packet source)'],
    ]);
    if (why) return [{ benchmark: 'dataplane', metric: 'packets/s, push -> applied, programming', value: NaN, unit: '', details: { skipped: why } }];
    const noEbpf = ebpfProblem();
    const suffix = randomBytes(3).toString('hex');
    const [gen, host, sink] = ['gen', 'host', 'sink'].map((n) => `np-dp-${n}-${suffix}`);
    const dir = mkdtempSync(join(tmpdir(), 'natplane-dataplane-'));
    const pinRoot = `/sys/fs/bpf/natplane-bench-${suffix}`;
    const log = jsonLogger({ service: 'bench' }, 'warn');
    const toClose: Backend[] = [];
    const servers: Server[] = [];
    const rows: BenchRow[] = [];
    try {
      const flood = join(dir, 'udp-flood');
      sh(['clang', '-O2', '-o', flood, join(__dirname, '..', '..', 'bench', 'support', 'udp-flood.c')]);
      for (const ns of [gen, host, sink]) {
        sh(['ip', 'netns', 'add', ns]);
        sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      }
      sh(['ip', 'link', 'add', 'vm0', 'netns', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', gen]);
      sh(['ip', 'link', 'add', UPLINK, 'netns', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', sink]);
      sh(['ip', '-n', gen, 'addr', 'add', `${GEN_IP}/24`, 'dev', 'eth0']);
      sh(['ip', '-n', host, 'addr', 'add', '10.77.0.1/24', 'dev', 'vm0']);
      sh(['ip', '-n', host, 'addr', 'add', '192.0.2.1/24', 'dev', UPLINK]);
      sh(['ip', '-n', sink, 'addr', 'add', `${SINK_IP}/24`, 'dev', 'eth0']);
      for (const [ns, dev] of [[gen, 'eth0'], [host, 'vm0'], [host, UPLINK], [sink, 'eth0']]) sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
      sh(['ip', '-n', gen, 'route', 'add', 'default', 'via', '10.77.0.1']);
      sh(['ip', 'netns', 'exec', host, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      // sink forwards nothing and has no socket on the port: it counts and drops
      sh(['ip', 'netns', 'exec', sink, 'nft', '-f', '-'], 'table ip sink {\n chain sinkin {\n  type filter hook input priority 0; policy drop;\n }\n}\n');

      const rxPackets = () => Number(sh(['ip', 'netns', 'exec', sink, 'cat', '/sys/class/net/eth0/statistics/rx_packets']).trim());
      const rate = (): { pps: number; sent: number } => {
        const samples: number[] = [];
        let sent = 0;
        for (let s = 0; s < SAMPLES; s++) {
          const before = rxPackets();
          const t0 = nowMs();
          sent += Number(sh(['ip', 'netns', 'exec', gen, flood, SINK_IP, '9', String(FLOWS), String(SECONDS), String(PAYLOAD)]).trim());
          const t = (nowMs() - t0) / 1000;
          samples.push((rxPackets() - before) / t);
        }
        return { pps: median(samples), sent };
      };

      // 1. packets/s: no NAT, nftables, eBPF
      const rates: Record<string, number> = {};
      rates.none = rate().pps;
      const small = genDocument();
      const nft = new NftablesBackend(host, log);
      toClose.push(nft);
      await nft.load({ doc: small, uplink: UPLINK, interfaces: new InterfaceIds() });
      rates.nftables = rate().pps;
      sh(['ip', 'netns', 'exec', host, 'nft', 'flush', 'ruleset']);
      if (!noEbpf) {
        const ebpf = new EbpfBackend(host, `${pinRoot}-pps`, UPLINK, log);
        toClose.push(ebpf);
        await ebpf.load({ doc: small, uplink: UPLINK, interfaces: new InterfaceIds() });
        rates.ebpf = rate().pps;
        const counters = await ebpf.counters();
        rates.ebpfCounted = counters.endpoints.find((c) => c.endpoint === 'gen')?.sentPackets ?? 0;
        await ebpf.close();
        rmSync(`${pinRoot}-pps`, { recursive: true, force: true }); // the links go with their pins
      }
      for (const kind of ['none', 'nftables', 'ebpf'] as const) {
        if (rates[kind] === undefined) continue;
        rows.push({
          benchmark: 'dataplane',
          metric: `packets/s forwarded, 64-byte UDP, ${FLOWS} flows, ${kind === 'none' ? 'no NAT' : kind}`,
          value: rates[kind],
          unit: 'packets/s',
          ...(kind === 'ebpf' ? { target: '>= 1.0 x nftables', pass: rates.ebpf >= rates.nftables } : {}),
          details: { ratioToNoNat: rates[kind] / rates.none, ...(kind === 'ebpf' ? { ratioToNftables: rates.ebpf / rates.nftables, packetsCountedByEbpf: rates.ebpfCounted } : {}), seconds: SECONDS, samples: SAMPLES },
        });
      }

      // 2 and 3, per backend: programming from empty, then one endpoint's block changed
      const validated = validateHostDocument(JSON.parse(JSON.stringify(bigDocument(1))));
      if (!validated.ok) throw new Error('bench document is invalid');
      for (const kind of ['nftables', 'ebpf'] as const) {
        if (kind === 'ebpf' && noEbpf) {
          rows.push({ benchmark: 'dataplane', metric: 'eBPF rows', value: NaN, unit: '', details: { skipped: noEbpf } });
          continue;
        }
        sh(['ip', 'netns', 'exec', host, 'nft', 'flush', 'ruleset']);
        const backend: Backend = kind === 'nftables' ? new NftablesBackend(host, log) : new EbpfBackend(host, `${pinRoot}-prog`, UPLINK, log);
        toClose.push(backend);
        if (backend instanceof EbpfBackend) await backend.start();
        const agent = new Agent({ host: HOST, pushSecret: SECRET, uplink: UPLINK, backend, api: noApi, log, pullIntervalMs: 1e9, reportIntervalMs: 1e9 });
        const c0 = cpuNow();
        const t0 = nowMs();
        const outcome = await agent.applyDocument(validated.value, 'push');
        const fullMs = nowMs() - t0;
        const fullCpu = cpuSince(c0);
        if (outcome.status !== 200) throw new Error(`${kind}: full load failed: ${JSON.stringify(outcome.body)}`);
        rows.push({
          benchmark: 'dataplane',
          metric: `${ENDPOINTS} endpoints programmed from empty, ${kind} (document -> applied)`,
          value: fullMs,
          unit: 'ms',
          target: '<= 1000 ms',
          pass: fullMs <= 1000,
          details: fullCpu,
        });
        const server = createAgentServer(agent, log, { hostToken: '' });
        servers.push(server);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const gatewayOf = (i: number) => validated.value.gateways[Math.floor(i / Math.ceil(ENDPOINTS / 5))].id;
        let generation = 1;
        const times: number[] = [];
        let patchCpu = cpuNow();
        for (let run = 0; run < PATCHES + 20; run++) {
          if (run === 20) patchCpu = cpuNow();
          const i = (run * 7919) % ENDPOINTS;
          const patch: HostDocumentPatch = { apiVersion: 'natplane.host/v1', host: HOST, baseGeneration: generation, generation: generation + 1, putEndpoints: [{ gatewayId: gatewayOf(i), endpoint: endpoint(i, 1 + (run % 2)) }] };
          const body = JSON.stringify(patch);
          const t1 = nowMs();
          const status = await signedPush(url, SECRET, 'PATCH', body);
          const ms = nowMs() - t1;
          if (status !== 200) throw new Error(`${kind}: patch ${run} answered ${status}`);
          generation++;
          if (run >= 20) times.push(ms);
        }
        rows.push({
          benchmark: 'dataplane',
          metric: `1 endpoint's block changed in a ${ENDPOINTS}-endpoint table, ${kind} (signed PATCH, push -> applied)`,
          value: median(times),
          unit: 'ms',
          ...(kind === 'ebpf' ? { target: '<= 1 ms', pass: median(times) <= 1 } : {}),
          details: { runs: times.length, p90: percentile(times, 90), p99: percentile(times, 99), ...cpuSince(patchCpu, times.length) },
        });
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await agent.stop();
      }
      return rows;
    } finally {
      for (const s of servers) s.close();
      for (const b of toClose) await b.close().catch(() => undefined);
      for (const ns of [gen, host, sink]) spawnSync('ip', ['netns', 'del', ns]);
      spawnSync('sh', ['-c', `rm -rf ${pinRoot}-*`]);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
