import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsInt, IsString, IsUUID, MaxLength, Min, ValidateNested } from 'class-validator';

export class UsageEntryDto {
  /** The endpoint's id, as in the host document. */
  @IsUUID()
  endpoint!: string;

  /** -1 for the gateway's default IPs, else the rule's ruleNumber. */
  @IsInt()
  @Min(-1)
  ruleNumber!: number;

  /** Distinct NAT ports in use now (from conntrack). */
  @IsInt()
  @Min(0)
  portsInUse!: number;
}

/** What an agent reports every few seconds and after each apply. */
export class HostReportDto {
  /** The generation of the document the host's data plane holds now. */
  @IsInt()
  @Min(0)
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
}

export class HostReportAckDto {
  /** The generation the control plane wants applied (pull the document when it is newer). */
  desiredGeneration!: number;
}

// The host desired-state document (natplane.host/v1) as the API returns it: these classes mirror
// libs/contracts' HostDocument for the OpenAPI document; the JSON Schema of record is
// libs/contracts/schema/host-document.schema.json.

/** A port block on a NAT IP, inclusive on both ends. */
export class HostPortBlockDto {
  /** @example "203.0.113.7" */
  natIp!: string;
  @ApiProperty({ type: 'integer', minimum: 1024, maximum: 65535, example: 1024 })
  portLo!: number;
  @ApiProperty({ type: 'integer', minimum: 1024, maximum: 65535, example: 1087 })
  portHi!: number;
}

export class HostEndpointMappingDto {
  /** -1 (the gateway's default IPs) or the rule's ruleNumber. */
  @ApiProperty({ type: 'integer', minimum: -1, maximum: 65000 })
  ruleNumber!: number;
  /** The one block new flows are translated into; absent when the endpoint got no ports. */
  active?: HostPortBlockDto;
  /** Blocks taking no new flows whose existing connections live on (drained, resized, moved, in quarantine). */
  drain!: HostPortBlockDto[];
}

export class HostEndpointDto {
  /** Endpoint id (uuid): the key used in reports. */
  id!: string;
  /** `projects/{project}/endpoints/{name}` */
  name!: string;
  /** The VM interface's primary address. */
  networkIp!: string;
  /** Additional source CIDRs NATed for this endpoint, sharing its blocks. */
  aliasRanges!: string[];
  /** Whether the primary address itself is NATed. */
  natPrimary!: boolean;
  mappings!: HostEndpointMappingDto[];
}

export class HostRuleDto {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 65000 })
  ruleNumber!: number;
  /** Destination CIDRs; flows to them use the rule's blocks. */
  destinations!: string[];
}

export class HostTimeoutsDto {
  @ApiProperty({ type: 'integer', minimum: 1 })
  udpIdleTimeoutSec!: number;
  @ApiProperty({ type: 'integer', minimum: 1 })
  icmpIdleTimeoutSec!: number;
  @ApiProperty({ type: 'integer', minimum: 1 })
  tcpEstablishedIdleTimeoutSec!: number;
  @ApiProperty({ type: 'integer', minimum: 1 })
  tcpTransitoryIdleTimeoutSec!: number;
  @ApiProperty({ type: 'integer', minimum: 1 })
  tcpTimeWaitTimeoutSec!: number;
}

export class HostLoggingDto {
  enable!: boolean;
  @ApiProperty({ enum: ['ALL', 'ERRORS_ONLY', 'TRANSLATIONS_ONLY'] })
  filter!: 'ALL' | 'ERRORS_ONLY' | 'TRANSLATIONS_ONLY';
}

export class HostGatewayDto {
  /** The gateway's id (uuid). */
  id!: string;
  /** `projects/{project}/natGateways/{name}` */
  name!: string;
  @ApiProperty({ enum: ['ENDPOINT_INDEPENDENT', 'ENDPOINT_DEPENDENT'] })
  mapping!: 'ENDPOINT_INDEPENDENT' | 'ENDPOINT_DEPENDENT';
  timeouts!: HostTimeoutsDto;
  logging!: HostLoggingDto;
  /** In ascending ruleNumber: the first whose destinations match a flow wins. */
  rules!: HostRuleDto[];
  endpoints!: HostEndpointDto[];
}

/** natplane.host/v1: the whole desired state of one host's programmer. */
export class HostDocumentDto {
  @ApiProperty({ enum: ['natplane.host/v1'] })
  apiVersion!: 'natplane.host/v1';
  host!: string;
  /** Monotonic per host; a programmer never applies an older generation than the one it applied. */
  @ApiProperty({ type: 'integer', minimum: 0 })
  generation!: number;
  gateways!: HostGatewayDto[];
}
