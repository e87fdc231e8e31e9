import { DynamicModule, Logger, Module } from '@nestjs/common';
import { JobQueue } from '@natplane/jobs';
import { PersistenceModule } from '@natplane/persistence';
import { JOB_HANDLERS, type JobHandler } from './job-handler';
import { JobRunner, WORKER_REDIS_URL } from './job-runner';
import { HistoryMaintenance } from './history-maintenance';
import { HostPusher } from './host-pusher';
import { ProgramHostHandler } from './program-host.handler';
import { ReconcileGatewayHandler } from './reconcile-gateway.handler';
import { ReconcileLoader } from './reconcile-loader';
import { Sweeper } from './sweeper';
import { FleetMetrics } from './metrics/fleet-metrics';
import { MetricsServer, WORKER_METRICS, workerMetricsConfig } from './metrics/metrics-server';

export interface WorkerConfig {
  databaseUrl: string;
  redisUrl: string;
  dbPoolSize: number;
}

/** The worker: an application context (no HTTP) with the job handlers, their runner and the sweeper. */
@Module({})
export class WorkerModule {
  static register(config: WorkerConfig): DynamicModule {
    const log = new Logger('jobs');
    return {
      module: WorkerModule,
      imports: [PersistenceModule.forRoot({ url: config.databaseUrl, poolSize: config.dbPoolSize, genericPlans: true })],
      providers: [
        { provide: WORKER_REDIS_URL, useValue: config.redisUrl },
        { provide: JobQueue, useFactory: () => new JobQueue(config.redisUrl, (e, job) => log.warn(`enqueue ${job.name} failed (the sweeper will catch up): ${String(e)}`)) },
        HostPusher,
        ReconcileLoader,
        ReconcileGatewayHandler,
        ProgramHostHandler,
        {
          provide: JOB_HANDLERS,
          useFactory: (...handlers: JobHandler[]) => handlers,
          inject: [ReconcileGatewayHandler, ProgramHostHandler],
        },
        JobRunner,
        Sweeper,
        HistoryMaintenance,
        { provide: WORKER_METRICS, useValue: workerMetricsConfig() },
        FleetMetrics,
        MetricsServer,
      ],
    };
  }
}
