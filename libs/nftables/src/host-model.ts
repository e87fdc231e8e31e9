/**
 * The applied document of a host, indexed for incremental patches: gateways and endpoints by id,
 * sources by owner. Planning a patch touches only the slices the patch names, so a one-endpoint
 * change in a 50,000-endpoint table costs microseconds, not a walk over the document.
 *
 * Pure data, no I/O. A plan is committed only after the data plane accepted its script.
 */
import { HostDocument, HostDocumentPatch, HostEndpoint, HostGatewaySettings } from '@natplane/contracts';
import { ReleasedRange, releasedRanges } from './blocks';
import { diffStates } from './diff';
import { RenderOptions } from './render';
import { InterfaceIds } from './interfaces';
import { addEndpoint, addGateway, addInterface, addSourcesChain, emptyState, isValidInterfaceName } from './state';
import { FieldError, SourceOwners, endpointRuleErrors } from './validate';

interface GatewayEntry {
  settings: HostGatewaySettings;
  endpoints: Map<string, HostEndpoint>;
}

export interface PatchPlan {
  /** The nft script (one transaction), '' when the patch changes nothing in nftables. */
  script: string;
  /** Ports the patch releases (for conntrack clean-up once the script is committed). */
  released: ReleasedRange[];
  /** Makes the model the patched document. Call once the script is committed. */
  commit(): void;
  /** Undoes the planning (source claims). Call when the script was not committed. */
  abandon(): void;
}

export type PlanResult = { ok: true; plan: PatchPlan } | { ok: false; errors: FieldError[] };

export class HostModel {
  private constructor(
    public host: string,
    public generation: number,
    private readonly gateways: Map<string, GatewayEntry>,
    private readonly owners: SourceOwners,
    /** How many endpoints (of any gateway) name each device: its elements live while > 0. */
    private readonly interfaceRefs: Map<string, number>,
    /** The devices' ids: the ones the table was rendered with (RenderOptions.interfaces). */
    readonly interfaces: InterfaceIds,
  ) {}

  /** From a validated document (validateHostDocument), applied with `interfaces` as its device ids. */
  static fromDocument(doc: HostDocument, interfaces: InterfaceIds = new InterfaceIds()): HostModel {
    const owners = new SourceOwners();
    const gateways = new Map<string, GatewayEntry>();
    const refs = new Map<string, number>();
    for (const g of doc.gateways) {
      const { endpoints, ...settings } = g;
      gateways.set(g.id, { settings, endpoints: new Map(endpoints.map((e) => [e.id, e])) });
      for (const e of endpoints) {
        owners.claimEndpoint(g.id, e, '');
        if (e.hostInterface !== undefined) refs.set(e.hostInterface, (refs.get(e.hostInterface) ?? 0) + 1);
      }
    }
    return new HostModel(doc.host, doc.generation, gateways, owners, refs, interfaces);
  }

  /** The devices the applied document names. */
  namedInterfaces(): Set<string> {
    return new Set(this.interfaceRefs.keys());
  }

  get endpointCount(): number {
    let n = 0;
    for (const g of this.gateways.values()) n += g.endpoints.size;
    return n;
  }

  toDocument(): HostDocument {
    return {
      apiVersion: 'natplane.host/v1',
      host: this.host,
      generation: this.generation,
      gateways: [...this.gateways.values()].map((g) => ({ ...g.settings, endpoints: [...g.endpoints.values()] })),
    };
  }

  /**
   * Plans a patch whose shape was validated (validateHostPatchShape) and whose baseGeneration is
   * this model's generation. Returns the field errors when the patch does not fit the document.
   * `script: false`: the caller's data plane is not nftables; the plan checks and claims all the
   * same, but renders no nft script ('').
   */
  planPatch(patch: HostDocumentPatch, opts: RenderOptions & { script?: boolean }): PlanResult {
    const render = opts.script !== false;
    if (!isValidInterfaceName(opts.uplink)) throw new Error(`invalid uplink interface name: ${JSON.stringify(opts.uplink)}`);
    const errors: FieldError[] = [];
    const deletedGateways = new Set<string>();
    (patch.deleteGateways ?? []).forEach((id, i) => {
      if (!this.gateways.has(id)) errors.push({ field: `deleteGateways[${i}]`, message: `unknown gateway ${id}` });
      deletedGateways.add(id);
    });
    // the gateways after the patch (only those the patch touches)
    const nextSettings = new Map<string, HostGatewaySettings>();
    (patch.putGateways ?? []).forEach((s, i) => {
      if (nextSettings.has(s.id)) errors.push({ field: `putGateways[${i}].id`, message: `gateway ${s.id} is put twice` });
      nextSettings.set(s.id, s);
    });
    const exists = (id: string) => nextSettings.has(id) || (this.gateways.has(id) && !deletedGateways.has(id));
    const settingsAfter = (id: string) => nextSettings.get(id) ?? (this.gateways.get(id) as GatewayEntry).settings;
    /** The endpoints a gateway had before the patch and still has unless the patch says otherwise. */
    const keptBefore = (id: string) => (deletedGateways.has(id) ? undefined : this.gateways.get(id)?.endpoints);

    // endpoint changes: key `${gatewayId}\0${endpointId}` -> new endpoint or null (deleted)
    const changes = new Map<string, { gatewayId: string; endpointId: string; after: HostEndpoint | null }>();
    (patch.deleteEndpoints ?? []).forEach(({ gatewayId, endpointId }, i) => {
      if (!keptBefore(gatewayId)?.has(endpointId)) {
        errors.push({ field: `deleteEndpoints[${i}]`, message: `unknown endpoint ${endpointId} in gateway ${gatewayId}` });
      }
      changes.set(SourceOwners.ownerOf(gatewayId, endpointId), { gatewayId, endpointId, after: null });
    });
    (patch.putEndpoints ?? []).forEach(({ gatewayId, endpoint }, i) => {
      const path = `putEndpoints[${i}]`;
      if (!exists(gatewayId)) {
        errors.push({ field: `${path}.gatewayId`, message: `unknown gateway ${gatewayId}` });
        return;
      }
      errors.push(...endpointRuleErrors(endpoint, settingsAfter(gatewayId), `${path}.endpoint`));
      changes.set(SourceOwners.ownerOf(gatewayId, endpoint.id), { gatewayId, endpointId: endpoint.id, after: endpoint });
    });
    // a gateway that loses a rule (or whose rule changes side: source or destination) must not
    // keep an endpoint with a mapping on it
    for (const [id, s] of nextSettings) {
      const kept = keptBefore(id);
      if (!kept) continue;
      const old = (this.gateways.get(id) as GatewayEntry).settings;
      const now = new Map(s.rules.map((r) => [r.ruleNumber, r.sources !== undefined]));
      if (old.rules.every((r) => now.get(r.ruleNumber) === (r.sources !== undefined))) continue;
      for (const e of kept.values()) {
        if (changes.has(SourceOwners.ownerOf(id, e.id))) continue;
        for (const err of endpointRuleErrors(e, s, `gateway ${id} endpoint ${e.id}`)) errors.push(err);
      }
    }
    if (errors.length > 0) return { ok: false, errors };

    // the endpoints that go: explicit deletes, replaced ones, and those of deleted gateways
    const before = emptyState();
    const after = emptyState();
    const released: ReleasedRange[] = [];
    const undo: (() => void)[] = [];
    const goneEndpoints: [string, HostEndpoint][] = [];
    for (const id of deletedGateways) {
      const g = this.gateways.get(id) as GatewayEntry;
      if (render) addGateway(before, g.settings);
      for (const e of g.endpoints.values()) goneEndpoints.push([id, e]);
    }
    for (const [id, s] of nextSettings) {
      const old = deletedGateways.has(id) ? undefined : this.gateways.get(id);
      if (old && render) addGateway(before, old.settings);
      if (render) addGateway(after, s);
    }
    // the sources chain names every gateway: it changes when gateways come or go
    const idsAfter = new Set([...this.gateways.keys()].filter((id) => !deletedGateways.has(id)));
    for (const id of nextSettings.keys()) idsAfter.add(id);
    if (render && (idsAfter.size !== this.gateways.size || [...idsAfter].some((id) => !this.gateways.has(id)))) {
      addSourcesChain(before, this.gateways.keys());
      addSourcesChain(after, idsAfter);
    }
    for (const c of changes.values()) {
      const old = keptBefore(c.gatewayId)?.get(c.endpointId);
      if (old) goneEndpoints.push([c.gatewayId, old]);
    }
    const ids = this.interfaces;
    const refDelta = new Map<string, number>();
    const countRef = (e: HostEndpoint, d: number) => {
      if (e.hostInterface !== undefined) refDelta.set(e.hostInterface, (refDelta.get(e.hostInterface) ?? 0) + d);
    };
    for (const [gatewayId, e] of goneEndpoints) {
      countRef(e, -1);
      if (render) addEndpoint(before, gatewayId, e, ids);
      this.owners.releaseEndpoint(gatewayId, e);
      undo.push(() => this.owners.claimEndpoint(gatewayId, e, ''));
      const change = changes.get(SourceOwners.ownerOf(gatewayId, e.id));
      released.push(...releasedRanges(gatewayId, e, deletedGateways.has(gatewayId) && !nextSettings.has(gatewayId) ? undefined : (change?.after ?? undefined)));
    }
    for (const c of changes.values()) {
      const e = c.after;
      if (!e) continue;
      const claimErrors = this.owners.claimEndpoint(c.gatewayId, e, `putEndpoints[gatewayId=${c.gatewayId}, endpoint.id=${e.id}]`);
      if (claimErrors.length > 0) errors.push(...claimErrors);
      else undo.push(() => this.owners.releaseEndpoint(c.gatewayId, e));
      countRef(e, 1);
      if (render) addEndpoint(after, c.gatewayId, e, ids);
    }
    // a device's elements come with the first endpoint naming it and go with the last
    for (const [name, d] of render ? refDelta : []) {
      const was = this.interfaceRefs.get(name) ?? 0;
      if (was === 0 && d > 0) addInterface(after, name, ids);
      else if (was > 0 && was + d === 0) addInterface(before, name, ids);
    }
    const abandon = () => {
      for (const u of undo.reverse()) u();
      undo.length = 0;
    };
    if (errors.length > 0) {
      abandon();
      return { ok: false, errors };
    }
    const lines = render ? diffStates(before, after) : [];
    const commit = () => {
      for (const id of deletedGateways) this.gateways.delete(id);
      for (const [id, s] of nextSettings) {
        const g = this.gateways.get(id);
        if (g) g.settings = s;
        else this.gateways.set(id, { settings: s, endpoints: new Map() });
      }
      for (const c of changes.values()) {
        const g = this.gateways.get(c.gatewayId) as GatewayEntry;
        if (c.after) g.endpoints.set(c.endpointId, c.after);
        else g.endpoints.delete(c.endpointId);
      }
      for (const [name, d] of refDelta) {
        const n = (this.interfaceRefs.get(name) ?? 0) + d;
        if (n > 0) this.interfaceRefs.set(name, n);
        else this.interfaceRefs.delete(name);
      }
      if (refDelta.size > 0) ids.retain(this.namedInterfaces());
      this.generation = patch.generation;
      undo.length = 0;
    };
    return { ok: true, plan: { script: lines.length ? `${lines.join('\n')}\n` : '', released, commit, abandon } };
  }
}
