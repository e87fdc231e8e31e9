import { Queue } from 'bullmq';
import { JOB_QUEUE, jobOptions, QueueName, type JobPayload } from './jobs';
import { redisConnectionOptions } from './redis';

/**
 * Producer side of the registry. Enqueueing is best effort: PostgreSQL holds every accepted
 * change and the worker's sweeper re-enqueues what has not converged, so a Redis outage delays
 * convergence but loses nothing. `add` therefore never throws.
 */
export class JobQueue {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    redisUrl: string,
    private readonly onError: (e: unknown, job: JobPayload) => void = () => undefined,
    opts: { lazy?: boolean } = {},
  ) {
    for (const name of Object.values(QueueName)) {
      const connection = { ...redisConnectionOptions(redisUrl), enableOfflineQueue: false, lazyConnect: opts.lazy ?? false };
      this.queues.set(name, new Queue(name, { connection }));
    }
  }

  queue(name: QueueName): Queue {
    return this.queues.get(name)!;
  }

  async add(job: JobPayload): Promise<void> {
    try {
      await this.queue(JOB_QUEUE[job.name]).add(job.name, job.data, jobOptions(job));
    } catch (e) {
      this.onError(e, job);
    }
  }

  async addAll(jobs: JobPayload[]): Promise<void> {
    await Promise.all(jobs.map((j) => this.add(j)));
  }

  /** For readiness: Redis answers. */
  async ping(): Promise<void> {
    await this.queue(QueueName.Reconcile).getJobCounts('wait');
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
