/**
 * soak: does natplane hold for months? The built api and worker and one real host agent (dry-run
 * backend: it renders and keeps every document, as a host would, without touching this machine's
 * firewall), against a fresh database, under steady churn: every second SOAK_RATE endpoint
 * creates and as many deletes (the oldest), over SOAK_GATEWAYS gateways (2 NAT IPs each, established
 * TCP idle timeout 120 s, so the quarantine of deleted VMs' blocks fits their ports) with
 * ~SOAK_ENDPOINTS endpoints on one host, and a gateway PATCH every 10 s. Reported, with the first SOAK_WARMUP
 * minutes left out of the slopes:
 * - each process's RSS slope (MB/h), from /proc every 10 s, fitted to each minute's lowest RSS
 *   (what a leak raises; the raw samples' slope beside it);
 * - each table's size growth after the warm-up (MB), and the largest, history's current
 *   partition excepted (it grows by design: the rows per hour are reported);
 * - rows of attribution history per hour;
 * - endpoints that have existed for 5 s without a block (the worker falling behind), every 10 s;
 * - endpoint create latency (201), p50 and p99 in the first and last SOAK_WARMUP minutes;
 * - warn and error log lines per minute (api, worker, agent), push refusals (the agent's
 *   natplane_agent_push_refusals_total and the worker's natplane_worker_host_pushes_total with
 *   outcome refused, read off their /metrics at the end; and any log line about one), 5xx answers.
 * Vacuum: with autovacuum on, nothing is done. With it off (CI machines) the bench turns it on for
 * the run (ALTER SYSTEM, reloaded, restored at the end) when SOAK_AUTOVACUUM=on, else it runs a
 * VACUUM (ANALYZE) of the database every minute in its place; the table says which.
 *
 * Knobs (env): SOAK_MINUTES (4; 30 for the record), SOAK_RATE (40), SOAK_GATEWAYS (5),
 * SOAK_ENDPOINTS (2000), SOAK_WARMUP (minutes, min(5, a quarter of the run)), SOAK_AUTOVACUUM
 * (on | vacuum), SOAK_WORKER_HEAPSNAPSHOT (a directory: the worker writes a heap snapshot there
 * at the end of the warm-up and at the end of the churn, to compare what its heap holds; a
 * snapshot stops the worker for seconds and leaves memory to its allocator, so a run with it
 * tells what grows, not the RSS slope of a run without).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { median, percentile, type Benchmark, type BenchRow } from './harness';
import { machineMeter } from './support/cpu';
import { DIST, call, dropDatabase, flushRedis, freePort, freshDatabase, hiddenArgs, parallel } from './support/api-process';

const DB = 'natplane_bench_soak';
const REDIS_URL = 'redis://127.0.0.1:6379/10';
const ADMIN_TOKEN = 'soak-bench-admin-token-0123456789abcdef';
const PROJECT = 'soak';
const REGION = 'soak-1';
const HOST = 'soak-host';
const BENCH = 'soak';

const num = (name: string, dflt: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const MINUTES = num('SOAK_MINUTES', 4);
const RATE = num('SOAK_RATE', 40);
const GATEWAYS = num('SOAK_GATEWAYS', 5);
const ENDPOINTS = num('SOAK_ENDPOINTS', 2000);
const WARMUP = num('SOAK_WARMUP', Math.min(5, MINUTES / 4));
const SAMPLE_MS = 10_000;

/** A child process whose log lines are counted by level (JSON lines with `"level"`). */
interface Proc {
  name: string;
  child: ChildProcess;
  warnLines: number[];
  refusals: number;
  tail: string;
  stop(): Promise<void>;
}

function startProc(name: string, main: string, env: Record<string, string>, nodeArgs: string[] = []): Proc {
  // the agent runs its main only as the main module; api and worker are started unnamed (hiddenArgs)
  const args = name === 'agent' ? [...nodeArgs, join(DIST, main)] : hiddenArgs(nodeArgs, `soak-${name}`);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, LOG_LEVEL: 'log,warn,error', ...env, NATPLANE_BENCH_MAIN: join(DIST, main) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: Proc = {
    name,
    child,
    warnLines: [],
    refusals: 0,
    tail: '',
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
  let buf = '';
  const onData = (b: Buffer) => {
    p.tail = (p.tail + b.toString()).slice(-4000);
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (/"level":"(warn|error|fatal)"|^\S*(WARN|ERROR)\b/.test(line)) p.warnLines.push(Date.now());
      if (/push refused|failed:.*409|older-generation|base-generation-mismatch/.test(line)) p.refusals++;
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  process.once('exit', () => child.kill('SIGKILL'));
  return p;
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The sum of the samples of a Prometheus text page whose line matches `line` (NaN: not read). */
async function metricSum(url: string, line: RegExp): Promise<number> {
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
    return text
      .split('\n')
      .filter((l) => line.test(l))
      .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
  } catch {
    return NaN;
  }
}

/**
 * Has the process (started with --heapsnapshot-signal=SIGWINCH --diagnostic-dir=dir) write a heap
 * snapshot into `dir`; resolves once the new file has stopped growing (node writes it
 * synchronously, then runs on). Returns its path.
 */
async function heapSnapshot(proc: Proc, dir: string): Promise<string> {
  const files = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'));
  const before = new Set(files());
  proc.child.kill('SIGWINCH');
  const deadline = Date.now() + 120_000;
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const fresh = files().find((f) => !before.has(f));
    if (fresh) {
      const size = statSync(join(dir, fresh)).size;
      if (size > 0 && size === last) return join(dir, fresh);
      last = size;
    }
    if (Date.now() > deadline) throw new Error(`${proc.name}: no heap snapshot in ${dir} after 120 s`);
  }
}

async function waitReady(url: string, proc: Proc): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited:\n${proc.tail}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${proc.name} not ready:\n${proc.tail}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const bench: Benchmark = {
  name: BENCH,
  async run(): Promise<BenchRow[]> {
    const dbUrl = await freshDatabase(DB);
    // SOAK_LOG_STATEMENTS=1: every statement of the bench's database in the server's log with its
    // duration (log_min_duration_statement = 0), to find which one drifts; set before any process connects.
    if (process.env.SOAK_LOG_STATEMENTS === '1') {
      const admin = new Client({ connectionString: dbUrl });
      await admin.connect();
      await admin.query(`ALTER DATABASE ${DB} SET log_min_duration_statement = 0`);
      await admin.end();
    }
    await flushRedis(REDIS_URL);
    const pg = new Client({ connectionString: dbUrl });
    await pg.connect();
    const procs: Proc[] = [];
    /** The ALTER SYSTEM value of autovacuum before the run (null: none), when the bench changed it. */
    let restoreAutovacuum: { before: string | null } | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'natplane-soak-'));
    try {
      const autovacuum = (await pg.query<{ autovacuum: string }>('SHOW autovacuum')).rows[0].autovacuum === 'on';
      let vacuumMode = autovacuum ? 'autovacuum (on)' : 'VACUUM (ANALYZE) every minute (autovacuum is off)';
      if (!autovacuum && process.env.SOAK_AUTOVACUUM === 'on') {
        const src = (await pg.query<{ sourcefile: string | null }>(`SELECT sourcefile FROM pg_settings WHERE name = 'autovacuum'`)).rows[0];
        restoreAutovacuum = { before: src?.sourcefile?.endsWith('postgresql.auto.conf') ? 'off' : null };
        await pg.query('ALTER SYSTEM SET autovacuum = on');
        await pg.query('SELECT pg_reload_conf()');
        vacuumMode = 'autovacuum (turned on for the run, restored after)';
      }
      const env = { NATPLANE_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: dbUrl, REDIS_URL };
      const apiPort = await freePort();
      const api = startProc('api', 'apps/api/src/main.js', { ...env, PORT: String(apiPort), HOST: '127.0.0.1' });
      procs.push(api);
      const base = `http://127.0.0.1:${apiPort}`;
      await waitReady(`${base}/readyz`, api);
      const workerMetricsPort = await freePort();
      const snapshotDir = process.env.SOAK_WORKER_HEAPSNAPSHOT;
      if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });
      const worker = startProc(
        'worker',
        'apps/worker/src/main.js',
        { ...env, WORKER_METRICS_LISTEN: `127.0.0.1:${workerMetricsPort}` },
        // not SIGUSR2: the worker's shutdown hooks (enableShutdownHooks) close it on that signal
        snapshotDir ? ['--heapsnapshot-signal=SIGWINCH', `--diagnostic-dir=${snapshotDir}`] : [],
      );
      procs.push(worker);
      const snapshots: string[] = [];
      const admin = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => call<T>(base, ADMIN_TOKEN, method, path, body);

      const agentPort = await freePort();
      const host = await admin<{ hostToken: string; pushSecret: string }>('POST', '/v1/admin/hosts', { name: HOST, region: REGION, zone: `${REGION}-a`, agentUrl: `http://127.0.0.1:${agentPort}` });
      const agent = startProc('agent', 'apps/host-agent/src/main.js', {
        NATPLANE_API_URL: base,
        NATPLANE_HOST: HOST,
        NATPLANE_HOST_TOKEN: host.hostToken,
        NATPLANE_PUSH_SECRET: host.pushSecret,
        AGENT_LISTEN: `127.0.0.1:${agentPort}`,
        AGENT_BACKEND: 'dry-run',
        AGENT_UPLINK: 'up0',
        AGENT_STATE_DIR: join(dir, 'agent'),
      });
      procs.push(agent);
      await waitReady(`http://127.0.0.1:${agentPort}/healthz`, agent);

      // seed: project, pool, networks, subnets, addresses, endpoints, gateways
      await admin('POST', '/v1/admin/projects', { name: PROJECT });
      await admin('POST', '/v1/admin/addressPools', { name: 'pool', region: REGION, cidrs: ['198.18.0.0/24'] });
      const p = `/v1/projects/${PROJECT}`;
      for (let g = 0; g < GATEWAYS; g++) {
        await admin('POST', `${p}/networks`, { name: `net-${g}` });
        await admin('POST', `${p}/subnets`, { name: `sub-${g}`, network: `net-${g}`, region: REGION, ipCidrRange: `10.${g}.0.0/16` });
        for (const k of [0, 1]) await admin('POST', `${p}/addresses`, { name: `nat-${g}-${k}`, region: REGION });
      }
      let nextId = 0;
      const live: string[] = [];
      const endpointBody = (i: number) => {
        const g = i % GATEWAYS;
        const n = Math.floor(i / GATEWAYS) % 65_000;
        return { name: `ep-${i}`, subnet: `sub-${g}`, host: HOST, networkIp: `10.${g}.${(n >> 8) + 1}.${n & 255}` };
      };
      await parallel(ENDPOINTS, 16, async () => {
        const i = nextId++;
        await admin('POST', `${p}/endpoints`, endpointBody(i));
        live.push(`ep-${i}`);
      });
      for (let g = 0; g < GATEWAYS; g++) {
        await admin('POST', `${p}/natGateways`, {
          name: `gw-${g}`,
          network: `net-${g}`,
          region: REGION,
          natIpAllocateOption: 'MANUAL_ONLY',
          natIps: [`nat-${g}-0`, `nat-${g}-1`],
          sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
          // A deleted VM's block is quarantined for the gateway's largest idle timeout. With the
          // default 1,200 s of established TCP, RATE/GATEWAYS deletes a second would need 9,600
          // quarantined blocks per gateway and its 2,016 blocks (2 IPs) run out after ~3.5 min:
          // new endpoints then stay unmapped (measured). 120 s keeps ~1,360 in use.
          tcpEstablishedIdleTimeoutSec: 120,
        });
      }
      live.sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));

      // the soak
      const start = Date.now();
      const end = start + MINUTES * 60_000;
      const creates: { at: number; ms: number }[] = [];
      let fiveXx = 0;
      let other = 0;
      // requests that got no answer (a connection reset, say): counted, and the run goes on; a
      // process that exited ends the run (below)
      let unanswered = 0;
      let lastUnanswered = '';
      const noAnswer = (e: unknown) => {
        unanswered++;
        lastUnanswered = e instanceof Error ? `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}` : String(e);
      };
      const samples: { at: number; rss: Record<string, number>; tables: Record<string, number>; history: number; unmapped: number; machine: { busyPct: number; stealPct: number }; buffers: Record<string, number>; heap: Record<string, number> }[] = [];
      let machine = machineMeter();
      const sample = async () => {
        const since = machine.stop();
        machine = machineMeter();
        const rss = Object.fromEntries(procs.map((q) => [q.name, rssMb(q.child.pid)]));
        // V8's heap in use (MB), where a process says it on /metrics: a leak of JS objects raises it,
        // memory kept by the allocator below (glibc's arenas, buffers) only the RSS
        const heap: Record<string, number> = {};
        for (const [name, url] of [
          ['worker', `http://127.0.0.1:${workerMetricsPort}/metrics`],
          ['agent', `http://127.0.0.1:${agentPort}/metrics`],
        ]) {
          heap[name] = (await metricSum(url, /^nodejs_heap_size_used_bytes\b/).catch(() => NaN)) / 1048576;
        }
        // One round trip for the database's figures (each a subquery):
        // - each table's total size (heap, indexes, TOAST);
        // - shared-buffer pages each table (heap and indexes) was read from so far, by every process:
        //   per create, how much work the database does per change, whatever the machine's load;
        // - rows of history ever written: every row takes its id from one sequence when it opens (a
        //   count(*) of the view here grew with the history, 7 -> 170 ms by minute 14, every 10 s:
        //   load the bench itself added to the machine as the run went on);
        // - endpoints that have existed for 5 s and still hold no block: the worker falling behind.
        const db = (
          await pg.query<{ tables: Record<string, string> | null; buffers: Record<string, string> | null; history: string; unmapped: string }>(
            `SELECT
               (SELECT json_object_agg(c.relname, pg_total_relation_size(c.oid)::text) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind = 'r') AS tables,
               (SELECT json_object_agg(relname, (coalesce(heap_blks_hit, 0) + coalesce(heap_blks_read, 0) + coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0))::text)
                FROM pg_statio_user_tables) AS buffers,
               (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM allocation_history_open_id_seq)::text AS history,
               (SELECT count(*) FROM endpoints e WHERE e.created_at < now() - interval '5 seconds'
                AND NOT EXISTS (SELECT 1 FROM allocation_history_open h WHERE h.endpoint_id = e.id))::text AS unmapped`,
          )
        ).rows[0];
        const tables = Object.fromEntries(Object.entries(db.tables ?? {}).map(([t, bytes]) => [t, Number(bytes) / 1048576]));
        const buffers = Object.fromEntries(Object.entries(db.buffers ?? {}).map(([t, n]) => [t, Number(n)]));
        const history = Number(db.history);
        const unmapped = Number(db.unmapped);
        samples.push({ at: Date.now(), rss, tables, history, unmapped, machine: since, buffers, heap });
      };
      await sample();
      const sampler = setInterval(() => void sample(), SAMPLE_MS);
      const vacuumer = vacuumMode.startsWith('VACUUM') ? setInterval(() => void pg.query('VACUUM (ANALYZE)'), 60_000) : undefined;
      let patches = 0;
      const patcher = setInterval(() => {
        const g = patches++ % GATEWAYS;
        void fetch(`${base}${p}/natGateways/gw-${g}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/merge-patch+json' },
          body: JSON.stringify({ udpIdleTimeoutSec: 30 + (patches % 2) }),
        }).then(
          (r) => {
            if (r.status >= 500) fiveXx++;
          },
          (e: unknown) => noAnswer(e),
        );
      }, 10_000);
      const inFlight = new Set<Promise<void>>();
      const warmEnd = start + WARMUP * 60_000;
      let firstSnapshot: Promise<void> | undefined;
      for (let k = 0; Date.now() < end; k++) {
        if (snapshotDir && !firstSnapshot && Date.now() >= warmEnd) firstSnapshot = heapSnapshot(worker, snapshotDir).then((f) => void snapshots.push(f));
        const due = start + (k * 1000) / RATE;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const dead = procs.find((q) => q.child.exitCode !== null || q.child.signalCode !== null);
        if (dead) throw new Error(`${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}):\n${dead.tail}`);
        const i = nextId++;
        const victim = live.shift();
        const t0 = performance.now();
        const job = (async () => {
          const r = await fetch(`${base}${p}/endpoints`, {
            method: 'POST',
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify(endpointBody(i)),
          });
          await r.arrayBuffer();
          if (r.status === 201) {
            creates.push({ at: Date.now(), ms: performance.now() - t0 });
            live.push(`ep-${i}`);
          } else if (r.status >= 500) fiveXx++;
          else other++;
          if (victim) {
            const d = await fetch(`${base}${p}/endpoints/${victim}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
            await d.arrayBuffer();
            if (d.status >= 500) fiveXx++;
          }
        })().catch(noAnswer);
        inFlight.add(job);
        void job.finally(() => inFlight.delete(job));
      }
      await Promise.all(inFlight);
      clearInterval(sampler);
      clearInterval(patcher);
      if (vacuumer) clearInterval(vacuumer);
      await sample();
      if (snapshotDir) {
        await firstSnapshot;
        snapshots.push(await heapSnapshot(worker, snapshotDir));
      }

      // figures
      const after = samples.filter((s) => s.at >= warmEnd);
      const hours = (ms: number) => ms / 3_600_000;
      const rows: BenchRow[] = [];
      const runDetails = { minutes: MINUTES, rate: RATE, gateways: GATEWAYS, endpoints: ENDPOINTS, warmup_min: WARMUP, vacuum: vacuumMode };
      /** The JS heap in use: its per-minute floor's slope (MB/h), first and last, where measured. */
      const heapDetails = (name: string): Record<string, number> => {
        const xs = after.filter((x) => Number.isFinite(x.heap[name]));
        if (xs.length < 2) return {};
        const floors = new Map<number, [number, number]>();
        for (const x of xs) {
          const minute = Math.floor((x.at - start) / 60_000);
          const f = floors.get(minute);
          if (!f || x.heap[name] < f[1]) floors.set(minute, [hours(x.at - start), x.heap[name]]);
        }
        return { heap_used_slope: slope([...floors.values()]), heap_used_first_mb: xs[0].heap[name], heap_used_last_mb: xs[xs.length - 1].heap[name] };
      };
      for (const q of procs) {
        // A Node process's RSS is a saw (the heap grows until a collection): what a leak raises is
        // the floor. So the slope is fitted to the lowest RSS of each minute (its raw samples' slope
        // is given beside it: over 25 minutes a 40 MB saw alone moves that one by +-20 MB/h).
        const floors = new Map<number, [number, number]>();
        for (const x of after) {
          const minute = Math.floor((x.at - start) / 60_000);
          const f = floors.get(minute);
          if (!f || x.rss[q.name] < f[1]) floors.set(minute, [hours(x.at - start), x.rss[q.name]]);
        }
        const s = slope([...floors.values()]);
        const raw = slope(after.map((x) => [hours(x.at - start), x.rss[q.name]]));
        rows.push({
          benchmark: BENCH,
          metric: `RSS slope after warm-up (per-minute floor), ${q.name}`,
          value: s,
          unit: 'MB/h',
          target: '< 10 MB/h',
          pass: s < 10,
          details: {
            raw_samples_slope: raw,
            first_mb: after[0]?.rss[q.name] ?? NaN,
            last_mb: after[after.length - 1]?.rss[q.name] ?? NaN,
            max_mb: Math.max(...after.map((x) => x.rss[q.name])),
            ...heapDetails(q.name),
            ...(q === worker ? Object.fromEntries(snapshots.map((f, i) => [`heap_snapshot_${i}`, f])) : {}),
          },
        });
      }
      const tables = Object.keys(samples[samples.length - 1].tables);
      const growth = tables
        .map((t) => ({ t, mb: (after[after.length - 1]?.tables[t] ?? 0) - (after[0]?.tables[t] ?? 0) }))
        .filter((x) => !x.t.startsWith('allocation_history'))
        .sort((a, b) => b.mb - a.mb);
      const worst = growth[0] ?? { t: '-', mb: 0 };
      rows.push({
        benchmark: BENCH,
        metric: 'largest table growth after warm-up (history excepted)',
        value: worst.mb,
        unit: 'MB',
        target: '<= 10 MB',
        pass: worst.mb <= 10,
        details: { table: worst.t, ...Object.fromEntries(growth.slice(0, 6).map((g) => [`mb_${g.t}`, Number(g.mb.toFixed(2))])), ...runDetails },
      });
      const historyRate = (samples[samples.length - 1].history - samples[0].history) / hours(samples[samples.length - 1].at - samples[0].at);
      rows.push({ benchmark: BENCH, metric: 'attribution history rows per hour', value: historyRate, unit: 'rows/h', details: { rows_at_end: samples[samples.length - 1].history } });
      const unmapped = Math.max(...samples.map((x) => x.unmapped));
      rows.push({
        benchmark: BENCH,
        metric: 'endpoints older than 5 s without a block (most at one sample)',
        value: unmapped,
        unit: '',
        target: '0',
        pass: unmapped === 0,
        details: { at_end: samples[samples.length - 1].unmapped, samples: samples.length },
      });
      const windowMs = WARMUP * 60_000;
      const first = creates.filter((c) => c.at < start + windowMs).map((c) => c.ms);
      const last = creates.filter((c) => c.at >= end - windowMs).map((c) => c.ms);
      const [p50a, p99a, p50b, p99b] = [median(first), percentile(first, 99), median(last), percentile(last, 99)];
      rows.push({ benchmark: BENCH, metric: `create p50, last ${WARMUP} min vs first`, value: p50b, unit: 'ms', target: `<= 1.5 x first (${(1.5 * p50a).toFixed(1)} ms)`, pass: p50b <= 1.5 * p50a, details: { first_p50: p50a, creates: creates.length, other_4xx: other } });
      const machineIn = (label: string, within: (at: number) => boolean) => {
        const xs = samples.slice(1).filter((x) => within(x.at));
        const avg = (f: (x: (typeof xs)[number]) => number) => Number((xs.reduce((a, x) => a + f(x), 0) / Math.max(1, xs.length)).toFixed(1));
        return { [`${label}_machine_busy_pct`]: avg((x) => x.machine.busyPct), [`${label}_machine_steal_pct`]: avg((x) => x.machine.stealPct) };
      };
      const minutes = Array.from({ length: Math.ceil((end - start) / 60_000) }, (_, m) => creates.filter((c) => c.at >= start + m * 60_000 && c.at < start + (m + 1) * 60_000).map((c) => c.ms));
      const perMinute = (f: (xs: number[]) => number) => minutes.map((xs) => (xs.length ? f(xs).toFixed(1) : '-')).join(' ');
      rows.push({
        benchmark: BENCH,
        metric: `create p99, last ${WARMUP} min vs first`,
        value: p99b,
        unit: 'ms',
        target: `<= 1.5 x first (${(1.5 * p99a).toFixed(1)} ms)`,
        pass: p99b <= 1.5 * p99a,
        details: {
          first_p99: p99a,
          p50_per_minute: perMinute(median),
          p99_per_minute: perMinute((xs) => percentile(xs, 99)),
          // the whole machine (busy and stolen % of all cores) in each window: a drift measured
          // while the machine got busier or was stolen from says little about natplane
          ...machineIn('first', (at) => at <= start + windowMs + SAMPLE_MS),
          ...machineIn('last', (at) => at > end - windowMs),
        },
      });
      // Pages read per create in the first and the last window, per table: a table whose figure
      // grows is one the database reads more of for the same change (bloat, a growing index).
      const at = (t: number) => samples.reduce((best, x) => (Math.abs(x.at - t) < Math.abs(best.at - t) ? x : best));
      const [f0, f1, l0, l1] = [at(start), at(start + windowMs), at(end - windowMs), at(end)];
      const perCreate = (a: (typeof samples)[number], b: (typeof samples)[number]) => {
        const n = Math.max(1, creates.filter((c) => c.at >= a.at && c.at < b.at).length);
        return Object.fromEntries(Object.keys(b.buffers).map((t) => [t, ((b.buffers[t] ?? 0) - (a.buffers[t] ?? 0)) / n]));
      };
      const [bf, bl] = [perCreate(f0, f1), perCreate(l0, l1)];
      const total = (x: Record<string, number>) => Object.values(x).reduce((a, v) => a + v, 0);
      const grown = Object.keys(bl)
        .sort((a, b) => bl[b] - (bf[b] ?? 0) - (bl[a] - (bf[a] ?? 0)))
        .slice(0, 4);
      rows.push({
        benchmark: BENCH,
        metric: `pages read per create, last ${WARMUP} min vs first`,
        value: total(bl) / Math.max(1, total(bf)),
        unit: 'x',
        details: { first: Number(total(bf).toFixed(0)), last: Number(total(bl).toFixed(0)), ...Object.fromEntries(grown.map((t) => [t, `${(bf[t] ?? 0).toFixed(1)}->${bl[t].toFixed(1)}`])) },
      });
      const counted = {
        agent: await metricSum(`http://127.0.0.1:${agentPort}/metrics`, /^natplane_agent_push_refusals_total\b/),
        worker: await metricSum(`http://127.0.0.1:${workerMetricsPort}/metrics`, /^natplane_worker_host_pushes_total\{[^}]*outcome="refused"/),
      };
      const logged = procs.reduce((a, q) => a + q.refusals, 0);
      const refusals = counted.agent + counted.worker + logged;
      rows.push({
        benchmark: BENCH,
        metric: 'push refusals',
        value: refusals,
        unit: '',
        target: '0',
        pass: refusals === 0,
        details: { agent_counted: counted.agent, worker_counted: counted.worker, ...Object.fromEntries(procs.map((q) => [`logged_${q.name}`, q.refusals])) },
      });
      rows.push({ benchmark: BENCH, metric: '5xx answers', value: fiveXx, unit: '', target: '0', pass: fiveXx === 0, details: { unanswered, ...(lastUnanswered ? { last_unanswered: lastUnanswered } : {}) } });
      const warnPerMin = procs.reduce((a, q) => a + q.warnLines.filter((t) => t >= start).length, 0) / MINUTES;
      rows.push({ benchmark: BENCH, metric: 'warn + error log lines per minute', value: warnPerMin, unit: '/min', target: '< 10', pass: warnPerMin < 10, details: Object.fromEntries(procs.map((q) => [q.name, q.warnLines.filter((t) => t >= start).length])) });
      return rows;
    } finally {
      for (const q of procs.reverse()) await q.stop().catch(() => undefined);
      if (restoreAutovacuum) {
        await pg.query(restoreAutovacuum.before === null ? 'ALTER SYSTEM RESET autovacuum' : 'ALTER SYSTEM SET autovacuum = off').catch(() => undefined);
        await pg.query('SELECT pg_reload_conf()').catch(() => undefined);
      }
      await pg.end();
      await dropDatabase(DB).catch(() => undefined);
      await flushRedis(REDIS_URL).catch(() => undefined);
    }
  },
};

export default bench;
