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
  type HostBlockRow,
  type LockedGateway,
  type ScopeEndpoint,
  type StoredBlock,
} from '@natplane/persistence';
import { quarantineMs } from '@natplane/allocator';
import { fromBlock, ipUsesInSpecOrder, planGateway, type GatewayPlan, type IpUse } from '@natplane/planner';
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

/**
 * reconcile-gateway: lock the gateway row, load its spec, IPs, endpoints in scope, previous
 * blocks and usage, run the allocator, and write in ONE transaction: the block difference, the
 * allocation history, a new document generation for exactly the hosts whose section of the
 * gateway changed (a hash per host), and the gateway's observed generation. Then program-host
 * jobs go out for those hosts. A gateway that no longer exists has its blocks released to
 * quarantine the same way.
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

  constructor(
    private readonly db: Db,
    private readonly repo: ReconcileRepository,
    private readonly hosts: HostsRepository,
    private readonly pools: AddressPoolsRepository,
    private readonly addresses: AddressesRepository,
    private readonly jobs: JobQueue,
  ) {}

  async handle(data: JobData<JobName.ReconcileGateway>): Promise<Outcome> {
    // A job for a generation already computed ends here, without a transaction or a lock.
    if (data.reason === undefined) {
      const observed = await this.repo.observedGeneration(data.gatewayId);
      if (observed !== undefined && observed >= data.generation) return NOTHING;
    }
    const r = await this.db.transaction(() => this.compute(data));
    await this.jobs.addAll(r.hostIds.map((hostId, i) => ({ name: JobName.ProgramHost, data: { hostId, generation: r.hostGenerations[i] } })));
    return r;
  }

  private async compute(data: JobData<JobName.ReconcileGateway>): Promise<Outcome> {
    const now = new Date();
    const gw = await this.repo.lockGateway(data.gatewayId);
    if (!gw) return this.releaseGone(data.gatewayId, now);
    // A job for a generation already computed (a burst of changes coalesces into one run);
    // usage reports and hosts' acknowledgements recompute without a new generation.
    if (gw.observedGeneration >= gw.generation && data.reason === undefined) return NOTHING;

    let plan = await this.plan(gw, now);
    if (gw.spec.natIpAllocateOption === 'AUTO_ONLY' && plan.result.status.autoIpsToAdd > 0) {
      if (await this.takeAutoAddresses(gw, Math.min(plan.result.status.autoIpsToAdd, MAX_AUTO_PER_RUN))) plan = await this.plan(gw, now);
    }
    const { result } = plan;
    const quarantineSec = quarantineMs(plan.input.spec.idleTimeoutsSec) / 1000;
    const next = result.blocks.map((b) => ({ ...fromBlock(b), quarantineSec }));
    await this.writeBlocks(gw.id, plan.previous, next);

    const byId = new Map(plan.candidates.map((e) => [e.id, e]));
    const moves = await this.writeHistory(gw, next, byId, now);
    const bumped = await this.programHosts(gw, plan, next, byId, moves);

    const st = result.status;
    const shortage = st.endpointsWithoutMappings > 0;
    const message = shortage ? `${st.endpointsWithoutMappings} endpoint(s) have no NAT mapping: ${st.minExtraNatIpsNeeded} more NAT IP(s) needed` : '';
    await this.repo.finish(gw.id, gw.generation, shortage ? 'DEGRADED' : 'READY', message, st);
    this.log.log(`gateway ${gw.projectName}/${gw.name} generation ${gw.generation}: ${next.length} blocks, ${result.changes.length} changes, ${bumped.hostIds.length} hosts to program`);
    return bumped;
  }

  private async plan(gw: LockedGateway, now: Date): Promise<GatewayPlan> {
    let ips: IpUse[];
    if (gw.spec.natIpAllocateOption === 'AUTO_ONLY') {
      ips = (await this.repo.autoAddresses(gw.id)).map((a) => ({ ip: a.ip, ruleNumber: -1, draining: false }));
    } else {
      const named = new Map((await this.repo.gatewayIps(gw.id)).map((i) => [i.name, i.ip]));
      ips = ipUsesInSpecOrder(gw.spec, (n) => named.get(n));
    }
    return planGateway(this.repo, { id: gw.id, networkId: gw.networkId, region: gw.region, spec: gw.spec, ips }, now);
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

  private async writeBlocks(gatewayId: string, previous: StoredBlock[], next: StoredBlock[]): Promise<void> {
    const k = (b: StoredBlock) => `${b.natIp}|${b.portLo}`;
    const same = (a: StoredBlock, b: StoredBlock) =>
      a.portHi === b.portHi &&
      a.endpointId === b.endpointId &&
      a.ruleNumber === b.ruleNumber &&
      a.state === b.state &&
      a.quarantineSec === b.quarantineSec &&
      (a.until?.getTime() ?? null) === (b.until?.getTime() ?? null);
    const before = new Map(previous.map((b) => [k(b), b]));
    const after = new Map(next.map((b) => [k(b), b]));
    const removed = previous.filter((b) => !after.has(k(b)) || !same(b, after.get(k(b))!));
    const added = next.filter((b) => !before.has(k(b)) || !same(before.get(k(b))!, b));
    await this.repo.applyBlockDiff(gatewayId, removed, added);
  }

  /**
   * One open history row per held block, holder, host and source address. Returns the VMs whose
   * host changed: endpoint id -> the host it left.
   */
  private async writeHistory(gw: LockedGateway, next: StoredBlock[], endpoints: Map<string, ScopeEndpoint>, now: Date): Promise<Map<string, string>> {
    const key = (r: { endpointId: string; ruleNumber: number; natIp: string; portLo: number; portHi: number; hostName: string; sourceIp: string; state: string }) =>
      `${r.endpointId}|${r.ruleNumber}|${r.natIp}|${r.portLo}|${r.portHi}|${r.hostName}|${r.sourceIp}|${r.state}`;
    const held = next
      .filter((b) => HELD.has(b.state) && endpoints.has(b.endpointId))
      .map((b) => {
        const e = endpoints.get(b.endpointId)!;
        return { natIp: b.natIp, portLo: b.portLo, portHi: b.portHi, endpointId: e.id, endpointName: e.name, ruleNumber: b.ruleNumber, hostName: e.hostName, sourceIp: e.networkIp, state: b.state };
      });
    const open = await this.repo.openHistory(gw.id);
    const moves = new Map<string, string>();
    for (const o of open) {
      const e = endpoints.get(o.endpointId);
      if (e && e.hostName !== o.hostName) moves.set(e.id, o.hostName);
    }
    const heldKeys = new Set(held.map(key));
    const openKeys = new Set(open.map(key));
    await this.repo.closeHistory(open.filter((o) => !heldKeys.has(key(o))).map((o) => o.id), now);
    await this.repo.openHistoryRows(
      held.filter((h) => !openKeys.has(key(h))).map((h) => ({ ...h, projectId: gw.projectId, projectName: gw.projectName, gatewayId: gw.id, gatewayName: gw.name })),
      now,
    );
    return moves;
  }

  /**
   * New document generations for the hosts whose section of this gateway changed, and the
   * generations each host must reach for the gateway to be READY.
   */
  private async programHosts(
    gw: LockedGateway,
    plan: GatewayPlan,
    next: StoredBlock[],
    endpoints: Map<string, ScopeEndpoint>,
    moves: Map<string, string>,
  ): Promise<Outcome> {
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
    const changed = [...allHosts].filter((h) => (old.get(h)?.fingerprint ?? '') !== (sections.get(h) ?? ''));
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

    const current = await this.repo.currentHostGenerations([...allHosts]);
    const states: GatewayHostState[] = [];
    for (const h of allHosts) {
      const waiting = later.includes(h);
      const section = sections.get(h) ?? '';
      if (!scopeHosts.has(h) && section === '' && !waiting) continue; // nothing of this gateway there any more
      states.push({
        hostId: h,
        requiredGeneration: generation.get(h) ?? old.get(h)?.requiredGeneration ?? current.get(h) ?? 0,
        fingerprint: waiting ? (old.get(h)?.fingerprint ?? '') : section,
        waitHostId: waiting ? leaving.get(h)! : null,
        waitGeneration: waiting ? generation.get(leaving.get(h)!)! : null,
      });
    }
    await this.repo.setGatewayHosts(gw.id, states);
    const all = [...bumpedNow, ...bumpedLeaving];
    return { hostIds: all.map((b) => b.id), hostGenerations: all.map((b) => b.desiredGeneration) };
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
 * Per host, a hash of this gateway's section of the host document, built by the same code as
 * the document itself (buildHostDocument), so "changed" means exactly "the host would get
 * different programming for this gateway".
 */
function hostSections(gw: LockedGateway, next: StoredBlock[], endpoints: Map<string, ScopeEndpoint>): Map<string, string> {
  const rows = new Map<string, HostBlockRow[]>();
  for (const b of next) {
    const e = endpoints.get(b.endpointId);
    if (!e) continue; // a deleted endpoint: on no host any more
    const row: HostBlockRow = {
      gatewayId: gw.id,
      gatewayName: gw.name,
      projectName: gw.projectName,
      spec: gw.spec,
      endpointId: e.id,
      endpointName: e.name,
      networkIp: e.networkIp,
      aliasIpRanges: e.aliasIpRanges,
      subnetName: e.subnetName,
      ruleNumber: b.ruleNumber,
      natIp: b.natIp,
      portLo: b.portLo,
      portHi: b.portHi,
      state: b.state,
    };
    const list = rows.get(e.hostId);
    if (list) list.push(row);
    else rows.set(e.hostId, [row]);
  }
  const out = new Map<string, string>();
  for (const [host, rs] of rows) {
    rs.sort((a, b) => (a.endpointId < b.endpointId ? -1 : a.endpointId > b.endpointId ? 1 : a.ruleNumber - b.ruleNumber || a.natIp.localeCompare(b.natIp) || a.portLo - b.portLo));
    const section = buildHostDocument('', 0, rs).gateways[0];
    out.set(host, createHash('sha256').update(JSON.stringify(section)).digest('base64url'));
  }
  return out;
}
