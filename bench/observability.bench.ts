/**
 * observability: what counters cost (docs/observability.md).
 *
 * 1. The agent's CPU per 1,000 reports, counters on and off: the built agent (nftables backend)
 *    in a scratch network namespace programs a document of OBS_BENCH_ENDPOINTS endpoints and
 *    reports as fast as it can to a fake api; its CPU (its own, and with the nft and conntrack
 *    processes it runs) over OBS_BENCH_REPORTS reports, scaled to 1,000. Needs root, nft and
 *    conntrack (skipped otherwise); run it under `flock /tmp/natplane-netns.lock`.
 * 2. The api's GET gateway throughput with NATPLANE_METRICS_PER_ENDPOINT off and on, while
 *    /metrics is scraped every second (as a Prometheus would, faster), on a gateway of
 *    API_BENCH_ENDPOINTS endpoints that all have counters; and the /metrics scrape time and size.
 *
 * Knobs: OBS_BENCH_ENDPOINTS (500), OBS_BENCH_REPORTS (100), API_BENCH_ENDPOINTS (1000),
 * API_BENCH_DURATION (s, 10), API_BENCH_CONNECTIONS (32).
 */
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { signPush, SIGNATURE_HEADER, TIMESTAMP_HEADER, type HostDocument } from '@natplane/contracts';
import { median, type Benchmark, type BenchRow } from './harness';
import { call, dropDatabase, flushRedis, freePort, freshDatabase, parallel, startApi, DIST } from './support/api-process';
import { num } from './support/knobs';
import { startWorker } from './support/worker-process';

const AGENT_ENDPOINTS = num('OBS_BENCH_ENDPOINTS', 500);
const REPORTS = num('OBS_BENCH_REPORTS', 100);
const API_ENDPOINTS = num('API_BENCH_ENDPOINTS', 1000);
const DURATION = num('API_BENCH_DURATION', 10);
const CONNECTIONS = num('API_BENCH_CONNECTIONS', 32);
const DB = 'natplane_bench_obs';
const REDIS_URL = process.env.OBS_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/4';
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
const SECRET = 'bench-push-secret';

/** utime + stime (own) and cutime + cstime (reaped children) of a process, in ms. */
function cpu(pid: number): { own: number; children: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { own: (Number(f[11]) + Number(f[12])) * 10, children: (Number(f[13]) + Number(f[14])) * 10 };
}

function document(endpoints: number): HostDocument {
  return {
    apiVersion: 'natplane.host/v1',
    host: 'bench-host',
    generation: 1,
    gateways: [
      {
        id: '7f3c2a10-0000-4000-8000-000000000001',
        name: 'projects/bench/natGateways/gw-1',
        mapping: 'ENDPOINT_DEPENDENT',
        timeouts: { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 30, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 30, tcpTimeWaitTimeoutSec: 30 },
        logging: { enable: false, filter: 'ALL' },
        rules: [],
        endpoints: Array.from({ length: endpoints }, (_, i) => ({
          id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          name: `projects/bench/endpoints/vm-${i}`,
          networkIp: `10.${((i + 1) >> 16) & 255}.${((i + 1) >> 8) & 255}.${(i + 1) & 255}`,
          natPrimary: true,
          aliasRanges: [],
          mappings: [{ ruleNumber: -1, drain: [], active: { natIp: `203.0.${113 + (i >> 10)}.${(i >> 6) & 15}`, portLo: 1024 + (i % 64) * 64, portHi: 1024 + (i % 64) * 64 + 63 } }],
        })),
      },
    ],
  };
}

/** The agent with counters on or off, reporting as fast as it can; CPU per 1,000 reports. */
async function agentRun(counters: 'on' | 'off'): Promise<{ own: number; total: number; msPerReport: number }> {
  const ns = `np-obsbench-${randomBytes(3).toString('hex')}`;
  spawnSync('ip', ['netns', 'add', ns]);
  spawnSync('ip', ['-n', ns, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up0p']);
  spawnSync('ip', ['-n', ns, 'link', 'set', 'up0', 'up']);
  let reports = 0;
  const doc = JSON.stringify(document(AGENT_ENDPOINTS));
  const api: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (b: Buffer) => (body += b.toString()));
    req.on('end', () => {
      if (req.url?.endsWith('/reports')) {
        reports++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"desiredGeneration":1}');
      } else res.writeHead(200, { 'content-type': 'application/json', etag: '"1"' }).end(doc);
    });
  });
  const apiPort = await freePort();
  await new Promise<void>((r) => api.listen(apiPort, '127.0.0.1', r));
  const agentPort = await freePort();
  // the agent's main() runs only as the main module: started through a link (whose name does not
  // say dist/apps/..., see hiddenArgs)
  mkdirSync(`/tmp/${ns}`, { recursive: true });
  symlinkSync(join(DIST, 'apps/host-agent/src/main.js'), `/tmp/${ns}/agent.js`);
  const child = spawn(process.execPath, [`/tmp/${ns}/agent.js`], {
    env: {
      ...process.env,
      NATPLANE_API_URL: `http://127.0.0.1:${apiPort}`,
      NATPLANE_HOST: 'bench-host',
      NATPLANE_HOST_TOKEN: 't',
      NATPLANE_PUSH_SECRET: SECRET,
      AGENT_LISTEN: `127.0.0.1:${agentPort}`,
      AGENT_BACKEND: 'nftables',
      AGENT_UPLINK: 'up0',
      AGENT_NETNS: ns,
      AGENT_STATE_DIR: `/tmp/${ns}`,
      AGENT_REPORT_INTERVAL_MS: '1',
      AGENT_COUNTERS: counters,
    },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  try {
    const ts = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const ok = await fetch(`http://127.0.0.1:${agentPort}/v1/programming`, { method: 'PUT', headers: { [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signPush(SECRET, ts, doc), 'content-type': 'application/json' }, body: doc })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
    }
    if (child.exitCode !== null) throw new Error(`the agent exited (${child.exitCode})`);
    const start = reports;
    const c0 = cpu(child.pid!);
    const t0 = Date.now();
    while (reports - start < REPORTS) await new Promise((r) => setTimeout(r, 50));
    const c1 = cpu(child.pid!);
    const n = reports - start;
    return { own: ((c1.own - c0.own) / n) * 1000, total: ((c1.own + c1.children - c0.own - c0.children) / n) * 1000, msPerReport: (Date.now() - t0) / n };
  } finally {
    child.kill('SIGKILL');
    api.close();
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(`/tmp/${ns}`, { recursive: true, force: true });
  }
}

async function apiRun(perEndpoint: boolean, databaseUrl: string): Promise<{ rps: number; p99: number; scrapeMs: number; scrapeKb: number }> {
  const api = await startApi({ NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: databaseUrl, REDIS_URL, NATPLANE_METRICS_PER_ENDPOINT: String(perEndpoint) });
  const scrapes: number[] = [];
  let size = 0;
  let scraping = true;
  const scraper = (async () => {
    while (scraping) {
      const t = Date.now();
      const r = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      size = (await r.text()).length;
      scrapes.push(Date.now() - t);
      await new Promise((res) => setTimeout(res, 1000));
    }
  })();
  try {
    const r = await autocannon({ url: api.url, connections: CONNECTIONS, duration: DURATION, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, requests: [{ method: 'GET', path: '/v1/projects/bench/natGateways/gw-1' }] });
    return { rps: r.requests.average, p99: r.latency.p99, scrapeMs: median(scrapes), scrapeKb: size / 1024 };
  } finally {
    scraping = false;
    await scraper;
    await api.stop();
  }
}

async function seedApi(): Promise<string> {
  const databaseUrl = await freshDatabase(DB);
  await flushRedis(REDIS_URL);
  const env = { NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: databaseUrl, REDIS_URL };
  const api = await startApi(env);
  const worker = await startWorker({ ...env, WORKER_METRICS_LISTEN: 'off' });
  try {
    const admin = (method: string, path: string, body?: unknown) => call(api.url, ADMIN_TOKEN, method, path, body);
    await admin('POST', '/v1/admin/projects', { name: 'bench' });
    await admin('POST', '/v1/admin/hosts', { name: 'host-1', region: 'r1', zone: 'r1-a', agentUrl: 'http://127.0.0.1:9' });
    await admin('POST', '/v1/admin/addressPools', { name: 'pool', region: 'r1', cidrs: ['203.0.113.0/24'] });
    await admin('POST', '/v1/projects/bench/networks', { name: 'net' });
    await admin('POST', '/v1/projects/bench/subnets', { name: 'sub', network: 'net', region: 'r1', ipCidrRange: '10.0.0.0/16' });
    const ids: string[] = new Array(API_ENDPOINTS);
    await parallel(API_ENDPOINTS, 16, async (i) => {
      ids[i] = (await admin('POST', '/v1/projects/bench/endpoints', { name: `vm-${i}`, subnet: 'sub', host: 'host-1', networkIp: `10.0.${(i + 2) >> 8}.${(i + 2) & 255}` }) as { id: string }).id;
    });
    await admin('POST', '/v1/projects/bench/addresses', { name: 'ip-1', region: 'r1' });
    await admin('POST', '/v1/projects/bench/addresses', { name: 'ip-2', region: 'r1' });
    await admin('POST', '/v1/projects/bench/natGateways', { name: 'gw-1', network: 'net', region: 'r1', natIpAllocateOption: 'MANUAL_ONLY', natIps: ['ip-1', 'ip-2'], sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES' });
    for (let i = 0; i < 600; i++) {
      const m = (await admin('GET', '/v1/projects/bench/natGateways/gw-1/status')) as { numVmEndpointsWithNatMappings: number };
      if (m.numVmEndpointsWithNatMappings >= API_ENDPOINTS) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const since = new Date().toISOString();
    await admin('POST', '/v1/hosts/host-1/reports', {
      appliedGeneration: 0,
      errors: [],
      usage: ids.map((id) => ({ endpoint: id, ruleNumber: -1, portsInUse: 10 })),
      counters: {
        readAt: since,
        complete: true,
        endpoints: ids.map((id) => ({ endpoint: id, ruleNumber: -1, since, newConnections: 100, openConnections: 10, sentPackets: 1000, sentBytes: 1e5, receivedPackets: 900, receivedBytes: 9e4, droppedSentPackets: { OUT_OF_RESOURCES: 1, ENDPOINT_INDEPENDENT_CONFLICT: 0, UNTRANSLATABLE_FRAGMENT: null, UNTRANSLATABLE_PROTOCOL: 0 } })),
        host: { since, droppedReceivedUnsolicited: null, droppedReceivedFragments: null },
      },
    });
    return databaseUrl;
  } finally {
    await worker.stop();
    await api.stop();
  }
}

const bench: Benchmark = {
  name: 'observability',
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const root = typeof process.getuid === 'function' && process.getuid() === 0 && spawnSync('nft', ['--version']).status === 0 && spawnSync('conntrack', ['--version']).status === 0;
    if (root) {
      const off = await agentRun('off');
      const on = await agentRun('on');
      rows.push(
        { benchmark: 'observability', metric: 'agent CPU per 1,000 reports, counters off', value: off.total, unit: 'ms', details: { own: off.own, endpoints: AGENT_ENDPOINTS, reports: REPORTS, msPerReport: off.msPerReport } },
        { benchmark: 'observability', metric: 'agent CPU per 1,000 reports, counters on', value: on.total, unit: 'ms', details: { own: on.own, endpoints: AGENT_ENDPOINTS, reports: REPORTS, msPerReport: on.msPerReport } },
      );
    } else process.stderr.write('observability: the agent part needs root, nft and conntrack: skipped\n');
    const databaseUrl = await seedApi();
    try {
      for (const perEndpoint of [false, true]) {
        const r = await apiRun(perEndpoint, databaseUrl);
        rows.push({
          benchmark: 'observability',
          metric: `GET gateway with /metrics scraped every 1 s, per-endpoint series ${perEndpoint ? 'on' : 'off'}`,
          value: r.rps,
          unit: 'req/s',
          details: { p99ms: r.p99, scrapeMs: r.scrapeMs, scrapeKB: r.scrapeKb, endpoints: API_ENDPOINTS },
        });
      }
    } finally {
      await dropDatabase(DB);
    }
    return rows;
  },
};

export default bench;
