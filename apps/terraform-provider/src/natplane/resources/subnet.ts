import { blockList, str } from '../../framework/schema';
import { projectResource } from '../kit';

/** natplane_subnet: an IPv4 range of a network in a region, with named secondary ranges. */
export const subnet = projectResource({
  typeName: 'natplane_subnet',
  kind: 'subnet',
  collection: 'subnets',
  description: 'An IPv4 range of a network in one region, with optional named secondary ranges (alias IPs).',
  schema: {
    network: str('The network (name, `projects/P/networks/N` or selfLink). Changing it replaces the subnet.', { required: true, forceNew: true, reference: true }),
    region: str('The region. Changing it replaces the subnet.', { required: true, forceNew: true }),
    ip_cidr_range: str('The primary range (IPv4 CIDR); ranges of one network must not overlap. Updated in place (the API refuses a range that leaves an endpoint outside).', { required: true }),
    secondary_ip_range: blockList('A named secondary range (alias IP ranges of endpoints).', {
      range_name: str('The range\'s name, unique in the subnet.', { required: true }),
      ip_cidr_range: str('The range (IPv4 CIDR).', { required: true }),
    }, { api: 'secondaryIpRanges', key: 'range_name' }),
    purpose: str('PRIVATE (default: holds VM interfaces) or PRIVATE_NAT (supplies NAT IPs to Private NAT gateways). Changing it replaces the subnet.', { optional: true, computed: true, forceNew: true }),
  },
});
