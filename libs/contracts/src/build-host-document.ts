import { DEFAULT_RULE, HOST_DOCUMENT_API_VERSION, type HostDocument, type HostEndpoint, type HostGateway } from './host-document';
import { cidr, cidrContains, cidrsOverlap, endpointNatScope, disjointCidrs, formatCidr, parseIpv4, parseRuleMatch, type Cidr, type HostBlockRow } from '@natplane/domain';

/**
 * The host's whole desired state (natplane.host/v1) from its blocks: per gateway its mapping
 * mode, timeouts, rules and, per endpoint on the host, one ACTIVE block per rule plus drain
 * blocks (DRAIN and QUARANTINE: existing flows live on, no new ones), but not a QUARANTINE block
 * that was cut (its drain reached the gateway's maxDrainDurationSec).
 */
export function buildHostDocument(host: string, generation: number, rows: HostBlockRow[]): HostDocument {
  const gateways = new Map<string, HostGateway>();
  const endpoints = new Map<string, HostEndpoint>();
  /** Per endpoint key, per source rule it matches: the CIDRs (own and forwarded) the rule applies to. */
  const sourceMatches = new Map<string, Map<number, string[]>>();
  for (const r of rows) {
    // A drain that reached its deadline: its connections are cut, so hosts no longer keep it.
    if (r.state === 'QUARANTINE' && r.cut === true) continue;
    let gw = gateways.get(r.gatewayId);
    if (!gw) {
      const s = r.spec;
      gw = {
        id: r.gatewayId,
        name: `projects/${r.projectName}/natGateways/${r.gatewayName}`,
        mapping: s.enableEndpointIndependentMapping ? 'ENDPOINT_INDEPENDENT' : 'ENDPOINT_DEPENDENT',
        timeouts: {
          udpIdleTimeoutSec: s.udpIdleTimeoutSec,
          icmpIdleTimeoutSec: s.icmpIdleTimeoutSec,
          tcpEstablishedIdleTimeoutSec: s.tcpEstablishedIdleTimeoutSec,
          tcpTransitoryIdleTimeoutSec: s.tcpTransitoryIdleTimeoutSec,
          tcpTimeWaitTimeoutSec: s.tcpTimeWaitTimeoutSec,
        },
        logging: { enable: s.logConfig.enable, filter: s.logConfig.filter },
        rules: [...s.rules]
          .sort((a, b) => a.ruleNumber - b.ruleNumber)
          .map((rule) => {
            const m = parseRuleMatch(rule.match);
            if (m.ok && m.side === 'source') return { ruleNumber: rule.ruleNumber, destinations: [], sources: m.sources };
            return { ruleNumber: rule.ruleNumber, destinations: m.ok ? m.destinations : [] };
          }),
        ...(s.type === 'PRIVATE' ? { unmatched: 'PASS' as const } : {}),
        endpoints: [],
      };
      gateways.set(r.gatewayId, gw);
    }
    const key = `${r.gatewayId}/${r.endpointId}`;
    let ep = endpoints.get(key);
    if (!ep) {
      const scope = endpointNatScope(r.spec, { subnetName: r.subnetName, aliasIpRanges: r.aliasIpRanges, networkIp: r.networkIp, forwardedIpRanges: r.forwardedIpRanges ?? [] });
      const forwarded = forwardedRangesOf(scope?.sourceRules);
      ep = {
        id: r.endpointId,
        name: `projects/${r.projectName}/endpoints/${r.endpointName}`,
        ...(r.hostInterface === null ? {} : { hostInterface: r.hostInterface }),
        networkIp: r.networkIp,
        aliasRanges: scope?.aliasRanges ?? [],
        natPrimary: scope?.natPrimary ?? false,
        ...(forwarded.length > 0 ? { forwardedRanges: forwarded } : {}),
        mappings: [],
      };
      endpoints.set(key, ep);
      gw.endpoints.push(ep);
      if (scope?.sourceRules) sourceMatches.set(key, new Map(scope.sourceRules.map((s) => [s.ruleNumber, [...s.own, ...s.forwarded]])));
    }
    let m = ep.mappings.find((x) => x.ruleNumber === r.ruleNumber);
    if (!m) {
      m = { ruleNumber: r.ruleNumber, drain: [] };
      // a source rule's mapping says which of the endpoint's sources it applies to (none: it no
      // longer matches them, and what is left of its blocks only drains)
      if (gw.rules.some((x) => x.ruleNumber === r.ruleNumber && x.sources !== undefined)) m.sources = sortedCidrs(sourceMatches.get(key)?.get(r.ruleNumber) ?? []);
      ep.mappings.push(m);
    }
    const block = { natIp: r.natIp, portLo: r.portLo, portHi: r.portHi };
    if (r.state === 'ACTIVE') m.active = block;
    else m.drain.push(block);
  }
  for (const ep of endpoints.values()) ep.mappings.sort((a, b) => (a.ruleNumber === DEFAULT_RULE ? -1 : b.ruleNumber === DEFAULT_RULE ? 1 : a.ruleNumber - b.ruleNumber));
  const doc: HostDocument = { apiVersion: HOST_DOCUMENT_API_VERSION, host, generation, gateways: [...gateways.values()] };
  if (host !== '') leaveOutCollisions(doc, rows);
  return doc;
}

/** The forwarded parts every source rule matches, as one disjoint sorted list. */
function forwardedRangesOf(rules: { forwarded: string[] }[] | undefined): string[] {
  if (!rules) return [];
  return sortedCidrs(rules.flatMap((r) => r.forwarded));
}

function sortedCidrs(list: string[]): string[] {
  return disjointCidrs(list.map(cidr)).map(formatCidr);
}

/**
 * A host document never holds two endpoints whose sources the host could not tell apart (the
 * document's invariant 4): the same address or overlapping alias ranges, unless both name their
 * own device. The api refuses such an endpoint (the trigger of migration 1765000000000), so only
 * rows written before it can collide: the older endpoint keeps its programming, the newer one is
 * left out, and one tenant's write never makes the host refuse the document of every tenant.
 */
function leaveOutCollisions(doc: HostDocument, rows: HostBlockRow[]): void {
  const createdAt = new Map<string, string>();
  for (const r of rows) if (r.endpointCreatedAt !== undefined) createdAt.set(r.endpointId, String(r.endpointCreatedAt));
  type Holder = { key: string; iface: string | null };
  const sources: (Holder & { ip?: number; aliases: Cidr[] })[] = [];
  for (const g of doc.gateways) {
    for (const e of g.endpoints) {
      const parsed = parseIpv4(e.networkIp);
      const ip = e.natPrimary && parsed.ok ? parsed.value : undefined;
      // forwarded ranges are sources of the endpoint on the host as much as its alias ranges
      const ranges = [...e.aliasRanges, ...(e.forwardedRanges ?? [])];
      sources.push({ key: `${g.id}\u0000${e.id}`, iface: e.hostInterface ?? null, ip, aliases: ranges.map((a) => cidr(a)) });
    }
  }
  const age = (key: string) => createdAt.get(key.slice(key.indexOf('\u0000') + 1)) ?? '';
  sources.sort((a, b) => (age(a.key) < age(b.key) ? -1 : age(a.key) > age(b.key) ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const collides = (a: Holder, b: Holder) => a.key.slice(a.key.indexOf('\u0000')) !== b.key.slice(b.key.indexOf('\u0000')) && (a.iface === null || b.iface === null || a.iface === b.iface);
  const exact = new Map<number, Holder[]>();
  const aliases: (Holder & { range: Cidr })[] = [];
  const out = new Set<string>();
  for (const s of sources) {
    const clash =
      (s.ip !== undefined && ((exact.get(s.ip) ?? []).some((h) => collides(h, s)) || aliases.some((a) => collides(a, s) && cidrContains(a.range, s.ip!)))) ||
      s.aliases.some(
        (r) => aliases.some((a) => collides(a, s) && cidrsOverlap(a.range, r)) || [...exact].some(([ip, hs]) => cidrContains(r, ip) && hs.some((h) => collides(h, s))),
      );
    if (clash) {
      out.add(s.key);
      continue;
    }
    if (s.ip !== undefined) exact.set(s.ip, [...(exact.get(s.ip) ?? []), s]);
    for (const range of s.aliases) aliases.push({ ...s, range });
  }
  if (out.size === 0) return;
  for (const g of doc.gateways) g.endpoints = g.endpoints.filter((e) => !out.has(`${g.id}\u0000${e.id}`));
}
