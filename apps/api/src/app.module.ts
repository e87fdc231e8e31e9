import { DynamicModule, Logger, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { JobQueue } from '@natplane/jobs';
import { PersistenceModule } from '@natplane/persistence';
import { AddressPoolsController } from './address-pools/address-pools.controller';
import { AddressPoolsService } from './address-pools/address-pools.service';
import { AddressesController } from './addresses/addresses.controller';
import { AddressesService } from './addresses/addresses.service';
import { EndpointsController } from './endpoints/endpoints.controller';
import { EndpointsService } from './endpoints/endpoints.service';
import { HostsController } from './hosts/hosts.controller';
import { HostsService } from './hosts/hosts.service';
import { AdminAttributionsController, GatewayInsightsController } from './nat-gateways/insights.controller';
import { GatewayInsightsService } from './nat-gateways/insights.service';
import { HostAgentController } from './host-agent/host-agent.controller';
import { NatGatewaysController } from './nat-gateways/nat-gateways.controller';
import { NatGatewaysService } from './nat-gateways/nat-gateways.service';
import { SubnetsController } from './subnets/subnets.controller';
import { SubnetsService } from './subnets/subnets.service';
import { AuthCache, AuthGuard } from './common/auth';
import { ChangeNotifier } from './common/change-notifier';
import { assertIdempotentPosts } from './common/idempotency.interceptor';
import { API_CONFIG, type ApiConfig } from './common/config';
import { ProblemFilter } from './common/problem.filter';
import { HealthController } from './health/health.controller';
import { dbReplays } from './health/metrics';
import { NatMetrics } from './health/nat-metrics';
import { NetworksController } from './networks/networks.controller';
import { NetworksService } from './networks/networks.service';
import { ProjectsController } from './projects/projects.controller';
import { ProjectsService } from './projects/projects.service';

const CONTROLLERS = [
  HealthController,
  ProjectsController,
  HostsController,
  AddressPoolsController,
  NetworksController,
  SubnetsController,
  EndpointsController,
  AddressesController,
  NatGatewaysController,
  GatewayInsightsController,
  AdminAttributionsController,
  HostAgentController,
];
// Idempotency-Key is honoured per route (ApiIdempotencyKey), on every POST route: checked here.
assertIdempotentPosts(CONTROLLERS);

@Module({})
export class AppModule {
  /** `connect: false` boots every route without PostgreSQL or Redis (OpenAPI generation). */
  static register(config: ApiConfig, opts: { connect?: boolean } = {}): DynamicModule {
    const log = new Logger('jobs');
    return {
      module: AppModule,
      imports: [
        PersistenceModule.forRoot({
          url: config.databaseUrl,
          poolSize: config.dbPoolSize,
          connect: opts.connect,
          // Every transaction of the api is a request's: SQL only, its other effects (jobs,
          // caches) after the commit, so one aborted by a deadlock or serialization failure is
          // replayed whole, unseen by the client.
          db: { replayConflicts: true, onReplay: (code) => dbReplays.inc({ code }) },
        }),
      ],
      controllers: CONTROLLERS,
      providers: [
        { provide: API_CONFIG, useValue: config },
        {
          provide: JobQueue,
          useFactory: () =>
            new JobQueue(config.redisUrl, (e, job) => log.warn(`enqueue ${job.name} failed (the sweeper will catch up): ${String(e)}`), { lazy: opts.connect === false }),
        },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: AuthCache, useFactory: () => new AuthCache(config, opts.connect !== false) },
        ChangeNotifier,
        ProjectsService,
        HostsService,
        AddressPoolsService,
        NetworksService,
        SubnetsService,
        EndpointsService,
        AddressesService,
        NatGatewaysService,
        GatewayInsightsService,
        NatMetrics,
      ],
    };
  }
}
