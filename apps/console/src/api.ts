/**
 * The console's one way to the API: the generated SDK (@natplane/sdk), per collection. Every call
 * resolves to its data or throws the SDK's ApiError (problem+json with errors[{field, message}]).
 */
import {
  createNatplaneClient,
  listAll,
  ok,
  type Address,
  type AddressInput,
  type AddressPatch,
  type Attribution,
  type Endpoint,
  type EndpointInput,
  type EndpointPatch,
  type NatGateway,
  type NatGatewayInput,
  type NatGatewayPatch,
  type NatGatewayPreview,
  type NatMapping,
  type NatplaneClient,
  type NatStatus,
  type TimeSeries,
  type Network,
  type NetworkInput,
  type NetworkPatch,
  type Subnet,
  type SubnetInput,
  type SubnetPatch,
} from '@natplane/sdk';

export { ApiError } from '@natplane/sdk';

export interface Session {
  token: string;
  project: string;
}

/** The operations of one project collection, typed by its resource, its create body and its merge patch. */
export interface CollectionOps<T, I, P> {
  list(): Promise<T[]>;
  get(name: string): Promise<T>;
  create(body: I): Promise<T>;
  patch(name: string, etag: string, body: P): Promise<T>;
  remove(name: string, etag: string): Promise<void>;
}

const PAGE = 500;

export class Api {
  readonly client: NatplaneClient;

  constructor(readonly session: Session) {
    // '' : the console is served by the api it talks to
    this.client = createNatplaneClient('', session.token);
  }

  private get project() {
    return { project: this.session.project };
  }

  private one(name: string) {
    return { project: this.session.project, name };
  }

  /** The projects an admin token sees (a project token gets 401/404: then the user types it). */
  async adminProjects(): Promise<string[]> {
    const items = await listAll((pageToken) => this.client.GET('/v1/admin/projects', { params: { query: { pageSize: PAGE, pageToken } } }));
    return items.map((p) => p.name);
  }

  /** The hosts an admin token sees (for the endpoint form's suggestions); [] for a project token. */
  async hostNames(): Promise<string[]> {
    try {
      return (await listAll((pageToken) => this.client.GET('/v1/admin/hosts', { params: { query: { pageSize: PAGE, pageToken } } }))).map((h) => h.name);
    } catch {
      return [];
    }
  }

  readonly networks: CollectionOps<Network, NetworkInput, NetworkPatch> = {
    list: () => listAll((pageToken) => this.client.GET('/v1/projects/{project}/networks', { params: { path: this.project, query: { pageSize: PAGE, pageToken } } })),
    get: (name) => ok(this.client.GET('/v1/projects/{project}/networks/{name}', { params: { path: this.one(name) } })),
    create: (body) => ok(this.client.POST('/v1/projects/{project}/networks', { params: { path: this.project }, body })),
    patch: (name, etag, body) => ok(this.client.PATCH('/v1/projects/{project}/networks/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } }, body })),
    remove: (name, etag) => ok(this.client.DELETE('/v1/projects/{project}/networks/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } } })),
  };

  readonly subnets: CollectionOps<Subnet, SubnetInput, SubnetPatch> = {
    list: () => listAll((pageToken) => this.client.GET('/v1/projects/{project}/subnets', { params: { path: this.project, query: { pageSize: PAGE, pageToken } } })),
    get: (name) => ok(this.client.GET('/v1/projects/{project}/subnets/{name}', { params: { path: this.one(name) } })),
    create: (body) => ok(this.client.POST('/v1/projects/{project}/subnets', { params: { path: this.project }, body })),
    patch: (name, etag, body) => ok(this.client.PATCH('/v1/projects/{project}/subnets/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } }, body })),
    remove: (name, etag) => ok(this.client.DELETE('/v1/projects/{project}/subnets/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } } })),
  };

  readonly endpoints: CollectionOps<Endpoint, EndpointInput, EndpointPatch> = {
    list: () => listAll((pageToken) => this.client.GET('/v1/projects/{project}/endpoints', { params: { path: this.project, query: { pageSize: PAGE, pageToken } } })),
    get: (name) => ok(this.client.GET('/v1/projects/{project}/endpoints/{name}', { params: { path: this.one(name) } })),
    create: (body) => ok(this.client.POST('/v1/projects/{project}/endpoints', { params: { path: this.project }, body })),
    patch: (name, etag, body) => ok(this.client.PATCH('/v1/projects/{project}/endpoints/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } }, body })),
    remove: (name, etag) => ok(this.client.DELETE('/v1/projects/{project}/endpoints/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } } })),
  };

  readonly addresses: CollectionOps<Address, AddressInput, AddressPatch> = {
    list: () => listAll((pageToken) => this.client.GET('/v1/projects/{project}/addresses', { params: { path: this.project, query: { pageSize: PAGE, pageToken } } })),
    get: (name) => ok(this.client.GET('/v1/projects/{project}/addresses/{name}', { params: { path: this.one(name) } })),
    create: (body) => ok(this.client.POST('/v1/projects/{project}/addresses', { params: { path: this.project }, body })),
    patch: (name, etag, body) => ok(this.client.PATCH('/v1/projects/{project}/addresses/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } }, body })),
    remove: (name, etag) => ok(this.client.DELETE('/v1/projects/{project}/addresses/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } } })),
  };

  readonly natGateways: CollectionOps<NatGateway, NatGatewayInput, NatGatewayPatch> = {
    list: () => listAll((pageToken) => this.client.GET('/v1/projects/{project}/natGateways', { params: { path: this.project, query: { pageSize: PAGE, pageToken } } })),
    get: (name) => ok(this.client.GET('/v1/projects/{project}/natGateways/{name}', { params: { path: this.one(name) } })),
    create: (body) => ok(this.client.POST('/v1/projects/{project}/natGateways', { params: { path: this.project }, body })),
    patch: (name, etag, body) => ok(this.client.PATCH('/v1/projects/{project}/natGateways/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } }, body })),
    remove: (name, etag) => ok(this.client.DELETE('/v1/projects/{project}/natGateways/{name}', { params: { path: this.one(name), header: { 'If-Match': etag } } })),
  };

  gatewayStatus(name: string): Promise<NatStatus> {
    return ok(this.client.GET('/v1/projects/{project}/natGateways/{name}/status', { params: { path: this.one(name) } }));
  }

  /** The gateway's time series over the last `hours` hours (docs/observability.md "Time series"). */
  gatewayTimeSeries(name: string, hours: number): Promise<TimeSeries> {
    const startTime = new Date(Date.now() - hours * 3600_000).toISOString();
    return ok(this.client.GET('/v1/projects/{project}/natGateways/{name}/timeSeries', { params: { path: this.one(name), query: { startTime } } }));
  }

  gatewayMappings(name: string): Promise<NatMapping[]> {
    return listAll((pageToken) => this.client.GET('/v1/projects/{project}/natGateways/{name}/mappings', { params: { path: this.one(name), query: { pageSize: PAGE, pageToken } } }));
  }

  /** What a change of an existing gateway would do (nothing is saved). */
  previewChange(name: string, body: NatGatewayPatch): Promise<NatGatewayPreview> {
    return ok(this.client.POST('/v1/projects/{project}/natGateways/{name}/preview', { params: { path: this.one(name) }, body }));
  }

  /** What a new gateway would do (nothing is saved). */
  previewCreate(body: NatGatewayInput): Promise<NatGatewayPreview> {
    return ok(this.client.POST('/v1/projects/{project}/natGateways:preview', { params: { path: this.project }, body }));
  }

  attribution(natIp: string, port: number, time: string): Promise<Attribution> {
    return ok(this.client.GET('/v1/projects/{project}/attributions', { params: { path: this.project, query: { natIp, port, time } } }));
  }
}
