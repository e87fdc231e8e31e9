import { projectResource } from '../kit';

/** natplane_network: a tenant network (the scope of subnets, endpoints and NAT gateways). */
export const network = projectResource({
  typeName: 'natplane_network',
  kind: 'network',
  collection: 'networks',
  description: 'A tenant network: the scope in which subnets, endpoints and NAT gateways live.',
  schema: {},
});
