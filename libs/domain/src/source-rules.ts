import { cidr, cidrContains, cidrContainsCidr, cidrsOverlap, findOverlappingPairs, formatCidr, parseCidr, type Cidr } from './cidr';
import type { FieldError } from './errors';

/**
 * Source-based NAT rules (Cloud NAT's `inIpRange(source.ip, ...)`): which of an endpoint's sources
 * a rule matches, and what an endpoint may forward from.
 *
 * An endpoint's sources are its own (networkIp when the gateway translates it, the alias ranges the
 * gateway translates) and the ranges it forwards from (canIpForward with forwardedIpRanges). A
 * source rule matches the endpoint when one of its ranges meets one of those; what it then applies
 * to is the intersection: for two CIDRs, the more specific one (CIDRs either nest or are apart).
 */

/** The parts of an endpoint's sources one source rule matches, each list disjoint and sorted. */
export interface SourceRuleMatch {
  /** Parts of the endpoint's own sources (networkIp as /32, alias ranges or parts of them). */
  own: string[];
  /** Parts of the ranges it forwards from. */
  forwarded: string[];
}

export interface EndpointSources {
  /** The primary address when the gateway translates it. */
  networkIp?: string;
  /** The alias ranges the gateway translates. */
  aliasRanges: readonly string[];
  /** The ranges the endpoint forwards from (empty unless canIpForward). */
  forwardedRanges: readonly string[];
}

/** The intersections of two CIDR lists, disjoint (a part inside another part is dropped), sorted. */
export function intersectCidrs(a: readonly Cidr[], b: readonly Cidr[]): Cidr[] {
  const parts: Cidr[] = [];
  for (const x of a) for (const y of b) if (cidrsOverlap(x, y)) parts.push(x.prefix >= y.prefix ? x : y);
  return disjointCidrs(parts);
}

/** The same addresses as disjoint CIDRs, sorted: a CIDR inside another is dropped (CIDRs nest or are apart). */
export function disjointCidrs(list: readonly Cidr[]): Cidr[] {
  const parts = [...list].sort((x, y) => x.network - y.network || x.prefix - y.prefix);
  const out: Cidr[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if (last && cidrContainsCidr(last, p)) continue;
    out.push(p);
  }
  return out;
}

/** What one source rule (its CIDRs) matches of an endpoint; undefined when nothing. */
export function matchSourceRule(ruleSources: readonly string[], e: EndpointSources): SourceRuleMatch | undefined {
  const rule = ruleSources.map(cidr);
  const ownRanges = [...(e.networkIp === undefined ? [] : [`${e.networkIp}/32`]), ...e.aliasRanges].map(cidr);
  const own = intersectCidrs(rule, ownRanges).map(formatCidr);
  const forwarded = intersectCidrs(rule, e.forwardedRanges.map(cidr)).map(formatCidr);
  return own.length + forwarded.length > 0 ? { own, forwarded } : undefined;
}

/**
 * The errors of an endpoint's forwarding fields: forwardedIpRanges only with canIpForward, each a
 * valid IPv4 CIDR, none overlapping another, the endpoint's networkIp or one of its alias ranges
 * (the VM's own addresses are translated as its own, never as forwarded).
 */
export function forwardedRangeErrors(
  canIpForward: boolean,
  ranges: readonly string[],
  networkIp: number | undefined,
  aliasIpRanges: readonly { ipCidrRange: string }[],
): FieldError[] {
  const errors: FieldError[] = [];
  if (ranges.length > 0 && !canIpForward) {
    errors.push({ field: 'forwardedIpRanges', message: 'requires canIpForward: true (the VM must be allowed to forward traffic)' });
  }
  const parsed: { i: number; c: Cidr }[] = [];
  ranges.forEach((text, i) => {
    const c = typeof text === 'string' ? parseCidr(text) : { ok: false as const, message: 'must be an IPv4 CIDR like 192.168.1.0/24' };
    if (!c.ok) errors.push({ field: `forwardedIpRanges[${i}]`, message: c.message });
    else parsed.push({ i, c: c.value });
  });
  for (const [a, b] of findOverlappingPairs(parsed.map((p) => p.c))) {
    const [x, y] = [parsed[a], parsed[b]].sort((p, q) => p.i - q.i);
    errors.push({ field: `forwardedIpRanges[${y.i}]`, message: `overlaps forwardedIpRanges[${x.i}] ${formatCidr(x.c)}` });
  }
  for (const { i, c } of parsed) {
    if (networkIp !== undefined && cidrContains(c, networkIp)) {
      errors.push({ field: `forwardedIpRanges[${i}]`, message: "contains the endpoint's own networkIp: its own addresses are not forwarded" });
    }
    aliasIpRanges.forEach((a, k) => {
      const alias = parseCidr(a.ipCidrRange);
      if (alias.ok && cidrsOverlap(alias.value, c)) {
        errors.push({ field: `forwardedIpRanges[${i}]`, message: `overlaps the endpoint's own aliasIpRanges[${k}] ${a.ipCidrRange}` });
      }
    });
  }
  return errors;
}
