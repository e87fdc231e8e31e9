import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HistoryRepository } from '@natplane/persistence';

/** How long attribution history is kept (days): an abuse report months later must still find its holder. */
export const DEFAULT_RETENTION_DAYS = 180;
/** Partitions are made this many days ahead (a worker down for less than that loses nothing). */
export const AHEAD_DAYS = 14;
const EVERY_MS = 3_600_000;

export function retentionDays(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.NATPLANE_HISTORY_RETENTION_DAYS;
  if (raw === undefined || raw === '') return DEFAULT_RETENTION_DAYS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 3650) throw new Error(`NATPLANE_HISTORY_RETENTION_DAYS must be a whole number of days from 1 to 3650, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The worker keeps the attribution history's partitions (docs/attribution.md): at start and every
 * hour it makes the days ahead and drops the days past the retention. Every worker does it; the
 * statements are safe to run at once from several.
 */
@Injectable()
export class HistoryMaintenance implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('history');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private readonly days = retentionDays();

  constructor(private readonly history: HistoryRepository) {}

  onApplicationBootstrap(): void {
    this.run();
    this.timer = setInterval(() => this.run(), EVERY_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private run(): void {
    this.running = this.running
      .then(async () => {
        const r = await this.history.maintain(new Date(), this.days, AHEAD_DAYS);
        if (r.created.length > 0 || r.dropped.length > 0) this.log.log(`history partitions: made ${r.created.join(', ') || 'none'}; dropped past ${this.days} days: ${r.dropped.join(', ') || 'none'}`);
      })
      .catch((e: unknown) => this.log.error(`history maintenance failed (retried within the hour): ${e instanceof Error ? e.message : String(e)}`));
  }
}
