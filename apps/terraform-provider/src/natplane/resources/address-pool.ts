import { num, str, strList } from '../../framework/schema';
import { adminResource } from '../kit';

/** natplane_address_pool (operator): public IPv4 blocks of a region that addresses are taken from. */
export const addressPool = adminResource({
  typeName: 'natplane_address_pool',
  kind: 'address pool',
  collection: 'addressPools',
  description: 'Public IPv4 blocks the operator owns in a region; tenants\' addresses are taken from them (operator; admin token).',
  schema: {
    region: str('The region. Changing it replaces the pool.', { required: true, forceNew: true }),
    cidrs: strList('The IPv4 blocks (CIDR), not overlapping any other pool.', { required: true }),
    addresses_in_use: num('How many addresses are taken from the pool.', { computed: true }),
  },
});
