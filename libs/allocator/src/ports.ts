/**
 * Rules about ports: block sizes, capacity per NAT IP, quarantine length, dynamic sizing.
 * Everything here is pure arithmetic; the buddy trees live in buddy.ts.
 */
import { MIN_QUARANTINE_SEC, PORTS_PER_IP, type AllocatorSpec, type UsageSample } from './types';

/**
 * log2 of the largest block that fits in 1024..65535 when blocks are aligned to their size
 * relative to 1024: 32,768 (one per IP). A request above it is clamped to it.
 */
export const MAX_BLOCK_ORDER = 15;
export const MAX_BLOCK = 1 << MAX_BLOCK_ORDER;
/** log2 of the smallest block a NATed alias range gets: 1,024 ports. */
export const ALIAS_MIN_ORDER = 10;

/** Dynamic allocation: grow when the latest report uses more than this share of the block. */
export const GROW_USAGE_RATIO = 0.75;
/**
 * Dynamic allocation: shrink (halve) only when the block has had its size for the whole window,
 * at least SHRINK_MIN_SAMPLES reports in the window came after that, and every one of them used at
 * most SHRINK_USAGE_RATIO of the block (= 50% of the halved block, far from the 75% growth line).
 */
export const SHRINK_WINDOW_MS = 10 * 60 * 1000;
export const SHRINK_MIN_SAMPLES = 3;
export const SHRINK_USAGE_RATIO = 0.25;

/** Smallest k with 2^k >= n (0 for n <= 1). */
export function ceilLog2(n: number): number {
  if (!(n > 1)) return 0;
  let k = 0;
  while (2 ** k < n) k++;
  return k;
}

/** Largest k with 2^k <= n (0 for n < 2). */
export function floorLog2(n: number): number {
  if (!(n >= 2)) return 0;
  let k = 0;
  while (2 ** (k + 1) <= n) k++;
  return k;
}

/** Blocks of `size` ports (a power of two <= 32,768) one NAT IP holds: floor(64512 / size). */
export function blocksPerIp(size: number): number {
  return Math.floor(PORTS_PER_IP / size);
}

/** True when (portLo, size) is a well-formed block: power of two, aligned, inside 1024..65535. */
export function isValidBlock(portLo: number, size: number): boolean {
  if (!Number.isInteger(portLo) || !Number.isInteger(size) || size < 1 || size > MAX_BLOCK) return false;
  if ((size & (size - 1)) !== 0) return false;
  const off = portLo - 1024;
  return off >= 0 && off % size === 0 && off + size <= PORTS_PER_IP;
}

/** Quarantine of a released block: the longest idle timeout of the gateway, at least 120 s. */
export function quarantineMs(idleTimeoutsSec: readonly number[]): number {
  let s = MIN_QUARANTINE_SEC;
  for (const t of idleTimeoutsSec) if (Number.isFinite(t) && t > s) s = t;
  return s * 1000;
}

/**
 * Size bounds (as log2) an endpoint's ACTIVE block must respect on every rule.
 * Static: lo = hi = log2 of P = next power of two >= minPortsPerVm (>= 1,024 with NATed alias
 * ranges), clamped to 32,768. Dynamic: lo = next power of two >= minPortsPerVm (>= 1,024 with
 * NATed alias ranges, unless max is below that), hi = largest power of two <= maxPortsPerVm,
 * both clamped to 32,768 (65,536 cannot fit: 1024..65535 holds 64,512 ports) and hi >= lo.
 */
export interface SizeBounds {
  dynamic: boolean;
  lo: [number, number];
  hi: [number, number];
}

export function sizeBounds(spec: AllocatorSpec): SizeBounds {
  const minOrder = Math.min(ceilLog2(spec.minPortsPerVm), MAX_BLOCK_ORDER);
  if (!spec.enableDynamicPortAllocation) {
    const alias = Math.max(minOrder, ALIAS_MIN_ORDER);
    return { dynamic: false, lo: [minOrder, alias], hi: [minOrder, alias] };
  }
  const maxOrder = Math.max(minOrder, Math.min(floorLog2(spec.maxPortsPerVm), MAX_BLOCK_ORDER));
  const alias = Math.max(minOrder, Math.min(ALIAS_MIN_ORDER, maxOrder));
  return { dynamic: true, lo: [minOrder, alias], hi: [maxOrder, maxOrder] };
}

/**
 * The size (log2) an endpoint's existing ACTIVE block of log2 `cur` should have now.
 * Config first (clamped to [lo, hi]); then, in dynamic mode, the usage reports made after the
 * block got its current size (`at > since`): double when the latest one uses more than 75% of the
 * block, halve under the hysteresis of SHRINK_*. One step per run.
 */
export function targetOrder(
  cur: number,
  lo: number,
  hi: number,
  dynamic: boolean,
  samples: readonly UsageSample[] | undefined,
  since: number,
  now: number,
): number {
  if (cur < lo) return lo;
  if (cur > hi) return hi;
  if (!dynamic || !samples || samples.length === 0) return cur;
  const size = 2 ** cur;
  let latest: UsageSample | undefined;
  for (const s of samples) {
    if (!(s.at > since) || s.at > now) continue;
    if (!latest || s.at > latest.at || (s.at === latest.at && s.portsInUse > latest.portsInUse)) latest = s;
  }
  if (!latest) return cur;
  if (cur < hi && latest.portsInUse > GROW_USAGE_RATIO * size) return cur + 1;
  if (cur > lo && since <= now - SHRINK_WINDOW_MS) {
    let n = 0;
    for (const s of samples) {
      if (!(s.at > since) || s.at > now || s.at <= now - SHRINK_WINDOW_MS) continue;
      if (s.portsInUse > SHRINK_USAGE_RATIO * size) return cur;
      n++;
    }
    if (n >= SHRINK_MIN_SAMPLES) return cur - 1;
  }
  return cur;
}

/**
 * Exact number of fresh NAT IPs needed to place blocks of the given sizes, placed the way the
 * allocator places them: larger blocks first, first fit, lowest aligned offset. On empty IPs and
 * in decreasing power-of-two order, every IP fills contiguously from port 1024, so the fill level
 * of each IP is a multiple of the current size and its room is floor((64512 - fill) / size).
 * `countsByOrder[k]` = how many blocks of 2^k ports.
 */
export function freshIpsNeeded(countsByOrder: ArrayLike<number>): number {
  const fills: number[] = [];
  for (let k = countsByOrder.length - 1; k >= 0; k--) {
    let m = countsByOrder[k];
    if (!m) continue;
    const size = 2 ** k;
    for (let i = 0; i < fills.length && m > 0; i++) {
      const room = Math.floor((PORTS_PER_IP - fills[i]) / size);
      const t = Math.min(room, m);
      fills[i] += t * size;
      m -= t;
    }
    const per = blocksPerIp(size);
    while (m > 0) {
      const t = Math.min(per, m);
      fills.push(t * size);
      m -= t;
    }
  }
  return fills.length;
}
