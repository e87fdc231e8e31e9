/**
 * The nftables backend's counters per (endpoint, rule), from what it can read (docs/observability.md
 * "What the nftables backend measures"): conntrack events (connections confirmed, and the packets
 * and bytes of those that ended), conntrack's table (connections open, their packets and bytes so
 * far), and the observation table's set counters (attempts before SNAT, translations after it).
 * Pure: the observer reads, this computes.
 */
import type { HostDocument, HostEndpointCounters } from '@natplane/contracts';
import type { BlockIndex, SetCounter } from '@natplane/nftables';
import type { ConntrackEntry } from '../conntrack';
import { SourceIndex, ruleOfNatIp } from './sources';

export interface Traffic {
  origPackets: number;
  origBytes: number;
  replyPackets: number;
  replyBytes: number;
}

/** What the conntrack event stream counted per (endpoint, rule) since the observer started. */
export interface Tally {
  /** Connections confirmed (NEW events), translated into the pair's blocks. */
  confirmed: number;
  /** Packets and bytes of connections that ended (DESTROY events, with accounting on). */
  ended: Traffic;
}

export interface CounterInputs {
  since: string;
  sources: SourceIndex;
  blocks: BlockIndex;
  tally: Map<string, Tally>;
  live: ConntrackEntry[];
  attempts: SetCounter[];
  translated: SetCounter[];
  /** Whether conntrack accounting is on (packets and bytes measurable). */
  accounting: boolean;
}

export const pairKey = (endpoint: string, rule: number) => `${endpoint}|${rule}`;
const TRANSLATED_PROTOCOLS = new Set(['tcp', 'udp', 'icmp', 6, 17, 1]);

/**
 * Forgets the tallies of endpoints the document no longer holds: their events can no longer be
 * told to them (their blocks left the document), and an agent runs for months under endpoint
 * churn, so what it keeps per endpoint is bounded by the endpoints it programs.
 */
export function forgetLeftEndpoints(tally: Map<string, Tally>, doc: HostDocument): void {
  const held = new Set<string>();
  for (const g of doc.gateways) for (const e of g.endpoints) held.add(e.id);
  for (const k of tally.keys()) if (!held.has(k.slice(0, k.lastIndexOf('|')))) tally.delete(k);
}

/**
 * One entry per (endpoint, rule) with anything to say. Dropped for lack of ports
 * (OUT_OF_RESOURCES) = translated but never confirmed (nf_nat's clash) + attempts of TCP, UDP and
 * ICMP never translated (fail closed: no block for the rule), the latter on the endpoint's first
 * rule without an active block. Other protocols are UNTRANSLATABLE_PROTOCOL (rule -1).
 * ENDPOINT_INDEPENDENT_CONFLICT is 0 (nf_nat picks another port instead of dropping);
 * UNTRANSLATABLE_FRAGMENT is not measured (conntrack reassembles fragments first).
 */
export function computeCounters(i: CounterInputs): HostEndpointCounters[] {
  const out = new Map<string, HostEndpointCounters>();
  const entry = (endpoint: string, rule: number) => {
    const k = pairKey(endpoint, rule);
    let e = out.get(k);
    if (!e) {
      e = {
        endpoint,
        ruleNumber: rule,
        since: i.since,
        newConnections: 0,
        openConnections: 0,
        sentPackets: i.accounting ? 0 : null,
        sentBytes: i.accounting ? 0 : null,
        receivedPackets: i.accounting ? 0 : null,
        receivedBytes: i.accounting ? 0 : null,
        droppedSentPackets: { OUT_OF_RESOURCES: 0, ENDPOINT_INDEPENDENT_CONFLICT: 0, UNTRANSLATABLE_FRAGMENT: null, UNTRANSLATABLE_PROTOCOL: 0 },
      };
      out.set(k, e);
    }
    return e;
  };
  const addTraffic = (e: HostEndpointCounters, t: Traffic) => {
    if (!i.accounting) return;
    e.sentPackets! += t.origPackets;
    e.sentBytes! += t.origBytes;
    e.receivedPackets! += t.replyPackets;
    e.receivedBytes! += t.replyBytes;
  };
  for (const [k, t] of i.tally) {
    const [endpoint, rule] = k.split('|');
    const e = entry(endpoint, Number(rule));
    e.newConnections! += t.confirmed;
    addTraffic(e, t.ended);
  }
  for (const c of i.live) {
    const owner = i.blocks.lookup(c.replyDst, c.replyPort);
    if (!owner) continue;
    const e = entry(owner.endpointId, owner.ruleNumber);
    e.openConnections! += 1;
    if (c.acct) addTraffic(e, c.acct);
  }
  // translations per endpoint and rule; attempts per endpoint (translated protocols) and other protocols
  const translatedBy = new Map<string, number>();
  const translatedOf = new Map<string, number>();
  for (const s of i.translated) {
    const owner = i.sources.lookup(String(s.key[0]), String(s.key[1]));
    if (!owner) continue;
    const rule = ruleOfNatIp(owner, String(s.key[2]));
    translatedBy.set(pairKey(owner.endpoint.id, rule), (translatedBy.get(pairKey(owner.endpoint.id, rule)) ?? 0) + s.packets);
    translatedOf.set(owner.endpoint.id, (translatedOf.get(owner.endpoint.id) ?? 0) + s.packets);
  }
  const attemptsOf = new Map<string, number>();
  for (const s of i.attempts) {
    const owner = i.sources.lookup(String(s.key[0]), String(s.key[1]));
    if (!owner) continue;
    if (TRANSLATED_PROTOCOLS.has(s.key[2])) attemptsOf.set(owner.endpoint.id, (attemptsOf.get(owner.endpoint.id) ?? 0) + s.packets);
    else entry(owner.endpoint.id, -1).droppedSentPackets.UNTRANSLATABLE_PROTOCOL! += s.packets;
  }
  for (const [k, n] of translatedBy) {
    const [endpoint, rule] = k.split('|');
    const e = entry(endpoint, Number(rule));
    e.droppedSentPackets.OUT_OF_RESOURCES! += Math.max(0, n - (i.tally.get(k)?.confirmed ?? 0));
  }
  for (const [endpoint, n] of attemptsOf) {
    const failed = n - (translatedOf.get(endpoint) ?? 0);
    if (failed <= 0) continue;
    const owners = i.sources.endpoints.get(endpoint) ?? [];
    const blockless = owners.flatMap((o) => o.endpoint.mappings).find((m) => !m.active);
    entry(endpoint, blockless?.ruleNumber ?? -1).droppedSentPackets.OUT_OF_RESOURCES! += failed;
  }
  return [...out.values()];
}

const FIGURES = ['newConnections', 'sentPackets', 'sentBytes', 'receivedPackets', 'receivedBytes'] as const;
const REASONS = ['OUT_OF_RESOURCES', 'ENDPOINT_INDEPENDENT_CONFLICT', 'UNTRANSLATABLE_FRAGMENT', 'UNTRANSLATABLE_PROTOCOL'] as const;

/**
 * Keeps cumulative figures from going down between two readings (a DESTROY event lost, a race
 * between the set counters and the events): each is at least what was reported before.
 */
export function ratchet(prev: Map<string, HostEndpointCounters>, next: HostEndpointCounters[]): HostEndpointCounters[] {
  return next.map((n) => {
    const p = prev.get(pairKey(n.endpoint, n.ruleNumber));
    if (!p || p.since !== n.since) return n;
    const r: HostEndpointCounters = { ...n, droppedSentPackets: { ...n.droppedSentPackets } };
    for (const f of FIGURES) if (r[f] !== null && p[f] !== null) r[f] = Math.max(r[f], p[f]);
    for (const f of REASONS) {
      const a = r.droppedSentPackets[f];
      const b = p.droppedSentPackets[f];
      if (a !== null && b !== null) r.droppedSentPackets[f] = Math.max(a, b);
    }
    return r;
  });
}
