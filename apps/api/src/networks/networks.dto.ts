import { ResourceDto, ResourceInputDto, ResourcePatchDto } from '../common/resource.dto';

/** A VPC network: the scope of subnets, endpoints and NAT gateways. */
export class NetworkInputDto extends ResourceInputDto {}

/** An RFC 7396 merge patch of a network. */
export class NetworkPatchDto extends ResourcePatchDto {}

export class NetworkDto extends ResourceDto {}

export class NetworkListDto {
  items!: NetworkDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}
