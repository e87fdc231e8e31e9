import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Worker } from 'bullmq';
import { JOB_QUEUE, JobName, QueueName, redisConnectionOptions } from '@natplane/jobs';
import { JOB_HANDLERS, type JobHandler } from './job-handler';
import { observeJob } from './metrics/worker-metrics';

export const WORKER_REDIS_URL = Symbol('WORKER_REDIS_URL');

/**
 * How soon the jobs of a worker that died (kill -9, a crash, a lost host) run elsewhere. A job
 * being processed holds a lock in Redis, renewed every LOCK_MS / 2 while its worker lives; every
 * STALLED_CHECK_MS each worker moves the active jobs whose lock expired back to waiting (BullMQ's
 * stalled-job check), where any worker (the restarted one) takes them. Until then the dead job
 * also holds its gateway's or host's deduplication id (jobOptions: one active, one waiting), so
 * the sweeper's jobs for it wait too: with BullMQ's defaults (30 s lock, 30 s check) that was up
 * to a minute; now a few seconds (5 s + 1 s). A worker whose event loop is blocked past LOCK_MS
 * has its job run a second time, which the reconciler's gateway lock and reconcile_seq make
 * harmless; a job that stalls twice is failed and left to the sweeper (maxStalledCount 1).
 */
export const LOCK_MS = 5000;
export const STALLED_CHECK_MS = 1000;

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
          return observeJob(handler.name, () => handler.handle(job.data as never));
        },
        { connection: redisConnectionOptions(this.redisUrl), concurrency: concurrency[queue], lockDuration: LOCK_MS, stalledInterval: STALLED_CHECK_MS, maxStalledCount: 1 },
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
