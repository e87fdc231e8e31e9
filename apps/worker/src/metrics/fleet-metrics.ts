import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { JobQueue, QueueName } from '@natplane/jobs';
import { NatMetricsRepository } from '@natplane/persistence';
import { fleet } from './worker-metrics';

const SAMPLE_MS = 15_000;
const DOWNSAMPLE_MS = 10 * 60_000;

/**
 * Fleet gauges for the worker's /metrics (read at scrape time, at most every 2 s), and the time
 * series' upkeep: every 15 s the gateways' own samples (allocated ports, endpoints without a
 * mapping) and since when each host is behind; every 10 minutes the hourly downsampling and the
 * retention (docs/observability.md "Time series"). Every step is an idempotent upsert or delete:
 * several workers may run it at once.
 */
@Injectable()
export class FleetMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('metrics');
  private timers: NodeJS.Timeout[] = [];
  private fresh = 0;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly repo: NatMetricsRepository,
    private readonly jobs: JobQueue,
  ) {}

  onApplicationBootstrap(): void {
    const every = (ms: number, fn: () => Promise<unknown>, what: string) => {
      this.timers.push(setInterval(() => void fn().catch((e: unknown) => this.log.warn(`${what} failed: ${e instanceof Error ? e.message : String(e)}`)), ms));
    };
    every(SAMPLE_MS, () => this.sample(), 'sampling');
    every(DOWNSAMPLE_MS, () => this.repo.downsampleAndPrune(), 'downsampling');
    void this.sample().catch(() => undefined);
  }

  onApplicationShutdown(): void {
    for (const t of this.timers) clearInterval(t);
  }

  async sample(): Promise<void> {
    await this.repo.trackConvergence();
    await this.repo.sampleGateways();
  }

  /** Sets the fleet gauges (concurrent scrapes share one read). */
  refresh(): Promise<void> {
    if (Date.now() - this.fresh < 2000) return Promise.resolve();
    this.reading ??= this.read().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  private async read(): Promise<void> {
    await this.repo.trackConvergence();
    const [hosts, unconverged, counts] = await Promise.all([
      this.repo.hostStates(),
      this.repo.unconvergedGateways(),
      Promise.all(Object.values(QueueName).map(async (q) => ({ q, c: await this.jobs.queue(q).getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed') }))),
    ]);
    fleet.hostBehind.reset();
    fleet.lastReport.reset();
    let lag = 0;
    for (const h of hosts) {
      if (h.behindSeconds > 0) fleet.hostBehind.set({ host: h.host }, h.behindSeconds);
      if (h.lastReport !== null) fleet.lastReport.set({ host: h.host }, h.lastReport);
      lag = Math.max(lag, h.behindSeconds);
    }
    fleet.hostsBehind.set(hosts.filter((h) => h.behindSeconds > 0).length);
    fleet.hostsUnreachable.set(hosts.filter((h) => h.unreachable).length);
    fleet.convergenceLag.set(lag);
    fleet.gatewaysUnconverged.set(unconverged);
    for (const { q, c } of counts) for (const [state, n] of Object.entries(c)) fleet.queueJobs.set({ queue: q, state }, n);
    this.fresh = Date.now();
  }
}
