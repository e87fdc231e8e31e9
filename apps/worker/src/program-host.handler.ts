import { Injectable } from '@nestjs/common';
import { JobName, type JobData } from '@natplane/jobs';
import { buildHostDocument } from '@natplane/contracts';
import { HostProgrammingRepository } from '@natplane/persistence';
import { HostPusher } from './host-pusher';
import type { JobHandler } from './job-handler';

/**
 * program-host: build the host's whole document at its desired generation from PostgreSQL and
 * push it (HostPusher: the difference when this worker knows the agent's base); record the
 * generation the agent acknowledged. A failed push is recorded on the host's status and retried
 * with backoff (the job's attempts, then the sweeper). The reconciler pushes a one-gateway change
 * itself when it can (HostPusher.pushSection); this job is the general way and the fallback.
 */
@Injectable()
export class ProgramHostHandler implements JobHandler<JobName.ProgramHost> {
  readonly name = JobName.ProgramHost;

  constructor(
    private readonly programming: HostProgrammingRepository,
    private readonly pusher: HostPusher,
  ) {}

  async handle(data: JobData<JobName.ProgramHost>): Promise<{ applied?: number; held?: number }> {
    // Twice at most: when the agent holds a generation past the host's (one this control plane
    // never gave it), the host's generation moves past it, and the document is built again there.
    for (let attempt = 0; attempt < 2; attempt++) {
      const found = await this.programming.document(data.hostId);
      if (!found) return {};
      const { host, blocks } = found;
      // Jobs of a host coalesce: a follow-up may find its generation pushed already.
      if (!blocks) return { applied: host.appliedGeneration };
      const outcome = await this.pusher.pushDocument(host, buildHostDocument(host.name, host.desiredGeneration, blocks));
      if (outcome.kind === 'applied') return { applied: outcome.applied };
      if (outcome.kind === 'superseded') return { held: outcome.held };
    }
    throw new Error(`host ${data.hostId}: its agent is still ahead after its generation moved past it; retrying`);
  }
}
