/**
 * A NAT gateway as the tenant describes it (../shared/API.md natGateways), with every server
 * default filled in. References (natIps, drainNatIps, subnetworks[].name, rule IPs) are bare
 * names in canonical form. Implementation: defaults, validation (see validateGatewaySpec).
 */
export type NatIpAllocateOption = 'AUTO_ONLY' | 'MANUAL_ONLY';
export type SourceSubnetworkIpRangesToNat =
  | 'ALL_SUBNETWORKS_ALL_IP_RANGES'
  | 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES'
  | 'LIST_OF_SUBNETWORKS';
export type SourceIpRangesToNat = 'ALL_IP_RANGES' | 'PRIMARY_IP_RANGE' | 'LIST_OF_SECONDARY_IP_RANGES';
export type LogFilter = 'ALL' | 'ERRORS_ONLY' | 'TRANSLATIONS_ONLY';

export interface GatewaySubnetwork {
  name: string;
  sourceIpRangesToNat: SourceIpRangesToNat[];
  secondaryIpRangeNames: string[];
}

/**
 * The rule number of a gateway's default IP set (natIps / drainNatIps); every other rule number
 * is one of the gateway's rules. The one definition: the allocator, the host document and the
 * api take it from here.
 */
export const DEFAULT_RULE = -1;

/** A port block's state: ACTIVE (new flows), DRAIN (existing flows only), QUARANTINE (cooling down). */
export type BlockState = 'ACTIVE' | 'DRAIN' | 'QUARANTINE';

export interface GatewayRule {
  ruleNumber: number;
  description: string;
  match: string;
  /**
   * sourceNatActiveIps/sourceNatDrainIps: addresses (PUBLIC gateways). sourceNatActiveRanges:
   * subnets with purpose PRIVATE_NAT whose addresses are the rule's NAT IPs (PRIVATE gateways);
   * withGatewayDefaults always fills it, a spec stored before it existed lacks it (read as []).
   */
  action: { sourceNatActiveIps: string[]; sourceNatDrainIps: string[]; sourceNatActiveRanges?: string[] };
}

/**
 * PUBLIC: translates VMs' traffic to the internet (and to the destinations of its rules) with
 * addresses of the provider's pools. PRIVATE (Private NAT): translates only traffic to the
 * destinations its rules name, with addresses of the tenant's PRIVATE_NAT subnets.
 */
export type GatewayType = 'PUBLIC' | 'PRIVATE';

export interface NatGatewaySpec {
  network: string;
  region: string;
  type: GatewayType;
  natIpAllocateOption: NatIpAllocateOption;
  natIps: string[];
  drainNatIps: string[];
  /**
   * How long an address may stay in drainNatIps (or a rule's sourceNatDrainIps) before its drain
   * ends by itself (AWS's MaxDrainDurationSeconds): its remaining drain blocks are released, their
   * connections cut, and the address leaves the gateway. 0: no deadline (the default).
   */
  maxDrainDurationSec: number;
  sourceSubnetworkIpRangesToNat: SourceSubnetworkIpRangesToNat;
  subnetworks: GatewaySubnetwork[];
  minPortsPerVm: number;
  maxPortsPerVm: number;
  enableDynamicPortAllocation: boolean;
  enableEndpointIndependentMapping: boolean;
  udpIdleTimeoutSec: number;
  icmpIdleTimeoutSec: number;
  tcpEstablishedIdleTimeoutSec: number;
  tcpTransitoryIdleTimeoutSec: number;
  tcpTimeWaitTimeoutSec: number;
  logConfig: { enable: boolean; filter: LogFilter };
  rules: GatewayRule[];
}
