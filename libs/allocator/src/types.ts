/**
 * The allocation contract (../shared/DESIGN.md "The allocation contract"): plain data in, plain
 * data out. The same input always gives the same output.
 */

/** Rule number of the gateway's default IP set (natIps / drainNatIps): libs/domain's. */
export { DEFAULT_RULE } from '@natplane/domain';
export const PORT_MIN = 1024;
export const PORT_MAX = 65535;
export const PORTS_PER_IP = PORT_MAX - PORT_MIN + 1; // 64,512
/** RFC 6888 REQ-8: a released block is not handed to another endpoint before this. */
export const MIN_QUARANTINE_SEC = 120;

export interface AllocatorRule {
  /** DEFAULT_RULE for the default IPs, else the rule's ruleNumber. */
  ruleNumber: number;
  activeIps: string[];
  drainIps: string[];
  /**
   * A source-based rule: only the endpoints that list it in their `sourceRules` (the rule matches
   * one of their sources) take part in it. Other rules (the default IPs, destination rules) serve
   * every endpoint in scope.
   */
  source?: boolean;
}

export interface AllocatorSpec {
  /** As given by the user; the allocator rounds up to a power of two. */
  minPortsPerVm: number;
  maxPortsPerVm: number;
  enableDynamicPortAllocation: boolean;
  natIpAllocateOption: 'AUTO_ONLY' | 'MANUAL_ONLY';
  /** All idle timeouts of the gateway in seconds; quarantine = max(max(these), MIN_QUARANTINE_SEC). */
  idleTimeoutsSec: number[];
  /** The default IP set first (ruleNumber DEFAULT_RULE), then each rule. */
  rules: AllocatorRule[];
}

export interface AllocatorEndpoint {
  id: string;
  /** True when the endpoint's alias ranges are NATed: static allocation then gives >= 1,024 ports. */
  aliasRangesNated: boolean;
  /** The ruleNumbers of the source-based rules that match one of its sources (own or forwarded). */
  sourceRules?: number[];
}

import type { BlockState } from '@natplane/domain';
export type { BlockState };

/** One port block. `size` is a power of two and portLo - PORT_MIN is a multiple of size. */
export interface Block {
  endpointId: string;
  ruleNumber: number;
  natIp: string;
  portLo: number;
  size: number;
  state: BlockState;
  /**
   * ms epoch. ACTIVE: since the block has this place and size. DRAIN: kept from its ACTIVE days.
   * QUARANTINE: when it was released.
   */
  since: number;
  /** QUARANTINE only: ms epoch from which it may be handed to another endpoint. */
  until?: number;
  /**
   * QUARANTINE only: the holder's connections on the block were cut (its drain reached the
   * gateway's deadline), so hosts drop it at once; nobody else gets it before `until` all the same.
   */
  cut?: true;
}

/** A block on one of this gateway's IPs held elsewhere (another gateway's drain or quarantine). */
export interface ForeignReservation {
  natIp: string;
  portLo: number;
  size: number;
  /** ms epoch until which it is held; undefined: held indefinitely. */
  until?: number;
}

export interface UsageSample {
  endpointId: string;
  ruleNumber: number;
  portsInUse: number;
  /** ms epoch of the report. */
  at: number;
}

export interface AllocatorInput {
  spec: AllocatorSpec;
  endpoints: AllocatorEndpoint[];
  previous: Block[];
  foreign: ForeignReservation[];
  usage: UsageSample[];
  /** ms epoch */
  now: number;
  /**
   * Drains that reached the gateway's max drain duration in this run (the IPs are gone from the
   * rules' lists): the DRAIN blocks on them go to QUARANTINE with `cut`, their connections end.
   */
  endedDrains?: { natIp: string; ruleNumber: number }[];
}

export type ChangeKind = 'ADDED' | 'MOVED' | 'RESIZED' | 'DRAINED' | 'RELEASED' | 'UNMAPPED';

export interface AllocationChange {
  endpointId: string;
  ruleNumber: number;
  kind: ChangeKind;
  from?: { natIp: string; portLo: number; size: number };
  /** For ADDED this is the new Block itself (not a copy: treat it as read-only). */
  to?: { natIp: string; portLo: number; size: number };
  /**
   * True when the endpoint's existing flows on `from` cannot go on: the endpoint left the scope,
   * or the NAT IP left the rule (neither active nor draining). A move between active IPs, a drain
   * or a resize keeps them (conntrack holds their translation; the old ports are quarantined).
   */
  breaksConnections: boolean;
}

export interface RuleStatus {
  ruleNumber: number;
  /** A source-based rule (its figures count only the endpoints it matches). */
  source?: boolean;
  activeIps: string[];
  drainIps: string[];
  /** Smallest number of extra IPs with which every endpoint this rule serves would get a block on it. */
  minExtraIpsNeeded: number;
  endpointsWithMappings: number;
  endpointsWithoutMappings: number;
  /**
   * Endpoints whose ACTIVE block on this rule is smaller than the configured minimum because it
   * could not grow yet (minPortsPerVm raised with no room): they keep their old block and count
   * in minExtraIpsNeeded.
   */
  endpointsBelowMinPorts: number;
}

export interface IpUtilization {
  natIp: string;
  ruleNumber: number;
  draining: boolean;
  activePorts: number;
  drainPorts: number;
  quarantinedPorts: number;
  /** Held by another gateway (ForeignReservation). */
  foreignPorts: number;
  freePorts: number;
}

export interface AllocationStatus {
  /** Endpoints with an active block on every rule that serves them / lacking one on some such rule. */
  endpointsWithMappings: number;
  endpointsWithoutMappings: number;
  /**
   * minExtraIpsNeeded of the default rule (DEFAULT_RULE): extra IPs in natIps. Each rule's own
   * figure is in rules[]; a rule's IPs serve only that rule, so they are not added up.
   */
  minExtraNatIpsNeeded: number;
  rules: RuleStatus[];
  portUtilization: IpUtilization[];
  /** AUTO_ONLY: how many IPs to add to the default set so every endpoint fits. */
  autoIpsToAdd: number;
  /** AUTO_ONLY: drained default IPs that hold no block any more and can go back to the pool. */
  autoIpsToRelease: string[];
  /**
   * Earliest ms epoch (> now) at which running the allocator again may change the result without
   * any other input change (a quarantine or foreign reservation ends); undefined when none.
   */
  nextEventAt?: number;
}

export interface AllocationResult {
  /** The whole new state: every ACTIVE, DRAIN and still-running QUARANTINE block. */
  blocks: Block[];
  changes: AllocationChange[];
  status: AllocationStatus;
}
