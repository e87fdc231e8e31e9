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

export type JobData<N extends JobName> = Extract<JobPayload, { name: N }>['data'];

export const JOB_QUEUE: Record<JobName, QueueName> = {
  [JobName.ReconcileGateway]: QueueName.Reconcile,
  [JobName.ProgramHost]: QueueName.Program,
};

/**
 * jobId = resource and generation: adding the same generation twice is a no-op, while a newer
 * generation is always enqueued, even when a job for the same resource is running right now (a
 * per-resource id would be swallowed then, leaving the change to the sweeper). The handler of an
 * older generation finds observedGeneration >= its generation and returns at once, so a burst of
 * changes coalesces into one computation. Completed and failed jobs are removed. Only transient
 * errors are retried: handlers record permanent ones on the resource's status and return.
 */
export function jobOptions(job: JobPayload): JobsOptions {
  const base: JobsOptions = { removeOnComplete: true, removeOnFail: true, attempts: 5, backoff: { type: 'exponential', delay: 200 } };
  switch (job.name) {
    case JobName.ReconcileGateway:
      // Usage reports (dynamic port allocation) recompute at most once per 5 s bucket per gateway.
      // A host's acknowledgement releases a VM's old host (generation: the host generation applied).
      if (job.data.reason === 'usage') return { ...base, jobId: `gw-${job.data.gatewayId}-usage-${Math.floor(Date.now() / 5000)}` };
      if (job.data.reason === 'host-applied') return { ...base, jobId: `gw-${job.data.gatewayId}-applied-${job.data.generation}` };
      return { ...base, jobId: `gw-${job.data.gatewayId}-${job.data.generation}` };
    case JobName.ProgramHost:
      return { ...base, jobId: `host-${job.data.hostId}-${job.data.generation}` };
  }
}
