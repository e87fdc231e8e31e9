import { listAll } from '@natplane/sdk';
import { apiToValue } from '../../framework/convert';
import type { DataSourceDef } from '../../framework/resource';
import { num, str, typed, type Schema } from '../../framework/schema';
import { text, type TfType } from '../../framework/values';
import { projectAttr } from '../kit';

const ranges = {
  nat_ip_port_ranges: ['list', 'string'],
  num_total_nat_ports: 'number',
  drain_nat_ip_port_ranges: ['list', 'string'],
  num_total_drain_nat_ports: 'number',
} satisfies Record<string, TfType>;
const MAPPING: TfType = ['object', { endpoint: 'string', host: 'string', source_virtual_ip: 'string', source_alias_ip_range: 'string', ...ranges, rule_mappings: ['list', ['object', { rule_number: 'number', ...ranges }]] }];

const schema: Schema = {
  project: projectAttr(),
  name: str('The NAT gateway.', { required: true, api: false }),
  mappings: typed(['list', MAPPING])('Each endpoint\'s NAT IP and port ranges ("IP:LO-HI"), per rule too.', { computed: true }),
  count: num('The number of mappings.', { computed: true }),
};

/** data natplane_nat_gateway_mappings: every endpoint's NAT IP and port blocks (Cloud NAT getNatMappingInfo). */
export const natGatewayMappings: DataSourceDef = {
  typeName: 'natplane_nat_gateway_mappings',
  description: 'Every endpoint\'s NAT IP and port ranges in a NAT gateway, per rule too (Cloud NAT getNatMappingInfo).',
  schema,
  async read(ctx, config) {
    const path = { project: text(config.project), name: text(config.name) };
    const items = await listAll((pageToken) => ctx.client.GET('/v1/projects/{project}/natGateways/{name}/mappings', { params: { path, query: { pageToken, pageSize: 500 } } }));
    return { project: path.project, name: path.name, mappings: apiToValue(items, ['list', MAPPING]), count: items.length };
  },
};
