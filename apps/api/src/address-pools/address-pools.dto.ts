import { ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, Matches } from 'class-validator';
import { ResourceDto, ResourceInputDto, ResourcePatchDto } from '../common/resource.dto';
import { REGION_PATTERN } from '../hosts/hosts.dto';

/** Public IPv4 blocks the provider owns in a region; addresses are taken from them. */
export class AddressPoolInputDto extends ResourceInputDto {
  /** @example "europe-west1" */
  @IsString()
  @Matches(REGION_PATTERN, { message: 'must be a region name like europe-west1' })
  region!: string;

  /**
   * IPv4 CIDRs, not overlapping any other pool's.
   * @example ["203.0.113.0/24"]
   */
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(256)
  @IsString({ each: true })
  cidrs!: string[];
}

/** An RFC 7396 merge patch of an address pool. */
export class AddressPoolPatchDto extends ResourcePatchDto {
  /** Immutable. */
  region?: string;
  /** Replaced whole. @example ["203.0.113.0/24"] */
  @ApiPropertyOptional({ type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 256 })
  cidrs?: string[];
}

export class AddressPoolDto extends ResourceDto {
  region!: string;
  cidrs!: string[];
  /** Addresses taken from the pool. */
  addressesInUse!: number;
}

export class AddressPoolListDto {
  items!: AddressPoolDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}
