/**
 * The reconciler's plain data: what is read of a gateway to compute it, and the rows a
 * computation writes. Declared here (pure) so that the planner needs no persistence; the
 * repositories in libs/persistence read and write these shapes.
 */

/** The allocator's blocks and gateway status, as the planner's callers see them (the api previews them). */
export type { AllocationStatus, Block } from '@natplane/allocator';
import type { BlockState, EndpointRanges, NatGatewaySpec } from '@natplane/domain';

export interface LockedGateway {
  id: string;
  name: string;
  projectId: string;
  projectName: string;
  networkId: string;
  region: string;
  spec: NatGatewaySpec;
  generation: number;
  observedGeneration: number;
  /** Reconciler commits so far (see NatGatewayRow.reconcileSeq). */
  reconcileSeq: number;
}

export interface ScopeEndpoint {
  id: string;
  name: string;
  /** The host-side device of its NIC (null: none named). */
  hostInterface: string | null;
  networkIp: string;
  aliasIpRanges: EndpointRanges['aliasIpRanges'];
  /** CIDRs it forwards from (canIpForward): source-based rules may match them. */
  forwardedIpRanges: string[];
  hostId: string;
  hostName: string;
  subnetName: string;
}

export interface StoredBlock {
  natIp: string;
  portLo: number;
  portHi: number;
  endpointId: string;
  ruleNumber: number;
  state: BlockState;
  since: Date;
  until: Date | null;
  /** The gateway's quarantine length (s) when written; 120 when not given. */
  quarantineSec?: number;
  /** QUARANTINE: the holder's connections were cut (a drain reached its deadline); hosts drop the block. */
  cut?: boolean;
}

export interface GatewayHostState {
  hostId: string;
  requiredGeneration: number;
  fingerprint: string;
  waitHostId: string | null;
  waitGeneration: number | null;
}

export interface HistoryRow {
  id: string;
  endpointId: string;
  ruleNumber: number;
  natIp: string;
  portLo: number;
  portHi: number;
  hostName: string;
  sourceIp: string;
  state: string;
}

export type NewHistoryRow = Omit<HistoryRow, 'id'> & { projectId: string; projectName: string; gatewayId: string; gatewayName: string; endpointName: string };

export interface UsageRow {
  endpointId: string;
  ruleNumber: number;
  portsInUse: number;
  reportedAt: Date;
}

/** An endpoint write behind one generation of a gateway, with the endpoint as it is when read, not as written (null: gone from its network and region). */
export interface EndpointChange {
  generation: number;
  endpointId: string;
  endpoint: ScopeEndpoint | null;
}
