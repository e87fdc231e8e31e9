/**
 * The eBPF backend's desired map contents, as plain data: what a host document asks the
 * programs' configuration maps to hold (apps/host-agent/ebpf/natplane.h has the layouts), grouped
 * by owner (one endpoint of one gateway, or one gateway) so that a one-endpoint patch rewrites
 * only that endpoint's entries. Pure, no I/O: the backend sends the operations to the loader.
 *
 * Keys and values are the C structs' bytes held in binary strings (one char a byte, 0-255:
 * `latin1`): numbers little-endian (the host's order on x86 and arm64), addresses and ports in
 * network order. A key in the table carries its map too: one first char, the map's index in
 * MAP_ORDER (a "tagged key"), so one Map holds every map's entries. Binary strings, not hex or
 * Buffers: a full load handles a few hundred thousand of them, and half the bytes and no object
 * per field keep it out of the garbage collector (hex strings and an object per entry made half
 * of a 50,000-endpoint load garbage collection).
 */
import { createHash } from 'node:crypto';
import { DEFAULT_RULE, HostEndpoint, HostGatewaySettings } from '@natplane/contracts';
import { parseCidr, parseIpv4 } from '@natplane/nftables';

/** Order of writes (a new source finds its block, a rule its destinations); deletes go the other way. */
export const MAP_ORDER = ['np_ids', 'np_cnt', 'np_blk', 'np_dst', 'np_ssrc', 'np_natip', 'np_named', 'np_src'] as const;
export type MapName = (typeof MAP_ORDER)[number];

/** Key and value sizes of the configuration maps (natplane.h); np_cnt's value is never sent (`z` only). */
export const KEY_SIZE: Record<MapName, number> = { np_ids: 16, np_cnt: 8, np_blk: 8, np_dst: 12, np_ssrc: 12, np_natip: 4, np_named: 4, np_src: 12 };
export const VALUE_SIZE: Record<MapName, number> = { np_ids: 16, np_cnt: 72, np_blk: 40, np_dst: 4, np_ssrc: 8, np_natip: 4, np_named: 4, np_src: 8 };

const T_IDS = 0;
const T_CNT = 1;
const T_BLK = 2;
const T_DST = 3;
const T_SSRC = 4;
const T_NATIP = 5;
const T_NAMED = 6;
const T_SRC = 7;

const ch = String.fromCharCode;
const le32 = (n: number) => ch(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255);
/** An IPv4 address number in network order. */
const be32 = (v: number) => ch((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
const ONE = le32(1);

/** The map of a tagged key. */
export const mapOf = (tkey: string): MapName => MAP_ORDER[tkey.charCodeAt(0)];
/** A tagged key from a map and the key's bytes. */
export const tag = (map: MapName, key: string) => ch(MAP_ORDER.indexOf(map)) + key;

export const toHex = (bin: string) => Buffer.from(bin, 'latin1').toString('hex');
export const fromHex = (hex: string) => Buffer.from(hex, 'hex').toString('latin1');

const ipNumbers = new Map<string, number>();
/** An address as a number (memoized: a document repeats a few NAT IPs many times). */
function ipNumber(text: string): number {
  const n = ipNumbers.get(text);
  if (n !== undefined) return n;
  const parsed = parseIpv4(text);
  if (parsed === null) throw new Error(`not an IPv4 address: ${text}`);
  if (ipNumbers.size >= 4096) ipNumbers.clear();
  ipNumbers.set(text, parsed);
  return parsed;
}

/** An IPv4 address in network order (its number from ipNumber's memo: one cache for both). */
export const ip4 = (text: string) => be32(ipNumber(text));

export const ownerOfEndpoint = (gatewayId: string, endpointId: string) => `e\0${gatewayId}\0${endpointId}`;
export const ownerOfGateway = (gatewayId: string) => `g\0${gatewayId}`;
export const HOST_OWNER = 'h';

/**
 * np_ids key of an owner: a 128-bit hash of its name (four 32-bit multiply-xorshift lanes over its
 * UTF-16 code units, each lane seeded apart and mixed with the others at the end). Not
 * cryptographic, and it need not be: a collision could only hand one owner another's number at a
 * restart (its counters' continuity), never a packet to the wrong endpoint (np_src decides that
 * from the document), and 2^-128 per pair makes even that moot. A hand-written hash because a
 * full load keys every endpoint: sha256 through node:crypto cost 5-12 us an owner here, a quarter
 * of a 50,000-endpoint load; this costs well under one.
 */
export function idKey(owner: string): string {
  return hash128(owner, -1);
}

/** hash128 with the tag char of np_ids first (tag -1: none), in one flat string. */
function hash128(owner: string, t: number): string {
  let a = 0x9e3779b1;
  let b = 0x85ebca77;
  let c = 0xc2b2ae3d;
  let d = 0x27d4eb2f;
  for (let i = 0; i < owner.length; i++) {
    const x = owner.charCodeAt(i);
    a = Math.imul(a ^ x, 0x01000193);
    b = Math.imul(b ^ x, 0x5bd1e995);
    c = Math.imul(c ^ x, 0xcc9e2d51);
    d = Math.imul(d ^ x, 0x1b873593);
  }
  const len = owner.length;
  a = fmix(a ^ len ^ d);
  b = fmix(b ^ a);
  c = fmix(c ^ b);
  d = fmix(d ^ c);
  a = fmix(a ^ d);
  if (t < 0) {
    return ch(a & 255, (a >>> 8) & 255, (a >>> 16) & 255, a >>> 24, b & 255, (b >>> 8) & 255, (b >>> 16) & 255, b >>> 24,
      c & 255, (c >>> 8) & 255, (c >>> 16) & 255, c >>> 24, d & 255, (d >>> 8) & 255, (d >>> 16) & 255, d >>> 24);
  }
  return ch(t, a & 255, (a >>> 8) & 255, (a >>> 16) & 255, a >>> 24, b & 255, (b >>> 8) & 255, (b >>> 16) & 255, b >>> 24,
    c & 255, (c >>> 8) & 255, (c >>> 16) & 255, c >>> 24, d & 255, (d >>> 8) & 255, (d >>> 16) & 255, d >>> 24);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The np_ids key the first eBPF agents wrote (sha256 of the owner): recognized at a restart after an upgrade. */
export const legacyIdKey = (owner: string) => createHash('sha256').update(owner).digest().subarray(0, 16).toString('latin1');

export const idValue = (num: number, sinceMs: number) => {
  const v = Math.max(0, Math.floor(sinceMs));
  const lo = v % 0x100000000;
  const hi = Math.floor(v / 0x100000000);
  return ch(num & 255, (num >>> 8) & 255, (num >>> 16) & 255, num >>> 24, 0, 0, 0, 0,
    lo & 255, (lo >>> 8) & 255, (lo >>> 16) & 255, lo >>> 24, hi & 255, (hi >>> 8) & 255, (hi >>> 16) & 255, hi >>> 24);
};
export function parseIdValue(bin: string): { num: number; sinceMs: number } {
  const b = Buffer.from(bin, 'latin1');
  return { num: b.readUInt32LE(0), sinceMs: Number(b.readBigUInt64LE(8)) };
}

/** np_blk and np_cnt key (untagged): (slot, rule). */
export const blkKey = (slot: number, rule: number) => le32(slot) + le32(rule | 0);
export function parseBlkKey(bin: string): { slot: number; rule: number } {
  const b = Buffer.from(bin, 'latin1');
  return { slot: b.readUInt32LE(0), rule: b.readInt32LE(4) };
}
export function parseBlkSince(valueBin: string): number {
  return Number(Buffer.from(valueBin, 'latin1').readBigUInt64LE(32));
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

/** An owner's entries: tagged key, then value (null: a zeroed value created only when absent; per-CPU counters keep their counts), pair after pair. */
export type Entries = (string | null)[];

/** The 24 bytes of a gateway's settings an np_blk value repeats for each of its endpoints' mappings: EIM flag, five timeouts. */
const settingsBytes = new WeakMap<HostGatewaySettings, number[]>();
function settingsOf(s: HostGatewaySettings): number[] {
  let v = settingsBytes.get(s);
  if (v === undefined) {
    const bytes = le32(s.mapping === 'ENDPOINT_INDEPENDENT' ? 1 : 0) + TIMEOUT_ORDER.map((t) => le32(s.timeouts[t])).join('');
    v = [...bytes].map((c) => c.charCodeAt(0));
    settingsBytes.set(s, v);
  }
  return v;
}

/** The settings bytes of a pass entry: NP_BLK_PASS in the EIM field, no timeouts. */
const PASS_SETTINGS = [...(le32(2) + le32(0).repeat(5))].map((x) => x.charCodeAt(0));

/** A tagged np_src key: (prefix 32 + len, device, source), each byte a char of one string (no pieces to join). */
function srcKey(len: number, ifkey: number, a: number): string {
  const p = 32 + len;
  return ch(T_SRC, p, 0, 0, 0, ifkey & 255, (ifkey >>> 8) & 255, (ifkey >>> 16) & 255, ifkey >>> 24,
    (a >>> 24) & 255, (a >>> 16) & 255, (a >>> 8) & 255, a & 255);
}

/** A tagged np_natip key: the address in network order. */
function natIpKey(a: number): string {
  return ch(T_NATIP, (a >>> 24) & 255, (a >>> 16) & 255, (a >>> 8) & 255, a & 255);
}

/** A tagged np_blk or np_cnt key. */
function pairKey(t: number, slot: number, rule: number): string {
  return ch(t, slot & 255, (slot >>> 8) & 255, (slot >>> 16) & 255, slot >>> 24, rule & 255, (rule >>> 8) & 255, (rule >>> 16) & 255, (rule >>> 24) & 255);
}

/**
 * An np_blk value, one flat string of its 40 bytes (a value kept in the table as joined pieces
 * keeps every piece alive): NAT IP, ports lo and hi, EIM flag and timeouts (`settings`, 24 numbers
 * of settingsOf), the counters' start.
 */
function blkValue(ip: number, lo: number, hi: number, st: number[], since: number): string {
  const v = Math.max(0, Math.floor(since));
  const a = v % 0x100000000;
  const b = Math.floor(v / 0x100000000);
  return ch((ip >>> 24) & 255, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255, lo & 255, (lo >>> 8) & 255, hi & 255, (hi >>> 8) & 255,
    st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7], st[8], st[9], st[10], st[11], st[12], st[13], st[14], st[15],
    st[16], st[17], st[18], st[19], st[20], st[21], st[22], st[23],
    a & 255, (a >>> 8) & 255, (a >>> 16) & 255, a >>> 24, b & 255, (b >>> 8) & 255, (b >>> 16) & 255, b >>> 24);
}

/** Appends the entries one endpoint of one gateway owns to `out`. */
export function endpointEntries(e: HostEndpoint, c: EndpointContext, out: Entries = []): Entries {
  const ifkey = c.ifkey < 0 ? 0xffffffff : c.ifkey;
  const srcValue = ch(c.slot & 255, (c.slot >>> 8) & 255, (c.slot >>> 16) & 255, c.slot >>> 24, c.gw & 255, (c.gw >>> 8) & 255, (c.gw >>> 16) & 255, c.gw >>> 24);
  if (e.natPrimary) {
    const a = parseIpv4(e.networkIp);
    if (a !== null) out.push(srcKey(32, ifkey, a), srcValue);
  }
  for (const s of e.aliasRanges) {
    const cidr = parseCidr(s, true);
    if (cidr) out.push(srcKey(cidr.prefixLength, ifkey, cidr.start), srcValue);
  }
  for (const s of e.forwardedRanges ?? []) {
    const cidr = parseCidr(s, true);
    if (cidr) out.push(srcKey(cidr.prefixLength, ifkey, cidr.start), srcValue);
  }
  sourceRuleEntries(e, c.slot, out);
  if (c.ifkey > 0) out.push(ch(T_NAMED) + le32(ifkey), ONE);
  const settings = settingsOf(c.settings);
  // A gateway whose unmatched flows pass (Private NAT): the DEFAULT_RULE pair says so (no counters:
  // nothing is translated there).
  if (c.settings.unmatched === 'PASS' && !e.mappings.some((m) => m.ruleNumber === DEFAULT_RULE)) {
    out.push(pairKey(T_BLK, c.slot, DEFAULT_RULE), blkValue(0, 0, 0, PASS_SETTINGS, 0));
  }
  for (const m of e.mappings) {
    const natIp = m.active?.natIp ?? m.drain[0]?.natIp;
    const ip = natIp ? ipNumber(natIp) : 0;
    const value = blkValue(ip, m.active?.portLo ?? 0, m.active?.portHi ?? 0, settings, c.since(c.slot, m.ruleNumber));
    out.push(pairKey(T_CNT, c.slot, m.ruleNumber), null, pairKey(T_BLK, c.slot, m.ruleNumber), value);
    if (m.active) out.push(natIpKey(ip), ONE);
    for (const b of m.drain) out.push(natIpKey(ipNumber(b.natIp)), ONE);
  }
  return out;
}

/**
 * Appends the np_ssrc entries of an endpoint: each source a source-based rule applies to (its
 * mappings' `sources`) carries the smallest rule number of the mappings whose sources contain it,
 * so the longest match gives the first source rule for the address; `fwd` when it lies in a range
 * the VM forwards from (which only source rules translate).
 */
export function sourceRuleEntries(e: HostEndpoint, slot: number, out: Entries = []): Entries {
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
  if (parts.size === 0) return out;
  const forwarded = (e.forwardedRanges ?? []).map((f) => parseCidr(f, true)).filter((c) => c !== null);
  const list = [...parts.values()];
  for (const p of list) {
    let rule = p.rule;
    for (const q of list) if (q.rule < rule && q.start <= p.start && p.end <= q.end) rule = q.rule;
    const fwd = forwarded.some((f) => f.start <= p.start && p.end <= f.end) ? 1 : 0;
    out.push(ch(T_SSRC) + le32(32 + p.len) + le32(slot) + be32(p.start), le32(rule | 0) + le32(fwd));
  }
  return out;
}

/** Entries as maps, hex keys and hex values (tests, logs). */
export function describeEntries(entries: Entries): { map: MapName; key: string; value: string | null }[] {
  const out: { map: MapName; key: string; value: string | null }[] = [];
  for (let i = 0; i < entries.length; i += 2) {
    const k = entries[i] as string;
    const v = entries[i + 1];
    out.push({ map: mapOf(k), key: toHex(k.slice(1)), value: v === null ? null : toHex(v) });
  }
  return out;
}

/** The np_ids entry of an owner. */
export const idEntry = (owner: string, num: number, sinceMs = 0): Entries => [hash128(owner, T_IDS), idValue(num, sinceMs)];

/**
 * The entries of a gateway's rules: each destination prefix carries the smallest rule number of
 * the prefixes that contain it (itself included), so the longest match the LPM map finds gives the
 * first rule, in ascending order, whose destinations hold the address.
 */
export function gatewayEntries(g: HostGatewaySettings, gw: number, out: Entries = []): Entries {
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
  for (const p of list) {
    let rule = p.rule;
    for (const q of list) if (q.rule < rule && contains(q, p)) rule = q.rule;
    out.push(ch(T_DST) + le32(32 + p.len) + le32(gw) + be32(p.start), le32(rule | 0));
  }
  return out;
}

/** Where the table's changes go: an OpList, or nowhere (a full load diffs against the maps instead). */
export interface OpSink {
  write(tkey: string, value: string | null): void;
  remove(tkey: string): void;
}
export const NO_OPS: OpSink = { write: () => undefined, remove: () => undefined };

/**
 * Map contents by owner, with reference counts for entries several owners share (a NAT IP, a
 * device). `set` sends the operations that turn the maps of the previous contents into the new.
 */
export class EntryTable {
  private readonly owners = new Map<string, Entries>();
  /** tagged key -> value */
  private readonly values = new Map<string, string | null>();
  /** tagged key -> owners holding it beyond the first (absent: one) */
  private readonly extraRefs = new Map<string, number>();

  has(tkey: string): boolean {
    return this.values.has(tkey);
  }

  get size(): number {
    return this.values.size;
  }

  /** Every entry: tagged key -> value. */
  entries(): ReadonlyMap<string, string | null> {
    return this.values;
  }

  ownerEntries(owner: string): Entries | undefined {
    return this.owners.get(owner);
  }

  /** Replaces an owner's entries (null: the owner goes). */
  set(owner: string, next: Entries | null, ops: OpSink): void {
    const prev = this.owners.get(owner);
    if (next) this.owners.set(owner, next);
    else this.owners.delete(owner);
    if (next) {
      for (let i = 0; i < next.length; i += 2) {
        const k = next[i] as string;
        const v = next[i + 1];
        const now = this.values.get(k);
        if (now === undefined) {
          this.values.set(k, v);
          ops.write(k, v);
        } else {
          this.extraRefs.set(k, (this.extraRefs.get(k) ?? 0) + 1);
          if (now !== v) {
            this.values.set(k, v);
            ops.write(k, v);
          }
        }
      }
    }
    if (prev) {
      for (let i = 0; i < prev.length; i += 2) {
        const k = prev[i] as string;
        if (!this.values.has(k)) continue;
        const extra = this.extraRefs.get(k);
        if (extra === undefined) {
          this.values.delete(k);
          ops.remove(k);
        } else if (extra === 1) this.extraRefs.delete(k);
        else this.extraRefs.set(k, extra - 1);
      }
    }
  }
}

export type Op = { op: 'u'; map: MapName; key: string; value: string } | { op: 'z'; map: MapName; key: string } | { op: 'd'; map: MapName; key: string };

/** Operations in the order they must reach the maps: writes by MAP_ORDER, then deletes in reverse. */
export class OpList implements OpSink {
  /** tagged key -> value to write (null: zeroed if absent), or false: delete; the last one for a key wins */
  private readonly pending = new Map<string, string | null | false>();
  /** With `unique`: the operations by map and kind as they come (u per map, z per map, d per map) */
  private readonly keys: string[][] = Array.from({ length: 3 * MAP_ORDER.length }, () => []);
  private readonly vals: string[][] = Array.from({ length: MAP_ORDER.length }, () => []);
  private count = 0;

  /** unique: the caller names each key once (a full load's diff), so no operation replaces another and none are kept by key. */
  constructor(private readonly unique = false) {}

  get size(): number {
    return this.unique ? this.count : this.pending.size;
  }

  write(tkey: string, value: string | null): void {
    if (this.unique) this.add(tkey, value);
    else this.pending.set(tkey, value);
  }

  remove(tkey: string): void {
    if (this.unique) this.add(tkey, false);
    else this.pending.set(tkey, false);
  }

  private add(k: string, v: string | null | false): void {
    const n = MAP_ORDER.length;
    const m = k.charCodeAt(0);
    this.count++;
    if (v === false) this.keys[2 * n + m].push(k);
    else if (v === null) this.keys[n + m].push(k);
    else {
      this.keys[m].push(k);
      this.vals[m].push(v);
    }
  }

  /** Per map, in order: [map, 'u' | 'z' | 'd', tagged keys, values (for u)]. */
  private groups(): [MapName, 'u' | 'z' | 'd', string[], string[]][] {
    const n = MAP_ORDER.length;
    if (!this.unique) {
      for (const a of this.keys) a.length = 0;
      for (const a of this.vals) a.length = 0;
      for (const [k, v] of this.pending) this.add(k, v);
    }
    const { keys, vals } = this;
    const out: [MapName, 'u' | 'z' | 'd', string[], string[]][] = [];
    for (let m = 0; m < n; m++) {
      if (keys[n + m].length) out.push([MAP_ORDER[m], 'z', keys[n + m], []]);
      if (keys[m].length) out.push([MAP_ORDER[m], 'u', keys[m], vals[m]]);
    }
    for (let m = n - 1; m >= 0; m--) if (keys[2 * n + m].length) out.push([MAP_ORDER[m], 'd', keys[2 * n + m], []]);
    return out;
  }

  /** The operations, keys and values in hex (tests, logs). */
  ops(): Op[] {
    const out: Op[] = [];
    for (const [map, op, keys, vals] of this.groups()) {
      keys.forEach((k, i) => out.push(op === 'u' ? { op, map, key: toHex(k.slice(1)), value: toHex(vals[i]) } : { op, map, key: toHex(k.slice(1)) }));
    }
    return out;
  }

  /**
   * The loader's binary batch (docs/ebpf-backend.md "Binary batches"): per group op, name length,
   * name, key size, value size, count, the keys, the values. One buffer, written once.
   */
  encode(): Buffer {
    const groups = this.groups();
    let size = 0;
    for (const [map, op, keys] of groups) size += 2 + map.length + 8 + keys.length * (KEY_SIZE[map] + (op === 'u' ? VALUE_SIZE[map] : 0));
    const buf = Buffer.allocUnsafe(size);
    let at = 0;
    for (const [map, op, keys, vals] of groups) {
      const ks = KEY_SIZE[map];
      const vs = op === 'u' ? VALUE_SIZE[map] : 0;
      buf[at] = op.charCodeAt(0);
      buf[at + 1] = map.length;
      at += 2 + buf.write(map, at + 2, 'latin1');
      buf.writeUInt16LE(ks, at);
      buf.writeUInt16LE(vs, at + 2);
      buf.writeUInt32LE(keys.length, at + 4);
      at += 8;
      for (const k of keys) {
        if (k.length !== ks + 1) throw new Error(`${map}: a key of ${k.length - 1} bytes, the map's are ${ks}`);
        // byte by byte, past the tag: a native write per key costs more than the copy
        for (let j = 1; j <= ks; j++) buf[at++] = k.charCodeAt(j);
      }
      for (const v of vals) {
        if (v.length !== vs) throw new Error(`${map}: a value of ${v.length} bytes, the map's are ${vs}`);
        for (let j = 0; j < vs; j++) buf[at++] = v.charCodeAt(j);
      }
    }
    return buf.subarray(0, size);
  }
}

/** A text command of the loader's protocol for an operation (hex keys and values). */
export function opLine(o: Op): string {
  return o.op === 'u' ? `u ${o.map} ${o.key} ${o.value}` : `${o.op} ${o.map} ${o.key}`;
}
