import 'reflect-metadata';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { databaseConfig } from './config';
import { ENTITIES } from './entities';
import { MIGRATIONS } from '../../../migrations';
import { SnakeNamingStrategy } from './naming';

export function dataSourceOptions(url = databaseConfig().url, poolSize = 10): DataSourceOptions {
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
    extra: { max: poolSize },
  };
}

export function createDataSource(url?: string, poolSize?: number): DataSource {
  return new DataSource(dataSourceOptions(url, poolSize));
}
