import { blockList, bool, str, strList } from '../../framework/schema';
import { projectResource } from '../kit';

/** natplane_endpoint: a VM network interface on a host, in a subnet. */
export const endpoint = projectResource({
  typeName: 'natplane_endpoint',
  kind: 'endpoint',
  collection: 'endpoints',
  description: 'A VM network interface: an address in a subnet, on a host whose agent programs its NAT.',
  schema: {
    subnet: str('The subnet (name, `projects/P/subnets/S` or selfLink). Changing it replaces the endpoint.', { required: true, forceNew: true, reference: true }),
    host: str('The host the VM runs on (moving a VM updates it in place).', { required: true, reference: true }),
    network_ip: str('The primary address, in the subnet\'s primary range and unique in the network.', { required: true }),
    host_interface: str('The host-side device of the NIC (tap, veth, OVS port) as the compute platform names it: endpoints of different networks may share an address on one host when their devices differ.', { optional: true }),
    alias_ip_range: blockList('An alias IP range of the interface.', {
      ip_cidr_range: str('The range (IPv4 CIDR).', { required: true }),
      subnetwork_range_name: str('The subnet\'s secondary range it is taken from (none: the primary range).', { optional: true, absentIs: '' }),
    }, { api: 'aliasIpRanges', key: 'ip_cidr_range' }),
    can_ip_forward: bool('Whether the VM may send packets from addresses that are not its own (IP forwarding; default false).', { optional: true, computed: true }),
    forwarded_ip_ranges: strList('IPv4 CIDRs the VM forwards traffic from (only with can_ip_forward): source-based NAT rules may match them.', { optional: true, absentIs: [] }),
  },
});
