import { DynamicModule, Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source';
import { Db, type DbOptions } from './db';
import { ServerCheck } from './server-check';
import {
  AddressesRepository,
  AddressPoolsRepository,
  EndpointsRepository,
  GatewayHostsRepository,
  GatewaysRepository,
  HistoryRepository,
  HostProgrammingRepository,
  HostsRepository,
  IdempotencyRepository,
  InsightsRepository,
  NatMetricsRepository,
  NetworksRepository,
  PlanInputsRepository,
  ProjectsRepository,
  ReconcileRepository,
  SubnetsRepository,
  SweeperRepository,
  TokensRepository,
} from './repositories';

const REPOSITORIES = [
  AddressesRepository,
  AddressPoolsRepository,
  EndpointsRepository,
  GatewayHostsRepository,
  GatewaysRepository,
  HistoryRepository,
  HostProgrammingRepository,
  HostsRepository,
  IdempotencyRepository,
  InsightsRepository,
  NatMetricsRepository,
  NetworksRepository,
  PlanInputsRepository,
  ProjectsRepository,
  ReconcileRepository,
  SubnetsRepository,
  SweeperRepository,
  TokensRepository,
];

/**
 * The data source, the unit of work (Db) and every repository, for the api and the worker.
 * `connect: false` boots without a database (to generate the OpenAPI document).
 */
@Global()
@Module({})
export class PersistenceModule {
  /** `genericPlans`: see dataSourceOptions (the worker's sessions). */
  static forRoot(opts: { url: string; poolSize: number; connect?: boolean; db?: DbOptions; genericPlans?: boolean }): DynamicModule {
    return {
      module: PersistenceModule,
      imports: [TypeOrmModule.forRoot({ ...dataSourceOptions(opts.url, opts.poolSize, opts.genericPlans), manualInitialization: opts.connect === false })],
      providers: [
        { provide: Db, useFactory: (ds: DataSource) => new Db(ds, opts.db), inject: [DataSource] },
        ...REPOSITORIES.map((R) => ({ provide: R, useFactory: (db: Db) => new R(db), inject: [Db] })),
        ...(opts.connect === false ? [] : [ServerCheck]),
      ],
      exports: [Db, ...REPOSITORIES],
    };
  }
}
