import { Injectable, Logger } from '@nestjs/common';
import { fromBlock, ipUsesInSpecOrder, planGateway } from '@natplane/planner';
import { JobName, JobQueue, type JobData } from '@natplane/jobs';
import { Db, HostsRepository, ReconcileRepository, type StoredBlock } from '@natplane/persistence';
import type { JobHandler } from './job-handler';

const HELD = new Set(['ACTIVE', 'DRAIN']);

/**
 * reconcile-gateway: lock the gateway row, load its spec, IPs, endpoints in scope, previous
 * blocks and usage, run the allocator, and write the new blocks, the allocation history, the
 * generation of every host whose programming changed and the gateway's observed generation in
 * ONE transaction. Then program-host jobs go out for those hosts. A gateway that no longer
 * exists has every block released to quarantine the same way.
 */
@Injectable()
export class ReconcileGatewayHandler implements JobHandler<JobName.ReconcileGateway> {
  readonly name = JobName.ReconcileGateway;
  private readonly log = new Logger('reconcile-gateway');

  constructor(
    private readonly db: Db,
    private readonly repo: ReconcileRepository,
    private readonly hosts: HostsRepository,
    private readonly jobs: JobQueue,
  ) {}

  async handle(data: JobData<JobName.ReconcileGateway>): Promise<{ hostIds: string[]; hostGenerations: number[] }> {
    const r = await this.compute(data);
    await this.jobs.addAll(r.hostIds.map((hostId, i) => ({ name: JobName.ProgramHost, data: { hostId, generation: r.hostGenerations[i] } })));
    return r;
  }

  private async compute(data: JobData<JobName.ReconcileGateway>): Promise<{ hostIds: string[]; hostGenerations: number[] }> {
    return this.db.transaction(async () => {
      const now = new Date();
      const gw = await this.repo.lockGateway(data.gatewayId);
      if (!gw) return this.releaseGone(data.gatewayId, now);
      // A job for a generation already computed (a burst of changes coalesces into one run);
      // usage reports of dynamic gateways recompute without a new generation.
      if (gw.observedGeneration >= gw.generation && data.reason !== 'usage') return { hostIds: [], hostGenerations: [] };
      const named = new Map((await this.repo.gatewayIps(gw.id)).map((i) => [i.name, i.ip]));
      const ips = ipUsesInSpecOrder(gw.spec, (n) => named.get(n));
      const plan = await planGateway(this.repo, { id: gw.id, networkId: gw.networkId, region: gw.region, spec: gw.spec, ips }, now);
      const { result } = plan;
      const inScope = plan.inScope.map((x) => ({ e: x.endpoint, scope: x.scope }));
      const next = result.blocks.map(fromBlock);
      await this.repo.replaceBlocks(gw.id, next);

      // History: one open row per held block, holder, host and source address.
      const byId = new Map(inScope.map((x) => [x.e.id, x.e]));
      const key = (r: { endpointId: string; ruleNumber: number; natIp: string; portLo: number; portHi: number; hostName: string; sourceIp: string; state: string }) =>
        `${r.endpointId}|${r.ruleNumber}|${r.natIp}|${r.portLo}|${r.portHi}|${r.hostName}|${r.sourceIp}|${r.state}`;
      const held = next
        .filter((b) => HELD.has(b.state) && byId.has(b.endpointId))
        .map((b) => {
          const e = byId.get(b.endpointId)!;
          return { natIp: b.natIp, portLo: b.portLo, portHi: b.portHi, endpointId: e.id, endpointName: e.name, ruleNumber: b.ruleNumber, hostName: e.hostName, sourceIp: e.networkIp, state: b.state };
        });
      const open = await this.repo.openHistory(gw.id);
      const heldKeys = new Set(held.map(key));
      const openKeys = new Set(open.map(key));
      await this.repo.closeHistory(open.filter((o) => !heldKeys.has(key(o))).map((o) => o.id), now);
      await this.repo.openHistoryRows(
        held.filter((h) => !openKeys.has(key(h))).map((h) => ({ ...h, projectId: gw.projectId, projectName: gw.projectName, gatewayId: gw.id, gatewayName: gw.name })),
        now,
      );

      // Hosts: those with endpoints in scope now or before. Every one of them gets a new document
      // generation, since this gateway's programming moved on (a host whose content is the same
      // applies the new generation as an empty diff).
      const hostIds = [...new Set([...inScope.map((x) => x.e.hostId), ...(await this.repo.gatewayHosts(gw.id))])];
      const bumped = await this.hosts.bumpDesired(hostIds);
      const generations = new Map(bumped.map((b) => [b.id, b.desiredGeneration]));
      const current = await this.repo.currentHostGenerations(inScope.map((x) => x.e.hostId));
      const targets = [...new Set(inScope.map((x) => x.e.hostId))].map((h) => ({ hostId: h, requiredGeneration: generations.get(h) ?? current.get(h) ?? 0 }));
      await this.repo.setGatewayHosts(gw.id, targets);

      const st = result.status;
      const shortage = st.endpointsWithoutMappings > 0;
      const message = shortage
        ? `${st.endpointsWithoutMappings} endpoint(s) have no NAT mapping: ${st.minExtraNatIpsNeeded} more NAT IP(s) needed`
        : '';
      await this.repo.finish(gw.id, gw.generation, shortage ? 'DEGRADED' : 'READY', message, st);
      this.log.log(`gateway ${gw.projectName}/${gw.name} generation ${gw.generation}: ${next.length} blocks, ${result.changes.length} changes, ${bumped.length} hosts bumped`);
      return { hostIds: bumped.map((b) => b.id), hostGenerations: bumped.map((b) => b.desiredGeneration) };
    });
  }

  private async releaseGone(gatewayId: string, now: Date): Promise<{ hostIds: string[]; hostGenerations: number[] }> {
    await this.repo.lockGone(gatewayId);
    const previous = await this.repo.blocks(gatewayId);
    const quarantineUntil = new Date(now.getTime() + 120_000);
    const released = previous
      .filter((b) => b.state !== 'QUARANTINE' || (b.until && b.until > now))
      .map((b) => (b.state === 'QUARANTINE' ? b : { ...b, state: 'QUARANTINE' as const, until: new Date(Math.max(quarantineUntil.getTime(), b.until?.getTime() ?? 0)) }));
    await this.repo.replaceBlocks(gatewayId, released);
    await this.repo.closeHistory((await this.repo.openHistory(gatewayId)).map((o) => o.id), now);
    const hostIds = previous.some((b) => b.state !== 'QUARANTINE') ? await this.hostsOfEndpoints(previous) : [];
    const bumped = await this.hosts.bumpDesired(hostIds);
    return { hostIds: bumped.map((b) => b.id), hostGenerations: bumped.map((b) => b.desiredGeneration) };
  }

  private async hostsOfEndpoints(blocks: StoredBlock[]): Promise<string[]> {
    return this.hosts.ofEndpoints([...new Set(blocks.map((b) => b.endpointId))]);
  }
}
