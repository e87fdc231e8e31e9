/**
 * The natplane provider: `registry.terraform.io/natplane/natplane`. The provider block takes the
 * API's URL, a token and a default project, each with an environment variable as default.
 */
import { DiagnosticsError, error } from '../framework/diagnostics';
import type { ProviderDef } from '../framework/provider';
import { str } from '../framework/schema';
import { natGatewayMappings } from './data-sources/nat-gateway-mappings';
import { natGatewayStatus } from './data-sources/nat-gateway-status';
import { address } from './resources/address';
import { addressPool } from './resources/address-pool';
import { endpoint } from './resources/endpoint';
import { host } from './resources/host';
import { natGateway } from './resources/nat-gateway';
import { network } from './resources/network';
import { project } from './resources/project';
import { projectToken } from './resources/project-token';
import { subnet } from './resources/subnet';

export const PROVIDER_ADDRESS = 'registry.terraform.io/natplane/natplane';

export const natplaneProvider: ProviderDef = {
  schema: {
    endpoint: str('The API\'s base URL, e.g. http://127.0.0.1:8080 (default: NATPLANE_API_URL).', { optional: true }),
    token: str('A bearer token: a project token, or the admin token for operator resources (default: NATPLANE_TOKEN).', { optional: true, sensitive: true }),
    project: str('The project of every tenant resource that does not name one (default: NATPLANE_PROJECT).', { optional: true }),
  },
  resources: [project, projectToken, addressPool, host, network, subnet, address, endpoint, natGateway],
  dataSources: [natGatewayStatus, natGatewayMappings],
  configure(config) {
    const pick = (v: unknown, env: string) => (typeof v === 'string' && v !== '' ? v : process.env[env] || undefined);
    const endpoint = pick(config.endpoint, 'NATPLANE_API_URL');
    if (!endpoint) throw new DiagnosticsError([error('No natplane endpoint', 'Set `endpoint` in the provider block or NATPLANE_API_URL (e.g. http://127.0.0.1:8080).', ['endpoint'])]);
    try {
      new URL(endpoint);
    } catch {
      throw new DiagnosticsError([error('Invalid natplane endpoint', `"${endpoint}" is not a URL.`, ['endpoint'])]);
    }
    return { endpoint, token: pick(config.token, 'NATPLANE_TOKEN'), project: pick(config.project, 'NATPLANE_PROJECT') };
  },
};
