/**
 * The eBPF backend's desired map contents, as plain data: what a host document asks the
 * programs' configuration maps to hold (apps/host-agent/ebpf/natplane.h has the layouts), grouped
 * by owner (one endpoint of one gateway, or one gateway) so that a one-endpoint patch rewrites
 * only that endpoint's entries. Pure, no I/O: the backend sends the operations to the loader.
 *
 * Keys and values are hex strings of the C structs' bytes: numbers little-endian (the host's
 * order on x86 and arm64), addresses and ports in network order.
 */
import { createHash } from 'node:crypto';
import { HostEndpoint, HostGatewaySettings } from '@natplane/contracts';
import { parseCidr, parseIpv4 } from '@natplane/nftables';

export type MapName = 'np_ids' | 'np_cnt' | 'np_blk' | 'np_dst' | 'np_ssrc' | 'np_natip' | 'np_named' | 'np_src';

/** Order of writes (a new source finds its block, a rule its destinations); deletes go the other way. */
export const MAP_ORDER: MapName[] = ['np_ids', 'np_cnt', 'np_blk', 'np_dst', 'np_ssrc', 'np_natip', 'np_named', 'np_src'];

export interface Entry {
  map: MapName;
  key: string;
  /** null: a zeroed value created only when absent (per-CPU counters keep their counts). */
  value: string | null;
}

export type Op = { op: 'u'; map: MapName; key: string; value: string } | { op: 'z'; map: MapName; key: string } | { op: 'd'; map: MapName; key: string };

// hex by table lookup: a full load encodes a few hundred thousand fields (Buffer per field was GC-bound)
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const u32 = (n: number) => {
  const v = n >>> 0;
  return HEX[v & 255] + HEX[(v >>> 8) & 255] + HEX[(v >>> 16) & 255] + HEX[v >>> 24];
};
const s32 = (n: number) => u32(n | 0);
const u16 = (n: number) => HEX[n & 255] + HEX[(n >>> 8) & 255];
const u64 = (n: number) => {
  const v = Math.max(0, Math.floor(n));
  return u32(v % 0x100000000) + u32(Math.floor(v / 0x100000000));
};
/** An IPv4 address number in network order. */
const be32 = (v: number) => HEX[v >>> 24] + HEX[(v >>> 16) & 255] + HEX[(v >>> 8) & 255] + HEX[v & 255];
/** An IPv4 address in network order. */
export const ip4 = (text: string) => {
  const n = parseIpv4(text);
  if (n === null) throw new Error(`not an IPv4 address: ${text}`);
  return be32(n >>> 0);
};

export const ownerOfEndpoint = (gatewayId: string, endpointId: string) => `e\0${gatewayId}\0${endpointId}`;
export const ownerOfGateway = (gatewayId: string) => `g\0${gatewayId}`;
export const HOST_OWNER = 'h';
/** np_ids key of an owner. */
export const idKey = (owner: string) => createHash('sha256').update(owner).digest().subarray(0, 16).toString('hex');
export const idValue = (num: number, sinceMs: number) => u32(num) + u32(0) + u64(sinceMs);
export function parseIdValue(hex: string): { num: number; sinceMs: number } {
  const b = Buffer.from(hex, 'hex');
  return { num: b.readUInt32LE(0), sinceMs: Number(b.readBigUInt64LE(8)) };
}

export const blkKey = (slot: number, rule: number) => u32(slot) + s32(rule);
export function parseBlkKey(hex: string): { slot: number; rule: number } {
  const b = Buffer.from(hex, 'hex');
  return { slot: b.readUInt32LE(0), rule: b.readInt32LE(4) };
}
export function parseBlkSince(valueHex: string): number {
  return Number(Buffer.from(valueHex, 'hex').readBigUInt64LE(32));
}

const TIMEOUT_ORDER = ['udpIdleTimeoutSec', 'icmpIdleTimeoutSec', 'tcpEstablishedIdleTimeoutSec', 'tcpTransitoryIdleTimeoutSec', 'tcpTimeWaitTimeoutSec'] as const;

/** What an endpoint's entries need to know besides the endpoint. */
export interface EndpointContext {
  slot: number;
  gw: number;
  settings: HostGatewaySettings;
  /** The device's ifindex (0: the endpoint names none); -1: named but absent now (its sources match nothing). */
  ifkey: number;
  /** When a (slot, rule)'s counters started, if they did already (kept across rewrites). */
  since: (slot: number, rule: number) => number;
}

/** The entries one endpoint of one gateway owns. */
export function endpointEntries(e: HostEndpoint, c: EndpointContext): Entry[] {
  const out: Entry[] = [];
  const ifkey = c.ifkey < 0 ? 0xffffffff : c.ifkey;
  const srcValue = u32(c.slot) + u32(c.gw);
  const forwarded = e.forwardedRanges ?? [];
  const sources = [...(e.natPrimary ? [`${e.networkIp}/32`] : []), ...e.aliasRanges, ...forwarded];
  for (const s of sources) {
    const cidr = parseCidr(s, true);
    if (!cidr) continue;
    out.push({ map: 'np_src', key: u32(32 + cidr.prefixLength) + u32(ifkey) + be32(cidr.start), value: srcValue });
  }
  out.push(...sourceRuleEntries(e, c.slot));
  if (c.ifkey > 0) out.push({ map: 'np_named', key: u32(c.ifkey), value: u32(1) });
  const eim = c.settings.mapping === 'ENDPOINT_INDEPENDENT' ? 1 : 0;
  const timeouts = TIMEOUT_ORDER.map((t) => u32(c.settings.timeouts[t])).join('');
  for (const m of e.mappings) {
    const natIp = m.active?.natIp ?? m.drain[0]?.natIp;
    const value =
      (m.active ? ip4(m.active.natIp) + u16(m.active.portLo) + u16(m.active.portHi) : (natIp ? ip4(natIp) : u32(0)) + u16(0) + u16(0)) +
      u32(eim) +
      timeouts +
      u64(c.since(c.slot, m.ruleNumber));
    out.push({ map: 'np_cnt', key: blkKey(c.slot, m.ruleNumber), value: null });
    out.push({ map: 'np_blk', key: blkKey(c.slot, m.ruleNumber), value });
    for (const b of [...(m.active ? [m.active] : []), ...m.drain]) out.push({ map: 'np_natip', key: ip4(b.natIp), value: u32(1) });
  }
  return out;
}

/**
 * The np_ssrc entries of an endpoint: each source a source-based rule applies to (its mappings'
 * `sources`) carries the smallest rule number of the mappings whose sources contain it, so the
 * longest match gives the first source rule for the address; `fwd` when it lies in a range the VM
 * forwards from.
 */
export function sourceRuleEntries(e: HostEndpoint, slot: number): Entry[] {
  type P = { start: number; end: number; len: number; rule: number };
  const parts = new Map<string, P>();
  for (const m of e.mappings) {
    for (const s of m.sources ?? []) {
      const c = parseCidr(s, true);
      if (!c) continue;
      const k = `${c.start}/${c.prefixLength}`;
      const p = parts.get(k);
      if (!p || m.ruleNumber < p.rule) parts.set(k, { start: c.start, end: c.end, len: c.prefixLength, rule: m.ruleNumber });
    }
  }
  const forwarded = (e.forwardedRanges ?? []).map((f) => parseCidr(f, true)).filter((c) => c !== null);
  const list = [...parts.values()];
  const out: Entry[] = [];
  for (const p of list) {
    let rule = p.rule;
    for (const q of list) if (q.rule < rule && q.start <= p.start && p.end <= q.end) rule = q.rule;
    const fwd = forwarded.some((f) => f.start <= p.start && p.end <= f.end) ? 1 : 0;
    out.push({ map: 'np_ssrc', key: u32(32 + p.len) + u32(slot) + be32(p.start), value: s32(rule) + u32(fwd) });
  }
  return out;
}

/**
 * The entries of a gateway's rules: each destination prefix carries the smallest rule number of
 * the prefixes that contain it (itself included), so the longest match the LPM map finds gives the
 * first rule, in ascending order, whose destinations hold the address.
 */
export function gatewayEntries(g: HostGatewaySettings, gw: number): Entry[] {
  const prefixes = new Map<string, { start: number; end: number; len: number; rule: number }>();
  for (const r of [...g.rules].sort((a, b) => a.ruleNumber - b.ruleNumber)) {
    for (const d of r.destinations) {
      const c = parseCidr(d, true);
      if (!c) continue;
      const k = `${c.start}/${c.prefixLength}`;
      if (!prefixes.has(k)) prefixes.set(k, { start: c.start, end: c.end, len: c.prefixLength, rule: r.ruleNumber });
    }
  }
  const list = [...prefixes.values()];
  const contains = (outer: { start: number; end: number }, inner: { start: number; end: number }) => outer.start <= inner.start && inner.end <= outer.end;
  const out: Entry[] = [];
  for (const p of list) {
    let rule = p.rule;
    for (const q of list) if (q.rule < rule && contains(q, p)) rule = q.rule;
    out.push({ map: 'np_dst', key: u32(32 + p.len) + u32(gw) + be32(p.start), value: s32(rule) });
  }
  return out;
}

/**
 * Map contents by owner, with reference counts for entries several owners share (a NAT IP, a
 * device). `set` returns the operations that turn the maps of the previous contents into the new.
 */
export class EntryTable {
  private readonly owners = new Map<string, Entry[]>();
  /** Per map: key -> the entry and how many owners hold it. */
  private readonly present = new Map<MapName, Map<string, { entry: Entry; refs: number }>>(MAP_ORDER.map((m) => [m, new Map()]));

  has(map: MapName, key: string): boolean {
    return (this.present.get(map) as Map<string, unknown>).has(key);
  }

  ownerEntries(owner: string): Entry[] | undefined {
    return this.owners.get(owner);
  }

  entries(): Entry[] {
    const out: Entry[] = [];
    for (const m of this.present.values()) for (const p of m.values()) out.push(p.entry);
    return out;
  }

  /** Replaces an owner's entries (null: the owner goes); appends the operations to `ops`. */
  set(owner: string, next: Entry[] | null, ops: OpList): void {
    const prev = this.owners.get(owner);
    if (next) this.owners.set(owner, next);
    else this.owners.delete(owner);
    for (const e of next ?? []) {
      const m = this.present.get(e.map) as Map<string, { entry: Entry; refs: number }>;
      const p = m.get(e.key);
      if (!p) {
        m.set(e.key, { entry: e, refs: 1 });
        ops.write(e);
      } else {
        p.refs++;
        if (p.entry.value !== e.value) {
          p.entry = e;
          ops.write(e);
        }
      }
    }
    for (const e of prev ?? []) {
      const m = this.present.get(e.map) as Map<string, { entry: Entry; refs: number }>;
      const p = m.get(e.key);
      if (!p) continue;
      if (--p.refs === 0) {
        m.delete(e.key);
        ops.remove(e.map, e.key);
      }
    }
  }
}

/** Operations in the order they must reach the maps: writes by MAP_ORDER, then deletes in reverse. */
export class OpList {
  private readonly writes = new Map<MapName, Map<string, Op>>();
  private readonly deletes = new Map<MapName, Map<string, Op>>();

  write(e: Entry): void {
    this.deletes.get(e.map)?.delete(e.key);
    const m = this.writes.get(e.map) ?? new Map<string, Op>();
    m.set(e.key, e.value === null ? { op: 'z', map: e.map, key: e.key } : { op: 'u', map: e.map, key: e.key, value: e.value });
    this.writes.set(e.map, m);
  }

  remove(map: MapName, key: string): void {
    this.writes.get(map)?.delete(key);
    const m = this.deletes.get(map) ?? new Map<string, Op>();
    m.set(key, { op: 'd', map, key });
    this.deletes.set(map, m);
  }

  ops(): Op[] {
    const out: Op[] = [];
    for (const m of MAP_ORDER) out.push(...(this.writes.get(m)?.values() ?? []));
    for (const m of [...MAP_ORDER].reverse()) out.push(...(this.deletes.get(m)?.values() ?? []));
    return out;
  }
}

export function opLine(o: Op): string {
  return o.op === 'u' ? `u ${o.map} ${o.key} ${o.value}` : `${o.op} ${o.map} ${o.key}`;
}
