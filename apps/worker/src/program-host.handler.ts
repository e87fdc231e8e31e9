import { Injectable, Logger } from '@nestjs/common';
import { signPush, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '@natplane/contracts';
import { JobName, JobQueue, type JobData } from '@natplane/jobs';
import { buildHostDocument, HostProgrammingRepository, HostsRepository, ReconcileRepository } from '@natplane/persistence';
import type { JobHandler } from './job-handler';

const PUSH_TIMEOUT_MS = 5000;

/**
 * program-host: build the host's whole document at its desired generation, push it signed to
 * the agent, record the generation the agent acknowledged. A failed push is recorded on the
 * host's status and retried with backoff (the job's attempts, then the sweeper).
 */
@Injectable()
export class ProgramHostHandler implements JobHandler<JobName.ProgramHost> {
  readonly name = JobName.ProgramHost;
  private readonly log = new Logger('program-host');

  constructor(
    private readonly programming: HostProgrammingRepository,
    private readonly hosts: HostsRepository,
    private readonly reconcile: ReconcileRepository,
    private readonly jobs: JobQueue,
  ) {}

  async handle(data: JobData<JobName.ProgramHost>): Promise<{ applied?: number }> {
    const host = await this.programming.target(data.hostId);
    if (!host) return {};
    const doc = buildHostDocument(host.name, host.desiredGeneration, await this.programming.blocks(host.id));
    const body = JSON.stringify(doc);
    const ts = Math.floor(Date.now() / 1000);
    try {
      const res = await fetch(`${host.agentUrl.replace(/\/$/, '')}/v1/programming`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPush(host.pushSecret, ts, body), [TIMESTAMP_HEADER]: String(ts) },
        body,
        signal: AbortSignal.timeout(PUSH_TIMEOUT_MS),
      });
      const reply = (await res.json().catch(() => ({}))) as { appliedGeneration?: number };
      if (res.ok || res.status === 409) {
        // 409: the agent already applied a newer generation than this one.
        const applied = typeof reply.appliedGeneration === 'number' ? reply.appliedGeneration : doc.generation;
        await this.hosts.recordApplied(host.id, applied);
        // VMs that moved here can now leave their old hosts.
        const waiting = await this.reconcile.gatewaysWaitingOn(host.id, applied);
        await this.jobs.addAll(waiting.map((gatewayId) => ({ name: JobName.ReconcileGateway, data: { gatewayId, generation: applied, reason: 'host-applied' as const } })));
        return { applied };
      }
      throw new Error(`agent answered ${res.status}`);
    } catch (e) {
      const msg = `push of generation ${doc.generation} to ${host.agentUrl} failed: ${e instanceof Error ? e.message : String(e)}`;
      await this.hosts.recordPushFailure(host.id, msg);
      this.log.warn(msg);
      throw e instanceof Error ? e : new Error(msg);
    }
  }
}
