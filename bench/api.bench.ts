/**
 * api: throughput and p99 latency of the built api against the local PostgreSQL.
 *
 * Sets up a fresh database `natplane_bench`, starts dist/apps/api/src/main.js on a free loopback
 * port, seeds a tenant through the HTTP API (project, project token, host, pool, network, /16
 * subnets, ~2,000 endpoints, address, gateway covering every subnet), then drives three scenarios
 * with autocannon as that tenant: GET one gateway, list endpoints (a page of 50), POST an endpoint
 * (unique name and IP per request). The database is ANALYZEd after seeding, and VACUUMed and
 * ANALYZEd before every run (see below). Each scenario: a warm-up run, then RUNS measured runs;
 * the rows report the median requests/s and the median p99.
 *
 * Knobs (env): API_BENCH_DURATION (s, 10), API_BENCH_WARMUP (s, 3), API_BENCH_RUNS (3),
 * API_BENCH_CONNECTIONS (32), API_BENCH_ENDPOINTS (2000), API_BENCH_CPU_PROF (a directory: the
 * api child runs with --cpu-prof there), DB_POOL_SIZE (passed on to the api).
 */
import autocannon from 'autocannon';
import { mkdirSync } from 'node:fs';
import { median, type Benchmark, type BenchRow } from './harness';
import { analyze, call, flushRedis, freshDatabase, parallel, startApi, vacuumAnalyze, type ApiProcess } from './support/api-process';
import { num } from './support/knobs';
import { printTails, tearDown } from './support/teardown';

const DB = 'natplane_bench';
const REDIS_URL = 'redis://127.0.0.1:6379/6';
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
const PROJECT = 'bench';

const DURATION = num('API_BENCH_DURATION', 10);
const WARMUP = num('API_BENCH_WARMUP', 3);
const RUNS = num('API_BENCH_RUNS', 3);
const CONNECTIONS = num('API_BENCH_CONNECTIONS', 32);
const SEED_ENDPOINTS = num('API_BENCH_ENDPOINTS', 2000);
/** /16 subnets 10.0.0.0/16, 10.1.0.0/16, ...: seeded endpoints in the first, POSTs continue after them. */
const SUBNETS = 8;
const PER_SUBNET = 65_000;

/** The i-th endpoint: its name, subnet and an IP unique in the network. */
function endpointAt(i: number): { name: string; subnet: string; networkIp: string } {
  const s = Math.floor(i / PER_SUBNET);
  if (s >= SUBNETS) throw new Error(`out of endpoint addresses at ${i}`);
  const host = (i % PER_SUBNET) + 1; // 10.s.0.1 .. 10.s.253.233
  return { name: `ep-${String(i).padStart(7, '0')}`, subnet: `subnet-${s}`, networkIp: `10.${s}.${host >> 8}.${host & 255}` };
}

interface Scenario {
  metric: string;
  target: number;
  opts: autocannon.Options;
}

interface RunFigures {
  rps: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function once(opts: autocannon.Options, duration: number): Promise<RunFigures> {
  const r = await autocannon({ ...opts, duration, connections: CONNECTIONS, pipelining: 1 });
  return { rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts };
}

export async function seed(api: ApiProcess): Promise<{ token: string; gateway: string }> {
  const admin = (method: string, path: string, body?: unknown) => call(api.url, ADMIN_TOKEN, method, path, body);
  await admin('POST', '/v1/admin/projects', { name: PROJECT, description: 'benchmark tenant' });
  const { token } = await admin('POST', `/v1/admin/projects/${PROJECT}/tokens`) as { token: string };
  for (const h of ['host-1', 'host-2']) {
    await admin('POST', '/v1/admin/hosts', { name: h, region: 'bench-1', zone: 'bench-1-a', agentUrl: `http://127.0.0.1:9/${h}` });
  }
  await admin('POST', '/v1/admin/addressPools', { name: 'pool-1', region: 'bench-1', cidrs: ['203.0.113.0/24'] });

  const tenant = (method: string, path: string, body?: unknown) => call(api.url, token, method, `/v1/projects/${PROJECT}${path}`, body);
  await tenant('POST', '/networks', { name: 'net-1' });
  for (let s = 0; s < SUBNETS; s++) await tenant('POST', '/subnets', { name: `subnet-${s}`, network: 'net-1', region: 'bench-1', ipCidrRange: `10.${s}.0.0/16` });
  await parallel(SEED_ENDPOINTS, 16, (i) => tenant('POST', '/endpoints', { ...endpointAt(i), host: i % 2 ? 'host-2' : 'host-1' }));
  await tenant('POST', '/addresses', { name: 'nat-ip-1', region: 'bench-1' });
  await tenant('POST', '/natGateways', {
    name: 'gw-1',
    network: 'net-1',
    region: 'bench-1',
    natIpAllocateOption: 'MANUAL_ONLY',
    natIps: ['nat-ip-1'],
    sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
  });
  return { token, gateway: 'gw-1' };
}

function scenarios(url: string, token: string, gateway: string): Scenario[] {
  const auth = { authorization: `Bearer ${token}` };
  const base = `/v1/projects/${PROJECT}`;
  let next = SEED_ENDPOINTS;
  return [
    { metric: 'GET gateway', target: 3000, opts: { url, method: 'GET', headers: auth, requests: [{ method: 'GET', path: `${base}/natGateways/${gateway}` }] } },
    { metric: 'list endpoints (50)', target: 1500, opts: { url, method: 'GET', headers: auth, requests: [{ method: 'GET', path: `${base}/endpoints?pageSize=50` }] } },
    {
      metric: 'POST endpoint',
      target: 600,
      opts: {
        url,
        headers: { ...auth, 'content-type': 'application/json' },
        requests: [
          {
            method: 'POST',
            path: `${base}/endpoints`,
            setupRequest: (req) => {
              const i = next++;
              return { ...req, body: JSON.stringify({ ...endpointAt(i), host: i % 2 ? 'host-2' : 'host-1' }) };
            },
          },
        ],
      },
    },
  ];
}

const bench: Benchmark = {
  name: 'api',
  async run(): Promise<BenchRow[]> {
    let api: ApiProcess | undefined;
    try {
      await flushRedis(REDIS_URL);
      const databaseUrl = await freshDatabase(DB);
      const prof = process.env.API_BENCH_CPU_PROF;
      if (prof) mkdirSync(prof, { recursive: true });
      api = await startApi(
        { NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: databaseUrl, REDIS_URL, LOG_LEVEL: 'error' },
        prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [],
      );
      const t0 = Date.now();
      const { token, gateway } = await seed(api);
      // This server runs with autovacuum off: without statistics the planner takes the seeded
      // tables for empty. A production database would have been analyzed by now.
      await analyze(DB);
      process.stderr.write(`  seeded ${SEED_ENDPOINTS} endpoints in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

      // The same server has autovacuum off too, and POST endpoint rewrites the gateway's one row
      // about a thousand times a second: its dead versions fill hundreds of pages within a run,
      // and the plans made while the table had one page (sequential scans) read them all, more
      // each second. On a production server autovacuum prunes those pages into the free space map
      // and its ANALYZE replans the statements; here the bench does that between runs (about
      // every 10 s, as autovacuum_naptime = 10s would for such a table), never during one.
      const rows: BenchRow[] = [];
      for (const sc of scenarios(api.url, token, gateway)) {
        await vacuumAnalyze(DB);
        await once(sc.opts, WARMUP);
        const runs: RunFigures[] = [];
        for (let k = 0; k < RUNS; k++) {
          await vacuumAnalyze(DB);
          const f = await once(sc.opts, DURATION);
          process.stderr.write(`  ${sc.metric}: ${f.rps.toFixed(0)} req/s, p99 ${f.p99} ms, non2xx ${f.non2xx}, errors ${f.errors}\n`);
          runs.push(f);
        }
        const rps = median(runs.map((r) => r.rps));
        const p99 = median(runs.map((r) => r.p99));
        const non2xx = runs.reduce((a, r) => a + r.non2xx, 0);
        const errors = runs.reduce((a, r) => a + r.errors, 0);
        rows.push({
          benchmark: 'api',
          metric: sc.metric,
          value: rps,
          unit: 'req/s',
          target: `>= ${sc.target} req/s, p99 < 50 ms`,
          pass: rps >= sc.target && p99 < 50 && non2xx === 0 && errors === 0,
          details: { p99_ms: p99, non2xx, errors, runs: RUNS, connections: CONNECTIONS, duration_s: DURATION },
        });
      }
      return rows;
    } catch (e) {
      printTails({ api });
      throw e;
    } finally {
      await tearDown(DB, REDIS_URL, [api]);
    }
  },
};

export default bench;
