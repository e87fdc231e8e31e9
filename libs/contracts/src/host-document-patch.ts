/**
 * An incremental push (added with the host agent; the full document stays the contract).
 *
 * `PATCH {agentUrl}/v1/programming` carries the changes that turn the host's document of
 * `baseGeneration` into its document of `generation`, signed exactly like the full PUT. The agent
 * applies it only when the generation it applied is `baseGeneration`; any other state answers 409
 * (problem type `.../base-generation-mismatch`, with `appliedGeneration`) and the sender falls back
 * to the full `PUT`. Why it exists: a host document of 50,000 endpoints is about 12 MB of JSON
 * (hundreds of ms to sign, send and parse), while a one-endpoint change must be programmed in a few
 * milliseconds. Level-triggered safety is unchanged: the full document (push or pull) always wins.
 *
 * Application order: deleteGateways, putGateways, deleteEndpoints, putEndpoints.
 */
import { HOST_DOCUMENT_API_VERSION, HostDocument, HostEndpoint, HostGateway } from './host-document';

/** A gateway's settings: everything of HostGateway except its endpoints. */
export type HostGatewaySettings = Omit<HostGateway, 'endpoints'>;

export interface HostDocumentPatch {
  apiVersion: typeof HOST_DOCUMENT_API_VERSION;
  host: string;
  /** The generation this patch applies to. */
  baseGeneration: number;
  /** The generation of the document the patch produces (> baseGeneration). */
  generation: number;
  /** Gateway ids removed with all their endpoints. */
  deleteGateways?: string[];
  /** Gateways created (with no endpoints yet) or whose settings are replaced; endpoints are kept. */
  putGateways?: HostGatewaySettings[];
  /** Endpoints removed from a gateway. */
  deleteEndpoints?: { gatewayId: string; endpointId: string }[];
  /** Endpoints created or replaced whole, by id, in a gateway that exists after putGateways. */
  putEndpoints?: { gatewayId: string; endpoint: HostEndpoint }[];
}

/**
 * Applies a patch to a document, pure: returns a new document (unchanged gateways and endpoints
 * are shared). Throws when the patch does not fit the document (wrong base generation, unknown
 * gateway or endpoint).
 */
export function applyHostPatch(doc: HostDocument, patch: HostDocumentPatch): HostDocument {
  if (patch.baseGeneration !== doc.generation) {
    throw new Error(`patch base generation ${patch.baseGeneration} does not match document generation ${doc.generation}`);
  }
  const gateways = new Map<string, HostGateway>(doc.gateways.map((g) => [g.id, g]));
  for (const id of patch.deleteGateways ?? []) {
    if (!gateways.delete(id)) throw new Error(`deleteGateways: unknown gateway ${id}`);
  }
  for (const settings of patch.putGateways ?? []) {
    const old = gateways.get(settings.id);
    gateways.set(settings.id, { ...settings, endpoints: old ? old.endpoints : [] });
  }
  const touched = new Map<string, Map<string, HostEndpoint>>();
  const endpointsOf = (gatewayId: string, field: string): Map<string, HostEndpoint> => {
    let m = touched.get(gatewayId);
    if (!m) {
      const g = gateways.get(gatewayId);
      if (!g) throw new Error(`${field}: unknown gateway ${gatewayId}`);
      m = new Map(g.endpoints.map((e) => [e.id, e]));
      touched.set(gatewayId, m);
    }
    return m;
  };
  for (const { gatewayId, endpointId } of patch.deleteEndpoints ?? []) {
    if (!endpointsOf(gatewayId, 'deleteEndpoints').delete(endpointId)) {
      throw new Error(`deleteEndpoints: unknown endpoint ${endpointId} in gateway ${gatewayId}`);
    }
  }
  for (const { gatewayId, endpoint } of patch.putEndpoints ?? []) {
    endpointsOf(gatewayId, 'putEndpoints').set(endpoint.id, endpoint);
  }
  for (const [gatewayId, endpoints] of touched) {
    const g = gateways.get(gatewayId) as HostGateway;
    gateways.set(gatewayId, { ...g, endpoints: [...endpoints.values()] });
  }
  return { ...doc, generation: patch.generation, gateways: [...gateways.values()] };
}

/**
 * The smallest patch from `a` to `b` (by gateway and endpoint id; values compared structurally),
 * for a sender that keeps the document it last pushed. applyHostPatch(a, diffHostDocuments(a, b))
 * describes the same state as b (endpoint order inside a gateway may differ).
 */
export function diffHostDocuments(a: HostDocument, b: HostDocument): HostDocumentPatch {
  const patch = emptyPatch(a, b.generation, b.host);
  const before = new Map(a.gateways.map((g) => [g.id, g]));
  const after = new Set(b.gateways.map((g) => g.id));
  for (const g of a.gateways) if (!after.has(g.id)) patch.deleteGateways.push(g.id);
  for (const g of b.gateways) addGatewayChanges(patch, before.get(g.id), g);
  return patch;
}

/**
 * The patch from `a` to `a` with one gateway's section replaced by `section` (undefined: the
 * gateway has nothing left on the host), at `generation`: what a sender that knows the host's
 * document needs when one gateway's computation changed that host and nothing else did.
 */
export function gatewaySectionPatch(a: HostDocument, generation: number, gatewayId: string, section: HostGateway | undefined): HostDocumentPatch {
  const patch = emptyPatch(a, generation, a.host);
  const old = a.gateways.find((g) => g.id === gatewayId);
  if (!section) {
    if (old) patch.deleteGateways.push(gatewayId);
  } else addGatewayChanges(patch, old, section);
  return patch;
}

function emptyPatch(a: HostDocument, generation: number, host: string): Required<HostDocumentPatch> {
  return { apiVersion: HOST_DOCUMENT_API_VERSION, host, baseGeneration: a.generation, generation, deleteGateways: [], putGateways: [], deleteEndpoints: [], putEndpoints: [] };
}

/** The changes that turn gateway section `old` (absent: none yet) into `g`. */
function addGatewayChanges(patch: Required<HostDocumentPatch>, old: HostGateway | undefined, g: HostGateway): void {
  if (old === g) return;
  const { endpoints, ...settings } = g;
  if (!old || !sameJson(settingsOf(old), settings)) patch.putGateways.push(settings);
  const oldEndpoints = new Map((old?.endpoints ?? []).map((e) => [e.id, e]));
  const newIds = new Set(endpoints.map((e) => e.id));
  for (const e of oldEndpoints.values()) {
    if (!newIds.has(e.id)) patch.deleteEndpoints.push({ gatewayId: g.id, endpointId: e.id });
  }
  for (const e of endpoints) {
    const o = oldEndpoints.get(e.id);
    if (!o || (o !== e && !sameJson(o, e))) patch.putEndpoints.push({ gatewayId: g.id, endpoint: e });
  }
}

function settingsOf(g: HostGateway): HostGatewaySettings {
  const { endpoints: _endpoints, ...settings } = g;
  return settings;
}

function sameJson(x: unknown, y: unknown): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}
