import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { Db } from './db';

/**
 * What natplane needs from its PostgreSQL server, checked at start (docs/postgresql.md). The
 * control loop rewrites a few rows all the time (a gateway's generation on every endpoint write,
 * hosts' generations on every push): without vacuum their tables grow without bound and every
 * statement that reads them slows down with them (measured: a 5-row table at 82 MB after 30 min).
 */
export async function serverWarnings(db: Db): Promise<string[]> {
  const rows = (await db.query<{ name: string; setting: string }>(`SELECT name, setting FROM pg_settings WHERE name IN ('autovacuum', 'track_counts')`)).rows;
  const setting = new Map(rows.map((r) => [r.name, r.setting]));
  const out: string[] = [];
  if (setting.get('autovacuum') !== 'on') {
    out.push(
      'PostgreSQL runs with autovacuum off: the rows natplane rewrites constantly (gateways, hosts, their states) will bloat their tables and slow every change down; turn it on (docs/postgresql.md), or VACUUM (ANALYZE) every minute',
    );
  }
  if (setting.get('track_counts') !== 'on') out.push('PostgreSQL runs with track_counts off: autovacuum cannot see which tables need vacuuming (docs/postgresql.md)');
  return out;
}

/** Logs the server's warnings once the application is up (api and worker alike); never fails the start. */
@Injectable()
export class ServerCheck implements OnApplicationBootstrap {
  private readonly log = new Logger('postgresql');

  constructor(private readonly db: Db) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      for (const w of await serverWarnings(this.db)) this.log.warn(w);
    } catch {
      // a database that is not there yet is /readyz's business, not this check's
    }
  }
}
