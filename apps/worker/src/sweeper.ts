import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { JobQueue, Jobs } from '@natplane/jobs';
import { Db, SweeperRepository } from '@natplane/persistence';

export const SWEEP_INTERVAL_MS = 2000;

/**
 * Level-triggered safety net: every few seconds, one worker (an advisory lock in the sweep's
 * transaction) re-enqueues every gateway whose observedGeneration lags its generation, every
 * gateway whose blocks outlived it or whose quarantine ended, and every host whose applied
 * generation lags its desired one (failing hosts with backoff). Redis may lose jobs; PostgreSQL
 * holds every change, so everything converges.
 */
@Injectable()
export class Sweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('sweeper');
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly db: Db,
    private readonly repo: SweeperRepository,
    private readonly jobs: JobQueue,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async sweep(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const found = await this.db.transaction(async () => {
        if (!(await this.repo.tryLock())) return undefined;
        return { gateways: await this.repo.unconvergedGateways(), hosts: await this.repo.unconvergedHosts() };
      });
      if (!found) return 0;
      await this.jobs.addAll([
        ...found.gateways.map((g) => (g.followUp ? Jobs.hostApplied(g.id, g.generation) : Jobs.reconcile(g.id, g.generation))),
        ...found.hosts.map((h) => Jobs.programHost(h.id, h.generation)),
      ]);
      return found.gateways.length + found.hosts.length;
    } catch (e) {
      this.log.warn(`sweep failed: ${e instanceof Error ? e.message : String(e)}`);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
