import { Type } from 'class-transformer';
import { GATEWAY_LIMITS } from '@natplane/domain';
import { ArrayMaxSize, IsArray, IsBoolean, IsISO8601, IsInt, IsOptional, IsString, IsUUID, Max, MaxLength, Min, ValidateIf, ValidateNested } from 'class-validator';

/**
 * Every number of a report is bounded by the column it lands in (issue 13): generations are
 * bigint columns the api reads as exact JSON integers (2^53 - 1), usage counters int columns
 * (2^31 - 1), rule numbers what a gateway's rules may be.
 */
const MAX_GENERATION = Number.MAX_SAFE_INTEGER;
const MAX_INT4 = 2 ** 31 - 1;

/** A counter: an integer >= 0, or null when the host's data plane cannot measure it. */
function Figure(): PropertyDecorator {
  return (target, key) => {
    ValidateIf((_o, v) => v !== null)(target, key);
    IsInt()(target, key);
    Min(0)(target, key);
    Max(Number.MAX_SAFE_INTEGER)(target, key);
  };
}

export class UsageEntryDto {
  /** The endpoint's id, as in the host document. */
  @IsUUID()
  endpoint!: string;

  /** -1 for the gateway's default IPs, else the rule's ruleNumber. */
  @IsInt()
  @Min(-1)
  @Max(GATEWAY_LIMITS.ruleNumber.max)
  ruleNumber!: number;

  /** Distinct NAT ports in use now (from conntrack). */
  @IsInt()
  @Min(0)
  @Max(MAX_INT4)
  portsInUse!: number;
}

/** Cumulative packets the VM sent that were dropped, by reason (null: not measured). */
export class DroppedSentPacketsDto {
  /** No free NAT port in the active block, or no active block for the flow's rule. */
  @Figure()
  OUT_OF_RESOURCES!: number | null;

  /** Endpoint-independent mapping: the mapping's NAT port is taken towards that destination. */
  @Figure()
  ENDPOINT_INDEPENDENT_CONFLICT!: number | null;

  /** A later IPv4 fragment whose first fragment was not seen. */
  @Figure()
  UNTRANSLATABLE_FRAGMENT!: number | null;

  /** A protocol or ICMP type the host cannot translate. */
  @Figure()
  UNTRANSLATABLE_PROTOCOL!: number | null;
}

/** Counters of one (endpoint, rule); null: not measured by this host's data plane. */
export class EndpointCountersDto {
  /** The endpoint's id, as in the host document. */
  @IsUUID()
  endpoint!: string;

  /** -1 for the gateway's default IPs, else the rule's ruleNumber. */
  @IsInt()
  @Min(-1)
  ruleNumber!: number;

  /** When the cumulative figures of this pair started from 0 (RFC 3339). */
  @IsISO8601({ strict: true })
  since!: string;

  /** Cumulative: connections translated. */
  @Figure()
  newConnections!: number | null;

  /** Snapshot: connections open at the report's readAt. */
  @Figure()
  openConnections!: number | null;

  /** Cumulative: packets from the VM to the outside. */
  @Figure()
  sentPackets!: number | null;

  /** Cumulative: IP bytes from the VM to the outside. */
  @Figure()
  sentBytes!: number | null;

  /** Cumulative: packets from the outside to the VM. */
  @Figure()
  receivedPackets!: number | null;

  /** Cumulative: IP bytes from the outside to the VM. */
  @Figure()
  receivedBytes!: number | null;

  @ValidateNested()
  @Type(() => DroppedSentPacketsDto)
  droppedSentPackets!: DroppedSentPacketsDto;
}

/** Inbound packets dropped on the host that belong to no endpoint (cumulative from since). */
export class HostCountersHostDto {
  @IsISO8601({ strict: true })
  since!: string;

  /** To a NAT IP, matching no connection. */
  @Figure()
  droppedReceivedUnsolicited!: number | null;

  /** Later fragments to a NAT IP whose first fragment was not seen. */
  @Figure()
  droppedReceivedFragments!: number | null;
}

/** Data-plane counters per (endpoint, rule) (docs/host-protocol.md "Counters"). */
export class HostCountersDto {
  /** When the data plane was read (RFC 3339). */
  @IsISO8601({ strict: true })
  readAt!: string;

  /** true: every pair with a non-zero figure is listed; false: only the pairs that changed since the previous acknowledged report. */
  @IsBoolean()
  complete!: boolean;

  @IsArray()
  @ArrayMaxSize(200000)
  @ValidateNested({ each: true })
  @Type(() => EndpointCountersDto)
  endpoints!: EndpointCountersDto[];

  @ValidateNested()
  @Type(() => HostCountersHostDto)
  host!: HostCountersHostDto;
}

/** What an agent reports every few seconds and after each apply. */
export class HostReportDto {
  /** The generation of the document the host's data plane holds now. */
  @IsInt()
  @Min(0)
  @Max(MAX_GENERATION)
  appliedGeneration!: number;

  @IsArray()
  @ArrayMaxSize(200000)
  @ValidateNested({ each: true })
  @Type(() => UsageEntryDto)
  usage!: UsageEntryDto[];

  /** Errors of the last apply; empty when it succeeded. */
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(2000, { each: true })
  errors!: string[];

  /** Data-plane counters per (endpoint, rule); absent when the host's data plane measures none. */
  @IsOptional()
  @ValidateNested()
  @Type(() => HostCountersDto)
  counters?: HostCountersDto;
}

export class HostReportAckDto {
  /** The generation the control plane wants applied (pull the document when it is newer). */
  desiredGeneration!: number;
}
