/**
 * The natplane SDK: a typed client of the REST API, generated from openapi/openapi.json.
 *
 * `schema.d.ts` is written by `npm run sdk` (openapi-typescript) and checked for drift by
 * `npm run sdk:check`; this file adds what the generator cannot: the bearer token, merge-patch
 * bodies sent as `application/merge-patch+json` (PATCH and POST .../preview, whose bodies the
 * document types as `*PatchDto`: every member optional, null restoring a default), and
 * problem+json errors thrown as `ApiError` with their `errors[{field, message}]`.
 *
 *   const api = createNatplaneClient('http://127.0.0.1:8080', token);
 *   const gw = await ok(api.GET('/v1/projects/{project}/natGateways/{name}', { params: { path: { project, name } } }));
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema';

export type { components, operations, paths };

type Schemas = components['schemas'];
export type Problem = Schemas['ProblemDto'];
export type FieldError = Schemas['FieldErrorDto'];
export type Project = Schemas['ProjectDto'];
export type Host = Schemas['HostDto'];
export type ProjectPatch = Schemas['ProjectPatchDto'];
export type HostPatch = Schemas['HostPatchDto'];
export type AddressPoolPatch = Schemas['AddressPoolPatchDto'];
export type Network = Schemas['NetworkDto'];
export type NetworkInput = Schemas['NetworkInputDto'];
export type NetworkPatch = Schemas['NetworkPatchDto'];
export type Subnet = Schemas['SubnetDto'];
export type SubnetInput = Schemas['SubnetInputDto'];
export type SubnetPatch = Schemas['SubnetPatchDto'];
export type TimeSeries = Schemas['TimeSeriesDto'];
export type TimeSeriesPoint = Schemas['TimeSeriesPointDto'];
export type NatTraffic = Schemas['NatTrafficDto'];
export type Endpoint = Schemas['EndpointDto'];
export type EndpointInput = Schemas['EndpointInputDto'];
export type EndpointPatch = Schemas['EndpointPatchDto'];
export type Address = Schemas['AddressDto'];
export type AddressInput = Schemas['AddressInputDto'];
export type AddressPatch = Schemas['AddressPatchDto'];
export type NatGateway = Schemas['NatGatewayDto'];
export type NatGatewayInput = Schemas['NatGatewayInputDto'];
export type NatGatewayPatch = Schemas['NatGatewayPatchDto'];
export type GatewayRule = Schemas['GatewayRuleDto'];
export type GatewayRuleInput = Schemas['GatewayRuleInputDto'];
export type GatewaySubnetwork = Schemas['GatewaySubnetworkDto'];
export type GatewaySubnetworkInput = Schemas['GatewaySubnetworkInputDto'];
export type NatMapping = Schemas['NatMappingDto'];
export type NatStatus = Schemas['NatStatusDto'];
export type PortUtilization = Schemas['PortUtilizationDto'];
export type QuarantineRange = Schemas['QuarantineRangeDto'];
export type NatGatewayPreview = Schemas['NatGatewayPreviewDto'];
export type Attribution = Schemas['AttributionDto'];
export type HostDocument = Schemas['HostDocumentDto'];

export type NatplanePaths = paths;
export type NatplaneClient = Client<NatplanePaths>;

/** PATCH, and POST .../preview (a merge patch of a gateway): bodies sent as RFC 7396 merge patches. */
function isMergePatch(request: Request): boolean {
  return request.method === 'PATCH' || (request.method === 'POST' && new URL(request.url).pathname.endsWith('/preview'));
}

/** A client of the API at `baseUrl` ('' for the page's own origin), sending `token` as bearer when given. */
export function createNatplaneClient(baseUrl: string, token?: string | null, options: Omit<ClientOptions, 'baseUrl'> = {}): NatplaneClient {
  const headers = new Headers(options.headers as ConstructorParameters<typeof Headers>[0]);
  if (token) headers.set('authorization', `Bearer ${token}`);
  const client = createClient<NatplanePaths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, ''), headers });
  client.use({
    onRequest({ request }) {
      if (isMergePatch(request) && request.headers.get('content-type')?.startsWith('application/json')) request.headers.set('content-type', 'application/merge-patch+json');
      return request;
    },
  });
  return client;
}

/** A problem+json answer (or any non-2xx answer) as an Error. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(ApiError.describe(status, problem));
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }

  /** Validation errors, one per invalid field (400); empty otherwise. */
  get errors(): FieldError[] {
    return this.problem.errors ?? [];
  }

  /** The messages about `field` and the fields under it (`rules[0]` covers `rules[0].match`). */
  messagesFor(field: string): string[] {
    return this.errors.filter((e) => e.field === field || e.field.startsWith(`${field}.`) || e.field.startsWith(`${field}[`)).map((e) => e.message);
  }

  private static describe(status: number, p: Problem): string {
    const fields = (p.errors ?? []).map((e) => `${e.field}: ${e.message}`);
    return [`${status} ${p.title}`, p.detail, ...fields].filter((s) => s && s !== p.title).join('; ');
  }
}

/** What an openapi-fetch call resolves to. */
interface FetchResult<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

/** Turns an error body (problem+json, other JSON, text or nothing) into a Problem. */
function problemOf(response: Response, error: unknown): Problem {
  if (error && typeof error === 'object' && 'title' in error) return error as Problem;
  const detail = typeof error === 'string' ? error : error === undefined ? response.statusText : JSON.stringify(error);
  return { type: 'about:blank', title: response.statusText || `HTTP ${response.status}`, status: response.status, detail };
}

/** Awaits an SDK call: its data on success (undefined for 204), an `ApiError` thrown otherwise. */
export async function ok<D>(call: Promise<FetchResult<D>>): Promise<D> {
  const { data, error, response } = await call;
  if (!response.ok) throw new ApiError(response.status, problemOf(response, error));
  return data as D;
}

/** Every item of a paged list: `page(token)` makes one SDK call for the page after `token` ('' first). */
export async function listAll<T>(page: (pageToken: string | undefined) => Promise<FetchResult<{ items: T[]; nextPageToken?: string | null }>>): Promise<T[]> {
  const items: T[] = [];
  let token: string | undefined;
  for (;;) {
    const body = await ok(page(token));
    items.push(...body.items);
    if (!body.nextPageToken) return items;
    token = body.nextPageToken;
  }
}
