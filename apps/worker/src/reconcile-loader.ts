import { Injectable, Logger } from '@nestjs/common';
import { DEFAULT_RULE } from '@natplane/allocator';
import {
  AddressesRepository,
  AddressPoolsRepository,
  GatewayHostsRepository,
  GatewaysRepository,
  HistoryRepository,
  HostsRepository,
  PlanInputsRepository,
  ReconcileRepository,
} from '@natplane/persistence';
import {
  advance,
  hostsLeft,
  ipUsesInSpecOrder,
  planGateway,
  type GatewayHostState,
  type HistoryRow,
  type IpUse,
  type KeptGateway,
  type LockedGateway,
  type Run,
  type StoredBlock,
} from '@natplane/planner';

/** AUTO_ONLY: at most this many addresses taken in one run (the next run takes more if needed). */
const MAX_AUTO_PER_RUN = 16;

/** Gateways whose last result a worker keeps in memory (bounded; a miss means a full computation). */
const CACHE_MAX = 1000;

/** A gateway's inputs, loaded: from PostgreSQL (full), or from the cache advanced by the endpoint writes since (incremental). */
export interface Loaded {
  gw: LockedGateway;
  run: Run;
  now: Date;
  /** Full: the gateway's open history rows, its host states as stored, and the ids of the hosts VMs left (by name). */
  full?: { open: HistoryRow[]; hosts: GatewayHostState[]; hostIds: Map<string, string> };
}

/** A gateway that no longer exists: what its commit releases. */
export interface Gone {
  gatewayId: string;
  now: Date;
  blocks: StoredBlock[];
  open: HistoryRow[];
  /** Hosts of its endpoints, when it held a block not in quarantine yet. */
  hostIds: string[];
}

/** Nothing to compute: the gateway's generation was computed already. */
export const CURRENT = 'current';

/**
 * Loads what reconcile-gateway decides on. The worker keeps, per gateway, a cache of the inputs it
 * loaded and the allocator's state as of its last commit (KeptGateway): never a second source of
 * truth, since a commit is refused when another one came in between (reconcile_seq), and any
 * failure or miss means a full load, which is the same computation with an empty cache.
 */
@Injectable()
export class ReconcileLoader {
  private readonly log = new Logger('reconcile-gateway');
  private readonly cache = new Map<string, KeptGateway>();

  constructor(
    private readonly repo: ReconcileRepository,
    private readonly inputs: PlanInputsRepository,
    private readonly gateways: GatewaysRepository,
    private readonly history: HistoryRepository,
    private readonly gatewayHosts: GatewayHostsRepository,
    private readonly hosts: HostsRepository,
    private readonly pools: AddressPoolsRepository,
    private readonly addresses: AddressesRepository,
  ) {}

  remember(gatewayId: string, kept: KeptGateway): void {
    this.cache.delete(gatewayId);
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(gatewayId, kept);
  }

  forget(gatewayId: string): void {
    this.cache.delete(gatewayId);
  }

  /**
   * Without a transaction or a lock: the gateway's kept result advanced by the endpoint writes
   * since (one statement, see readIncremental), CURRENT when there is nothing new to compute, or
   * undefined when a full load is needed (nothing kept, or a change advance() leaves to a full
   * computation). (The job's generation is not trusted: jobs of a gateway coalesce, so a waiting
   * job may carry an older one.)
   */
  async incremental(gatewayId: string, now: Date): Promise<Loaded | typeof CURRENT | undefined> {
    const prior = this.cache.get(gatewayId);
    if (!prior) return (await this.repo.behind(gatewayId)) === false ? CURRENT : undefined;
    const gw = await this.repo.readIncremental(gatewayId, prior.observedGeneration);
    if (!gw) return undefined;
    if (gw.observedGeneration >= gw.generation) return CURRENT;
    const run = advance(gw, prior, gw.changes, now);
    if (!run) this.forget(gatewayId); // advance may have updated it before giving up
    return run && { gw, run, now };
  }

  /**
   * Everything from PostgreSQL, in the caller's transaction, under the gateway's advisory lock
   * (lockGateway): drains past the gateway's maxDrainDurationSec end here (the addresses leave
   * the spec, a new generation, and the allocator cuts their blocks); AUTO_ONLY addresses are
   * taken from the region's pools as the allocator asks. CURRENT for a generation already
   * computed (a burst of changes coalesces into one run) unless `reason` (usage reports and hosts'
   * acknowledgements recompute without a new generation).
   */
  async full(gatewayId: string, reason: string | undefined, now: Date): Promise<Loaded | Gone | typeof CURRENT> {
    const gw = await this.repo.lockGateway(gatewayId);
    if (!gw) {
      this.forget(gatewayId);
      return this.gone(gatewayId, now);
    }
    const drains = await this.repo.endDrains(gw);
    if (drains.ended.length > 0) {
      gw.spec = drains.spec;
      gw.generation = drains.generation;
      this.log.log(`natGateway ${gw.projectName}/${gw.name}: drain ended at its deadline for ${drains.ended.map((d) => d.name).join(', ')}`);
    }
    if (gw.observedGeneration >= gw.generation && reason === undefined) return CURRENT;
    const run = await this.plan(gw, now, drains.ended.map((d) => ({ natIp: d.ip, ruleNumber: d.ruleNumber })));
    const open = await this.history.openHistory(gw.id);
    const hosts = await this.gatewayHosts.gatewayHosts(gw.id);
    const hostIds = await this.hosts.idsByNames(hostsLeft(run.plan.candidates, open));
    return { gw, run, now, full: { open, hosts, hostIds } };
  }

  /** A gateway that is gone (its lock is held: lockGateway took it). */
  private async gone(gatewayId: string, now: Date): Promise<Gone> {
    const blocks = await this.inputs.blocks(gatewayId);
    const open = await this.history.openHistory(gatewayId);
    const hostIds = blocks.some((b) => b.state !== 'QUARANTINE') ? await this.hosts.ofEndpoints([...new Set(blocks.map((b) => b.endpointId))]) : [];
    return { gatewayId, now, blocks, open, hostIds };
  }

  private async plan(gw: LockedGateway, now: Date, endedDrains: { natIp: string; ruleNumber: number }[]): Promise<Run> {
    const target = (ips: IpUse[]) => ({ id: gw.id, networkId: gw.networkId, region: gw.region, spec: gw.spec, ips });
    let ips = await this.natIps(gw);
    let plan = await planGateway(this.inputs, { ...target(ips), endedDrains }, now);
    if (gw.spec.natIpAllocateOption === 'AUTO_ONLY' && plan.result.status.autoIpsToAdd > 0) {
      if (await this.takeAutoAddresses(gw, Math.min(plan.result.status.autoIpsToAdd, MAX_AUTO_PER_RUN))) {
        ips = await this.natIps(gw);
        plan = await planGateway(this.inputs, target(ips), now);
      }
    }
    return { plan, ips };
  }

  private async natIps(gw: LockedGateway): Promise<IpUse[]> {
    if (gw.spec.natIpAllocateOption === 'AUTO_ONLY') {
      return (await this.gateways.autoAddresses(gw.id)).map((a) => ({ ip: a.ip, ruleNumber: DEFAULT_RULE, draining: false }));
    }
    const named = new Map((await this.gateways.gatewayIps(gw.id)).map((i) => [i.name, i.ip]));
    const ranges = gw.spec.type === 'PRIVATE' ? await this.gateways.privateNatRanges(gw.id) : new Map<string, string>();
    return ipUsesInSpecOrder(gw.spec, (n) => named.get(n), (s) => ranges.get(s));
  }

  /** AUTO_ONLY: reserve free addresses of the region's pools for the gateway. */
  private async takeAutoAddresses(gw: LockedGateway, count: number): Promise<boolean> {
    let taken = 0;
    const existing = (await this.gateways.autoAddresses(gw.id)).length;
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
      await this.gateways.attachAutoAddress(gw.id, id);
      taken++;
    }
    if (taken < count) this.log.warn(`gateway ${gw.projectName}/${gw.name}: the pools of ${gw.region} had ${taken} of ${count} addresses needed`);
    return taken > 0;
  }
}
