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

/** A gateway's status after a computation, and the reconcile_seq / generation it commits on. */
export interface GatewayStatus {
  seq: number;
  observedGeneration: number;
  state: 'READY' | 'DEGRADED';
  message: string;
  natStatus: unknown;
}

/**
 * What a computation writes for its gateway's hosts. `bump`: hosts whose section changed (a new
 * document generation). `leaving`: hosts whose section changed because a VM moved away from
 * them; each waits for the VM's new host (`waitHostId`) when that host gets a new generation in
 * the same commit and has not applied it yet (its state is then `fingerprint` and
 * `requiredGeneration`, as before), and is bumped like the others otherwise. `states`: the
 * gateway's host states written (requiredGeneration null: the host's new generation when bumped,
 * else the one it has now). `drop`: hosts with nothing of the gateway any more (their state goes).
 */
export interface HostsCommit {
  bump: string[];
  leaving: { hostId: string; waitHostId: string; fingerprint: string; requiredGeneration: number | null }[];
  states: { hostId: string; requiredGeneration: number | null; fingerprint: string }[];
  drop: string[];
}

/**
 * Everything one computation writes, committed at once under one guard (commitReconcile): the
 * gateway's status (undefined: the gateway is gone), the block difference (removed first), the
 * history rows to close and open at `at`, and the hosts.
 */
export interface ReconcileCommit {
  status: GatewayStatus | undefined;
  blocks: { removed: { natIp: string; portLo: number }[]; added: StoredBlock[] };
  history: { close: string[]; open: NewHistoryRow[]; at: Date };
  hosts: HostsCommit;
}
