import { ResourceDto, ResourceInputDto } from '../common/resource.dto';

/** A VPC network: the scope of subnets, endpoints and NAT gateways. */
export class NetworkInputDto extends ResourceInputDto {}

export class NetworkDto extends ResourceDto {}

export class NetworkListDto {
  items!: NetworkDto[];
  /** Empty on the last page. */
  nextPageToken!: string;
}
