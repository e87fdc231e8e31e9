/**
 * Bench support: CPU time used by processes (Linux /proc), to report what each part of the system
 * spends per operation. Unlike latency, these figures barely move when other work shares the
 * machine, so they show where a change saves or costs.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** user + system CPU ms of one process (0 when it is gone). */
export function processCpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS; // fields 14 and 15: utime, stime
  } catch {
    return 0;
  }
}

/** PostgreSQL backends serving one database (matched on their process title). */
export function pgBackends(database: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.startsWith('postgres: ') && cmd.split(' ').includes(database)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function pidsOf(name: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === name) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * CPU ms per part between start() and stop(). Backends that appear meanwhile count from 0, and
 * those that exit meanwhile are lost (pools keep theirs for the whole run).
 */
export function cpuMeter(parts: () => Record<string, number[]>): { stop(): Record<string, number> } {
  const at = new Map<number, number>();
  for (const pids of Object.values(parts())) for (const p of pids) at.set(p, processCpuMs(p));
  const self0 = process.cpuUsage();
  return {
    stop() {
      const out: Record<string, number> = {};
      for (const [name, pids] of Object.entries(parts())) out[name] = pids.reduce((s, p) => s + processCpuMs(p) - (at.get(p) ?? 0), 0);
      const self = process.cpuUsage(self0);
      out.bench = (self.user + self.system) / 1000;
      return out;
    },
  };
}

/** The cpu line of /proc/stat: [busy, steal, total] jiffies of all cores. */
function machineJiffies(): [number, number, number] {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  const busy = user + nice + system + irq + softirq;
  return [busy, steal, busy + idle + iowait + steal];
}

/**
 * The whole machine between start and stop: busy % of all cores, and steal % (time the hypervisor
 * gave this machine's virtual cores to someone else). A phase whose steal is high, or whose busy
 * share is well above what the bench's own processes used, was not measured on a quiet machine;
 * the CPU per operation of every process then rises together (each instruction takes longer).
 */
export function machineMeter(): { stop(): { busyPct: number; stealPct: number } } {
  const [b0, s0, t0] = machineJiffies();
  return {
    stop() {
      const [b1, s1, t1] = machineJiffies();
      const dt = Math.max(1, t1 - t0);
      return { busyPct: Number(((100 * (b1 - b0)) / dt).toFixed(1)), stealPct: Number(((100 * (s1 - s0)) / dt).toFixed(1)) };
    },
  };
}
