/**
 * The host desired-state document (natplane.host/v1): everything one host's programmer needs to
 * translate its own VMs' egress. The worker builds it from PostgreSQL; the agent renders it into
 * its data plane. It is always the WHOLE desired state of the host (level-triggered): a
 * programmer never needs an earlier document to apply a later one.
 *
 * Rule numbers: DEFAULT_RULE (-1) denotes the gateway's default IPs (natIps/drainNatIps); any
 * other value is the ruleNumber of one of the gateway's rules.
 */
export const HOST_DOCUMENT_API_VERSION = 'natplane.host/v1' as const;
export { DEFAULT_RULE } from '@natplane/domain';

export type MappingMode = 'ENDPOINT_INDEPENDENT' | 'ENDPOINT_DEPENDENT';

export interface HostTimeouts {
  udpIdleTimeoutSec: number;
  icmpIdleTimeoutSec: number;
  tcpEstablishedIdleTimeoutSec: number;
  tcpTransitoryIdleTimeoutSec: number;
  tcpTimeWaitTimeoutSec: number;
}

/** A port block on a NAT IP, inclusive on both ends, 1024 <= portLo <= portHi <= 65535. */
export interface HostPortBlock {
  natIp: string;
  portLo: number;
  portHi: number;
}

export interface HostEndpointMapping {
  /** DEFAULT_RULE (-1) or the rule's ruleNumber. */
  ruleNumber: number;
  /** The one block new flows are translated into; absent when the endpoint got no ports (shortage). */
  active?: HostPortBlock;
  /**
   * Blocks that must not take new flows but whose existing connections live on (drained IPs,
   * blocks left behind by a resize or move, released blocks still in quarantine). A programmer
   * keeps conntrack entries on them and removes leftovers once a block leaves this list.
   */
  drain: HostPortBlock[];
  /**
   * Source-based rules only: the sources of this endpoint the rule applies to (CIDRs, disjoint):
   * parts of its own (networkIp as /32, alias ranges) and of its `forwardedRanges`. Flows from
   * them take this mapping's block when the rule is the first that matches them.
   */
  sources?: string[];
}

export interface HostEndpoint {
  /** Endpoint id (uuid): the key used in reports. */
  id: string;
  /** `projects/{project}/endpoints/{name}`, for humans and logs. */
  name: string;
  /**
   * The host-side device of the VM's NIC (the tap, veth or OVS port the compute platform made),
   * when the platform named it. A programmer matches this endpoint's sources only on packets that
   * arrived on that device, keeps their connections apart from identical tuples of other devices,
   * and delivers their replies to it; absent: the endpoint's sources are matched on packets from any
   * device that no endpoint names, as the host's routing delivers them (see docs/host-protocol.md).
   */
  hostInterface?: string;
  /** The VM interface's primary address (exact match). */
  networkIp: string;
  /** Additional source CIDRs NATed for this endpoint (alias ranges), sharing its blocks. */
  aliasRanges: string[];
  /** Whether the primary address itself is NATed (false when only alias ranges are in scope). */
  natPrimary: boolean;
  /**
   * Ranges the VM forwards traffic from (it may send packets from addresses not its own) that a
   * source-based rule of this gateway matches, disjoint. Flows from them are translated only by
   * those rules (the mapping whose `sources` hold them), never by destination rules or the default
   * IPs; absent or empty: none.
   */
  forwardedRanges?: string[];
  mappings: HostEndpointMapping[];
}

export interface HostRule {
  ruleNumber: number;
  /** Destination CIDRs (a single IP is written as /32); flows to them use the rule's blocks. */
  destinations: string[];
  /**
   * A source-based rule: its source CIDRs (destinations is then empty). Each endpoint's mapping
   * on it says which of that endpoint's sources it applies to (HostEndpointMapping.sources).
   */
  sources?: string[];
}

export interface HostGateway {
  id: string;
  /** `projects/{project}/natGateways/{name}` */
  name: string;
  mapping: MappingMode;
  timeouts: HostTimeouts;
  logging: { enable: boolean; filter: 'ALL' | 'ERRORS_ONLY' | 'TRANSLATIONS_ONLY' };
  /**
   * Rules in ascending ruleNumber: the first that matches a flow wins (a destination rule by its
   * destination, a source rule by the flow's source being in the endpoint's mapping `sources`).
   */
  rules: HostRule[];
  /**
   * A flow that no rule matches: absent, it takes the endpoint's DEFAULT_RULE block (and without
   * one is dropped: fail closed); PASS, it leaves untranslated (a PRIVATE gateway, which translates
   * only the destinations its rules name).
   */
  unmatched?: 'PASS';
  endpoints: HostEndpoint[];
}

export interface HostDocument {
  apiVersion: typeof HOST_DOCUMENT_API_VERSION;
  host: string;
  /** Monotonic per host; a programmer never applies a generation older than the one it applied. */
  generation: number;
  gateways: HostGateway[];
}

/** POST /v1/hosts/{host}/reports */
export interface HostReport {
  appliedGeneration: number;
  /**
   * A snapshot of the ports in use, counted from the host's connection tracking: the number of
   * distinct NAT ports (TCP, UDP and ICMP ids together) of the endpoint's blocks on that rule,
   * active and draining, that carry at least one tracked connection. Only pairs with
   * portsInUse > 0 are listed: an absent pair had none at the time of the report. A programmer
   * that cannot count (the agent's dry-run backend) sends an empty list. An endpoint NATed by two
   * gateways (primary range by one, alias ranges by another) has one entry per rule number, with
   * the ports of both summed.
   */
  usage: { endpoint: string; ruleNumber: number; portsInUse: number }[];
  /** Human-readable problems of the last apply or of the data plane, newest first; empty when healthy. */
  errors: string[];
  /**
   * Data-plane counters per (endpoint, rule), optional: absent when the programmer measures none
   * (the dry-run backend). See docs/host-protocol.md "Counters".
   */
  counters?: HostCounters;
}

/** Why a packet a VM sent was dropped (Cloud NAT's reasons, and what a host cannot translate). */
export const DROP_REASONS = ['OUT_OF_RESOURCES', 'ENDPOINT_INDEPENDENT_CONFLICT', 'UNTRANSLATABLE_FRAGMENT', 'UNTRANSLATABLE_PROTOCOL'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * The counters of one (endpoint, rule). Every figure is an integer >= 0, or null when the
 * programmer cannot measure it (never 0 in its place).
 * - Cumulative (only grow, from 0 at `since`): newConnections, sentPackets, sentBytes,
 *   receivedPackets, receivedBytes, droppedSentPackets.
 * - Snapshot (the value at the report's `readAt`): openConnections.
 * A later report with another `since` for the pair means its counters started again from 0.
 */
export interface HostEndpointCounters {
  endpoint: string;
  ruleNumber: number;
  /** When the cumulative figures of this pair started from 0 (RFC 3339). */
  since: string;
  newConnections: number | null;
  openConnections: number | null;
  /** Packets and IP bytes from the VM to the outside (after translation). */
  sentPackets: number | null;
  sentBytes: number | null;
  /** Packets and IP bytes from the outside to the VM (replies of its connections). */
  receivedPackets: number | null;
  receivedBytes: number | null;
  /** Packets the VM sent that were dropped, by reason. */
  droppedSentPackets: Record<DropReason, number | null>;
}

export interface HostCounters {
  /** When the data plane was read (RFC 3339). */
  readAt: string;
  /**
   * true: every (endpoint, rule) with a non-zero figure is listed (an unlisted pair has none);
   * false: only the pairs whose figures changed since this programmer's previous report that the
   * API acknowledged (the others keep their last reported values).
   */
  complete: boolean;
  endpoints: HostEndpointCounters[];
  /** Inbound packets dropped on the host that belong to no endpoint (cumulative from `since`). */
  host: {
    since: string;
    /** To a NAT IP, matching no connection (unsolicited). */
    droppedReceivedUnsolicited: number | null;
    /** Later fragments to a NAT IP whose first fragment was not seen. */
    droppedReceivedFragments: number | null;
  };
}

/** Headers of a signed push: signature = hex(HMAC-SHA256(pushSecret, `${timestamp}.${body}`)). */
export const SIGNATURE_HEADER = 'x-natplane-signature';
export const TIMESTAMP_HEADER = 'x-natplane-timestamp';
/** A push whose timestamp is further than this from the agent's clock is refused. */
export const MAX_CLOCK_SKEW_SEC = 300;
