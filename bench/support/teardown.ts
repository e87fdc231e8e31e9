/**
 * Bench support: the end of a bench that runs the built api (and worker) on a scratch database
 * and Redis database. In the bench's try: `catch (e) { printTails({ api, worker }); throw e; }`
 * and `finally { await tearDown(DB, REDIS_URL, [api, worker, farm]); }`.
 */
import { dropDatabase, flushRedis, type ApiProcess } from './api-process';
import type { WorkerProcess } from './worker-process';

/** On a failure: the last lines the api and the worker wrote, which the error alone seldom explains. */
export function printTails(procs: { api?: ApiProcess; worker?: WorkerProcess }): void {
  if (procs.api) process.stderr.write(`api output (tail):\n${procs.api.output()}\n`);
  if (procs.worker) process.stderr.write(`worker output (tail):\n${procs.worker.output()}\n`);
}

/**
 * Stops the child processes (those started: undefined is skipped) all at once, a failure to stop
 * one ignored; then drops the database (a failure printed) and flushes the Redis database.
 */
export async function tearDown(db: string, redisUrl: string, procs: ({ stop(): Promise<void> } | undefined)[]): Promise<void> {
  await Promise.all(procs.filter((p) => p !== undefined).map((p) => p.stop().catch(() => undefined)));
  await dropDatabase(db).catch((e: unknown) => process.stderr.write(`drop ${db}: ${String(e)}\n`));
  await flushRedis(redisUrl).catch(() => undefined);
}
