/**
 * convergence: how fast an accepted change reaches the hosts, end to end, with the built api and
 * worker as child processes against a fresh PostgreSQL database and a flushed Redis db.
 *
 * Setup: 1,000 simulated agents (real HTTP listeners on loopback, all in one child process, see
 * support/agent-farm.ts) verify every push's HMAC signature with the pushSecret their host got at
 * creation and answer {appliedGeneration}; each is registered as a host through the API. 20
 * networks, one /16 subnet and one gateway (ALL_SUBNETWORKS_ALL_IP_RANGES, MANUAL_ONLY, static
 * 64 ports, 2 NAT IPs) each. Endpoints are spread over the hosts at random (fixed seed), so a
 * host carries ~20 endpoints of ~20 gateways and a gateway touches ~630 hosts.
 *
 * 1. Latency: 8,000 endpoints are seeded (before the gateways, so seeding costs no reconcile),
 *    the gateways are created and programmed everywhere; then an open-loop schedule POSTs 200
 *    endpoints/s for 60 s round-robin over the gateways (a request starts on time whether or not
 *    earlier ones finished), ending at 20,000 endpoints. Latency = agent receive time of the
 *    first document holding the endpoint (by id) with an active block, minus the time the bench
 *    got the POST's 201. "Unprogrammed": not on its agent 10 s after the run ended (the
 *    schedule's end, or the last 201 if later); late arrivals still count in the percentiles
 *    with their real latency (up to CONV_BENCH_DRAIN s; never = infinite). The POST schedule's
 *    lateness (a starved client) is reported. "No growing backlog": none unprogrammed, none
 *    refused, and the median of the last 10 s of POSTs is
 *    at most twice that of the first 10 s (+10 ms). CPU ms per POST of each part (api, worker,
 *    agents, PostgreSQL's backends of the bench database, Redis; the load generator apart), and
 *    their sum without the load generator as a row of its own (issue 15: <= 3.0).
 *    Then the same open loop at twice the rate (CONV_BENCH_RATE2, 400/s) for CONV_BENCH_DURATION2
 *    (30 s) on top: its own rows, the backlog judged the same way.
 * 2. Resize: a 21st network with a gateway over 10,000 endpoints (10 per host, 32 NAT IPs, room
 *    for the old 64-port blocks to drain beside the new ones) is programmed everywhere; then
 *    PATCH minPortsPerVm 64 -> 128 and time until every one of the 1,000 agents has received a
 *    document in which each of its endpoints of that gateway has an active block of 128 ports,
 *    and the gateway GET says READY with every host programmed.
 *
 * Knobs (env): CONV_BENCH_HOSTS (1000), CONV_BENCH_GATEWAYS (20), CONV_BENCH_ENDPOINTS (20000),
 * CONV_BENCH_RATE (200/s), CONV_BENCH_DURATION (60 s), CONV_BENCH_RATE2 (400/s), CONV_BENCH_DURATION2 (30 s), CONV_BENCH_GRACE (10 s), CONV_BENCH_BIG
 * (10000), CONV_BENCH_DRAIN (120 s: after the grace, how long late arrivals still count in the
 * percentiles; never arrived = infinite), CONV_BENCH_WORKER_LOG (a file: the worker runs at LOG_LEVEL=log and writes there),
 * CONV_BENCH_CPU_PROF (a directory: api and worker run with --cpu-prof there), CONV_BENCH_SKIP
 * (latency|rate2|resize), DB_POOL_SIZE (passed on to api and worker).
 */
import { mkdirSync } from 'node:fs';
import * as http from 'node:http';
import { JobQueue, QueueName } from '../libs/jobs/src';
import { median, percentile, type Benchmark, type BenchRow } from './harness';
import { startAgentFarm, wallNow, type AgentFarm, type FarmStats } from './support/agent-farm';
import { analyze, call, checkpoint, tableStats, flushRedis, freshDatabase, parallel, startApi, type ApiProcess } from './support/api-process';
import { cpuMeter, pgBackends, pidsOf } from './support/cpu';
import { num } from './support/knobs';
import { printTails, tearDown } from './support/teardown';
import { startWorker, type WorkerProcess } from './support/worker-process';

const DB = 'natplane_bench_conv';
const REDIS_URL = 'redis://127.0.0.1:6379/8';
const ADMIN_TOKEN = 'conv-bench-admin-token-0123456789abcdef';
const PROJECT = 'conv';
const REGION = 'bench-1';
const BENCH = 'convergence';

const HOSTS = num('CONV_BENCH_HOSTS', 1000);
const GATEWAYS = num('CONV_BENCH_GATEWAYS', 20);
const ENDPOINTS = num('CONV_BENCH_ENDPOINTS', 20_000);
const RATE = num('CONV_BENCH_RATE', 200);
const DURATION = num('CONV_BENCH_DURATION', 60);
const GRACE = num('CONV_BENCH_GRACE', 10);
const DRAIN_S = num('CONV_BENCH_DRAIN', 120);
const BIG = num('CONV_BENCH_BIG', 10_000);
const SKIP = new Set((process.env.CONV_BENCH_SKIP ?? '').split(',').filter(Boolean));
const RATE2 = num('CONV_BENCH_RATE2', 400);
const DURATION2 = num('CONV_BENCH_DURATION2', 30);
const RUN_POSTS = RATE * DURATION;
const RUN2_POSTS = RATE2 * DURATION2;
const SEED_PER_GW = Math.max(0, Math.floor((ENDPOINTS - RUN_POSTS) / GATEWAYS));
/** Endpoints per gateway after both runs (the second on top of the 20,000). */
const PER_GW_FINAL = SEED_PER_GW + Math.ceil((RUN_POSTS + RUN2_POSTS) / GATEWAYS);
/** Static 64-port blocks: 1,008 per NAT IP. */
const SMALL_IPS = Math.ceil(PER_GW_FINAL / 1008) + 1;
const RESIZE_FROM = 64;
const RESIZE_TO = 128;
/** Old blocks (drain/quarantine) and new ones side by side, plus slack. */
const BIG_IPS = Math.ceil(BIG / Math.floor(64512 / RESIZE_FROM)) + Math.ceil(BIG / Math.floor(64512 / RESIZE_TO)) + 2;
const SETUP_TIMEOUT_MS = 600_000;
const RESIZE_TIMEOUT_MS = 180_000;

/** The load generator's POST: node:http with kept-alive connections (fetch costs several times the CPU). */
// Idle sockets close after 4 s, before the server closes them (5 s), so a request never races a closing socket.
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 });
function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: keepAlive, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`  ${s}\n`);
const hostName = (h: number) => `h-${String(h).padStart(4, '0')}`;
const gwName = (k: number) => `gw-${k}`;
const ipIn = (octet: number, n: number) => `10.${octet}.${(n + 1) >> 8}.${(n + 1) & 255}`;

/** mulberry32: a small deterministic PRNG (the spread of endpoints over hosts is fixed). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Ctx {
  api: ApiProcess;
  farm: AgentFarm;
  token: string;
  admin: <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => Promise<T>;
  tenant: <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => Promise<T>;
  /** endpoint id -> first time (and agent) it arrived with an active block. */
  seen: Map<string, { h: number; t: number }>;
  /** The processes whose CPU time the run reports. */
  parts?: () => Record<string, number[]>;
}

interface GatewayView {
  generation: number;
  status: { state: string; observedGeneration: number; hostsTotal: number; hostsProgrammed: number; message?: string };
}

async function gatewayConverged(ctx: Ctx, name: string, minGeneration = 0): Promise<boolean> {
  const g = await ctx.tenant<GatewayView>('GET', `/natGateways/${name}`);
  return (
    g.status.state === 'READY' &&
    g.status.observedGeneration >= Math.max(g.generation, minGeneration) &&
    g.status.hostsProgrammed === g.status.hostsTotal
  );
}

/** Wait until `ids` all reached their agents and the gateways say READY with every host programmed. */
async function waitProgrammed(ctx: Ctx, what: string, ids: string[], gateways: string[]): Promise<number> {
  const t0 = Date.now();
  let last = 0;
  for (;;) {
    const missing = ids.filter((id) => !ctx.seen.has(id)).length;
    if (missing === 0) {
      const ready = await Promise.all(gateways.map((g) => gatewayConverged(ctx, g)));
      if (ready.every(Boolean)) return (Date.now() - t0) / 1000;
    }
    if (Date.now() - t0 > SETUP_TIMEOUT_MS) throw new Error(`${what}: not programmed within ${SETUP_TIMEOUT_MS / 1000} s (${missing} endpoints missing)`);
    if (Date.now() - last > 10_000) {
      last = Date.now();
      log(`${what}: waiting, ${ids.length - missing}/${ids.length} endpoints on their agents`);
    }
    await sleep(250);
  }
}

/**
 * A call that survives a dropped keep-alive connection (ECONNRESET on reuse after a long idle):
 * network errors are retried; a retried create that meets 409 reads the resource it created.
 */
async function robust<T>(method: string, path: string, body: unknown, once: (method: string, path: string, body?: unknown) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await once(method, path, body);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const name = (body as { name?: unknown } | undefined)?.name;
      if (attempt > 0 && method === 'POST' && typeof name === 'string' && msg.includes(' -> 409: ')) return once('GET', `${path}/${name}`);
      if (/ -> \d{3}: /.test(msg) || attempt >= 4) throw e;
      await sleep(200 * (attempt + 1));
    }
  }
}

function describe(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? ` (${(e.cause as NodeJS.ErrnoException).code ?? e.cause.message})` : '';
  return `${e instanceof Error ? e.message : String(e)}${cause}`;
}

async function seed(api: ApiProcess, farm: AgentFarm): Promise<{ ctx: Ctx; hostIds: string[] }> {
  const admin = <T>(method: string, path: string, body?: unknown) => robust(method, path, body, (m, p, b) => call<T>(api.url, ADMIN_TOKEN, m, p, b));
  await admin('POST', '/v1/admin/projects', { name: PROJECT, description: 'convergence benchmark tenant' });
  const { token } = await admin<{ token: string }>('POST', `/v1/admin/projects/${PROJECT}/tokens`);
  await admin('POST', '/v1/admin/addressPools', { name: 'pool-1', region: REGION, cidrs: ['198.18.0.0/20'] });
  const hostIds = new Array<string>(HOSTS);
  await parallel(HOSTS, 16, async (h) => {
    const r = await admin<{ id: string; pushSecret: string }>('POST', '/v1/admin/hosts', { name: hostName(h), region: REGION, zone: `${REGION}-a`, agentUrl: farm.urls[h] });
    await farm.setSecret(h, r.pushSecret);
    hostIds[h] = r.id;
  });
  const tenant = <T>(method: string, path: string, body?: unknown) => robust(method, `/v1/projects/${PROJECT}${path}`, body, (m, p, b) => call<T>(api.url, token, m, p, b));
  const ctx: Ctx = { api, farm, token, admin, tenant, seen: new Map() };
  return { ctx, hostIds };
}

async function createGateway(ctx: Ctx, k: string, network: string, ips: number): Promise<void> {
  const names = Array.from({ length: ips }, (_, i) => `ip-${k}-${i}`);
  for (const n of names) await ctx.tenant('POST', '/addresses', { name: n, region: REGION });
  await ctx.tenant('POST', '/natGateways', {
    name: `gw-${k}`,
    network,
    region: REGION,
    natIpAllocateOption: 'MANUAL_ONLY',
    natIps: names,
    sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
  });
}

interface Sample {
  t: number;
  reconcile: number;
  program: number;
  pushes: number;
}

/** Jobs waiting or running per queue, sampled once a second, and pushes received per second. */
function sampler(queues: JobQueue, farm: AgentFarm): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  let stopped = false;
  const t0 = wallNow();
  const loop = (async () => {
    while (!stopped) {
      const [rc, pc, st] = await Promise.all([
        queues.queue(QueueName.Reconcile).getJobCounts('wait', 'active', 'delayed', 'prioritized'),
        queues.queue(QueueName.Program).getJobCounts('wait', 'active', 'delayed', 'prioritized'),
        farm.stats(),
      ]);
      const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
      samples.push({ t: (wallNow() - t0) / 1000, reconcile: sum(rc), program: sum(pc), pushes: st.pushes });
      await sleep(1000);
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

function stat(xs: number[]): { p50: number; p99: number; max: number } {
  return { p50: median(xs), p99: percentile(xs, 99), max: xs.length ? Math.max(...xs) : NaN };
}

async function latencyPhase(ctx: Ctx, queues: JobQueue): Promise<BenchRow[]> {
  // Seed before the gateways exist: no reconcile per seeded endpoint.
  const rnd = prng(42);
  const seedIds: string[] = [];
  const t0 = Date.now();
  for (let k = 0; k < GATEWAYS; k++) {
    await ctx.tenant('POST', '/networks', { name: `net-${k}` });
    await ctx.tenant('POST', '/subnets', { name: `sub-${k}`, network: `net-${k}`, region: REGION, ipCidrRange: `10.${k}.0.0/16` });
  }
  const seedHosts = Array.from({ length: SEED_PER_GW * GATEWAYS }, () => Math.floor(rnd() * HOSTS));
  await parallel(SEED_PER_GW * GATEWAYS, 32, async (i) => {
    const k = i % GATEWAYS;
    const j = Math.floor(i / GATEWAYS);
    const r = await ctx.tenant<{ id: string }>('POST', '/endpoints', { name: `ep-${k}-${j}`, subnet: `sub-${k}`, host: hostName(seedHosts[i]), networkIp: ipIn(k, j) });
    seedIds.push(r.id);
  });
  await analyze(DB);
  for (let k = 0; k < GATEWAYS; k++) await createGateway(ctx, String(k), `net-${k}`, SMALL_IPS);
  const conv = await waitProgrammed(ctx, 'initial programming', seedIds, Array.from({ length: GATEWAYS }, (_, k) => gwName(k)));
  await analyze(DB);
  // The seed's dirty pages are written now rather than during the measured run.
  await checkpoint(DB);
  log(`seeded ${seedIds.length} endpoints in ${GATEWAYS} gateways in ${((Date.now() - t0) / 1000).toFixed(1)} s (programmed everywhere ${conv.toFixed(1)} s after the last gateway)`);
  await ctx.farm.stats(true);
  const rows = await openLoop(ctx, queues, rnd, { rate: RATE, duration: DURATION, first: 0, targets: true });
  if (!SKIP.has('rate2')) rows.push(...(await openLoop(ctx, queues, rnd, { rate: RATE2, duration: DURATION2, first: RUN_POSTS, targets: false })));
  return rows;
}

/**
 * An open-loop schedule of `rate` POSTs a second for `duration` s (indexes from `first`, so the
 * names and addresses follow an earlier run's), and its rows: with `targets`, issue 15's (p50
 * <= 10 ms, p99 <= 50 ms, CPU <= 3.0 ms per POST); otherwise the backlog row carries the run.
 */
async function openLoop(ctx: Ctx, queues: JobQueue, rnd: () => number, run: { rate: number; duration: number; first: number; targets: boolean }): Promise<BenchRow[]> {
  const RATE = run.rate;
  const DURATION = run.duration;
  const N = RATE * DURATION;
  const period = 1000 / RATE;
  const hostOf = Array.from({ length: N }, () => Math.floor(rnd() * HOSTS));
  const started = new Float64Array(N);
  const created = new Float64Array(N).fill(NaN);
  const ids = new Array<string | undefined>(N);
  const statuses = new Array<number>(N).fill(0);
  const errors: string[] = [];
  const inflight: Promise<void>[] = [];
  const url = `${ctx.api.url}/v1/projects/${PROJECT}/endpoints`;
  const headers = { authorization: `Bearer ${ctx.token}`, 'content-type': 'application/json' };
  const fire = (i: number) => {
    const k = (run.first + i) % GATEWAYS;
    const j = SEED_PER_GW + Math.floor((run.first + i) / GATEWAYS);
    const body = JSON.stringify({ name: `ep-${k}-${j}`, subnet: `sub-${k}`, host: hostName(hostOf[i]), networkIp: ipIn(k, j) });
    started[i] = wallNow();
    inflight.push(
      post(url, headers, body)
        .then((r) => {
          created[i] = wallNow();
          statuses[i] = r.status;
          if (r.status === 201) ids[i] = (JSON.parse(r.text) as { id: string }).id;
          else if (errors.length < 5) errors.push(`${r.status} ${r.text.slice(0, 200)}`);
        })
        .catch((e: unknown) => {
          statuses[i] = -1;
          if (errors.length < 5) errors.push(describe(e));
        }),
    );
  };
  const samp = sampler(queues, ctx.farm);
  const cpu = ctx.parts ? cpuMeter(ctx.parts) : undefined;
  const tStart = wallNow() + 100;
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = wallNow();
      while (next < N && tStart + next * period <= now) fire(next++);
      if (next >= N) return resolve();
      setTimeout(tick, Math.max(0, Math.min(4, tStart + next * period - now - 0.5)));
    };
    tick();
  });
  const scheduleEnd = tStart + N * period;
  await Promise.all(inflight);
  const lateStart = Array.from(started, (s, i) => s - (tStart + i * period));
  // Backlog: what is not on its agent GRACE s after the end of the run (the schedule's end, or
  // the last 201 when the api answered later: nothing can be programmed before it exists).
  const lastCreated = Math.max(...Array.from(created).filter(Number.isFinite));
  const graceEnd = Math.max(scheduleEnd, lastCreated) + GRACE * 1000;
  const pending = () => ids.some((id) => id !== undefined && !ctx.seen.has(id));
  while (wallNow() < graceEnd && pending()) await sleep(100);
  // Latency percentiles count late arrivals too: keep watching up to DRAIN_S more.
  const drainEnd = wallNow() + DRAIN_S * 1000;
  while (wallNow() < drainEnd && pending()) await sleep(250);
  await samp.stop();
  const cpuMs = cpu?.stop();
  if (process.env.CONV_BENCH_TABLE_STATS) log(`tables: ${await tableStats(DB)}`);
  const farmStats = await ctx.farm.stats(true);

  // Figures.
  let wrongHost = 0;
  let unprogrammed = 0;
  const lat: number[] = [];
  const latAt = (i: number): number | undefined => {
    const id = ids[i];
    if (id === undefined) return undefined;
    const s = ctx.seen.get(id);
    if (!s || s.t > graceEnd) unprogrammed++;
    if (!s) return Infinity;
    if (s.h !== hostOf[i]) wrongHost++;
    return s.t - created[i];
  };
  const perIndex = Array.from({ length: N }, (_, i) => latAt(i));
  for (const l of perIndex) if (l !== undefined) lat.push(l);
  const ok = lat.length;
  const never = lat.filter((l) => l === Infinity).length;
  const window = Math.min(N, RATE * 10);
  const first = perIndex.slice(0, window).filter((l): l is number => l !== undefined);
  const last = perIndex.slice(N - window).filter((l): l is number => l !== undefined);
  const all = stat(lat);
  const f = stat(first);
  const l = stat(last);
  const postLat = stat(Array.from(created, (c, i) => c - started[i]).filter(Number.isFinite));
  const maxQ = samp.samples.reduce((m, s) => ({ reconcile: Math.max(m.reconcile, s.reconcile), program: Math.max(m.program, s.program) }), { reconcile: 0, program: 0 });
  // Queue depth when the schedule ended.
  const endSample = samp.samples.filter((s) => s.t <= (scheduleEnd - tStart) / 1000 + 0.5).pop();
  log(`queue depth per second (reconcile/program): ${samp.samples.map((s) => `${s.reconcile}/${s.program}`).join(' ')}`);
  log(`pushes received per second: ${samp.samples.map((s, i) => s.pushes - (i ? samp.samples[i - 1].pushes : 0)).join(' ')}`);
  if (cpuMs) log(`CPU ms per POST: ${Object.entries(cpuMs).map(([k, v]) => `${k} ${(v / N).toFixed(2)}`).join(', ')} (total ${(Object.values(cpuMs).reduce((a, b) => a + b, 0) / N).toFixed(2)})`);
  if (errors.length) log(`POST errors: ${errors.join(' | ')}`);
  const non201 = statuses.filter((s) => s !== 201).length;
  const backlogOk = unprogrammed === 0 && non201 === 0 && l.p50 <= 2 * f.p50 + 10;
  const common = { runs: 1, posts: N, rate_per_s: RATE, duration_s: DURATION, non201, unprogrammed, wrong_host: wrongHost };
  const cpuPerPost = Object.fromEntries(Object.entries(cpuMs ?? {}).map(([k, v]) => [`cpu_ms_per_post_${k}`, Number((v / N).toFixed(2))]));
  // What natplane spends per POST: every part but the load generator.
  const cpuTotal = cpuMs ? Object.entries(cpuMs).reduce((a, [k, v]) => (k === 'bench' ? a : a + v), 0) / N : NaN;
  const at = `at ${RATE} POSTs/s`;
  const backlog: BenchRow = {
    benchmark: BENCH,
    metric: `${at}: no growing backlog (unprogrammed at +10 s)`,
    value: unprogrammed,
    unit: 'endpoints',
    target: `0, p50(last 10 s) <= 2 x p50(first 10 s) + 10 ms`,
    pass: backlogOk,
    details: {
      ...(run.targets ? {} : { ...common, p50_ms: all.p50, p99_ms: all.p99, cpu_ms_per_post: Number(cpuTotal.toFixed(2)), ...cpuPerPost }),
      first10_p50_ms: f.p50,
      first10_p99_ms: f.p99,
      last10_p50_ms: l.p50,
      last10_p99_ms: l.p99,
      last10_max_ms: l.max,
      reconcile_q_max: maxQ.reconcile,
      program_q_max: maxQ.program,
      reconcile_q_at_end: endSample?.reconcile ?? NaN,
      program_q_at_end: endSample?.program ?? NaN,
    },
  };
  if (!run.targets) return [backlog];
  return [
    {
      benchmark: BENCH,
      metric: `${at}: endpoint 201 -> agent has block, p50`,
      value: all.p50,
      unit: 'ms',
      target: '<= 10 ms',
      pass: all.p50 <= 10 && non201 === 0,
      details: {
        ...common,
        p50_ms: all.p50,
        p99_ms: all.p99,
        max_ms: all.max,
        programmed: ok - never,
        never_programmed: never,
        drain_s: DRAIN_S,
      },
    },
    {
      benchmark: BENCH,
      metric: `${at}: endpoint 201 -> agent has block, p99`,
      value: all.p99,
      unit: 'ms',
      target: '<= 50 ms',
      pass: all.p99 <= 50 && non201 === 0,
      details: {
        ...common,
        post_p50_ms: postLat.p50,
        post_p99_ms: postLat.p99,
        post_max_ms: postLat.max,
        start_late_max_ms: Math.max(...lateStart),
        pushes: farmStats.pushes,
        patches: farmStats.patches,
        pushes_per_post: farmStats.pushes / N,
        push_kb_avg: farmStats.bytes / Math.max(1, farmStats.pushes) / 1024,
        stale_409: farmStats.stale,
        bad_sig: farmStats.badSignature,
        farm_cpu_ms: farmStats.handlerMs,
      },
    },
    backlog,
    {
      benchmark: BENCH,
      metric: `${at}: CPU ms per POST (api, worker, agents, PostgreSQL, Redis)`,
      value: cpuTotal,
      unit: 'ms',
      target: '<= 3.0',
      pass: cpuTotal <= 3.0,
      details: cpuPerPost,
    },
  ];
}

async function resizePhase(ctx: Ctx): Promise<BenchRow[]> {
  const t0 = Date.now();
  await ctx.tenant('POST', '/networks', { name: 'net-big' });
  await ctx.tenant('POST', '/subnets', { name: 'sub-big', network: 'net-big', region: REGION, ipCidrRange: '10.100.0.0/16' });
  const expected = new Array<number>(HOSTS).fill(0);
  const ids: string[] = [];
  await parallel(BIG, 32, async (j) => {
    const h = j % HOSTS;
    const r = await ctx.tenant<{ id: string }>('POST', '/endpoints', { name: `big-${j}`, subnet: 'sub-big', host: hostName(h), networkIp: ipIn(100, j) });
    ids.push(r.id);
  });
  for (let j = 0; j < BIG; j++) expected[j % HOSTS]++;
  await analyze(DB);
  await createGateway(ctx, 'big', 'net-big', BIG_IPS);
  const conv = await waitProgrammed(ctx, 'big gateway', ids, ['gw-big']);
  await analyze(DB);
  await checkpoint(DB);
  log(`seeded gw-big (${BIG} endpoints, ${BIG_IPS} NAT IPs) in ${((Date.now() - t0) / 1000).toFixed(1)} s (programmed ${conv.toFixed(1)} s after create)`);

  const hostsExpected = expected.filter((e) => e > 0).length;
  const doneAt = new Map<number, number>();
  ctx.farm.onWatchDone((h, t) => doneAt.set(h, t));
  await ctx.farm.watch(`projects/${PROJECT}/natGateways/gw-big`, RESIZE_TO, expected);
  await ctx.farm.stats(true);

  const tPatch = wallNow();
  const patched = await ctx.tenant<GatewayView>('PATCH', '/natGateways/gw-big', { minPortsPerVm: RESIZE_TO });
  const patchMs = wallNow() - tPatch;
  let readyAt = NaN;
  const deadline = tPatch + RESIZE_TIMEOUT_MS;
  while (wallNow() < deadline) {
    if (Number.isNaN(readyAt) && (await gatewayConverged(ctx, 'gw-big', patched.generation))) readyAt = wallNow();
    if (!Number.isNaN(readyAt) && doneAt.size >= hostsExpected) break;
    await sleep(doneAt.size >= hostsExpected ? 20 : 100);
  }
  const st: FarmStats = await ctx.farm.stats(true);
  const hostTimes = [...doneAt.values()].map((t) => (t - tPatch) / 1000);
  const complete = doneAt.size >= hostsExpected && !Number.isNaN(readyAt);
  const total = complete ? (Math.max(readyAt, ...doneAt.values()) - tPatch) / 1000 : Infinity;
  return [
    {
      benchmark: BENCH,
      metric: `minPortsPerVm ${RESIZE_FROM}->${RESIZE_TO}, ${BIG} endpoints, all hosts`,
      value: total,
      unit: 's',
      target: '<= 10 s',
      pass: total <= 10,
      details: {
        runs: 1,
        hosts: hostsExpected,
        hosts_done: doneAt.size,
        patch_ms: patchMs,
        get_ready_s: Number.isNaN(readyAt) ? Infinity : (readyAt - tPatch) / 1000,
        first_host_s: hostTimes.length ? Math.min(...hostTimes) : NaN,
        host_p50_s: median(hostTimes),
        host_p99_s: percentile(hostTimes, 99),
        last_host_s: hostTimes.length ? Math.max(...hostTimes) : NaN,
        pushes: st.pushes,
        patches: st.patches,
        push_kb_avg: st.bytes / Math.max(1, st.pushes) / 1024,
      },
    },
  ];
}

const bench: Benchmark = {
  name: BENCH,
  async run(): Promise<BenchRow[]> {
    let api: ApiProcess | undefined;
    let worker: WorkerProcess | undefined;
    let farm: AgentFarm | undefined;
    let queues: JobQueue | undefined;
    try {
      const prof = process.env.CONV_BENCH_CPU_PROF;
      if (prof) mkdirSync(prof, { recursive: true });
      const profArgs = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
      const workerLog = process.env.CONV_BENCH_WORKER_LOG;
      await flushRedis(REDIS_URL);
      const [databaseUrl, f] = await Promise.all([freshDatabase(DB), startAgentFarm(HOSTS)]);
      farm = f;
      const env = { NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: databaseUrl, REDIS_URL, LOG_LEVEL: 'error' };
      api = await startApi(env, profArgs);
      worker = await startWorker({ ...env, LOG_LEVEL: workerLog ? 'log,warn,error' : 'error' }, profArgs, workerLog);
      queues = new JobQueue(REDIS_URL);
      const { ctx } = await seed(api, farm);
      const [a, w, fm] = [api.child.pid, worker.child.pid, farm.child.pid];
      ctx.parts = () => ({ api: a ? [a] : [], worker: w ? [w] : [], agents: fm ? [fm] : [], postgres: pgBackends(DB), redis: pidsOf('redis-server') });
      farm.onSeen((h, t, ids) => {
        for (const id of ids) if (!ctx.seen.has(id)) ctx.seen.set(id, { h, t });
      });
      log(`${HOSTS} agents registered`);
      const rows: BenchRow[] = [];
      const phase = async (metric: string, fn: () => Promise<BenchRow[]>) => {
        try {
          rows.push(...(await fn()));
        } catch (e) {
          // One phase failing still reports the other.
          const apiState = api?.child.exitCode !== null || api?.child.signalCode !== null ? ` (api exited: ${api?.child.exitCode ?? api?.child.signalCode})` : '';
          process.stderr.write(`${metric} failed: ${describe(e)}${apiState}\napi output (tail):\n${api?.output() ?? ''}\nworker output (tail):\n${worker?.output() ?? ''}\n`);
          rows.push({ benchmark: BENCH, metric, value: NaN, unit: '', target: 'completes', pass: false, details: { error: describe(e).slice(0, 200) } });
        }
      };
      const q = queues;
      if (!SKIP.has('latency')) await phase('latency phase', () => latencyPhase(ctx, q));
      if (!SKIP.has('resize')) await phase('resize phase', () => resizePhase(ctx));
      return rows;
    } catch (e) {
      printTails({ api, worker });
      throw e;
    } finally {
      await queues?.close().catch(() => undefined);
      await tearDown(DB, REDIS_URL, [api, worker, farm]);
    }
  },
};

export default bench;
