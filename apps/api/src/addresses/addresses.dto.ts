import { IsOptional, IsString, Matches } from 'class-validator';
import { ResourceDto, ResourceInputDto, ResourcePatchDto } from '../common/resource.dto';
import { REGION_PATTERN } from '../hosts/hosts.dto';

/** A static external IPv4 address reserved from a pool of the region. */
export class AddressInputDto extends ResourceInputDto {
  /** Immutable. @example "europe-west1" */
  @IsString()
  @Matches(REGION_PATTERN, { message: 'must be a region name like europe-west1' })
  region!: string;

  /** A specific free address of a pool of the region; omitted: the first free one. Immutable. @example "203.0.113.10" */
  @IsOptional()
  @IsString()
  address?: string;
}

/** An RFC 7396 merge patch of an address (only description and labels change). */
export class AddressPatchDto extends ResourcePatchDto {
  /** Immutable. */
  region?: string;
  /** Immutable. */
  address?: string;
}

export enum AddressStatus {
  RESERVED = 'RESERVED',
  IN_USE = 'IN_USE',
}

export class AddressDto extends ResourceDto {
  region!: string;
  address!: string;
  /** IN_USE while a NAT gateway uses it. */
  status!: AddressStatus;
  /** selfLinks of the resources using it. */
  users!: string[];
  /** Taken by an AUTO_ONLY gateway rather than by the tenant. */
  autoAllocated!: boolean;
}

export class AddressListDto {
  items!: AddressDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}
