/**
 * writes: the worker's CPU per endpoint write, in a small gateway and in a large one (issue 15:
 * "worker CPU per endpoint write in a gateway of 100,000 endpoints <= 1.5 x the same in a gateway
 * of 1,000"). The built api and worker as child processes, a fresh database, a few simulated
 * agents (support/agent-farm.ts).
 *
 * Setup: WRITES_BENCH_HOSTS (20) agents. Two networks with one subnet and one gateway each
 * (ALL_SUBNETWORKS_ALL_IP_RANGES, MANUAL_ONLY, static 64 ports, enough NAT IPs): "small" over
 * WRITES_BENCH_SMALL (1,000) endpoints and "big" over WRITES_BENCH_BIG (100,000), inserted in SQL
 * before the gateway exists (the api would take minutes for 100k), spread over all hosts but the
 * last four. Each gateway is then created and programmed everywhere.
 *
 * Measured, one gateway after the other: WRITES_BENCH_WRITES (300) endpoint writes at
 * WRITES_BENCH_RATE (10/s), one request at a time, alternating a POST of a new endpoint (on one of
 * the last four hosts, which carry only these) and a DELETE of one posted 10 writes earlier; then
 * until the gateway has computed the last generation. The worker's and PostgreSQL's CPU ms (from
 * /proc) divided by the writes; the reconciler's commits (reconcile_seq) show how many writes each
 * job took on (a slow worker coalesces writes, which hides a cost per job). The row: worker CPU
 * per write at big / at small, target <= 1.5.
 *
 * Knobs: WRITES_BENCH_REDIS_URL (redis://127.0.0.1:6379/8), WRITES_BENCH_CPU_PROF (a directory:
 * the worker runs with --cpu-prof there, and the bench prints each measured window in the
 * profile's clock, CLOCK_MONOTONIC microseconds, for scripts/cpuprofile-top.js), WRITES_BENCH_ONLY
 * (small|big).
 */
import { mkdirSync } from 'node:fs';
import { Client } from 'pg';
import type { Benchmark, BenchRow } from './harness';
import { startAgentFarm, type AgentFarm } from './support/agent-farm';
import { analyze, call, checkpoint, databaseUrl, flushRedis, freshDatabase, startApi, type ApiProcess } from './support/api-process';
import { cpuMeter, machineMeter, pgBackends } from './support/cpu';
import { num } from './support/knobs';
import { printTails, tearDown } from './support/teardown';
import { startWorker, type WorkerProcess } from './support/worker-process';

const DB = 'natplane_bench_writes';
const REDIS_URL = process.env.WRITES_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/8';
const ADMIN_TOKEN = 'writes-bench-admin-token-0123456789abcdef';
const PROJECT = 'writes';
const REGION = 'bench-1';
const BENCH = 'writes';

const HOSTS = Math.max(5, num('WRITES_BENCH_HOSTS', 20));
const SMALL = num('WRITES_BENCH_SMALL', 1000);
const BIG = num('WRITES_BENCH_BIG', 100_000);
const WRITES = num('WRITES_BENCH_WRITES', 300);
const RATE = num('WRITES_BENCH_RATE', 10);
const ONLY = process.env.WRITES_BENCH_ONLY;
/** The last hosts carry only the measured writes. */
const WRITE_HOSTS = 4;
const LAG = 10;
const WARMUP = 60;
const TIMEOUT_MS = 600_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`  ${s}\n`);
const hostName = (h: number) => `h-${String(h).padStart(4, '0')}`;
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

interface Gw {
  key: string;
  size: number;
  /** Second octet of the subnet 10.x.0.0/14. */
  octet: number;
}

interface Ctx {
  api: ApiProcess;
  pg: Client;
  token: string;
  admin: <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => Promise<T>;
  tenant: <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => Promise<T>;
  parts: () => Record<string, number[]>;
}

/** The n-th address of 10.octet.0.0/14, past its network address. */
function ipIn(octet: number, n: number): string {
  const v = n + 1;
  return `10.${octet + (v >> 16)}.${(v >> 8) & 255}.${v & 255}`;
}

async function converged(ctx: Ctx, name: string): Promise<{ ok: boolean; generation: number }> {
  const g = await ctx.tenant<{ generation: number; status: { state: string; observedGeneration: number; hostsTotal: number; hostsProgrammed: number } }>('GET', `/natGateways/${name}`);
  const ok = g.status.state === 'READY' && g.status.observedGeneration >= g.generation && g.status.hostsProgrammed === g.status.hostsTotal;
  return { ok, generation: g.generation };
}

async function waitConverged(ctx: Ctx, name: string): Promise<void> {
  const t0 = Date.now();
  while (!(await converged(ctx, name)).ok) {
    if (Date.now() - t0 > TIMEOUT_MS) throw new Error(`${name}: not converged within ${TIMEOUT_MS / 1000} s`);
    await sleep(200);
  }
}

async function reconcileSeq(ctx: Ctx, name: string): Promise<number> {
  const r = await ctx.pg.query<{ s: string }>('SELECT reconcile_seq::text AS s FROM nat_gateways WHERE name = $1', [name]);
  return Number(r.rows[0].s);
}

/** A network, its subnet, `size` endpoints inserted in SQL over the seed hosts, its NAT IPs and gateway; programmed everywhere. */
async function setup(ctx: Ctx, g: Gw, hostIds: string[], firstIp: number): Promise<number> {
  const t0 = Date.now();
  await ctx.tenant('POST', '/networks', { name: `net-${g.key}` });
  await ctx.tenant('POST', '/subnets', { name: `sub-${g.key}`, network: `net-${g.key}`, region: REGION, ipCidrRange: `10.${g.octet}.0.0/14` });
  const seedHosts = hostIds.slice(0, hostIds.length - WRITE_HOSTS);
  // The host-sources trigger checks each row against its host's others: the seed's addresses are
  // distinct by construction, and on a table without statistics the check goes quadratic.
  await ctx.pg.query('ALTER TABLE endpoints DISABLE TRIGGER endpoints_host_sources');
  await ctx.pg.query(
    `INSERT INTO endpoints (id, name, project_id, subnet_id, network_id, host_id, network_ip)
     SELECT gen_random_uuid(), $1 || i, s.project_id, s.id, s.network_id, ($2::uuid[])[1 + i % $3], ('10.' || ($4 + ((i + 1) >> 16)) || '.' || (((i + 1) >> 8) & 255) || '.' || ((i + 1) & 255))::inet
       FROM subnets s, generate_series(0, $5 - 1) i WHERE s.name = $6`,
    [`seed-${g.key}-`, seedHosts, seedHosts.length, g.octet, g.size, `sub-${g.key}`],
  );
  await ctx.pg.query('ALTER TABLE endpoints ENABLE TRIGGER endpoints_host_sources');
  await analyze(DB);
  const ips = Math.ceil((g.size + WRITES) / 1008) + 1;
  const names = Array.from({ length: ips }, (_, i) => `ip-${g.key}-${i}`);
  for (const n of names) await ctx.tenant('POST', '/addresses', { name: n, region: REGION });
  await ctx.tenant('POST', '/natGateways', {
    name: `gw-${g.key}`,
    network: `net-${g.key}`,
    region: REGION,
    natIpAllocateOption: 'MANUAL_ONLY',
    natIps: names,
    sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
  });
  await waitConverged(ctx, `gw-${g.key}`);
  await analyze(DB);
  await checkpoint(DB);
  log(`gw-${g.key}: ${g.size} endpoints, ${ips} NAT IPs, programmed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return firstIp + ips;
}

interface Measured {
  workerMs: number;
  pgMs: number;
  apiMs: number;
  commits: number;
  seconds: number;
  busyPct: number;
}

/** WRITES writes at RATE/s into one gateway, one at a time, then until it computed the last one. */
async function trickle(ctx: Ctx, g: Gw, writes: number, tag: string, offset: number): Promise<Measured> {
  const name = `gw-${g.key}`;
  const base = g.size + 10 + offset; // past the seeded addresses and earlier writes
  const posted: string[] = [];
  const seq0 = await reconcileSeq(ctx, name);
  const machine = machineMeter();
  const cpu = cpuMeter(ctx.parts);
  const t0 = Date.now();
  const us0 = monotonicUs();
  for (let i = 0; i < writes; i++) {
    const due = t0 + (i * 1000) / RATE;
    if (Date.now() < due) await sleep(due - Date.now());
    if (i % 2 === 1 && posted.length > LAG / 2) {
      await ctx.tenant('DELETE', `/endpoints/${posted.shift()!}`);
    } else {
      const epName = `w-${g.key}-${tag}${i}`;
      const host = hostName(HOSTS - WRITE_HOSTS + (i % WRITE_HOSTS));
      await ctx.tenant('POST', '/endpoints', { name: epName, subnet: `sub-${g.key}`, host, networkIp: ipIn(g.octet, base + i) });
      posted.push(epName);
    }
  }
  await waitConverged(ctx, name);
  const seconds = (Date.now() - t0) / 1000;
  const us1 = monotonicUs();
  const c = cpu.stop();
  const m = machine.stop();
  const commits = (await reconcileSeq(ctx, name)) - seq0;
  if (process.env.WRITES_BENCH_CPU_PROF) log(`${name}: profile window ${us0} ${us1} (CLOCK_MONOTONIC us)`);
  return { workerMs: c.worker, pgMs: c.postgres, apiMs: c.api, commits, seconds, busyPct: m.busyPct };
}

const bench: Benchmark = {
  name: BENCH,
  async run(): Promise<BenchRow[]> {
    let api: ApiProcess | undefined;
    let worker: WorkerProcess | undefined;
    let farm: AgentFarm | undefined;
    const pg = new Client({ connectionString: databaseUrl(DB) });
    let connected = false;
    try {
      const prof = process.env.WRITES_BENCH_CPU_PROF;
      if (prof) mkdirSync(prof, { recursive: true });
      await flushRedis(REDIS_URL);
      const [dbUrl, f] = await Promise.all([freshDatabase(DB), startAgentFarm(HOSTS)]);
      farm = f;
      await pg.connect();
      connected = true;
      const env = { NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: dbUrl, REDIS_URL, LOG_LEVEL: 'error' };
      api = await startApi(env);
      worker = await startWorker(env, prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []);
      const adminCall = <T>(m: string, p: string, b?: unknown) => call<T>(api!.url, ADMIN_TOKEN, m, p, b);
      await adminCall('POST', '/v1/admin/projects', { name: PROJECT, description: 'writes benchmark tenant' });
      const { token } = await adminCall<{ token: string }>('POST', `/v1/admin/projects/${PROJECT}/tokens`);
      await adminCall('POST', '/v1/admin/addressPools', { name: 'pool-1', region: REGION, cidrs: ['198.18.0.0/16'] });
      const hostIds: string[] = [];
      for (let h = 0; h < HOSTS; h++) {
        const r = await adminCall<{ id: string; pushSecret: string }>('POST', '/v1/admin/hosts', { name: hostName(h), region: REGION, zone: `${REGION}-a`, agentUrl: farm.urls[h] });
        await farm.setSecret(h, r.pushSecret);
        hostIds.push(r.id);
      }
      const [a, w] = [api.child.pid, worker.child.pid];
      const ctx: Ctx = {
        api,
        pg,
        token,
        admin: adminCall,
        tenant: <T>(m: string, p: string, b?: unknown) => call<T>(api!.url, token, m, `/v1/projects/${PROJECT}${p}`, b),
        parts: () => ({ api: a ? [a] : [], worker: w ? [w] : [], postgres: pgBackends(DB) }),
      };
      const gws: Gw[] = [
        { key: 'small', size: SMALL, octet: 4 },
        { key: 'big', size: BIG, octet: 8 },
      ].filter((g) => !ONLY || ONLY === g.key);
      let ip = 0;
      for (const g of gws) ip = await setup(ctx, g, hostIds, ip);
      const out = new Map<string, Measured>();
      // JIT warm-up, not measured: the first gateway measured would carry it.
      for (const g of gws) await trickle(ctx, g, WARMUP, 'warm-', 0);
      for (const g of gws) {
        const m = await trickle(ctx, g, WRITES, '', WARMUP);
        out.set(g.key, m);
        log(
          `gw-${g.key} (${g.size} endpoints): ${WRITES} writes in ${m.seconds.toFixed(1)} s, ${m.commits} commits; CPU ms per write: worker ${(m.workerMs / WRITES).toFixed(2)}, postgres ${(m.pgMs / WRITES).toFixed(2)}, api ${(m.apiMs / WRITES).toFixed(2)}; machine busy ${m.busyPct}%`,
        );
      }
      const load = (await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ');
      const rows: BenchRow[] = [];
      for (const [key, m] of out) {
        rows.push({
          benchmark: BENCH,
          metric: `worker CPU per endpoint write, gateway of ${key === 'big' ? BIG : SMALL}`,
          value: m.workerMs / WRITES,
          unit: 'ms',
          details: {
            writes: WRITES,
            rate_per_s: RATE,
            commits: m.commits,
            postgres_ms_per_write: m.pgMs / WRITES,
            api_ms_per_write: m.apiMs / WRITES,
            machine_busy_pct: m.busyPct,
            loadavg: load,
          },
        });
      }
      const s = out.get('small');
      const b = out.get('big');
      if (s && b) {
        const ratio = b.workerMs / s.workerMs;
        rows.push({
          benchmark: BENCH,
          metric: `worker CPU per write, ${BIG} / ${SMALL} endpoints`,
          value: ratio,
          unit: 'x',
          target: '<= 1.5 x',
          pass: ratio <= 1.5,
          details: { postgres_ratio: b.pgMs / s.pgMs, commits_small: s.commits, commits_big: b.commits, loadavg: load },
        });
      }
      return rows;
    } catch (e) {
      printTails({ api, worker });
      throw e;
    } finally {
      if (connected) await pg.end().catch(() => undefined);
      await tearDown(DB, REDIS_URL, [api, worker, farm]);
    }
  },
};

export default bench;
