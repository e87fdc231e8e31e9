import { Injectable, Logger } from '@nestjs/common';
import { JobName, JobQueue, Jobs, type JobData } from '@natplane/jobs';
import { AddressesRepository, AddressPoolsRepository, Db, HostsRepository, ReconcileRepository } from '@natplane/persistence';
import { DEFAULT_RULE } from '@natplane/allocator';
import {
  advance,
  decide,
  incrementalHosts,
  keptHostStates,
  hostSections,
  ipUsesInSpecOrder,
  keptOf,
  planGateway,
  type Decision,
  type GatewayHostState,
  type GatewayPlan,
  type IpUse,
  type KeptGateway,
  type LockedGateway,
  type Run,
  type ScopeEndpoint,
  type StoredBlock,
} from '@natplane/planner';
import { HostPusher } from './host-pusher';
import type { JobHandler } from './job-handler';

/** AUTO_ONLY: at most this many addresses taken in one run (the next run takes more if needed). */
const MAX_AUTO_PER_RUN = 16;

interface Outcome {
  hostIds: string[];
  hostGenerations: number[];
}

const NOTHING: Outcome = { hostIds: [], hostGenerations: [] };

/** Gateways whose last result a worker keeps in memory (bounded; a miss means a full computation). */
const SNAPSHOTS_MAX = 1000;

interface Computed {
  outcome: Outcome;
  snapshot?: KeptGateway;
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
  private readonly snapshots = new Map<string, KeptGateway>();

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
    const d = decide(gw, run, await this.repo.openHistory(gw.id));
    const { next, removed, added, byId, history } = d;
    // Removed blocks go first (the exclusion constraint sees the final state only); then new
    // blocks and the history in one statement.
    await this.repo.applyBlockDiff(gw.id, removed, []);
    const opened = await this.repo.writeAllocations(gw.id, added, history.close, history.open, now);
    const hosts = await this.programHosts(gw, plan, next, byId, history.moves);
    const seq = await this.repo.finish(gw.id, d.status.seq, d.status.observedGeneration, d.status.state, d.status.message, d.status.natStatus);
    this.logRun(gw, data.reason, run, d, hosts.outcome.hostIds.length, t0);
    return { outcome: hosts.outcome, snapshot: keptOf(gw, run, d, seq, history.after(opened), hosts.states) };
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
  private async incrementalRun(gatewayId: string, prior: KeptGateway): Promise<Outcome | undefined> {
    const now = new Date();
    const t0 = performance.now();
    const gw = await this.repo.readIncremental(gatewayId, prior.observedGeneration);
    if (!gw) return undefined;
    if (gw.observedGeneration >= gw.generation) return NOTHING;
    const run = advance(gw, prior, gw.changes, now);
    if (!run) {
      this.snapshots.delete(gw.id); // advance may have updated it before giving up
      return undefined;
    }
    const d = decide(gw, run);
    // A VM whose host changed is the full computation's (its old host waits for the new one).
    // The kept result was updated in place by incremental(): drop it.
    if (d.history.moves.size > 0) {
      this.snapshots.delete(gw.id);
      return undefined;
    }

    const hosts = incrementalHosts(gw, run, d);
    let c: Awaited<ReturnType<ReconcileRepository['commitIncremental']>>;
    try {
      c = await this.repo.commitIncremental(
        gw.id,
        { removed: d.removed, added: d.added },
        { close: d.history.close, open: d.history.open, at: now },
        { bump: hosts.bump, states: hosts.written, drop: hosts.drop },
        d.status,
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
    const states = keptHostStates(prior.hosts, hosts, c.required);
    this.remember(gw.id, keptOf(gw, run, d, c.seq, d.history.after(c.opened), states));
    this.logRun(gw, undefined, run, d, c.bumped.length, t0);

    const late = await Promise.all(c.bumped.map(async (h) => ((await this.pusher.pushSection(h, h.desiredGeneration, gw.id, hosts.sections.get(h.id)?.section)) ? undefined : h)));
    const rest = late.filter((h) => h !== undefined);
    await this.programLater(rest.map((h) => h.id), rest.map((h) => h.desiredGeneration));
    return { hostIds: c.bumped.map((h) => h.id), hostGenerations: c.bumped.map((h) => h.desiredGeneration) };
  }

  private async programLater(hostIds: string[], generations: number[]): Promise<void> {
    await this.jobs.addAll(hostIds.map((hostId, i) => Jobs.programHost(hostId, generations[i])));
  }

  private logRun(gw: LockedGateway, reason: string | undefined, run: Run, d: Decision, hostsToProgram: number, t0: number): void {
    this.log.log(
      `gateway ${gw.projectName}/${gw.name} generation ${gw.generation} (${run.incremental ? 'incremental' : 'full'}${reason ? `, ${reason}` : ''}): ${d.next.length} blocks, ${run.plan.result.changes.length} changes, ${hostsToProgram} hosts to program, ${(performance.now() - t0).toFixed(1)} ms`,
    );
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
      return (await this.repo.autoAddresses(gw.id)).map((a) => ({ ip: a.ip, ruleNumber: DEFAULT_RULE, draining: false }));
    }
    const named = new Map((await this.repo.gatewayIps(gw.id)).map((i) => [i.name, i.ip]));
    return ipUsesInSpecOrder(gw.spec, (n) => named.get(n));
  }

  private remember(gatewayId: string, snapshot: KeptGateway): void {
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

