/** The benchmark contract: each bench/*.bench.ts default-exports a Benchmark. */
export interface BenchRow {
  benchmark: string;
  metric: string;
  /** The measured median (or the figure named by metric). */
  value: number;
  unit: string;
  /** Human-readable target, e.g. "<= 250 ms"; empty when informational. */
  target?: string;
  pass?: boolean;
  /** Extra measured numbers (p99, runs, samples...). */
  details?: Record<string, number | string>;
}

export interface Benchmark {
  name: string;
  run(): Promise<BenchRow[]>;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}
