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
  action: { sourceNatActiveIps: string[]; sourceNatDrainIps: string[] };
}

export interface NatGatewaySpec {
  network: string;
  region: string;
  type: 'PUBLIC';
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
