import { ApiExtraModels, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsOptional, IsString, ValidateNested } from 'class-validator';
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

  /** In the subnet's primary range, unique in the network. @example "10.0.0.2" */
  @IsString()
  networkIp!: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @ValidateNested({ each: true })
  @Type(() => AliasIpRangeInputDto)
  aliasIpRanges?: AliasIpRangeInputDto[];
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
  /** Moves the VM to another host. */
  host?: string;
  networkIp?: string;
  @ApiPropertyOptional({ type: 'array', nullable: true, items: { $ref: getSchemaPath(AliasIpRangeInputDto) }, maxItems: 32 })
  aliasIpRanges?: AliasIpRangeInputDto[] | null;
}

export class EndpointDto extends ResourceDto {
  subnet!: string;
  host!: string;
  networkIp!: string;
  aliasIpRanges!: AliasIpRangeDto[];
}

export class EndpointListDto {
  items!: EndpointDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}
