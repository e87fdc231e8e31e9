import 'reflect-metadata';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobQueue, redisConfig } from '@natplane/jobs';
import { databaseConfig } from '@natplane/persistence';
import { WorkerModule } from './worker.module';

async function main(): Promise<void> {
  // 4 reconciles and 32 pushes run at once: give them connections enough.
  const pool = Number(process.env.DB_POOL_SIZE ?? 24);
  const app = await NestFactory.createApplicationContext(
    WorkerModule.register({ databaseUrl: databaseConfig().url, redisUrl: redisConfig().url, dbPoolSize: Number.isInteger(pool) && pool > 0 ? pool : 24 }),
    { logger: new ConsoleLogger('worker', { json: true, logLevels: (process.env.LOG_LEVEL ?? 'log').split(',') as never }) },
  );
  app.enableShutdownHooks();
  const jobs = app.get(JobQueue);
  process.once('beforeExit', () => void jobs.close());
  new Logger('worker').log('natplane worker running');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
