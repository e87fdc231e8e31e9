import type { NatGatewaySpec } from './gateway-spec';
import { parseRuleMatch } from './rule-match';
import { matchSourceRule, type SourceRuleMatch } from './source-rules';

export interface EndpointRanges {
  subnetName: string;
  aliasIpRanges: { ipCidrRange: string; subnetworkRangeName: string }[];
  /** Needed to match source-based rules; without it they match nothing of the endpoint. */
  networkIp?: string;
  /** The CIDRs the endpoint forwards from (canIpForward). */
  forwardedIpRanges?: readonly string[];
}

export interface EndpointNatScope {
  /** The primary address is translated. */
  natPrimary: boolean;
  /** The alias ranges that are translated (sharing the endpoint's blocks). */
  aliasRanges: string[];
  /**
   * The gateway's source-based rules that match the endpoint, in ascending ruleNumber, with what
   * each matches of its translated own sources and of its forwarded ranges. Absent: none.
   */
  sourceRules?: (SourceRuleMatch & { ruleNumber: number })[];
}

/** The source-based rules of a spec (ruleNumber, CIDRs), ascending; parsed once per spec object. */
const sourceRulesCache = new WeakMap<NatGatewaySpec, { ruleNumber: number; sources: string[] }[]>();
export function sourceRulesOf(spec: NatGatewaySpec): { ruleNumber: number; sources: string[] }[] {
  let out = sourceRulesCache.get(spec);
  if (!out) {
    out = [];
    for (const r of spec.rules ?? []) {
      const m = parseRuleMatch(r.match);
      if (m.ok && m.side === 'source') out.push({ ruleNumber: r.ruleNumber, sources: m.sources });
    }
    out.sort((a, b) => a.ruleNumber - b.ruleNumber);
    sourceRulesCache.set(spec, out);
  }
  return out;
}

/**
 * Which of an endpoint's ranges a gateway translates, and which of its source-based rules match
 * the endpoint (see endpointRangeScope). A source rule matches only an endpoint in scope: its
 * translated own sources, or the ranges it forwards from.
 */
export function endpointNatScope(spec: NatGatewaySpec, e: EndpointRanges): EndpointNatScope | undefined {
  const scope = endpointRangeScope(spec, e);
  if (!scope) return undefined;
  const rules = sourceRulesOf(spec);
  if (rules.length === 0 || e.networkIp === undefined) return scope;
  const own = { networkIp: scope.natPrimary ? e.networkIp : undefined, aliasRanges: scope.aliasRanges, forwardedRanges: e.forwardedIpRanges ?? [] };
  const matches: NonNullable<EndpointNatScope['sourceRules']> = [];
  for (const r of rules) {
    const m = matchSourceRule(r.sources, own);
    if (m) matches.push({ ruleNumber: r.ruleNumber, ...m });
  }
  return matches.length > 0 ? { ...scope, sourceRules: matches } : scope;
}

/**
 * Which of an endpoint's ranges a gateway translates (sourceSubnetworkIpRangesToNat and
 * subnetworks[].sourceIpRangesToNat, as Cloud NAT defines them). The endpoint's subnet is assumed
 * to be in the gateway's network and region. Undefined: the endpoint is out of scope.
 */
function endpointRangeScope(spec: NatGatewaySpec, e: EndpointRanges): EndpointNatScope | undefined {
  switch (spec.sourceSubnetworkIpRangesToNat) {
    case 'ALL_SUBNETWORKS_ALL_IP_RANGES':
      return { natPrimary: true, aliasRanges: e.aliasIpRanges.map((a) => a.ipCidrRange) };
    case 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES':
      return { natPrimary: true, aliasRanges: e.aliasIpRanges.filter((a) => a.subnetworkRangeName === '').map((a) => a.ipCidrRange) };
    case 'LIST_OF_SUBNETWORKS': {
      const s = spec.subnetworks.find((x) => x.name === e.subnetName);
      if (!s) return undefined;
      const all = s.sourceIpRangesToNat.includes('ALL_IP_RANGES');
      const primary = all || s.sourceIpRangesToNat.includes('PRIMARY_IP_RANGE');
      const secondary = new Set(s.sourceIpRangesToNat.includes('LIST_OF_SECONDARY_IP_RANGES') ? s.secondaryIpRangeNames : []);
      const aliasRanges = e.aliasIpRanges
        .filter((a) => all || (a.subnetworkRangeName === '' ? primary : secondary.has(a.subnetworkRangeName)))
        .map((a) => a.ipCidrRange);
      if (!primary && aliasRanges.length === 0) return undefined;
      return { natPrimary: primary, aliasRanges };
    }
  }
}
