import 'reflect-metadata';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { databaseConfig } from './config';
import { ENTITIES } from './entities';
import { MIGRATIONS } from '../../../migrations';
import { SnakeNamingStrategy } from './naming';

/**
 * How long an idle pooled connection is kept. node-postgres closes them after 10 s by default, so
 * under a load that comes and goes (a worker's bursts of reconciles) the pool shrank and grew again
 * all the time: each new connection is a new PostgreSQL backend (a fork, authentication, empty
 * catalog caches) that parses and plans every named statement anew (Db.query names them so that
 * a connection plans each once). Five minutes keeps the pool warm through any bench or burst and
 * still gives connections back after a real lull. Idle connections never keep a process alive
 * (allowExitOnIdle: a CLI or a test that forgot to close the pool still exits, as it did when the
 * idle timeout was 10 s; a checked-out connection holds the process as before).
 */
export const POOL_IDLE_MS = 300_000;

/**
 * Sessions that run a fixed set of statements many times (the worker) plan each once
 * (`genericPlans`: plan_cache_mode force_generic_plan). PostgreSQL otherwise re-plans a prepared
 * statement for its parameters whenever that looks cheaper on paper, which it did at every
 * execution of the reconciler's one commit (a statement of 15 CTEs whose unnest()s it sizes from
 * the arrays): 0.4-1.6 ms of planning a commit in the convergence bench, ~20% of the statement.
 * Every statement of the worker finds its rows by key or by an indexed column, for which the
 * generic plan is the one a custom plan would pick.
 */
export function dataSourceOptions(url = databaseConfig().url, poolSize = 10, genericPlans = false): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'typeorm_migrations',
    migrationsTransactionMode: 'all',
    namingStrategy: new SnakeNamingStrategy(),
    synchronize: false,
    migrationsRun: false,
    logging: ['error'],
    extra: { max: poolSize, idleTimeoutMillis: POOL_IDLE_MS, allowExitOnIdle: true, ...(genericPlans ? { options: '-c plan_cache_mode=force_generic_plan' } : {}) },
  };
}

export function createDataSource(url?: string, poolSize?: number): DataSource {
  return new DataSource(dataSourceOptions(url, poolSize));
}
