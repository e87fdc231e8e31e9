import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';

export class RuleMappingDto {
  /** @example 100 */
  ruleNumber!: number;
  /** "ip:lo-hi", inclusive. @example ["203.0.113.7:1024-1087"] */
  natIpPortRanges!: string[];
  numTotalNatPorts!: number;
  drainNatIpPortRanges!: string[];
  numTotalDrainNatPorts!: number;
}

/** One VM interface's NAT mapping (Cloud NAT getNatMappingInfo). */
export class NatMappingDto {
  endpoint!: string;
  host!: string;
  /** @example "10.0.0.2" */
  sourceVirtualIp!: string;
  /** The endpoint's alias ranges, comma separated ("" when none). */
  sourceAliasIpRange!: string;
  /** Default IPs: "ip:lo-hi", inclusive. @example ["203.0.113.7:1024-1087"] */
  natIpPortRanges!: string[];
  numTotalNatPorts!: number;
  drainNatIpPortRanges!: string[];
  numTotalDrainNatPorts!: number;
  ruleMappings!: RuleMappingDto[];
  /** The endpoint's ports in use, open connections, drops and traffic on this gateway. */
  traffic!: NatTrafficDto;
}

export class NatMappingListDto {
  items!: NatMappingDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}

export class PagingQuery {
  /** 1 to 500, default 50. */
  @IsOptional()
  @IsString()
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 500, default: 50 })
  pageSize?: string;

  @IsOptional()
  @IsString()
  pageToken?: string;
}

export class RuleStatusDto {
  ruleNumber!: number;
  activeNatIps!: string[];
  drainNatIps!: string[];
  /** Smallest number of extra IPs for this rule with which every endpoint would get ports. */
  minExtraIpsNeeded!: number;
  numVmEndpointsWithNatMappings!: number;
  numVmEndpointsWithoutNatMappings!: number;
}

/** A drained address of the gateway: since when, and when its drain ends by itself. */
export class DrainStatusDto {
  /** The address's IP. */
  natIp!: string;
  /** The address (bare name). */
  address!: string;
  /** -1: the gateway's drainNatIps, else the rule whose sourceNatDrainIps list it. */
  @ApiProperty({ type: 'integer', minimum: -1, maximum: 65000 })
  ruleNumber!: number;
  /** RFC 3339: when the address entered its drain list. */
  drainStartTime!: string;
  /**
   * RFC 3339: drainStartTime + the gateway's maxDrainDurationSec, when its remaining connections are
   * cut and the address leaves the gateway; null without a maxDrainDurationSec.
   */
  @ApiProperty({ type: 'string', nullable: true })
  drainDeadline!: string | null;
}

/** A block of the gateway in quarantine: released, not handed out again before `until`. */
export class QuarantineRangeDto {
  /** "ip:lo-hi", inclusive. @example "203.0.113.7:1088-1151" */
  range!: string;
  /** -1: the gateway's default IPs, else the rule the block was held for. */
  @ApiProperty({ type: 'integer', minimum: -1, maximum: 65000 })
  ruleNumber!: number;
  /** RFC 3339: the end of the block's cool-down. */
  until!: string;
}

export class PortUtilizationDto {
  natIp!: string;
  /** -1: the gateway's default IPs. */
  ruleNumber!: number;
  draining!: boolean;
  activePorts!: number;
  drainPorts!: number;
  /** Released ports not handed out again before their cool-down ends. */
  quarantinedPorts!: number;
  /** Ports held by another gateway (an address moved between gateways, in quarantine). */
  foreignPorts!: number;
  freePorts!: number;
  /**
   * The gateway's blocks on this NAT IP in quarantine now, by port (for the status: read when
   * asked, so it may be newer than the counts; for a preview: as the allocator would leave them).
   */
  quarantineRanges!: QuarantineRangeDto[];
}

/** Cloud NAT getRouterStatus natStatus, at the gateway's observed generation. */
export class NatStatusDto {
  autoAllocatedNatIps!: string[];
  drainAutoAllocatedNatIps!: string[];
  userAllocatedNatIps!: string[];
  drainUserAllocatedNatIps!: string[];
  /** Extra default IPs with which every endpoint in scope would get ports (exact, same packing). */
  minExtraNatIpsNeeded!: number;
  numVmEndpointsWithNatMappings!: number;
  numVmEndpointsWithoutNatMappings!: number;
  ruleStatus!: RuleStatusDto[];
  /** Every drained address (drainNatIps and the rules' sourceNatDrainIps) with its deadline. */
  @ApiProperty({ type: [DrainStatusDto] })
  drains!: DrainStatusDto[];
  portUtilization!: PortUtilizationDto[];
  /** The gateway generation these figures belong to (0: not computed yet). */
  observedGeneration!: number;
  /** The gateway's ports in use, open connections, drops and traffic (absent in a preview). */
  traffic?: NatTrafficDto;
}

export enum ChurnKind {
  ADDED = 'ADDED',
  MOVED = 'MOVED',
  RESIZED = 'RESIZED',
  DRAINED = 'DRAINED',
  RELEASED = 'RELEASED',
  UNMAPPED = 'UNMAPPED',
}

export class ChurnChangeDto {
  endpoint!: string;
  ruleNumber!: number;
  @ApiProperty({ enum: ChurnKind, enumName: 'ChurnKind' })
  kind!: ChurnKind;
  /** "ip:lo-hi" before, if any. */
  from!: string | null;
  /** "ip:lo-hi" after, if any. */
  to!: string | null;
  /** The endpoint's flows on `from` end (its IP leaves the gateway or it leaves the scope). */
  breaksConnections!: boolean;
  /** Ports in use at the last report (what breaks when breaksConnections). */
  portsInUse!: number;
}

export class ChurnSummaryDto {
  endpointsAdded!: number;
  endpointsMoved!: number;
  endpointsResized!: number;
  endpointsDrained!: number;
  endpointsReleased!: number;
  endpointsUnmapped!: number;
  /** Endpoints whose existing connections would break. */
  endpointsWithBrokenConnections!: number;
  /** Connections that would break, from the latest reported ports in use. */
  connectionsBroken!: number;
}

/** What a proposed gateway would do, computed by the same allocator, nothing saved. */
export class NatGatewayPreviewDto {
  status!: NatStatusDto;
  churn!: ChurnSummaryDto;
  /** Per endpoint and rule (at most 500, endpoints by name). */
  changes!: ChurnChangeDto[];
  /** True when `changes` was cut at 500. */
  changesTruncated!: boolean;
}

export class AttributionQuery {
  /** @example "203.0.113.7" */
  @IsString()
  natIp!: string;

  /** The NAT port (natplane hands out 1024..65535). */
  @IsString()
  @ApiProperty({ type: 'integer', minimum: 1, maximum: 65535, example: 1100 })
  port!: string;

  /** RFC 3339 instant; default now. @example "2026-11-25T10:00:00Z" */
  @IsOptional()
  @IsString()
  time?: string;
}

/** Who held a NAT IP and port at an instant (RFC 7422 without per-connection logs). */
export class AttributionDto {
  project!: string;
  gateway!: string;
  endpoint!: string;
  host!: string;
  sourceIp!: string;
  /** The whole block held: "ip:lo-hi". */
  natIpPortRange!: string;
  validFrom!: string;
  /** null while still held. */
  validTo!: string | null;
}

/** Packets endpoints sent that were dropped, by Cloud NAT's reasons (null: no host measures it). */
export class DroppedSentPacketsDto {
  /** No free NAT port in the block (or no block for the destination's rule). */
  OUT_OF_RESOURCES!: number | null;
  /** Endpoint-independent mapping: the mapping's port is taken towards that destination. */
  ENDPOINT_INDEPENDENCE_CONFLICT!: number | null;
  /** A later fragment whose first fragment was not seen. */
  UNTRANSLATABLE_FRAGMENT!: number | null;
  /** A protocol the host cannot translate (other than TCP, UDP, ICMP). */
  UNTRANSLATABLE_PROTOCOL!: number | null;
}

/**
 * What the hosts' data planes report (docs/observability.md): ports in use and open connections
 * now, and counts since natplane started counting (they never decrease). null: not measured by the
 * hosts' data planes (never 0 in its place).
 */
export class NatTrafficDto {
  /** Ports of active blocks. */
  allocatedPorts!: number;
  /** Distinct NAT ports carrying a connection, at the latest reports (within 15 minutes). */
  portsInUse!: number;
  /** Connections open at the latest reports. */
  openConnections!: number | null;
  newConnections!: number | null;
  sentPackets!: number | null;
  sentBytes!: number | null;
  receivedPackets!: number | null;
  receivedBytes!: number | null;
  droppedSentPackets!: DroppedSentPacketsDto;
}

export class TimeSeriesQuery {
  /** RFC 3339; default: 1 hour before endTime. @example "2026-11-25T09:00:00Z" */
  @IsOptional()
  @IsString()
  startTime?: string;

  /** RFC 3339; default: now. */
  @IsOptional()
  @IsString()
  endTime?: string;

  /** An endpoint of the gateway: its series instead of the gateway's. */
  @IsOptional()
  @IsString()
  endpoint?: string;
}

/** One bucket: gauges are the highest value seen in it, counts the sum over it. */
export class TimeSeriesPointDto {
  /** The bucket's start (RFC 3339). */
  time!: string;
  allocatedPorts!: number | null;
  portsInUse!: number | null;
  openConnections!: number | null;
  /** Gateway series only: endpoints in scope without ports. */
  endpointsWithoutMapping!: number | null;
  newConnections!: number | null;
  sentPackets!: number | null;
  sentBytes!: number | null;
  receivedPackets!: number | null;
  receivedBytes!: number | null;
  droppedSentPackets!: DroppedSentPacketsDto;
}

/** A gateway's (or one endpoint's) time series (docs/observability.md "Time series"). */
export class TimeSeriesDto {
  /** Seconds per bucket: 60 up to 6 hours back, else 3600 (kept 14 days). */
  resolutionSec!: number;
  startTime!: string;
  endTime!: string;
  /** Buckets with data, oldest first (a missing bucket had no activity reported). */
  points!: TimeSeriesPointDto[];
}
