import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Worker } from 'bullmq';
import { JOB_QUEUE, JobName, QueueName, redisConnectionOptions } from '@natplane/jobs';
import { JOB_HANDLERS, type JobHandler } from './job-handler';

export const WORKER_REDIS_URL = Symbol('WORKER_REDIS_URL');

/** Checks the registry (every job has exactly one handler) and runs one BullMQ worker per queue. */
export function handlerMap(handlers: JobHandler[]): Map<JobName, JobHandler> {
  const map = new Map<JobName, JobHandler>();
  for (const h of handlers) {
    if (map.has(h.name)) throw new Error(`job ${h.name} has two handlers`);
    map.set(h.name, h);
  }
  const missing = Object.values(JobName).filter((n) => !map.has(n));
  if (missing.length) throw new Error(`no handler for job(s): ${missing.join(', ')}`);
  return map;
}

@Injectable()
export class JobRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('jobs');
  private readonly handlers: Map<JobName, JobHandler>;
  private readonly workers: Worker[] = [];

  constructor(
    @Inject(JOB_HANDLERS) handlers: JobHandler[],
    @Inject(WORKER_REDIS_URL) private readonly redisUrl: string,
  ) {
    this.handlers = handlerMap(handlers);
  }

  onApplicationBootstrap(): void {
    // Gateways compute in parallel (their jobs coalesce per gateway, so one gateway never runs twice
    // at once) and hosts are pushed in parallel; both hold a database connection while they run,
    // (WORKER_RECONCILE_CONCURRENCY, WORKER_PROGRAM_CONCURRENCY; the pool is DB_POOL_SIZE, 24).
    const concurrency: Record<QueueName, number> = {
      [QueueName.Reconcile]: envInt('WORKER_RECONCILE_CONCURRENCY', 16),
      [QueueName.Program]: envInt('WORKER_PROGRAM_CONCURRENCY', 32),
    };
    for (const queue of Object.values(QueueName)) {
      const worker = new Worker(
        queue,
        async (job) => {
          const handler = this.handlers.get(job.name as JobName);
          if (!handler || JOB_QUEUE[handler.name] !== queue) throw new Error(`no handler for job ${job.name} on ${queue}`);
          return handler.handle(job.data as never);
        },
        { connection: redisConnectionOptions(this.redisUrl), concurrency: concurrency[queue] },
      );
      worker.on('failed', (job, err) => this.log.warn(`${job?.name ?? '?'} ${job?.id ?? ''} failed (attempt ${job?.attemptsMade ?? 0}): ${err.message}`));
      worker.on('error', (err) => this.log.error(`worker ${queue}: ${err.message}`));
      this.workers.push(worker);
    }
    this.log.log(`processing ${[...this.handlers.keys()].join(', ')}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

function envInt(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : dflt;
}
