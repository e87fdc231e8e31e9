import { Controller, Get, Header, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { JobQueue } from '@natplane/jobs';
import { Db } from '@natplane/persistence';
import { Access } from '../common/auth';
import { registry } from './metrics';
import { NatMetrics } from './nat-metrics';

@ApiExcludeController()
@Access('public')
@Controller()
export class HealthController {
  constructor(
    private readonly db: Db,
    private readonly jobs: JobQueue,
    private readonly nat: NatMetrics,
  ) {}

  /** The process is up. */
  @Get('healthz')
  healthz(): { status: string } {
    return { status: 'ok' };
  }

  /** PostgreSQL and Redis are reachable. */
  @Get('readyz')
  async readyz(): Promise<{ status: string; postgres: string; redis: string }> {
    const [pg, redis] = await Promise.allSettled([this.db.query('SELECT 1'), withTimeout(this.jobs.ping(), 1000)]);
    const status = { status: 'ok', postgres: pg.status === 'fulfilled' ? 'ok' : 'down', redis: redis.status === 'fulfilled' ? 'ok' : 'down' };
    if (status.postgres !== 'ok' || status.redis !== 'ok') throw new ServiceUnavailableException({ ...status, status: 'unavailable', message: `postgres ${status.postgres}, redis ${status.redis}` });
    return status;
  }

  /** Prometheus text, for the operator only: the admin token or NATPLANE_METRICS_TOKEN. */
  @Get('metrics')
  @Access('metrics')
  @Header('content-type', 'text/plain; version=0.0.4')
  async metrics(): Promise<string> {
    await this.nat.refresh();
    return registry.metrics();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error('timeout')), ms).unref())]);
}
