/** Strict IPv4 and CIDR text helpers (no I/O). Addresses are unsigned 32-bit numbers. */
import { parseIpv4 as parseStrictIpv4 } from '@natplane/domain';

/**
 * `a.b.c.d` with decimal octets and no leading zeros, else null: libs/domain's parser (the one
 * IPv4 parser), as a number or null for the renderer and the agent's hot paths.
 */
export function parseIpv4(text: string): number | null {
  const parsed = parseStrictIpv4(text);
  return parsed.ok ? parsed.value : null;
}

export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export interface Cidr {
  /** First address (the prefix, host bits zero). */
  start: number;
  /** Last address, inclusive. */
  end: number;
  prefixLength: number;
}

/**
 * `a.b.c.d/len` (a bare address means /32). Host bits must be zero unless `lenient`, which masks
 * them away instead. Returns null when malformed.
 */
export function parseCidr(text: string, lenient = false): Cidr | null {
  const slash = text.indexOf('/');
  const addr = parseIpv4(slash < 0 ? text : text.slice(0, slash));
  if (addr === null) return null;
  let len = 32;
  if (slash >= 0) {
    const l = text.slice(slash + 1);
    if (!/^(3[0-2]|[12]?\d)$/.test(l)) return null;
    len = Number(l);
  }
  const size = 2 ** (32 - len);
  const start = addr - (addr % size);
  if (start !== addr && !lenient) return null;
  return { start, end: start + size - 1, prefixLength: len };
}

/** Canonical text: `a.b.c.d/len`, always with the length. */
export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.start)}/${c.prefixLength}`;
}

/**
 * The same address space as `cidrs` with every CIDR that lies inside another one removed, sorted
 * by start: the elements an nftables interval set accepts (it refuses overlapping intervals).
 */
export function disjointCidrs(cidrs: Cidr[]): Cidr[] {
  const sorted = [...cidrs].sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Cidr[] = [];
  for (const c of sorted) {
    const last = out[out.length - 1];
    if (last && c.start <= last.end) continue; // CIDRs either nest or are disjoint
    out.push(c);
  }
  return out;
}
