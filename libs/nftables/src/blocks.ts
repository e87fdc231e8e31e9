/**
 * Port blocks as the host sees them: which ports a change releases (their leftover connections
 * must be removed from conntrack), and which endpoint a translated (NAT IP, port) belongs to
 * (to count ports in use).
 */
import { HostDocument, HostEndpoint, HostPortBlock } from '@natplane/contracts';
import { parseIpv4 } from './ipv4';

/** Ports of one NAT IP an endpoint held before a change and no longer holds after it. */
export interface ReleasedRange {
  gatewayId: string;
  endpointId: string;
  natIp: string;
  portLo: number;
  portHi: number;
  /** The endpoint's sources before the change: addresses and CIDRs (conntrack original source). */
  sources: string[];
}

function blocksOf(e: HostEndpoint | undefined): HostPortBlock[] {
  if (!e) return [];
  const out: HostPortBlock[] = [];
  for (const m of e.mappings) {
    if (m.active) out.push(m.active);
    out.push(...m.drain);
  }
  return out;
}

export function sourcesOf(e: HostEndpoint): string[] {
  return [...(e.natPrimary ? [e.networkIp] : []), ...e.aliasRanges];
}

/**
 * What an endpoint (of one gateway) releases between two versions of itself: every port of every
 * block (active or draining) before that no block after covers, per NAT IP. A block that only
 * moves from active to drain releases nothing; a block that grows in place releases nothing.
 */
export function releasedRanges(gatewayId: string, before: HostEndpoint | undefined, after: HostEndpoint | undefined): ReleasedRange[] {
  if (!before) return [];
  const kept = new Map<string, [number, number][]>();
  for (const b of blocksOf(after)) {
    const list = kept.get(b.natIp) ?? [];
    list.push([b.portLo, b.portHi]);
    kept.set(b.natIp, list);
  }
  for (const list of kept.values()) list.sort((x, y) => x[0] - y[0]);
  const out: ReleasedRange[] = [];
  const seen = new Set<string>();
  const sources = sourcesOf(before);
  for (const b of blocksOf(before)) {
    const id = `${b.natIp}:${b.portLo}-${b.portHi}`;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const [lo, hi] of subtract(b.portLo, b.portHi, kept.get(b.natIp) ?? [])) {
      out.push({ gatewayId, endpointId: before.id, natIp: b.natIp, portLo: lo, portHi: hi, sources });
    }
  }
  return mergeRanges(out);
}

/** [lo, hi] minus the sorted intervals. */
function subtract(lo: number, hi: number, minus: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let cur = lo;
  for (const [a, b] of minus) {
    if (b < cur) continue;
    if (a > hi) break;
    if (a > cur) out.push([cur, a - 1]);
    cur = Math.max(cur, b + 1);
    if (cur > hi) break;
  }
  if (cur <= hi) out.push([cur, hi]);
  return out;
}

/** Overlapping blocks (an old drain block inside an old active one) are reported once. */
function mergeRanges(ranges: ReleasedRange[]): ReleasedRange[] {
  const byIp = new Map<string, ReleasedRange[]>();
  for (const r of ranges) byIp.set(r.natIp, [...(byIp.get(r.natIp) ?? []), r]);
  const out: ReleasedRange[] = [];
  for (const list of byIp.values()) {
    list.sort((a, b) => a.portLo - b.portLo);
    for (const r of list) {
      const last = out[out.length - 1];
      if (last && last.natIp === r.natIp && r.portLo <= last.portHi + 1) last.portHi = Math.max(last.portHi, r.portHi);
      else out.push({ ...r });
    }
  }
  return out;
}

/** Every range released between two whole documents. */
export function releasedBetween(prev: HostDocument, next: HostDocument): ReleasedRange[] {
  const after = new Map<string, HostEndpoint>();
  for (const g of next.gateways) for (const e of g.endpoints) after.set(`${g.id}\u0000${e.id}`, e);
  const out: ReleasedRange[] = [];
  for (const g of prev.gateways) {
    for (const e of g.endpoints) {
      const n = after.get(`${g.id}\u0000${e.id}`);
      if (n === e) continue;
      out.push(...releasedRanges(g.id, e, n));
    }
  }
  return out;
}

export interface BlockOwner {
  gatewayId: string;
  endpointId: string;
  ruleNumber: number;
}

/** (NAT IP, port) -> the endpoint and rule whose block (active or draining) holds it. */
export class BlockIndex {
  private readonly byIp = new Map<number, { lo: number; hi: number; owner: BlockOwner }[]>();

  constructor(doc: HostDocument) {
    for (const g of doc.gateways) {
      for (const e of g.endpoints) {
        for (const m of e.mappings) {
          const owner = { gatewayId: g.id, endpointId: e.id, ruleNumber: m.ruleNumber };
          for (const b of [...(m.active ? [m.active] : []), ...m.drain]) {
            const ip = parseIpv4(b.natIp);
            if (ip === null) continue;
            const list = this.byIp.get(ip) ?? [];
            list.push({ lo: b.portLo, hi: b.portHi, owner });
            this.byIp.set(ip, list);
          }
        }
      }
    }
    for (const list of this.byIp.values()) list.sort((a, b) => a.lo - b.lo);
  }

  lookup(natIp: string, port: number): BlockOwner | undefined {
    const ip = parseIpv4(natIp);
    const list = ip === null ? undefined : this.byIp.get(ip);
    if (!list) return undefined;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = list[mid];
      if (port < b.lo) hi = mid - 1;
      else if (port > b.hi) lo = mid + 1;
      else return b.owner;
    }
    return undefined;
  }
}
