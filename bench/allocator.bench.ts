/**
 * allocator: speed, memory and capacity of libs/allocator.
 *
 * - allocate() from scratch: 100,000 endpoints on 100 NAT IPs at 64 ports, and 1,000,000 on 1,000
 *   IPs; the time covers the whole call, result included (blocks, changes, status). Each case runs
 *   in a fresh `node --expose-gc` child: one warm-up run, then RUNS measured runs, each after a
 *   full GC; the rows report the median. Endpoint ids come sorted (as `ORDER BY id` gives them),
 *   which lets the allocator skip its sort; an informational row shows the 100,000 case shuffled.
 * - peak memory of the 1,000,000 case: a fresh child builds the input and runs allocate() once;
 *   the row reports the child's peak RSS (process.resourceUsage().maxRSS, input included) and, in
 *   details, the peak V8 heap sampled during the run.
 * - add one endpoint to a 100,000-endpoint allocation: the incremental path (Allocator.addEndpoint
 *   on an allocator built from 100,000 endpoints), ADDS single adds each timed alone; median.
 * - endpoints per NAT IP for every power of two P from 2 to 32,768: allocate() with more
 *   endpoints than fit on one IP, count the ACTIVE blocks, compare with floor(64512 / P).
 *
 * Knobs (env): ALLOCATOR_BENCH_RUNS (5), ALLOCATOR_BENCH_ADDS (500).
 */
import { execFile } from 'node:child_process';
import { Allocator, DEFAULT_RULE, allocate, type AllocatorEndpoint, type AllocatorInput } from '../libs/allocator/src';
import { median, percentile, type Benchmark, type BenchRow } from './harness';
import { num } from './support/knobs';

const RUNS = num('ALLOCATOR_BENCH_RUNS', 5);
const ADDS = num('ALLOCATOR_BENCH_ADDS', 500); // 100 IPs x 1,008 leave room for 800
const NOW = 1_800_000_000_000;
const NAME = 'allocator';

function natIps(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
}

function endpoints(n: number, prefix = 'ep-'): AllocatorEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${String(i).padStart(8, '0')}`, aliasRangesNated: false }));
}

function input(nEndpoints: number, nIps: number, minPorts: number): AllocatorInput {
  return {
    spec: {
      minPortsPerVm: minPorts,
      maxPortsPerVm: 65536,
      enableDynamicPortAllocation: false,
      natIpAllocateOption: 'MANUAL_ONLY',
      idleTimeoutsSec: [30, 30, 1200, 30, 30],
      rules: [{ ruleNumber: DEFAULT_RULE, activeIps: natIps(nIps), drainIps: [] }],
    },
    endpoints: endpoints(nEndpoints),
    previous: [],
    foreign: [],
    usage: [],
    now: NOW,
  };
}

function shuffle<T>(xs: T[]): T[] {
  let s = 12345;
  for (let i = xs.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

// ------------------------------------------------------------------ child side

interface ChildReport {
  times: number[];
  mapped: number;
  maxRssMb: number;
  peakHeapMb: number;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Runs one case in this (child) process and prints a ChildReport as JSON. */
function childMain(kind: string, nEndpoints: number, nIps: number, runs: number): void {
  const inp = input(nEndpoints, nIps, 64);
  if (kind === 'shuffled') shuffle(inp.endpoints);
  let peakHeap = 0;
  const sample = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 5);
  sample.unref();
  const times: number[] = [];
  let mapped = 0;
  for (let i = 0; i < runs + (kind === 'memory' ? 0 : 1); i++) {
    gc();
    const t = performance.now();
    const r = allocate(inp);
    const dt = performance.now() - t;
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    mapped = r.status.endpointsWithMappings;
    if (kind === 'memory' || i > 0) times.push(dt); // the first run warms the JIT up
  }
  clearInterval(sample);
  const report: ChildReport = {
    times,
    mapped,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    peakHeapMb: peakHeap / 2 ** 20,
  };
  process.stdout.write(JSON.stringify(report));
}

function child(kind: string, nEndpoints: number, nIps: number, runs: number): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', __filename, '--allocator-child', kind, String(nEndpoints), String(nIps), String(runs)],
      { maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${kind} child failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as ChildReport);
      },
    );
  });
}

// ------------------------------------------------------------------ parent side

async function fromScratch(label: string, kind: string, nEndpoints: number, nIps: number, targetMs?: number): Promise<BenchRow> {
  const r = await child(kind, nEndpoints, nIps, RUNS);
  const value = median(r.times);
  return {
    benchmark: NAME,
    metric: label,
    value,
    unit: 'ms',
    target: targetMs === undefined ? '' : `<= ${targetMs} ms`,
    pass: targetMs === undefined ? undefined : value <= targetMs && r.mapped === nEndpoints,
    details: { runs: r.times.length, min: Math.min(...r.times), max: Math.max(...r.times), mapped: r.mapped },
  };
}

async function peakMemory(nEndpoints: number, nIps: number, targetMb: number): Promise<BenchRow> {
  const r = await child('memory', nEndpoints, nIps, 1);
  return {
    benchmark: NAME,
    metric: `peak RSS, allocate ${nEndpoints.toLocaleString('en-US')} endpoints on ${nIps.toLocaleString('en-US')} IPs (fresh process)`,
    value: r.maxRssMb,
    unit: 'MB',
    target: `<= ${targetMb} MB`,
    pass: r.maxRssMb <= targetMb && r.mapped === nEndpoints,
    details: { peakHeapMb: r.peakHeapMb, runMs: r.times[0], mapped: r.mapped },
  };
}

function addOne(base: number, nIps: number): BenchRow {
  const alloc = new Allocator(input(base, nIps, 64));
  // two warm-up adds (JIT, and the id index the allocator builds on first use)
  alloc.addEndpoint({ id: 'warm-0', aliasRangesNated: false });
  alloc.addEndpoint({ id: 'warm-1', aliasRangesNated: false });
  const fresh = endpoints(ADDS, 'new-');
  const times: number[] = [];
  let ok = 0;
  for (const ep of fresh) {
    const t = performance.now();
    if (alloc.addEndpoint(ep)) ok++;
    times.push(performance.now() - t);
  }
  const value = median(times);
  return {
    benchmark: NAME,
    metric: `add 1 endpoint to a ${base.toLocaleString('en-US')}-endpoint allocation (Allocator.addEndpoint)`,
    value,
    unit: 'ms',
    target: '<= 0.1 ms',
    pass: value <= 0.1 && ok === ADDS,
    details: { adds: ADDS, p99: percentile(times, 99), placed: ok },
  };
}

function capacity(): BenchRow[] {
  const rows: BenchRow[] = [];
  for (let k = 1; k <= 15; k++) {
    const p = 2 ** k;
    const expected = Math.floor(64512 / p);
    const r = allocate(input(expected + 5, 1, p));
    const got = r.blocks.filter((b) => b.state === 'ACTIVE').length;
    rows.push({
      benchmark: NAME,
      metric: `endpoints per NAT IP at P = ${p}`,
      value: got,
      unit: 'endpoints',
      target: `= floor(64512/${p}) = ${expected}`,
      pass: got === expected,
      details: { offered: expected + 5, minExtraNatIpsNeeded: r.status.minExtraNatIpsNeeded },
    });
  }
  return rows;
}

const bench: Benchmark = {
  name: NAME,
  async run(): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    rows.push(await fromScratch('allocate 100,000 endpoints on 100 IPs at 64 ports, from scratch', 'sorted', 100_000, 100, 250));
    rows.push(await fromScratch('allocate 100,000 endpoints on 100 IPs, ids unsorted (informational)', 'shuffled', 100_000, 100));
    rows.push(await fromScratch('allocate 1,000,000 endpoints on 1,000 IPs at 64 ports, from scratch', 'sorted', 1_000_000, 1000, 3000));
    rows.push(await peakMemory(1_000_000, 1000, 1536));
    rows.push(addOne(100_000, 100));
    rows.push(...capacity());
    return rows;
  },
};
export default bench;

if (require.main === module && process.argv[2] === '--allocator-child') {
  const [kind, n, ips, runs] = process.argv.slice(3);
  childMain(kind, Number(n), Number(ips), Number(runs));
}
