/**
 * Connection tracking, read and cleaned with conntrack-tools (`conntrack -L`, `conntrack -D`).
 *
 * A translated connection looks like
 *   tcp 6 431999 ESTABLISHED src=10.99.0.2 dst=203.0.113.100 sport=40000 dport=8080
 *       src=203.0.113.100 dst=203.0.113.5 sport=8080 dport=1024 [ASSURED] mark=0 use=1
 * The second tuple is the reply direction: its destination is the NAT IP and port nf_nat chose
 * (for ICMP the `id=`). That is what ports in use are counted by and what a released block's
 * leftovers are found by.
 */
import { BlockIndex, ReleasedRange, parseCidr, parseIpv4 } from '@natplane/nftables';
import { HostReport } from '@natplane/contracts';

export interface ConntrackEntry {
  proto: string;
  origSrc: string;
  origDst: string;
  /** TCP/UDP ports of the original direction; for ICMP the type, code and id. */
  origSport?: number;
  origDport?: number;
  icmp?: { type: number; code: number; id: number };
  replyDst: string;
  /** The reply destination port (the NAT port), or the reply ICMP id. */
  replyPort: number;
  /** The original direction's conntrack zone (a named device's, see libs/nftables interfaces.ts); absent: 0. */
  origZone?: number;
  /** With conntrack accounting on (nf_conntrack_acct): packets and bytes of each direction. */
  acct?: { origPackets: number; origBytes: number; replyPackets: number; replyBytes: number };
}

/** Parses `conntrack -L` text; lines it does not understand are skipped. */
export function parseConntrack(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words.length < 4) continue;
    const proto = words[0];
    const tuples: Record<string, string>[] = [];
    let current: Record<string, string> | null = null;
    for (const w of words) {
      const eq = w.indexOf('=');
      if (eq <= 0) continue;
      const k = w.slice(0, eq);
      const v = w.slice(eq + 1);
      if (k === 'src') {
        if (tuples.length === 2) break;
        current = {};
        tuples.push(current);
      }
      if (current && !(k in current)) current[k] = v;
    }
    if (tuples.length !== 2) continue;
    const [o, r] = tuples;
    const zone = /(?:^|\s)zone-orig=(\d+)(?:\s|$)/.exec(line) ?? /(?:^|\s)zone=(\d+)(?:\s|$)/.exec(line);
    const origZone = zone && zone[1] !== '0' ? { origZone: Number(zone[1]) } : {};
    const acct =
      o.packets !== undefined && r.packets !== undefined
        ? { acct: { origPackets: Number(o.packets), origBytes: Number(o.bytes ?? 0), replyPackets: Number(r.packets), replyBytes: Number(r.bytes ?? 0) } }
        : {};
    if (!o.src || !o.dst || !r.dst) continue;
    if (proto === 'icmp') {
      if (o.id === undefined || r.id === undefined) continue;
      out.push({ proto, origSrc: o.src, origDst: o.dst, icmp: { type: Number(o.type), code: Number(o.code), id: Number(o.id) }, replyDst: r.dst, replyPort: Number(r.id), ...origZone, ...acct });
    } else {
      if (o.sport === undefined || o.dport === undefined || r.dport === undefined) continue;
      out.push({ proto, origSrc: o.src, origDst: o.dst, origSport: Number(o.sport), origDport: Number(o.dport), replyDst: r.dst, replyPort: Number(r.dport), ...origZone, ...acct });
    }
  }
  return out;
}

/** Distinct NAT ports with at least one connection, per (endpoint, rule); zeros omitted. */
export function countUsage(entries: ConntrackEntry[], index: BlockIndex): HostReport['usage'] {
  const ports = new Map<string, { endpoint: string; ruleNumber: number; ports: Set<string> }>();
  for (const e of entries) {
    const owner = index.lookup(e.replyDst, e.replyPort);
    if (!owner) continue;
    const key = `${owner.endpointId}\u0000${owner.ruleNumber}`;
    let u = ports.get(key);
    if (!u) {
      u = { endpoint: owner.endpointId, ruleNumber: owner.ruleNumber, ports: new Set() };
      ports.set(key, u);
    }
    u.ports.add(`${e.replyDst}:${e.replyPort}`);
  }
  return [...ports.values()].map((u) => ({ endpoint: u.endpoint, ruleNumber: u.ruleNumber, portsInUse: u.ports.size }));
}

/** The connections a release leaves behind: NATed into the released ports, from the endpoint's sources. */
export function leftovers(entries: ConntrackEntry[], ranges: ReleasedRange[]): ConntrackEntry[] {
  if (ranges.length === 0) return [];
  const compiled = ranges.map((r) => ({
    natIp: r.natIp,
    lo: r.portLo,
    hi: r.portHi,
    sources: r.sources.map((s) => parseCidr(s)).filter((c) => c !== null),
  }));
  return entries.filter((e) => {
    const src = parseIpv4(e.origSrc);
    if (src === null) return false;
    return compiled.some((r) => r.natIp === e.replyDst && e.replyPort >= r.lo && e.replyPort <= r.hi && r.sources.some((c) => src >= c.start && src <= c.end));
  });
}

/** `conntrack -D` arguments deleting exactly this connection (by its original tuple, in its zone). */
export function deleteArgs(e: ConntrackEntry): string[] {
  const base = ['-D', '-p', e.proto, '-s', e.origSrc, '-d', e.origDst, ...(e.origZone === undefined ? [] : ['--orig-zone', String(e.origZone)])];
  if (e.icmp) return [...base, '--icmp-type', String(e.icmp.type), '--icmp-code', String(e.icmp.code), '--icmp-id', String(e.icmp.id)];
  return [...base, '--sport', String(e.origSport), '--dport', String(e.origDport)];
}
