import type { JobsOptions } from 'bullmq';

/**
 * The typed job registry (../shared/STYLE.md 2): queue and job names are enums, each payload is
 * one member of a discriminated union, and every job option lives in jobOptions(). Payloads carry
 * ids only; handlers reload state from PostgreSQL, so a late or repeated job is harmless.
 */
export enum QueueName {
  Reconcile = 'natplane-reconcile',
  Program = 'natplane-program',
}

export enum JobName {
  ReconcileGateway = 'reconcile-gateway',
  ProgramHost = 'program-host',
}

export type JobPayload =
  | { name: JobName.ReconcileGateway; data: { gatewayId: string; generation: number; reason?: 'usage' | 'host-applied' } }
  | { name: JobName.ProgramHost; data: { hostId: string; generation: number } };

/**
 * The jobs' constructors: every payload is made here, so its shape and its reason are written
 * once (jobOptions() reads them).
 */
export const Jobs = {
  /** Compute a gateway (coalesces with its other jobs; the handler reads the latest generation). */
  reconcile: (gatewayId: string, generation: number): JobPayload => ({ name: JobName.ReconcileGateway, data: { gatewayId, generation } }),
  /** Recompute a gateway in full for reported usage (dynamic port allocation). */
  usage: (gatewayId: string): JobPayload => ({ name: JobName.ReconcileGateway, data: { gatewayId, generation: 0, reason: 'usage' } }),
  /** Recompute a gateway in full: a host applied `generation`, which may release a moved VM's old host. */
  hostApplied: (gatewayId: string, generation: number): JobPayload => ({ name: JobName.ReconcileGateway, data: { gatewayId, generation, reason: 'host-applied' } }),
  /** Push a host its document of at least `generation`. */
  programHost: (hostId: string, generation: number): JobPayload => ({ name: JobName.ProgramHost, data: { hostId, generation } }),
};

export type JobData<N extends JobName> = Extract<JobPayload, { name: N }>['data'];

export const JOB_QUEUE: Record<JobName, QueueName> = {
  [JobName.ReconcileGateway]: QueueName.Reconcile,
  [JobName.ProgramHost]: QueueName.Program,
};

/**
 * A gateway's (or host's) jobs coalesce: one deduplication id per resource with keepLastIfActive,
 * so there is at most one job running and one waiting per resource, and any number of changes
 * arriving meanwhile become that one waiting job (BullMQ deduplication). Handlers reload state
 * from PostgreSQL, so the waiting job computes the latest generation whatever it carries, and
 * two jobs never compute the same gateway or push to the same host at once (the reconciler's own
 * push of a one-gateway change may overlap a host's job: the agent's generation fencing and
 * patch base orders them, see docs/host-protocol.md). Usage reports
 * (dynamic port allocation) recompute at most once per 5 s bucket per gateway; a host's
 * acknowledgement that releases a VM's old host has its own id per applied generation. Completed
 * and failed jobs are removed. Only transient errors are retried: handlers record permanent ones
 * on the resource's status and return.
 */
export function jobOptions(job: JobPayload): JobsOptions {
  const base: JobsOptions = { removeOnComplete: true, removeOnFail: true, attempts: 5, backoff: { type: 'exponential', delay: 200 } };
  switch (job.name) {
    case JobName.ReconcileGateway:
      if (job.data.reason === 'usage') return { ...base, jobId: `gw-${job.data.gatewayId}-usage-${Math.floor(Date.now() / 5000)}` };
      if (job.data.reason === 'host-applied') return { ...base, jobId: `gw-${job.data.gatewayId}-applied-${job.data.generation}` };
      return { ...base, deduplication: { id: `gw-${job.data.gatewayId}`, keepLastIfActive: true } };
    case JobName.ProgramHost:
      return { ...base, deduplication: { id: `host-${job.data.hostId}`, keepLastIfActive: true } };
  }
}
