import type { BlockState, NatGatewaySpec } from './gateway-spec';
import type { EndpointRanges } from './scope';

/** One block of one endpoint placed on the host, with what the host document needs around it. */
export interface HostBlockRow {
  gatewayId: string;
  gatewayName: string;
  projectName: string;
  spec: NatGatewaySpec;
  endpointId: string;
  endpointName: string;
  /** The host-side device of the endpoint's NIC; null when none is named. */
  hostInterface: string | null;
  /** When the endpoint was made: the older of two endpoints whose sources collide on a host wins. */
  endpointCreatedAt?: string;
  networkIp: string;
  aliasIpRanges: EndpointRanges['aliasIpRanges'];
  /** CIDRs the endpoint forwards from (source-based rules may match them); absent: none. */
  forwardedIpRanges?: string[];
  subnetName: string;
  ruleNumber: number;
  natIp: string;
  portLo: number;
  portHi: number;
  state: BlockState;
  /** QUARANTINE whose holder's connections were cut (a drain past its deadline): not in the document. */
  cut?: boolean;
}
