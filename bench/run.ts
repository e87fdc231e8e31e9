/**
 * `npm run bench [name...]`: runs every bench/*.bench.js (or those named), prints one table and
 * writes bench/results/latest.json.
 */
import { readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Benchmark, BenchRow } from './harness';

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.js'))
    .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
    .sort();
  const rows: BenchRow[] = [];
  for (const f of files) {
    const mod = (await import(join(__dirname, f))) as { default: Benchmark };
    process.stderr.write(`running ${mod.default.name}...\n`);
    rows.push(...(await mod.default.run()));
  }
  const table = rows.map((r) => ({
    benchmark: r.benchmark,
    metric: r.metric,
    median: `${round(r.value)} ${r.unit}`,
    target: r.target ?? '',
    pass: r.pass === undefined ? '' : r.pass ? 'yes' : 'NO',
    details: r.details ? Object.entries(r.details).map(([k, v]) => `${k}=${typeof v === 'number' ? round(v) : v}`).join(' ') : '',
  }));
  printTable(table);
  const out = join(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), JSON.stringify({ at: new Date().toISOString(), rows }, null, 2));
}

function round(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3);
}

function printTable(rows: Record<string, string>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]);
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  console.log(line(cols));
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const r of rows) console.log(line(cols.map((c) => r[c])));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
