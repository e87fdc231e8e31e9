/**
 * The OpenAPI view of the host document. Kept apart from host-agent.dto.ts (the report, which
 * libs/contracts' schema spec loads) so that the report's file stays free of @nestjs/swagger.
 */
import { ApiProperty } from '@nestjs/swagger';

// The host desired-state document (natplane.host/v1) as the API returns it: these classes mirror
// libs/contracts' HostDocument for the OpenAPI document; the JSON Schema of record is
// libs/contracts/schema/host-document.schema.json, and host-document.dto.spec.ts fails when these
// classes (as openapi/openapi.json describes them) and that schema differ in a property, its
// presence, type, enum or a stated range.

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
  /** Source-based rules only: the endpoint's sources (own and forwarded CIDRs) the rule applies to. */
  sources?: string[];
}

export class HostEndpointDto {
  /** Endpoint id (uuid): the key used in reports. */
  id!: string;
  /** `projects/{project}/endpoints/{name}` */
  name!: string;
  /** The host-side device of the VM's NIC (tap, veth, OVS port); absent when the platform did not name it. */
  @ApiProperty({ required: false, pattern: '^(?!\\.\\.?$)[A-Za-z0-9_.@+-]{1,15}$' })
  hostInterface?: string;
  /** The VM interface's primary address. */
  networkIp!: string;
  /** Additional source CIDRs NATed for this endpoint, sharing its blocks. */
  aliasRanges!: string[];
  /** Whether the primary address itself is NATed. */
  natPrimary!: boolean;
  /** Ranges the VM forwards from that a source-based rule of the gateway matches; translated only by those rules. */
  forwardedRanges?: string[];
  mappings!: HostEndpointMappingDto[];
}

export class HostRuleDto {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 65000 })
  ruleNumber!: number;
  /** Destination CIDRs; flows to them use the rule's blocks. */
  destinations!: string[];
  /** A source-based rule: its source CIDRs (destinations is then empty). */
  sources?: string[];
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
  /** In ascending ruleNumber: the first that matches a flow wins (by destination, or by source for a source rule). */
  rules!: HostRuleDto[];
  /** A flow that no rule matches: absent, it takes the endpoint's default-IP block (none: dropped); PASS, it leaves untranslated (a PRIVATE gateway). */
  @ApiProperty({ required: false, enum: ['PASS'] })
  unmatched?: 'PASS';
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
