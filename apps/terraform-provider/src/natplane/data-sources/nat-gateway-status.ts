import { ok } from '@natplane/sdk';
import { fromApi } from '../../framework/convert';
import type { DataSourceDef } from '../../framework/resource';
import { text } from '../../framework/values';
import { num, str, strList, typed, type Schema } from '../../framework/schema';
import { projectAttr } from '../kit';

const schema: Schema = {
  project: projectAttr(),
  name: str('The NAT gateway.', { required: true, api: false }),
  auto_allocated_nat_ips: strList('NAT IPs natplane allocated (AUTO_ONLY).', { computed: true }),
  drain_auto_allocated_nat_ips: strList('Auto-allocated NAT IPs being drained.', { computed: true }),
  user_allocated_nat_ips: strList('The gateway\'s `nat_ips`, as IP addresses.', { computed: true }),
  drain_user_allocated_nat_ips: strList('The gateway\'s `drain_nat_ips`, as IP addresses.', { computed: true }),
  min_extra_nat_ips_needed: num('How many more NAT IPs every endpoint would need to get its ports.', { computed: true }),
  num_vm_endpoints_with_nat_mappings: num('Endpoints holding port blocks.', { computed: true }),
  num_vm_endpoints_without_nat_mappings: num('Endpoints that could not get port blocks.', { computed: true }),
  observed_generation: num('The gateway generation this status describes.', { computed: true }),
  rule_status: typed(['list', ['object', { rule_number: 'number', active_nat_ips: ['list', 'string'], drain_nat_ips: ['list', 'string'], min_extra_ips_needed: 'number', num_vm_endpoints_with_nat_mappings: 'number', num_vm_endpoints_without_nat_mappings: 'number' }]])(
    'Each rule\'s NAT IPs and endpoint counts.',
    { computed: true },
  ),
  port_utilization: typed(['list', ['object', { nat_ip: 'string', rule_number: 'number', draining: 'bool', active_ports: 'number', drain_ports: 'number', quarantined_ports: 'number', foreign_ports: 'number', free_ports: 'number' }]])(
    'Each NAT IP\'s port space (per rule): ports held, draining, in quarantine, used by other gateways, free.',
    { computed: true },
  ),
};

/** data natplane_nat_gateway_status: a gateway's NAT IPs, endpoint counts and port use (Cloud NAT getRouterStatus). */
export const natGatewayStatus: DataSourceDef = {
  typeName: 'natplane_nat_gateway_status',
  description: 'A NAT gateway\'s status: its NAT IPs, how many more it needs, endpoint counts and port utilization (Cloud NAT getRouterStatus).',
  schema,
  async read(ctx, config) {
    const path = { project: text(config.project), name: text(config.name) };
    const status = await ok(ctx.client.GET('/v1/projects/{project}/natGateways/{name}/status', { params: { path } }));
    return { ...fromApi(schema, status, null), project: path.project, name: path.name };
  },
};
