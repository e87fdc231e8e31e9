import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, Matches } from 'class-validator';
import { ResourceDto, ResourceInputDto } from '../common/resource.dto';
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
