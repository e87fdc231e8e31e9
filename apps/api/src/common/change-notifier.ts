import { Injectable } from '@nestjs/common';
import { JobQueue, Jobs } from '@natplane/jobs';
import { Db, GatewayHostsRepository, GatewaysRepository, HostsRepository } from '@natplane/persistence';

/**
 * The one way the api tells the control loop about a change: in the committing transaction, bump
 * the generation of every gateway (or host) the change concerns; once committed, enqueue their
 * jobs. If Redis loses or never gets the job, the worker's sweeper still sees generation >
 * observedGeneration in PostgreSQL.
 */
@Injectable()
export class ChangeNotifier {
  constructor(
    private readonly db: Db,
    private readonly gateways: GatewaysRepository,
    private readonly hosts: HostsRepository,
    private readonly gatewayHosts: GatewayHostsRepository,
    private readonly jobs: JobQueue,
  ) {}

  async gatewaysChanged(ids: string[]): Promise<void> {
    const bumped = await this.gateways.bumpGeneration(ids);
    this.enqueueGateways(bumped);
  }

  /** An endpoint was written: bump the gateways covering its subnet or holding its blocks. */
  async endpointChanged(subnetId: string, endpointId: string): Promise<void> {
    this.enqueueGateways(await this.gateways.bumpForEndpoint(subnetId, endpointId));
  }

  /** For a gateway whose generation the caller already set (create, update). */
  enqueueGateways(gateways: { id: string; generation: number }[]): void {
    if (gateways.length === 0) return;
    this.db.afterCommit(() => {
      void this.jobs.addAll(gateways.map((g) => Jobs.reconcile(g.id, g.generation)));
    });
  }

  /** Usage reports of dynamic-allocation gateways: recompute (rate-limited per gateway by the job id). */
  usageReported(gatewayIds: string[]): void {
    if (gatewayIds.length === 0) return;
    void this.jobs.addAll(gatewayIds.map((id) => Jobs.usage(id)));
  }

  /** A host applied a generation: gateways holding a moved VM's old host for it can release it. */
  async hostApplied(hostId: string, applied: number): Promise<void> {
    const waiting = await this.gatewayHosts.gatewaysWaitingOn(hostId, applied);
    void this.jobs.addAll(waiting.map((gatewayId) => Jobs.hostApplied(gatewayId, applied)));
  }

  /** A host's generation moved past what its agent holds (HostsRepository.recordReport): push it. */
  hostMovedPast(hostId: string, generation: number): void {
    this.db.afterCommit(() => void this.jobs.add(Jobs.programHost(hostId, generation)));
  }

  async hostsChanged(ids: string[]): Promise<void> {
    const bumped = await this.hosts.bumpDesired(ids);
    this.db.afterCommit(() => {
      void this.jobs.addAll(bumped.map((h) => Jobs.programHost(h.id, h.desiredGeneration)));
    });
  }
}
