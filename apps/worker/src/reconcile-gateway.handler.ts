import { Injectable, Logger } from '@nestjs/common';
import { allocate, DEFAULT_RULE, type AllocatorRule, type Block } from '@natplane/allocator';
import { endpointNatScope } from '@natplane/domain';
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
      // A job for a generation already computed (a burst of changes coalesces into one run).
      if (gw.observedGeneration >= gw.generation) return { hostIds: [], hostGenerations: [] };
      const ips = await this.repo.gatewayIps(gw.id);
      const rules: AllocatorRule[] = [
        { ruleNumber: DEFAULT_RULE, activeIps: ips.filter((i) => i.ruleNumber === DEFAULT_RULE && !i.draining).map((i) => i.ip), drainIps: ips.filter((i) => i.ruleNumber === DEFAULT_RULE && i.draining).map((i) => i.ip) },
        ...gw.spec.rules.map((r) => ({
          ruleNumber: r.ruleNumber,
          activeIps: ips.filter((i) => i.ruleNumber === r.ruleNumber && !i.draining).map((i) => i.ip),
          drainIps: ips.filter((i) => i.ruleNumber === r.ruleNumber && i.draining).map((i) => i.ip),
        })),
      ];
      const candidates = await this.repo.candidateEndpoints(gw.networkId, gw.region);
      const inScope = candidates
        .map((e) => ({ e, scope: endpointNatScope(gw.spec, { subnetName: e.subnetName, aliasIpRanges: e.aliasIpRanges }) }))
        .filter((x) => x.scope !== undefined);
      const previous = await this.repo.blocks(gw.id);
      const foreign = await this.repo.foreign(ips.map((i) => i.ip), gw.id);
      const usage = await this.repo.usage(inScope.map((x) => x.e.id));
      const s = gw.spec;
      const result = allocate({
        spec: {
          minPortsPerVm: s.minPortsPerVm,
          maxPortsPerVm: s.maxPortsPerVm,
          enableDynamicPortAllocation: s.enableDynamicPortAllocation,
          natIpAllocateOption: s.natIpAllocateOption,
          idleTimeoutsSec: [s.udpIdleTimeoutSec, s.icmpIdleTimeoutSec, s.tcpEstablishedIdleTimeoutSec, s.tcpTransitoryIdleTimeoutSec, s.tcpTimeWaitTimeoutSec],
          rules,
        },
        endpoints: inScope.map((x) => ({ id: x.e.id, aliasRangesNated: x.scope!.aliasRanges.length > 0 })),
        previous: previous.map(toBlock),
        foreign: foreign.map((f) => ({ natIp: f.natIp, portLo: f.portLo, size: f.portHi - f.portLo + 1, until: f.until ? f.until.getTime() : undefined })),
        usage: usage.map((u) => ({ endpointId: u.endpointId, ruleNumber: u.ruleNumber, portsInUse: u.portsInUse, at: u.reportedAt.getTime() })),
        now: now.getTime(),
      });
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

function toBlock(b: StoredBlock): Block {
  return {
    endpointId: b.endpointId,
    ruleNumber: b.ruleNumber,
    natIp: b.natIp,
    portLo: b.portLo,
    size: b.portHi - b.portLo + 1,
    state: b.state,
    since: b.since.getTime(),
    until: b.until ? b.until.getTime() : undefined,
  };
}

function fromBlock(b: Block): StoredBlock {
  return {
    natIp: b.natIp,
    portLo: b.portLo,
    portHi: b.portLo + b.size - 1,
    endpointId: b.endpointId,
    ruleNumber: b.ruleNumber,
    state: b.state,
    since: new Date(b.since),
    until: b.until !== undefined ? new Date(b.until) : null,
  };
}
