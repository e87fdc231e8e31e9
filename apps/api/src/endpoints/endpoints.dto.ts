import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsOptional, IsString, Matches, ValidateNested } from 'class-validator';
import { HOST_INTERFACE_PATTERN, HOST_INTERFACE_RULE } from '@natplane/domain';
import { ResourceDto, ResourceInputDto, ResourcePatchDto } from '../common/resource.dto';

export class AliasIpRangeInputDto {
  /** A CIDR inside the named secondary range (or the primary range when the name is empty). @example "10.4.1.0/24" */
  @IsString()
  ipCidrRange!: string;

  /** rangeName of one of the subnet's secondaryIpRanges; empty for the primary range. @example "pods" */
  @IsOptional()
  @IsString()
  subnetworkRangeName?: string;
}

/** A VM network interface. Moving the VM to another host = PATCH `host`. */
export class EndpointInputDto extends ResourceInputDto {
  /** The subnet: a name, `projects/{p}/subnets/{s}` or a selfLink. Immutable. @example "subnet-a" */
  @IsString()
  subnet!: string;

  /** The host the VM runs on: a name, `admin/hosts/{h}` or a selfLink. @example "host-1" */
  @IsString()
  host!: string;

  /**
   * The host-side device of the NIC (libvirt tap, OVS port, veth) as the compute platform named it.
   * Two endpoints of different networks may share an address on one host when both name their own
   * device; an address shared on a host without devices to tell the endpoints apart is refused (409).
   * @example "tap3f6b7a4e-2c"
   */
  @IsOptional()
  @IsString()
  @Matches(HOST_INTERFACE_PATTERN, { message: HOST_INTERFACE_RULE })
  @ApiPropertyOptional({ pattern: HOST_INTERFACE_PATTERN.source, maxLength: 15 })
  hostInterface?: string;

  /** In the subnet's primary range, unique in the network. @example "10.0.0.2" */
  @IsString()
  networkIp!: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @ValidateNested({ each: true })
  @Type(() => AliasIpRangeInputDto)
  aliasIpRanges?: AliasIpRangeInputDto[];

  /**
   * The VM may send packets from addresses that are not its own (GCE's canIpForward): a router,
   * a VPN or NAT appliance, a node whose containers are routed behind it. Default false.
   * @example true
   */
  @IsOptional()
  @IsBoolean()
  canIpForward?: boolean;

  /**
   * IPv4 CIDRs the VM forwards traffic from (only with canIpForward); they must not overlap one
   * another nor the VM's own networkIp and aliasIpRanges. Traffic from them is translated only by
   * the gateway's source-based rules that match it, never by the default IPs.
   * @example ["192.168.1.0/24"]
   */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @IsString({ each: true })
  forwardedIpRanges?: string[];
}

export class AliasIpRangeDto {
  /** @example "10.4.1.0/24" */
  ipCidrRange!: string;
  /** rangeName of the secondary range; empty for the primary range. @example "pods" */
  subnetworkRangeName!: string;
}

/** An RFC 7396 merge patch of an endpoint (aliasIpRanges replaced whole; null: none). */
@ApiExtraModels(AliasIpRangeInputDto)
export class EndpointPatchDto extends ResourcePatchDto {
  /** Immutable. */
  subnet?: string;
  /** Moves the VM to another host (with `hostInterface` when its device changes too). */
  host?: string;
  /** null: the platform names no device for it any more. */
  @ApiPropertyOptional({ type: 'string', nullable: true, pattern: HOST_INTERFACE_PATTERN.source, maxLength: 15 })
  hostInterface?: string | null;
  networkIp?: string;
  @ApiPropertyOptional({ type: 'array', nullable: true, items: { $ref: getSchemaPath(AliasIpRangeInputDto) }, maxItems: 32 })
  aliasIpRanges?: AliasIpRangeInputDto[] | null;
  /** null: false. */
  @ApiPropertyOptional({ type: 'boolean', nullable: true })
  canIpForward?: boolean | null;
  /** Replaced whole; null: none. */
  @ApiPropertyOptional({ type: 'array', nullable: true, items: { type: 'string' }, maxItems: 32 })
  forwardedIpRanges?: string[] | null;
}

export class EndpointDto extends ResourceDto {
  subnet!: string;
  host!: string;
  /** The host-side device of the NIC; null when none is named. */
  @ApiProperty({ type: 'string', nullable: true })
  hostInterface!: string | null;
  networkIp!: string;
  aliasIpRanges!: AliasIpRangeDto[];
  /** The VM may forward traffic from addresses that are not its own. */
  canIpForward!: boolean;
  /** CIDRs the VM forwards traffic from (source-based rules may match them). @example ["192.168.1.0/24"] */
  forwardedIpRanges!: string[];
}

export class EndpointListDto {
  items!: EndpointDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}
