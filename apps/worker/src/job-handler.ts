import type { JobData, JobName } from '@natplane/jobs';

/** One handler per job name (checked at start: none missing, none twice). */
export interface JobHandler<N extends JobName = JobName> {
  readonly name: N;
  handle(data: JobData<N>): Promise<unknown>;
}

export const JOB_HANDLERS = Symbol('JOB_HANDLERS');
