import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Matches, ValidateNested } from 'class-validator';
import { NAME_PATTERN, ResourceDto, ResourceInputDto, ResourcePatchDto } from '../common/resource.dto';
import { REGION_PATTERN } from '../hosts/hosts.dto';

export class SecondaryRangeDto {
  /** RFC 1035 name, unique in the subnet. @example "pods" */
  @IsString()
  @Matches(NAME_PATTERN, { message: 'must match [a-z]([-a-z0-9]{0,61}[a-z0-9])? (RFC 1035)' })
  rangeName!: string;

  /** @example "10.4.0.0/14" */
  @IsString()
  ipCidrRange!: string;
}

/** A regional IPv4 range of a network, with optional secondary (alias) ranges. */
export class SubnetInputDto extends ResourceInputDto {
  /** The network: a name, `projects/{p}/networks/{n}` or a selfLink. Immutable. @example "default" */
  @IsString()
  network!: string;

  /** Immutable. @example "europe-west1" */
  @IsString()
  @Matches(REGION_PATTERN, { message: 'must be a region name like europe-west1' })
  region!: string;

  /** Primary range; may only grow while endpoints use it. @example "10.0.0.0/24" */
  @IsString()
  ipCidrRange!: string;

  /** Secondary ranges (alias IP ranges are taken from them). */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(30)
  @ValidateNested({ each: true })
  @Type(() => SecondaryRangeDto)
  secondaryIpRanges?: SecondaryRangeDto[];

  /**
   * PRIVATE (default): VM interfaces live in it. PRIVATE_NAT: its ranges supply the NAT IPs of
   * Private NAT gateways (Cloud NAT's purpose); it holds no endpoint. Immutable.
   */
  @IsOptional()
  @IsIn(['PRIVATE', 'PRIVATE_NAT'], { message: 'must be PRIVATE or PRIVATE_NAT' })
  @ApiPropertyOptional({ enum: ['PRIVATE', 'PRIVATE_NAT'], default: 'PRIVATE' })
  purpose?: 'PRIVATE' | 'PRIVATE_NAT';
}

/** An RFC 7396 merge patch of a subnet (secondaryIpRanges replaced whole; null: none). */
export class SubnetPatchDto extends ResourcePatchDto {
  /** Immutable. */
  network?: string;
  /** Immutable. */
  region?: string;
  /** May only grow while endpoints use it. */
  ipCidrRange?: string;
  @ApiPropertyOptional({ type: 'array', nullable: true, items: { $ref: getSchemaPath(SecondaryRangeDto) }, maxItems: 30 })
  secondaryIpRanges?: SecondaryRangeDto[] | null;
  /** Immutable. */
  @ApiPropertyOptional({ enum: ['PRIVATE', 'PRIVATE_NAT'] })
  purpose?: 'PRIVATE' | 'PRIVATE_NAT';
}

export class SubnetDto extends ResourceDto {
  network!: string;
  region!: string;
  ipCidrRange!: string;
  secondaryIpRanges!: SecondaryRangeDto[];
  @ApiProperty({ enum: ['PRIVATE', 'PRIVATE_NAT'] })
  purpose!: 'PRIVATE' | 'PRIVATE_NAT';
}

export class SubnetListDto {
  items!: SubnetDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}
