import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { JobName, JobQueue, type JobData } from '@natplane/jobs';
import {
  AddressesRepository,
  AddressPoolsRepository,
  buildHostDocument,
  Db,
  HostsRepository,
  ReconcileRepository,
  type GatewayHostState,
  type HistoryRow,
  type NewHistoryRow,
  type HostBlockRow,
  type EndpointChange,
  type LockedGateway,
  type ScopeEndpoint,
  type StoredBlock,
} from '@natplane/persistence';
import { quarantineMs, type Block } from '@natplane/allocator';
import type { HostGateway } from '@natplane/contracts';
import { fromBlock, ipUsesInSpecOrder, keptScope, planGateway, planWith, updateKeptScope, type GatewayPlan, type IpUse, type KeptScope, type PlanInputs } from '@natplane/planner';
import { HostPusher } from './host-pusher';
import type { JobHandler } from './job-handler';

/**
 * History rows stay open while the holder can still translate on the block: ACTIVE, DRAIN, and
 * QUARANTINE of an endpoint that still exists (its host keeps the block as a drain block, so
 * its established connections go on until the quarantine ends). A deleted endpoint's block leaves
 * its host's document at once (the host removes the leftover connections), so its row closes.
 */
const HELD = new Set(['ACTIVE', 'DRAIN', 'QUARANTINE']);
/** AUTO_ONLY: at most this many addresses taken in one run (the next run takes more if needed). */
const MAX_AUTO_PER_RUN = 16;

interface Outcome {
  hostIds: string[];
  hostGenerations: number[];
}

const NOTHING: Outcome = { hostIds: [], hostGenerations: [] };

/** Gateways whose last result a worker keeps in memory (bounded; a miss means a full computation). */
const SNAPSHOTS_MAX = 1000;

/**
 * What a worker keeps of a gateway's last committed computation: its inputs and what it wrote.
 * Valid while the gateway's reconcile_seq is still `seq` (no other worker committed since).
 */
interface Snapshot {
  seq: number;
  observedGeneration: number;
  specJson: string;
  ips: IpUse[];
  /** Endpoints of the network's subnets in the region, by id (in id order: kept.candidates). */
  candidates: Map<string, ScopeEndpoint>;
  inputs: Omit<PlanInputs, 'candidates'>;
  /** `inputs.previous` as the allocator's blocks (its last output). */
  blocks: Block[];
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
interface Run {
  plan: GatewayPlan;
  ips: IpUse[];
  /** An incremental computation's: what it started from. */
  incremental?: IncrementalBase;
}

interface IncrementalBase {
  /** The kept result, updated in place by the computation (a failed or abandoned one drops it). */
  prior: Snapshot;
  /** Hosts whose VMs changed (their section is recomputed, the others are kept). */
  hosts: Set<string>;
  /** The endpoints before this run, for those that changed. */
  before: Map<string, ScopeEndpoint>;
  /** The endpoints written since the kept result. */
  changed: string[];
}

interface FinishArgs {
  seq: number;
  observedGeneration: number;
  state: 'READY' | 'DEGRADED';
  message: string;
  natStatus: unknown;
}

interface Derived {
  next: StoredBlock[];
  removed: StoredBlock[];
  added: StoredBlock[];
  byId: Map<string, ScopeEndpoint>;
  /** Incremental: the blocks of the endpoints written or changed, and of those on the affected hosts. */
  blocksOfInterest?: StoredBlock[];
  history: Awaited<ReturnType<ReconcileGatewayHandler['historyChanges']>>;
  finish: FinishArgs;
}

interface Computed {
  outcome: Outcome;
  snapshot?: Snapshot;
}

/**
 * reconcile-gateway: lock the gateway row, load its spec, IPs, endpoints in scope, previous
 * blocks and usage, run the allocator, and write in ONE transaction: the block difference, the
 * allocation history, a new document generation for exactly the hosts whose section of the
 * gateway changed (a hash per host), and the gateway's observed generation. Then program-host
 * jobs go out for those hosts. An incremental computation (endpoint writes only) commits the
 * same in one guarded statement instead of a transaction, and pushes the changed sections itself
 * (incrementalRun). A gateway that no longer exists has its blocks released to quarantine the
 * same way.
 *
 * A VM that moved keeps its old host's section unchanged until the new host applied the
 * generation that carries the VM (programmed on the new host before removed from the old one):
 * the old host's row waits on the new host, and the new host's acknowledgement brings the
 * gateway back here.
 */
@Injectable()
export class ReconcileGatewayHandler implements JobHandler<JobName.ReconcileGateway> {
  readonly name = JobName.ReconcileGateway;
  private readonly log = new Logger('reconcile-gateway');
  private readonly snapshots = new Map<string, Snapshot>();

  constructor(
    private readonly db: Db,
    private readonly repo: ReconcileRepository,
    private readonly hosts: HostsRepository,
    private readonly pools: AddressPoolsRepository,
    private readonly addresses: AddressesRepository,
    private readonly jobs: JobQueue,
    private readonly pusher: HostPusher,
  ) {}

  async handle(data: JobData<JobName.ReconcileGateway>): Promise<Outcome> {
    if (data.reason === undefined) {
      const prior = this.snapshots.get(data.gatewayId);
      if (prior) {
        const outcome = await this.incrementalRun(data.gatewayId, prior);
        if (outcome) return outcome;
      } else if ((await this.repo.behind(data.gatewayId)) === false) {
        // Nothing new to compute: end here, without a transaction or a lock. (The job's generation
        // is not trusted: jobs of a gateway coalesce, so a waiting job may carry an older one.)
        return NOTHING;
      }
    }
    let r: Computed;
    try {
      r = await this.db.transaction(() => this.compute(data));
    } catch (e) {
      this.snapshots.delete(data.gatewayId);
      throw e;
    }
    if (r.snapshot) this.remember(data.gatewayId, r.snapshot);
    const { outcome } = r;
    await this.programLater(outcome.hostIds, outcome.hostGenerations);
    return outcome;
  }

  /** The full computation, in the caller's transaction, under the gateway's advisory lock. */
  private async compute(data: JobData<JobName.ReconcileGateway>): Promise<Computed> {
    const now = new Date();
    const t0 = performance.now();
    const gw = await this.repo.lockGateway(data.gatewayId);
    if (!gw) {
      this.snapshots.delete(data.gatewayId);
      return { outcome: await this.releaseGone(data.gatewayId, now) };
    }
    // Drains past the gateway's maxDrainDurationSec end here: the addresses leave the spec (a new
    // generation) and the allocator cuts their blocks.
    const drains = await this.repo.endDrains(gw);
    if (drains.ended.length > 0) {
      gw.spec = drains.spec;
      gw.generation = drains.generation;
      this.log.log(`natGateway ${gw.projectName}/${gw.name}: drain ended at its deadline for ${drains.ended.map((d) => d.name).join(', ')}`);
    }
    // A job for a generation already computed (a burst of changes coalesces into one run);
    // usage reports and hosts' acknowledgements recompute without a new generation.
    if (gw.observedGeneration >= gw.generation && data.reason === undefined) return { outcome: NOTHING };

    const run = await this.full(gw, now, drains.ended.map((d) => ({ natIp: d.ip, ruleNumber: d.ruleNumber })));
    const { plan } = run;
    const d = await this.derive(gw, run);
    const { next, removed, added, byId, history } = d;
    // Removed blocks go first (the exclusion constraint sees the final state only); then new
    // blocks and the history in one statement.
    await this.repo.applyBlockDiff(gw.id, removed, []);
    const opened = await this.repo.writeAllocations(gw.id, added, history.close, history.open, now);
    const hosts = await this.programHosts(gw, plan, next, byId, history.moves);
    const seq = await this.repo.finish(gw.id, d.finish.seq, d.finish.observedGeneration, d.finish.state, d.finish.message, d.finish.natStatus);
    this.logRun(gw, data.reason, run, d, hosts.outcome.hostIds.length, t0);
    return { outcome: hosts.outcome, snapshot: this.snapshotOf(gw, run, d, seq, history.after(opened), hosts.states) };
  }

  /**
   * An incremental computation (see incremental()), without a transaction: read the gateway and
   * the endpoint writes since the kept result in one statement (no lock), compute in memory, and
   * commit in one statement that writes only if no other computation committed since
   * (reconcile_seq) and none is under way (it takes the gateway's advisory lock if free). Then
   * the hosts whose section changed get it pushed at once where this worker knows their
   * document, and a program-host job otherwise. Undefined when a full computation is needed
   * instead (nothing is written then).
   */
  private async incrementalRun(gatewayId: string, prior: Snapshot): Promise<Outcome | undefined> {
    const now = new Date();
    const t0 = performance.now();
    const gw = await this.repo.readIncremental(gatewayId, prior.observedGeneration);
    if (!gw) return undefined;
    if (gw.observedGeneration >= gw.generation) return NOTHING;
    const run = this.incremental(gw, prior, gw.changes, now);
    if (!run) return undefined;
    const affected = run.incremental.hosts;
    const d = await this.derive(gw, run);
    // A VM whose host changed is the full computation's (its old host waits for the new one).
    // The kept result was updated in place by incremental(): drop it.
    if (d.history.moves.size > 0) {
      this.snapshots.delete(gw.id);
      return undefined;
    }

    const sections = hostSections(gw, d.blocksOfInterest!, d.byId, affected);
    const { scope } = prior.kept;
    const scopeHosts = new Set([...affected].filter((h) => [...(prior.onHost.get(h) ?? [])].some((id) => scope.get(id))));
    const old = prior.hosts;
    const bump: string[] = [];
    const written: { hostId: string; requiredGeneration: number | null; fingerprint: string }[] = [];
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
        written.push({ hostId: h, requiredGeneration: changed ? null : (before?.requiredGeneration ?? null), fingerprint: section });
      }
    }
    let c: Awaited<ReturnType<ReconcileRepository['commitIncremental']>>;
    try {
      c = await this.repo.commitIncremental(
        gw.id,
        { removed: d.removed, added: d.added },
        { close: d.history.close, open: d.history.open, at: now },
        { bump, states: written, drop },
        d.finish,
      );
    } catch (e) {
      this.snapshots.delete(gw.id);
      throw e;
    }
    if (!c) {
      // Another computation committed since or is under way: nothing was written; compute in full
      // (it waits for the other one's lock and reads what it committed).
      this.snapshots.delete(gw.id);
      return undefined;
    }
    const states = old; // the kept map, updated in place (a failed run drops the whole snapshot)
    for (const h of drop) states.delete(h);
    for (const w of written) states.set(w.hostId, { hostId: w.hostId, requiredGeneration: c.required.get(w.hostId) ?? 0, fingerprint: w.fingerprint, waitHostId: null, waitGeneration: null });
    this.remember(gw.id, this.snapshotOf(gw, run, d, c.seq, d.history.after(c.opened), states));
    this.logRun(gw, undefined, run, d, c.bumped.length, t0);

    const late = await Promise.all(c.bumped.map(async (h) => ((await this.pusher.pushSection(h, h.desiredGeneration, gw.id, sections.get(h.id)?.section)) ? undefined : h)));
    const rest = late.filter((h) => h !== undefined);
    await this.programLater(rest.map((h) => h.id), rest.map((h) => h.desiredGeneration));
    return { hostIds: c.bumped.map((h) => h.id), hostGenerations: c.bumped.map((h) => h.desiredGeneration) };
  }

  private async programLater(hostIds: string[], generations: number[]): Promise<void> {
    await this.jobs.addAll(hostIds.map((hostId, i) => ({ name: JobName.ProgramHost, data: { hostId, generation: generations[i] } })));
  }

  /** What a computation writes: the block difference, the history changes and the gateway's status. */
  private async derive(gw: LockedGateway, run: Run): Promise<Derived> {
    const { plan } = run;
    const { result } = plan;
    const quarantineSec = quarantineMs(plan.input.spec.idleTimeoutsSec) / 1000;
    const inc = run.incremental;
    const { next, removed, added } = inc
      ? reuseUnchanged(inc.prior.blocks, plan.previous, result.blocks, quarantineSec)
      : { next: result.blocks.map((b) => ({ ...fromBlock(b), quarantineSec })), ...blockDiff(plan.previous, result.blocks, quarantineSec) };
    const diff = [...removed, ...added];

    const byId = inc?.prior.candidates ?? new Map(plan.candidates.map((e) => [e.id, e]));
    let history: Derived['history'];
    let blocksOfInterest: StoredBlock[] | undefined;
    if (!inc) history = await this.historyChanges(gw, next, byId);
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
      history = await this.historyChanges(gw, blocksOfIds(touched), byId, { prior: inc.prior.history, touched });
      blocksOfInterest = blocksOfIds(wanted);
    }
    const st = result.status;
    const shortage = st.endpointsWithoutMappings > 0;
    return {
      next,
      removed,
      added,
      byId,
      blocksOfInterest,
      history,
      finish: {
        seq: gw.reconcileSeq,
        observedGeneration: gw.generation,
        state: shortage ? 'DEGRADED' : 'READY',
        message: shortage ? `${st.endpointsWithoutMappings} endpoint(s) have no NAT mapping: ${st.minExtraNatIpsNeeded} more NAT IP(s) needed` : '',
        natStatus: st,
      },
    };
  }

  private snapshotOf(gw: LockedGateway, run: Run, d: Derived, seq: number, history: Map<string, HistoryRow[]>, hosts: Map<string, GatewayHostState>): Snapshot {
    const { plan } = run;
    return {
      seq,
      observedGeneration: gw.generation,
      specJson: JSON.stringify(gw.spec),
      ips: run.ips,
      candidates: d.byId,
      inputs: { previous: d.next, foreign: plan.foreign, usage: plan.usageRows },
      blocks: plan.result.blocks,
      kept: run.incremental?.prior.kept ?? keptScope(plan),
      blocksOf: run.incremental?.prior.blocksOf ?? groupBy(d.next, (b) => b.endpointId),
      history,
      hosts,
      onHost: run.incremental?.prior.onHost ?? hostIndex(plan.candidates),
    };
  }

  private logRun(gw: LockedGateway, reason: string | undefined, run: Run, d: Derived, hostsToProgram: number, t0: number): void {
    this.log.log(
      `gateway ${gw.projectName}/${gw.name} generation ${gw.generation} (${run.incremental ? 'incremental' : 'full'}${reason ? `, ${reason}` : ''}): ${d.next.length} blocks, ${run.plan.result.changes.length} changes, ${hostsToProgram} hosts to program, ${(performance.now() - t0).toFixed(1)} ms`,
    );
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
  private incremental(gw: LockedGateway, prior: Snapshot, changes: EndpointChange[], now: Date): (Run & { incremental: IncrementalBase }) | undefined {
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
    for (const id of ids) {
      const was = candidates.get(id);
      const is = fresh.get(id);
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
    }
    const target = { id: gw.id, networkId: gw.networkId, region: gw.region, spec: gw.spec, ips: prior.ips };
    const plan = planWith(target, { candidates: kept.candidates, ...prior.inputs }, now, kept.inScope, { scope: kept.scope, previous: prior.blocks, endpoints: kept.endpoints });
    if (gw.spec.natIpAllocateOption === 'AUTO_ONLY' && plan.result.status.autoIpsToAdd > 0) {
      this.snapshots.delete(gw.id);
      return undefined;
    }
    return { plan, ips: prior.ips, incremental: { prior, hosts, before, changed: ids } };
  }

  private async full(gw: LockedGateway, now: Date, endedDrains: { natIp: string; ruleNumber: number }[] = []): Promise<Run> {
    let ips = await this.natIps(gw);
    let plan = await planGateway(this.repo, { id: gw.id, networkId: gw.networkId, region: gw.region, spec: gw.spec, ips, endedDrains }, now);
    if (gw.spec.natIpAllocateOption === 'AUTO_ONLY' && plan.result.status.autoIpsToAdd > 0) {
      if (await this.takeAutoAddresses(gw, Math.min(plan.result.status.autoIpsToAdd, MAX_AUTO_PER_RUN))) {
        ips = await this.natIps(gw);
        plan = await planGateway(this.repo, { id: gw.id, networkId: gw.networkId, region: gw.region, spec: gw.spec, ips }, now);
      }
    }
    return { plan, ips };
  }

  private async natIps(gw: LockedGateway): Promise<IpUse[]> {
    if (gw.spec.natIpAllocateOption === 'AUTO_ONLY') {
      return (await this.repo.autoAddresses(gw.id)).map((a) => ({ ip: a.ip, ruleNumber: -1, draining: false }));
    }
    const named = new Map((await this.repo.gatewayIps(gw.id)).map((i) => [i.name, i.ip]));
    return ipUsesInSpecOrder(gw.spec, (n) => named.get(n));
  }

  private remember(gatewayId: string, snapshot: Snapshot): void {
    this.snapshots.delete(gatewayId);
    if (this.snapshots.size >= SNAPSHOTS_MAX) this.snapshots.delete(this.snapshots.keys().next().value!);
    this.snapshots.set(gatewayId, snapshot);
  }

  /** AUTO_ONLY: reserve free addresses of the region's pools for the gateway. */
  private async takeAutoAddresses(gw: LockedGateway, count: number): Promise<boolean> {
    let taken = 0;
    const existing = (await this.repo.autoAddresses(gw.id)).length;
    for (let i = 0; i < count; i++) {
      const free = await this.pools.firstFree(gw.region);
      if (!free) break;
      const id = await this.addresses.insert(gw.projectId, {
        name: `${gw.name.slice(0, 40)}-auto-${existing + i + 1}-${free.address.replace(/\./g, '-')}`.slice(0, 63).replace(/-+$/, ''),
        description: `taken by natGateway ${gw.name} (AUTO_ONLY)`,
        labels: {},
        region: gw.region,
        address: free.address,
        poolId: free.poolId,
        autoAllocated: true,
      });
      await this.repo.attachAutoAddress(gw.id, id);
      taken++;
    }
    if (taken < count) this.log.warn(`gateway ${gw.projectName}/${gw.name}: the pools of ${gw.region} had ${taken} of ${count} addresses needed`);
    return taken > 0;
  }

  /**
   * One open history row per held block, holder, host and source address: which rows to close
   * and to open, the VMs whose host changed (endpoint id -> the host it left), and, given the
   * rows opened, the open rows afterwards by endpoint. `blocks`: the gateway's blocks; with
   * `known` (the open rows by endpoint, kept, and the endpoints `touched`), only those endpoints can
   * have changed (an endpoint whose blocks and row are unchanged keeps its rows) and `blocks` are theirs.
   */
  private async historyChanges(
    gw: LockedGateway,
    blocks: StoredBlock[],
    endpoints: Map<string, ScopeEndpoint>,
    known?: { prior: Map<string, HistoryRow[]>; touched: Set<string> },
  ): Promise<{ moves: Map<string, string>; close: string[]; open: NewHistoryRow[]; after: (opened: HistoryRow[]) => Map<string, HistoryRow[]> }> {
    const key = (r: { endpointId: string; ruleNumber: number; natIp: string; portLo: number; portHi: number; hostName: string; sourceIp: string; state: string }) =>
      `${r.endpointId}|${r.ruleNumber}|${r.natIp}|${r.portLo}|${r.portHi}|${r.hostName}|${r.sourceIp}|${r.state}`;
    const held = [];
    for (const b of blocks) {
      if (!HELD.has(b.state)) continue;
      if (b.state === 'QUARANTINE' && b.cut === true) continue; // its connections were cut: the holder translates on it no more
      const e = endpoints.get(b.endpointId);
      if (!e) continue;
      held.push({ natIp: b.natIp, portLo: b.portLo, portHi: b.portHi, endpointId: e.id, endpointName: e.name, ruleNumber: b.ruleNumber, hostName: e.hostName, sourceIp: e.networkIp, state: b.state });
    }
    const open = known ? [...known.touched].flatMap((id) => known.prior.get(id) ?? []) : await this.repo.openHistory(gw.id);
    const moves = new Map<string, string>();
    for (const o of open) {
      const e = endpoints.get(o.endpointId);
      if (e && e.hostName !== o.hostName) moves.set(e.id, o.hostName);
    }
    const heldKeys = new Set(held.map(key));
    const openKeys = new Set(open.map(key));
    const [kept, closed] = partition(open, (o) => heldKeys.has(key(o)));
    const toOpen = held.filter((h) => !openKeys.has(key(h))).map((h) => ({ ...h, projectId: gw.projectId, projectName: gw.projectName, gatewayId: gw.id, gatewayName: gw.name }));
    const after = (opened: HistoryRow[]) => {
      // Incremental: the kept rows, updated in place (a failed run drops the whole kept result).
      const out = known?.prior ?? new Map<string, HistoryRow[]>();
      if (known) for (const id of known.touched) out.delete(id);
      for (const r of kept.concat(opened)) pushTo(out, r.endpointId, r);
      return out;
    };
    return { moves, close: closed.map((o) => o.id), open: toOpen, after };
  }

  /**
   * New document generations for the hosts whose section of this gateway changed, and the
   * generations each host must reach for the gateway to be READY, for every host of the gateway.
   * `prior`: the gateway's host states, when known.
   */
  private async programHosts(
    gw: LockedGateway,
    plan: GatewayPlan,
    next: StoredBlock[],
    endpoints: Map<string, ScopeEndpoint>,
    moves: Map<string, string>,
  ): Promise<{ outcome: Outcome; states: Map<string, GatewayHostState> }> {
    const old = new Map((await this.repo.gatewayHosts(gw.id)).map((h) => [h.hostId, h]));
    const sections = hostSections(gw, next, endpoints);
    const scopeHosts = new Set(plan.inScope.map((x) => x.endpoint.hostId));
    const hostNameToId = await this.hosts.idsByNames([...new Set(moves.values())]);
    // Hosts a VM left, waiting for the VM's new host: host id -> the new host id.
    const leaving = new Map<string, string>();
    for (const [endpointId, fromName] of moves) {
      const from = hostNameToId.get(fromName);
      const to = endpoints.get(endpointId)?.hostId;
      if (from && to && from !== to) leaving.set(from, to);
    }
    const allHosts = new Set([...old.keys(), ...sections.keys(), ...scopeHosts]);
    const changed = [...allHosts].filter((h) => (old.get(h)?.fingerprint ?? '') !== (sections.get(h)?.fingerprint ?? ''));
    // First the hosts that gain or keep VMs; a host losing a moved VM waits for its new host.
    const applied = await this.repo.appliedGenerations([...new Set(leaving.values())]);
    const now = changed.filter((h) => !leaving.has(h));
    const bumpedNow = await this.hosts.bumpDesired(now);
    const generation = new Map(bumpedNow.map((b) => [b.id, b.desiredGeneration]));
    const later: string[] = [];
    for (const [from, to] of leaving) {
      if (!changed.includes(from)) continue;
      const needed = generation.get(to);
      if (needed !== undefined && (applied.get(to) ?? 0) < needed) later.push(from);
      else now.push(from);
    }
    const bumpedLeaving = await this.hosts.bumpDesired(now.filter((h) => leaving.has(h)));
    for (const b of bumpedLeaving) generation.set(b.id, b.desiredGeneration);

    // The generation a host must reach: its new one, else what it had to reach before; a host
    // that had no state for this gateway (and no change) must reach the generation it has now.
    const unknown = [...allHosts].filter((h) => !generation.has(h) && !old.has(h));
    const current = await this.repo.currentHostGenerations(unknown);
    const states = new Map<string, GatewayHostState>();
    for (const h of allHosts) {
      const waiting = later.includes(h);
      const section = sections.get(h)?.fingerprint ?? '';
      if (!scopeHosts.has(h) && section === '' && !waiting) continue; // nothing of this gateway there any more
      states.set(h, {
        hostId: h,
        requiredGeneration: generation.get(h) ?? old.get(h)?.requiredGeneration ?? current.get(h) ?? 0,
        fingerprint: waiting ? (old.get(h)?.fingerprint ?? '') : section,
        waitHostId: waiting ? leaving.get(h)! : null,
        waitGeneration: waiting ? generation.get(leaving.get(h)!)! : null,
      });
    }
    await this.repo.setGatewayHosts(gw.id, [...states.values()]);
    const all = [...bumpedNow, ...bumpedLeaving];
    return { outcome: { hostIds: all.map((b) => b.id), hostGenerations: all.map((b) => b.desiredGeneration) }, states };
  }

  private async releaseGone(gatewayId: string, now: Date): Promise<Outcome> {
    await this.repo.lockGone(gatewayId);
    const previous = await this.repo.blocks(gatewayId);
    // Each block cools down for the quarantine its gateway had (recorded with the block).
    const released = previous
      .filter((b) => b.state !== 'QUARANTINE' || (b.until && b.until > now))
      .map((b) =>
        b.state === 'QUARANTINE' ? b : { ...b, state: 'QUARANTINE' as const, until: new Date(now.getTime() + (b.quarantineSec ?? 120) * 1000) },
      );
    await this.repo.replaceBlocks(gatewayId, released);
    await this.repo.closeHistory((await this.repo.openHistory(gatewayId)).map((o) => o.id), now);
    const hostIds = previous.some((b) => b.state !== 'QUARANTINE') ? await this.hosts.ofEndpoints([...new Set(previous.map((b) => b.endpointId))]) : [];
    const bumped = await this.hosts.bumpDesired(hostIds);
    return { hostIds: bumped.map((b) => b.id), hostGenerations: bumped.map((b) => b.desiredGeneration) };
  }
}

/**
 * Per host, this gateway's section of the host document and a hash of it, built by the same
 * code as the document itself (buildHostDocument), so "changed" means exactly "the host would
 * get different programming for this gateway", and the section is what the host gets.
 */
function hostSections(gw: LockedGateway, blocks: StoredBlock[], endpoints: Map<string, ScopeEndpoint>, only?: Set<string>): Map<string, { fingerprint: string; section: HostGateway }> {
  const rows = new Map<string, HostBlockRow[]>();
  for (const b of blocks) {
    const e = endpoints.get(b.endpointId);
    if (!e) continue; // a deleted endpoint: on no host any more
    if (only && !only.has(e.hostId)) continue;
    const row: HostBlockRow = {
      gatewayId: gw.id,
      gatewayName: gw.name,
      projectName: gw.projectName,
      spec: gw.spec,
      endpointId: e.id,
      endpointName: e.name,
      hostInterface: e.hostInterface,
      networkIp: e.networkIp,
      aliasIpRanges: e.aliasIpRanges,
      forwardedIpRanges: e.forwardedIpRanges,
      subnetName: e.subnetName,
      ruleNumber: b.ruleNumber,
      natIp: b.natIp,
      portLo: b.portLo,
      portHi: b.portHi,
      state: b.state,
      ...(b.cut === true ? { cut: true } : {}),
    };
    const list = rows.get(e.hostId);
    if (list) list.push(row);
    else rows.set(e.hostId, [row]);
  }
  const out = new Map<string, { fingerprint: string; section: HostGateway }>();
  for (const [host, rs] of rows) {
    rs.sort((a, b) => (a.endpointId < b.endpointId ? -1 : a.endpointId > b.endpointId ? 1 : a.ruleNumber - b.ruleNumber || a.natIp.localeCompare(b.natIp) || a.portLo - b.portLo));
    const section = buildHostDocument('', 0, rs).gateways[0];
    out.set(host, { fingerprint: createHash('sha256').update(JSON.stringify(section)).digest('base64url'), section });
  }
  return out;
}

function partition<T>(items: T[], test: (t: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const t of items) (test(t) ? yes : no).push(t);
  return [yes, no];
}

const ipNumbers = new Map<string, number>();

/** A block's place as a number: its NAT IP (as an integer) and first port. */
function blockKey(b: { natIp: string; portLo: number }): number {
  let n = ipNumbers.get(b.natIp);
  if (n === undefined) {
    n = b.natIp.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    if (ipNumbers.size > 100_000) ipNumbers.clear();
    ipNumbers.set(b.natIp, n);
  }
  return n * 65536 + b.portLo;
}

/** Same place (compared by the caller), holder, size, state, quarantine end and cut. */
function sameBlock(a: { endpointId: string; ruleNumber: number; state: string; cut?: boolean }, aSize: number, aUntil: number | undefined, b: Block): boolean {
  return a.endpointId === b.endpointId && a.ruleNumber === b.ruleNumber && aSize === b.size && a.state === b.state && aUntil === b.until && (a.cut === true) === (b.cut === true);
}

/**
 * The stored blocks removed or changed (`removed`) from `previous` to the allocator's `blocks`,
 * and the new or changed ones (`added`, stored with the gateway's quarantine length).
 */
function blockDiff(previous: StoredBlock[], blocks: Block[], quarantineSec: number): { removed: StoredBlock[]; added: StoredBlock[] } {
  // Blocks left here at the end were removed or changed.
  const before = new Map<number, StoredBlock>();
  for (const b of previous) before.set(blockKey(b), b);
  const added: StoredBlock[] = [];
  for (const b of blocks) {
    const k = blockKey(b);
    const a = before.get(k);
    if (a && a.quarantineSec === quarantineSec && sameBlock(a, a.portHi - a.portLo + 1, a.until?.getTime(), b)) before.delete(k);
    else added.push({ ...fromBlock(b), quarantineSec });
  }
  return { removed: [...before.values()], added };
}

/**
 * blockDiff for a run that starts from this worker's own last result: `priorBlocks` (the
 * allocator's blocks) and `priorStored` (the same blocks as stored, index for index). An
 * unchanged block keeps its stored object; only new or changed ones are converted.
 */
function reuseUnchanged(
  priorBlocks: Block[],
  priorStored: StoredBlock[],
  blocks: Block[],
  quarantineSec: number,
): { next: StoredBlock[]; removed: StoredBlock[]; added: StoredBlock[] } {
  const index = new Map<number, number>();
  for (let i = 0; i < priorBlocks.length; i++) index.set(blockKey(priorBlocks[i]), i);
  const next = new Array<StoredBlock>(blocks.length);
  const added: StoredBlock[] = [];
  for (let j = 0; j < blocks.length; j++) {
    const b = blocks[j];
    const k = blockKey(b);
    const i = index.get(k);
    if (i !== undefined && sameBlock(priorBlocks[i], priorBlocks[i].size, priorBlocks[i].until, b)) {
      next[j] = priorStored[i];
      index.delete(k);
    } else {
      next[j] = { ...fromBlock(b), quarantineSec };
      added.push(next[j]);
    }
  }
  return { next, removed: [...index.values()].map((i) => priorStored[i]), added };
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
