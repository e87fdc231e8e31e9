import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsEnum, IsIn, IsInt, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import { ResourceDto, ResourceInputDto, ResourcePatchDto } from '../common/resource.dto';

export enum NatIpAllocateOption {
  AUTO_ONLY = 'AUTO_ONLY',
  MANUAL_ONLY = 'MANUAL_ONLY',
}
export enum SourceSubnetworkIpRangesToNat {
  ALL_SUBNETWORKS_ALL_IP_RANGES = 'ALL_SUBNETWORKS_ALL_IP_RANGES',
  ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES = 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES',
  LIST_OF_SUBNETWORKS = 'LIST_OF_SUBNETWORKS',
}
export enum SourceIpRangesToNat {
  ALL_IP_RANGES = 'ALL_IP_RANGES',
  PRIMARY_IP_RANGE = 'PRIMARY_IP_RANGE',
  LIST_OF_SECONDARY_IP_RANGES = 'LIST_OF_SECONDARY_IP_RANGES',
}
export enum LogFilter {
  ALL = 'ALL',
  ERRORS_ONLY = 'ERRORS_ONLY',
  TRANSLATIONS_ONLY = 'TRANSLATIONS_ONLY',
}
export enum GatewayState {
  PROVISIONING = 'PROVISIONING',
  READY = 'READY',
  DEGRADED = 'DEGRADED',
}

export class GatewaySubnetworkInputDto {
  /** The subnet: a name, `projects/{p}/subnets/{s}` or a selfLink. @example "subnet-a" */
  @IsString()
  name!: string;

  @IsOptional()
  @IsArray()
  @IsEnum(SourceIpRangesToNat, { each: true })
  @ApiPropertyOptional({ enum: SourceIpRangesToNat, enumName: 'SourceIpRangesToNat', isArray: true, default: ['ALL_IP_RANGES'] })
  sourceIpRangesToNat?: SourceIpRangesToNat[];

  /** With LIST_OF_SECONDARY_IP_RANGES: the secondary range names to NAT. */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @ApiPropertyOptional({ default: [] })
  secondaryIpRangeNames?: string[];
}

export class LogConfigInputDto {
  @IsOptional()
  @IsBoolean()
  @ApiPropertyOptional({ default: false })
  enable?: boolean;

  @IsOptional()
  @IsEnum(LogFilter)
  @ApiPropertyOptional({ enum: LogFilter, enumName: 'LogFilter', default: LogFilter.ALL })
  filter?: LogFilter;
}

export class RuleActionInputDto {
  /** Addresses new connections matching the rule use. */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @ApiPropertyOptional({ default: [] })
  sourceNatActiveIps?: string[];

  /** Addresses being drained from the rule (were active before). */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @ApiPropertyOptional({ default: [] })
  sourceNatDrainIps?: string[];

  /**
   * PRIVATE gateways only (Private NAT): subnets with purpose PRIVATE_NAT whose usable addresses are
   * the rule's NAT IPs (a /24 or smaller; a bare name, relative path or selfLink). Must be empty on a
   * PUBLIC gateway.
   */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @ApiPropertyOptional({ default: [] })
  sourceNatActiveRanges?: string[];
}

export class GatewayRuleInputDto {
  /** 0..65000, unique; lower numbers are evaluated first. @example 100 */
  @IsInt()
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 65000 })
  ruleNumber!: number;

  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @ApiPropertyOptional({ default: '' })
  description?: string;

  /** `inIpRange(destination.ip, 'CIDR')` or `destination.ip == 'IP'`, joined by `||`. */
  @ApiProperty({ example: "inIpRange(destination.ip, '198.51.100.0/24') || destination.ip == '192.0.2.7'" })
  @IsString()
  @MaxLength(8192)
  match!: string;

  @IsOptional()
  @ValidateNested()
  @Type(() => RuleActionInputDto)
  action?: RuleActionInputDto;
}

/** A NAT gateway (Cloud NAT `nats[]` field names). Every omitted field gets its server default. */
export class NatGatewayInputDto extends ResourceInputDto {
  /** The network: a name, `projects/{p}/networks/{n}` or a selfLink. Immutable. @example "default" */
  @IsString()
  network!: string;

  /** Immutable. @example "europe-west1" */
  @IsString()
  region!: string;

  /**
   * PUBLIC (default): NAT to the internet with the provider's addresses. PRIVATE (Private NAT): NAT IPs
   * from PRIVATE_NAT subnets named by rules' action.sourceNatActiveRanges; translates only traffic to the
   * destinations its rules name, never traffic to the internet. Immutable.
   */
  @IsOptional()
  @IsIn(['PUBLIC', 'PRIVATE'])
  @ApiPropertyOptional({ enum: ['PUBLIC', 'PRIVATE'], default: 'PUBLIC' })
  type?: 'PUBLIC' | 'PRIVATE';

  /** Default: MANUAL_ONLY when natIps are given, else AUTO_ONLY. */
  @IsOptional()
  @IsEnum(NatIpAllocateOption)
  @ApiPropertyOptional({ enum: NatIpAllocateOption, enumName: 'NatIpAllocateOption' })
  natIpAllocateOption?: NatIpAllocateOption;

  /** Addresses (name, relative path or selfLink) for new connections; MANUAL_ONLY only. */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @ApiPropertyOptional({ default: [], maxItems: 300 })
  natIps?: string[];

  /** Addresses moved out of natIps in the same request: existing connections live on, new ones go elsewhere. */
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @ApiPropertyOptional({ default: [], maxItems: 300 })
  drainNatIps?: string[];

  /**
   * How long an address may drain (in drainNatIps or a rule's sourceNatDrainIps) before the drain
   * ends by itself, as AWS's MaxDrainDurationSeconds: its remaining connections are cut, its ports
   * go to quarantine and the address leaves the gateway (free to delete). 0: no deadline.
   */
  @IsOptional()
  @IsInt()
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 86400, default: 0 })
  maxDrainDurationSec?: number;

  @IsOptional()
  @IsEnum(SourceSubnetworkIpRangesToNat)
  @ApiPropertyOptional({ enum: SourceSubnetworkIpRangesToNat, enumName: 'SourceSubnetworkIpRangesToNat', default: SourceSubnetworkIpRangesToNat.ALL_SUBNETWORKS_ALL_IP_RANGES })
  sourceSubnetworkIpRangesToNat?: SourceSubnetworkIpRangesToNat;

  /** With LIST_OF_SUBNETWORKS: which subnets and ranges. */
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => GatewaySubnetworkInputDto)
  @ApiPropertyOptional({ type: [GatewaySubnetworkInputDto], default: [] })
  subnetworks?: GatewaySubnetworkInputDto[];

  /** Static: 2..57344, rounded up to a power of two; dynamic: a power of two 32..32768. Default 64 (static) / 32 (dynamic). */
  @IsOptional()
  @IsInt()
  @ApiPropertyOptional({ type: 'integer', minimum: 2, maximum: 57344, example: 64 })
  minPortsPerVm?: number;

  /** A power of two 64..65536 above minPortsPerVm; used only with dynamic allocation. */
  @IsOptional()
  @IsInt()
  @ApiPropertyOptional({ type: 'integer', minimum: 64, maximum: 65536, default: 65536 })
  maxPortsPerVm?: number;

  @IsOptional()
  @IsBoolean()
  @ApiPropertyOptional({ default: false })
  enableDynamicPortAllocation?: boolean;

  /** Not with dynamic allocation nor with rules. */
  @IsOptional()
  @IsBoolean()
  @ApiPropertyOptional({ default: false })
  enableEndpointIndependentMapping?: boolean;

  @IsOptional()
  @IsInt()
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 86400, default: 30 })
  udpIdleTimeoutSec?: number;

  @IsOptional()
  @IsInt()
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 86400, default: 30 })
  icmpIdleTimeoutSec?: number;

  @IsOptional()
  @IsInt()
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 86400, default: 1200 })
  tcpEstablishedIdleTimeoutSec?: number;

  @IsOptional()
  @IsInt()
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 86400, default: 30 })
  tcpTransitoryIdleTimeoutSec?: number;

  @IsOptional()
  @IsInt()
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 86400, default: 30 })
  tcpTimeWaitTimeoutSec?: number;

  @IsOptional()
  @ValidateNested()
  @Type(() => LogConfigInputDto)
  logConfig?: LogConfigInputDto;

  /** Per-destination rules with their own IPs (MANUAL_ONLY, not with endpoint-independent mapping). */
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => GatewayRuleInputDto)
  @ApiPropertyOptional({ type: [GatewayRuleInputDto], default: [] })
  rules?: GatewayRuleInputDto[];
}

/** A subnet NATed by the gateway, as returned: every default filled in. */
export class GatewaySubnetworkDto {
  /** The subnet's name. @example "subnet-a" */
  name!: string;
  @ApiProperty({ enum: SourceIpRangesToNat, enumName: 'SourceIpRangesToNat', isArray: true })
  sourceIpRangesToNat!: SourceIpRangesToNat[];
  secondaryIpRangeNames!: string[];
}

export class LogConfigDto {
  enable!: boolean;
  @ApiProperty({ enum: LogFilter, enumName: 'LogFilter' })
  filter!: LogFilter;
}

export class RuleActionDto {
  /** Address names new connections matching the rule use. */
  sourceNatActiveIps!: string[];
  /** Address names being drained from the rule. */
  sourceNatDrainIps!: string[];
  /** PRIVATE gateways: names of the PRIVATE_NAT subnets whose addresses are the rule's NAT IPs. */
  sourceNatActiveRanges!: string[];
}

export class GatewayRuleDto {
  /** @example 100 */
  @ApiProperty({ type: 'integer', minimum: 0, maximum: 65000 })
  ruleNumber!: number;
  description!: string;
  /** @example "inIpRange(destination.ip, '198.51.100.0/24')" */
  match!: string;
  action!: RuleActionDto;
}

/** `logConfig` in a merge patch: a member set to null restores its default. */
export class LogConfigPatchDto {
  @ApiPropertyOptional({ type: 'boolean', nullable: true })
  enable?: boolean | null;

  @ApiPropertyOptional({ enum: [...Object.values(LogFilter), null] })
  filter?: LogFilter | null;
}

/**
 * An RFC 7396 merge patch of a NAT gateway (PATCH, and POST .../preview): only the members to
 * change; a member set to null restores its server default; lists are replaced whole. The merged
 * gateway is validated as a create body; network, region and type are immutable (400 when
 * changed).
 */
@ApiExtraModels(GatewaySubnetworkInputDto, GatewayRuleInputDto)
export class NatGatewayPatchDto extends ResourcePatchDto {
  /** Immutable. */
  network?: string;
  /** Immutable. */
  region?: string;
  /** Immutable. */
  @ApiPropertyOptional({ enum: ['PUBLIC', 'PRIVATE'] })
  type?: 'PUBLIC' | 'PRIVATE';
  @ApiPropertyOptional({ enum: [...Object.values(NatIpAllocateOption), null] })
  natIpAllocateOption?: NatIpAllocateOption | null;
  @ApiPropertyOptional({ type: 'array', nullable: true, items: { type: 'string' }, maxItems: 300 })
  natIps?: string[] | null;
  @ApiPropertyOptional({ type: 'array', nullable: true, items: { type: 'string' }, maxItems: 300 })
  drainNatIps?: string[] | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 0, maximum: 86400 })
  maxDrainDurationSec?: number | null;
  @ApiPropertyOptional({ enum: [...Object.values(SourceSubnetworkIpRangesToNat), null] })
  sourceSubnetworkIpRangesToNat?: SourceSubnetworkIpRangesToNat | null;
  @ApiPropertyOptional({ type: 'array', nullable: true, items: { $ref: getSchemaPath(GatewaySubnetworkInputDto) } })
  subnetworks?: GatewaySubnetworkInputDto[] | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 2, maximum: 57344 })
  minPortsPerVm?: number | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 64, maximum: 65536 })
  maxPortsPerVm?: number | null;
  @ApiPropertyOptional({ type: 'boolean', nullable: true })
  enableDynamicPortAllocation?: boolean | null;
  @ApiPropertyOptional({ type: 'boolean', nullable: true })
  enableEndpointIndependentMapping?: boolean | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: 86400 })
  udpIdleTimeoutSec?: number | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: 86400 })
  icmpIdleTimeoutSec?: number | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: 86400 })
  tcpEstablishedIdleTimeoutSec?: number | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: 86400 })
  tcpTransitoryIdleTimeoutSec?: number | null;
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, maximum: 86400 })
  tcpTimeWaitTimeoutSec?: number | null;
  /** Merged member by member; null restores the defaults. */
  logConfig?: LogConfigPatchDto | null;
  @ApiPropertyOptional({ type: 'array', nullable: true, items: { $ref: getSchemaPath(GatewayRuleInputDto) } })
  rules?: GatewayRuleInputDto[] | null;
}

export class GatewayStatusDto {
  @ApiProperty({ enum: GatewayState, enumName: 'GatewayState' })
  state!: GatewayState;
  /** The generation the reconciler last computed; READY needs it equal to generation. */
  observedGeneration!: number;
  /** Hosts with endpoints in the gateway's scope. */
  hostsTotal!: number;
  /** Of those, the hosts that applied the gateway's latest programming. */
  hostsProgrammed!: number;
  message!: string;
}

export class NatGatewayDto extends ResourceDto {
  network!: string;
  region!: string;
  @ApiProperty({ enum: ['PUBLIC', 'PRIVATE'] })
  type!: 'PUBLIC' | 'PRIVATE';
  @ApiProperty({ enum: NatIpAllocateOption, enumName: 'NatIpAllocateOption' })
  natIpAllocateOption!: NatIpAllocateOption;
  natIps!: string[];
  drainNatIps!: string[];
  /** Seconds a drain lasts before it ends by itself; 0: no deadline. */
  @ApiProperty({ type: 'integer' })
  maxDrainDurationSec!: number;
  @ApiProperty({ enum: SourceSubnetworkIpRangesToNat, enumName: 'SourceSubnetworkIpRangesToNat' })
  sourceSubnetworkIpRangesToNat!: SourceSubnetworkIpRangesToNat;
  @ApiProperty({ type: [GatewaySubnetworkDto] })
  subnetworks!: GatewaySubnetworkDto[];
  minPortsPerVm!: number;
  maxPortsPerVm!: number;
  enableDynamicPortAllocation!: boolean;
  enableEndpointIndependentMapping!: boolean;
  udpIdleTimeoutSec!: number;
  icmpIdleTimeoutSec!: number;
  tcpEstablishedIdleTimeoutSec!: number;
  tcpTransitoryIdleTimeoutSec!: number;
  tcpTimeWaitTimeoutSec!: number;
  logConfig!: LogConfigDto;
  @ApiProperty({ type: [GatewayRuleDto] })
  rules!: GatewayRuleDto[];
  status!: GatewayStatusDto;
}

export class NatGatewayListDto {
  items!: NatGatewayDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}
