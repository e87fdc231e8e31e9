import { bool, str, strList } from '../../framework/schema';
import { projectResource } from '../kit';

/** natplane_address: a static external IPv4 address taken from a pool of its region. */
export const address = projectResource({
  typeName: 'natplane_address',
  kind: 'address',
  collection: 'addresses',
  description: 'A static external IPv4 address, taken from an address pool of its region, for NAT gateways\' `nat_ips`.',
  schema: {
    region: str('The region. Changing it replaces the address.', { required: true, forceNew: true }),
    address: str('The IPv4 address: a free one of the region\'s pools when set, else chosen by natplane. Changing it replaces the address.', { optional: true, computed: true, forceNew: true }),
    status: str('RESERVED, or IN_USE by a NAT gateway.', { computed: true }),
    users: strList('The NAT gateways using the address.', { computed: true }),
    auto_allocated: bool('Whether natplane allocated it for an AUTO_ONLY gateway.', { computed: true }),
  },
});
