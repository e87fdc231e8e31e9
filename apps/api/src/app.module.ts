import { DynamicModule, Logger, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { JobQueue } from '@natplane/jobs';
import { PersistenceModule } from '@natplane/persistence';
import { AuthGuard } from './common/auth';
import { ChangeNotifier } from './common/change-notifier';
import { API_CONFIG, type ApiConfig } from './common/config';
import { IdempotencyInterceptor } from './common/idempotency.interceptor';
import { ProblemFilter } from './common/problem.filter';
import { HealthController } from './health/health.controller';
import { NetworksController } from './networks/networks.controller';
import { NetworksService } from './networks/networks.service';
import { ProjectsController } from './projects/projects.controller';
import { ProjectsService } from './projects/projects.service';

@Module({})
export class AppModule {
  /** `connect: false` boots every route without PostgreSQL or Redis (OpenAPI generation). */
  static register(config: ApiConfig, opts: { connect?: boolean } = {}): DynamicModule {
    const log = new Logger('jobs');
    return {
      module: AppModule,
      imports: [PersistenceModule.forRoot({ url: config.databaseUrl, poolSize: config.dbPoolSize, connect: opts.connect })],
      controllers: [HealthController, ProjectsController, NetworksController],
      providers: [
        { provide: API_CONFIG, useValue: config },
        {
          provide: JobQueue,
          useFactory: () =>
            new JobQueue(config.redisUrl, (e, job) => log.warn(`enqueue ${job.name} failed (the sweeper will catch up): ${String(e)}`), { lazy: opts.connect === false }),
        },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        { provide: APP_FILTER, useClass: ProblemFilter },
        ChangeNotifier,
        ProjectsService,
        NetworksService,
      ],
    };
  }
}
