/**
 * The reconciler's decision: from a gateway's plan (the allocator run on inputs loaded from
 * PostgreSQL, or on the worker's kept result advanced by the endpoint writes since) to what one
 * computation writes. The worker loads, decides, commits and pushes; nothing here reads or writes
 * PostgreSQL, Redis or a host. Deterministic; not free of effects on one thing: an incremental
 * computation updates the kept result in place (advance, and decide's block index), to stay
 * O(change) rather than O(gateway), so a computation that fails or gives up must drop it.
 */
import { quarantineMs, type AllocationStatus, type AllocatorEndpoint, type AllocatorInput, type Allocator, type Block } from '@natplane/allocator';
import { blockDiff, reuseUnchanged } from './block-diff';
import type { HostGateway } from '@natplane/contracts';
import { historyChanges, type HistoryChanges } from './history';
import { hostSections } from './host-sections';
import { fromBlock, keptEndpoint, keptScope, planWith, toBlock, updateKeptScope, type GatewayPlan, type IpUse, type KeptScope, type PlanInputs } from './planner';
import type { EndpointChange, GatewayHostState, GatewayStatus, HistoryRow, HostsCommit, LockedGateway, ScopeEndpoint, StoredBlock } from './types';

/**
 * What a worker keeps of a gateway's last committed computation: a cache of its loaded inputs and
 * the allocator's state, never a second source of truth. Valid while the gateway's reconcile_seq
 * is still `seq` (no other worker committed since).
 */
export interface KeptGateway {
  seq: number;
  observedGeneration: number;
  specJson: string;
  ips: IpUse[];
  /** Endpoints of the network's subnets in the region, by id (in id order: kept.candidates). */
  candidates: Map<string, ScopeEndpoint>;
  inputs: Omit<PlanInputs, 'candidates'>;
  /**
   * `inputs.previous` as the allocator's blocks (its last output), index for index; undefined
   * after a computation that updated the allocator (`inputs.previous` is then read from blocksOf).
   */
  blocks?: Block[];
  /** The allocator of the last computation, updated in place by the next (Allocator.update), and its status. */
  allocator?: Allocator;
  natStatus: AllocationStatus;
  /** The input the allocator was built from: its spec is the gateway's (the endpoints and blocks in it are not kept up to date). */
  allocatorInput: AllocatorInput;
  /** The candidates in id order, their scopes, the endpoints in scope and the allocator's list of them. */
  kept: KeptScope;
  /** `inputs.previous` by endpoint (the same objects). */
  blocksOf: Map<string, StoredBlock[]>;
  /** Open allocation_history rows, by endpoint. */
  history: Map<string, HistoryRow[]>;
  hosts: Map<string, GatewayHostState>;
  /** The candidate endpoints on each host, by host id. */
  onHost: Map<string, Set<string>>;
}

/** The base of one computation: the plan, and what was committed before (from memory, or read). */
export interface Run {
  plan: GatewayPlan;
  ips: IpUse[];
  /** An incremental computation's: what it started from. */
  incremental?: IncrementalBase;
}

export interface IncrementalBase {
  /** The kept result, updated in place by the computation (a failed or abandoned one drops it). */
  prior: KeptGateway;
  /** Hosts whose VMs changed (their section is recomputed, the others are kept). */
  hosts: Set<string>;
  /** The endpoints before this run, for those that changed. */
  before: Map<string, ScopeEndpoint>;
  /** The endpoints written since the kept result. */
  changed: string[];
  /** The blocks that went and came, when the kept allocator was updated (Allocator.update) instead of run again. */
  delta?: { removed: Block[]; added: Block[] };
}

/** What one computation writes: the block difference, the history changes and the gateway's status. */
export interface Decision {
  next: StoredBlock[];
  removed: StoredBlock[];
  added: StoredBlock[];
  byId: Map<string, ScopeEndpoint>;
  /** Incremental: the blocks of the endpoints written or changed, and of those on the affected hosts. */
  blocksOfInterest?: StoredBlock[];
  history: HistoryChanges;
  status: GatewayStatus;
}

/**
 * What a computation writes, decided from its plan (pure): the block difference, the history
 * rows to close and to open, the blocks the affected hosts' sections are built from, and the
 * gateway's status. A full computation passes the gateway's open history rows (`open`); an
 * incremental one (`run.incremental`) takes them from the kept result, which it updates in place.
 */
export function decide(gw: LockedGateway, run: Run, open?: HistoryRow[]): Decision {
  const { plan } = run;
  const { result } = plan;
  const quarantineSec = quarantineMs(plan.input.spec.idleTimeoutsSec) / 1000;
  const inc = run.incremental;
  const diffed = () => ({ next: result.blocks.map((b) => ({ ...fromBlock(b), quarantineSec })), ...blockDiff(plan.previous, result.blocks, quarantineSec) });
  const { next, removed, added } = inc?.delta
    ? { next: [] as StoredBlock[], removed: storedOf(inc.prior.blocksOf, inc.delta.removed), added: inc.delta.added.map((b) => ({ ...fromBlock(b), quarantineSec })) }
    : inc?.prior.blocks
      ? reuseUnchanged(inc.prior.blocks, plan.previous, result.blocks, quarantineSec)
      : diffed();
  const diff = [...removed, ...added];

  const byId = inc?.prior.candidates ?? new Map(plan.candidates.map((e) => [e.id, e]));
  let history: HistoryChanges;
  let blocksOfInterest: StoredBlock[] | undefined;
  if (!inc) {
    if (!open) throw new Error('decide: a full computation needs the gateway\'s open history rows');
    history = historyChanges(gw, next, byId, open);
  }
  else {
    // Hosts of VMs whose blocks changed (quarantines ending, say) are affected too.
    for (const b of diff) {
      const e = byId.get(b.endpointId) ?? inc.before.get(b.endpointId);
      if (e) inc.hosts.add(e.hostId);
    }
    // The kept blocks by endpoint become the new ones. Only endpoints written since, or whose
    // blocks changed, can have other history rows; only the affected hosts get a new section:
    // their blocks are read from that index, the rest of the gateway is kept.
    const index = inc.prior.blocksOf;
    for (const b of removed) {
      const list = index.get(b.endpointId) ?? [];
      const at = list.indexOf(b);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) index.delete(b.endpointId);
    }
    for (const b of added) pushTo(index, b.endpointId, b);
    const blocksOfIds = (ids: Iterable<string>) => [...ids].flatMap((id) => index.get(id) ?? []);
    const touched = new Set([...inc.changed, ...diff.map((b) => b.endpointId)]);
    const wanted = new Set(touched);
    for (const h of inc.hosts) for (const id of inc.prior.onHost.get(h) ?? []) wanted.add(id);
    history = historyChanges(gw, blocksOfIds(touched), byId, [...touched].flatMap((id) => inc.prior.history.get(id) ?? []), { prior: inc.prior.history, touched });
    blocksOfInterest = blocksOfIds(wanted);
  }
  const st = result.status;
  const shortage = st.endpointsWithoutMappings > 0;
  const decision: Decision = {
    next,
    removed,
    added,
    byId,
    blocksOfInterest,
    history,
    status: {
      seq: gw.reconcileSeq,
      observedGeneration: gw.generation,
      state: shortage ? 'DEGRADED' : 'READY',
      message: shortage ? `${st.endpointsWithoutMappings} endpoint(s) have no NAT mapping: ${st.minExtraNatIpsNeeded} more NAT IP(s) needed` : '',
      natStatus: st,
    },
  };
  if (inc?.delta) {
    // Every stored block, from the index just updated: built only when read (an O(gateway) pass).
    const index = inc.prior.blocksOf;
    Object.defineProperty(decision, 'next', { get: () => [...index.values()].flat(), enumerable: true });
  }
  return decision;
}

/** The stored blocks (the objects in `index`) of these allocator blocks. */
function storedOf(index: Map<string, StoredBlock[]>, blocks: Block[]): StoredBlock[] {
  return blocks.map((b) => {
    const s = index.get(b.endpointId)?.find((x) => x.natIp === b.natIp && x.portLo === b.portLo && x.ruleNumber === b.ruleNumber && x.state === b.state);
    if (!s) throw new Error(`decide: block ${b.natIp}:${b.portLo} of ${b.endpointId} is not among the kept blocks`);
    return s;
  });
}

/**
 * The last result this worker committed, updated for the endpoints written since, when nothing
 * else changed: the same result as a full computation (the allocator's input differs only in
 * where it was read from), without reading the whole gateway again. Undefined when a full
 * computation is needed: no result kept, another worker committed since, a change other than
 * endpoint writes (one gateway_endpoint_changes row per generation, or it was something else),
 * dynamic port allocation (usage moves blocks), a VM that moved to another host (its ordering
 * is the full computation's), or AUTO_ONLY addresses to take.
 */
export function advance(gw: LockedGateway, prior: KeptGateway, changes: EndpointChange[], now: Date): (Run & { incremental: IncrementalBase }) | undefined {
  if (prior.seq !== gw.reconcileSeq || gw.spec.enableDynamicPortAllocation || prior.specJson !== JSON.stringify(gw.spec)) return undefined;
  if (changes.length !== gw.generation - prior.observedGeneration) return undefined;
  const ids = [...new Set(changes.map((c) => c.endpointId))];
  const fresh = new Map(changes.flatMap((c) => (c.endpoint ? [[c.endpointId, c.endpoint] as const] : [])));
  for (const id of ids) {
    const was = prior.candidates.get(id);
    const is = fresh.get(id);
    if (was && is && was.hostId !== is.hostId) return undefined;
  }
  // From here the kept result is updated in place (candidates, scopes, the host index): this
  // run's result is kept next, and any run that fails or gives up drops it.
  const { candidates, kept, onHost } = prior;
  const before = new Map<string, ScopeEndpoint>();
  const hosts = new Set<string>();
  // The allocator's view of the writes: endpoints leaving its scope, entering it, or changed in it.
  const gone: string[] = [];
  const entering: AllocatorEndpoint[] = [];
  let changedInScope = false;
  for (const id of ids) {
    const was = candidates.get(id);
    const is = fresh.get(id);
    const wasEp = keptEndpoint(kept, id);
    if (was) {
      before.set(id, was);
      hosts.add(was.hostId);
      onHost.get(was.hostId)?.delete(id);
    }
    if (is) {
      hosts.add(is.hostId);
      candidates.set(id, is);
      addTo(onHost, is.hostId, id);
    } else candidates.delete(id);
    updateKeptScope(gw.spec, kept, id, is);
    const isEp = keptEndpoint(kept, id);
    if (wasEp && !isEp) gone.push(id);
    else if (!wasEp && isEp) entering.push(isEp);
    else if (wasEp && isEp && !sameEndpoint(wasEp, isEp)) changedInScope = true;
  }
  const target = { id: gw.id, networkId: gw.networkId, region: gw.region, spec: gw.spec, ips: prior.ips };
  // The kept allocator told the endpoints that left and came: O(the change) (Allocator.update).
  const delta = prior.allocator && !changedInScope ? prior.allocator.update(now.getTime(), gone, entering, prior.natStatus) : undefined;
  if (delta) {
    const index = prior.blocksOf;
    const plan: GatewayPlan = {
      candidates: kept.candidates,
      inScope: kept.inScope,
      // As kept now (O(gateway) when read; not read on this path).
      get previous() {
        return [...index.values()].flat();
      },
      foreign: prior.inputs.foreign,
      usageRows: prior.inputs.usage,
      input: prior.allocatorInput,
      result: {
        get blocks() {
          return [...index.values()].flat().map(toBlock);
        },
        changes: [],
        status: delta.status,
      },
      allocator: prior.allocator,
      usage: new Map(),
    };
    return { plan, ips: prior.ips, incremental: { prior, hosts, before, changed: ids, delta } };
  }
  prior.allocator = undefined; // left half-updated, or not asked
  const plan = planWith(target, { candidates: kept.candidates, foreign: prior.inputs.foreign, usage: prior.inputs.usage, previous: prior.inputs.previous }, now, kept.inScope, {
    scope: kept.scope,
    previous: prior.blocks,
    endpoints: kept.endpoints,
  });
  if (gw.spec.natIpAllocateOption === 'AUTO_ONLY' && plan.result.status.autoIpsToAdd > 0) return undefined; // `prior` was updated: the caller drops it
  return { plan, ips: prior.ips, incremental: { prior, hosts, before, changed: ids } };
}

/** Whether the allocator takes two endpoints alike (the NATed alias ranges and source rules). */
function sameEndpoint(a: AllocatorEndpoint, b: AllocatorEndpoint): boolean {
  return a.aliasRangesNated === b.aliasRangesNated && String(a.sourceRules ?? '') === String(b.sourceRules ?? '');
}

/** An incremental computation's hosts: what the commit writes for them, and the gateway's section of each affected host's document. */
export interface IncrementalHosts extends HostsCommit {
  sections: Map<string, { fingerprint: string; section: HostGateway }>;
}

/**
 * For an incremental computation, the affected hosts' sections (from the blocks of interest) and,
 * against the kept host states, which hosts get a new generation and which states are written or
 * dropped. The other hosts' sections are unchanged (decide.spec.ts). No VM moved (advance and
 * the handler leave that to a full computation), so no host waits.
 */
export function incrementalHosts(gw: LockedGateway, run: Run & { incremental: IncrementalBase }, d: Decision): IncrementalHosts {
  const { prior, hosts: affected } = run.incremental;
  const sections = hostSections(gw, d.blocksOfInterest!, d.byId, affected);
  const { scope } = prior.kept;
  const scopeHosts = new Set([...affected].filter((h) => [...(prior.onHost.get(h) ?? [])].some((id) => scope.get(id))));
  const old = prior.hosts;
  const bump: string[] = [];
  const states: HostsCommit['states'] = [];
  const drop: string[] = [];
  for (const h of affected) {
    const section = sections.get(h)?.fingerprint ?? '';
    const before = old.get(h);
    // A changed section means a new document for the host, also when nothing is left there.
    const changed = (before?.fingerprint ?? '') !== section;
    if (changed) bump.push(h);
    if (!scopeHosts.has(h) && section === '') {
      if (before) drop.push(h); // nothing of this gateway there any more
      continue;
    }
    if (changed || !before || before.waitHostId !== null) {
      // null: the generation the host is bumped to, or (no change) the one it has now
      states.push({ hostId: h, requiredGeneration: changed ? null : (before?.requiredGeneration ?? null), fingerprint: section });
    }
  }
  return { sections, bump, leaving: [], states, drop };
}

/** The kept host states after a commit: those dropped go, those written (as the commit returned them) replace theirs. Updated in place. */
export function keptHostStates(states: Map<string, GatewayHostState>, drop: string[], written: GatewayHostState[]): Map<string, GatewayHostState> {
  for (const h of drop) states.delete(h);
  for (const w of written) states.set(w.hostId, w);
  return states;
}

/** What the worker keeps of a committed computation (`seq`: the reconcile_seq it committed). */
export function keptOf(gw: LockedGateway, run: Run, d: Decision, seq: number, history: Map<string, HistoryRow[]>, hosts: Map<string, GatewayHostState>): KeptGateway {
  const { plan } = run;
  const inc = run.incremental;
  const blocksOf = inc?.prior.blocksOf ?? groupBy(d.next, (b) => b.endpointId);
  // `d.next` shares its objects with blocksOf when it was built from scratch or by reuseUnchanged;
  // otherwise the stored blocks are read from blocksOf when needed.
  const aligned = !inc || (!inc.delta && inc.prior.blocks !== undefined);
  return {
    seq,
    observedGeneration: gw.generation,
    specJson: JSON.stringify(gw.spec),
    ips: run.ips,
    candidates: d.byId,
    inputs: aligned
      ? { previous: d.next, foreign: plan.foreign, usage: plan.usageRows }
      : {
          get previous() {
            return [...blocksOf.values()].flat();
          },
          foreign: plan.foreign,
          usage: plan.usageRows,
        },
    blocks: aligned ? plan.result.blocks : undefined,
    allocator: plan.allocator,
    natStatus: plan.result.status,
    allocatorInput: plan.input,
    kept: run.incremental?.prior.kept ?? keptScope(plan),
    blocksOf,
    history,
    hosts,
    onHost: run.incremental?.prior.onHost ?? hostIndex(plan.candidates),
  };
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (set) set.add(value);
  else index.set(key, new Set([value]));
}

/** The endpoints on each host, by host id. */
function hostIndex(endpoints: ScopeEndpoint[]): Map<string, Set<string>> {
  const index = new Map<string, Set<string>>();
  for (const e of endpoints) addTo(index, e.hostId, e.id);
  return index;
}

function pushTo<T>(index: Map<string, T[]>, key: string, value: T): void {
  const list = index.get(key);
  if (list) list.push(value);
  else index.set(key, [value]);
}

/** Items grouped by a key, in their order. */
function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const t of items) pushTo(out, key(t), t);
  return out;
}
