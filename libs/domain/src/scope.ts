import type { NatGatewaySpec } from './gateway-spec';

export interface EndpointRanges {
  subnetName: string;
  aliasIpRanges: { ipCidrRange: string; subnetworkRangeName: string }[];
}

export interface EndpointNatScope {
  /** The primary address is translated. */
  natPrimary: boolean;
  /** The alias ranges that are translated (sharing the endpoint's blocks). */
  aliasRanges: string[];
}

/**
 * Which of an endpoint's ranges a gateway translates (sourceSubnetworkIpRangesToNat and
 * subnetworks[].sourceIpRangesToNat, as Cloud NAT defines them). The endpoint's subnet is assumed
 * to be in the gateway's network and region. Undefined: the endpoint is out of scope.
 */
export function endpointNatScope(spec: NatGatewaySpec, e: EndpointRanges): EndpointNatScope | undefined {
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
