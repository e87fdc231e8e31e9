import type { Db } from '../db';
import type { HistoryRow } from '@natplane/planner';
import { CLOSED_HISTORY, HISTORY_RETENTION, SELECT_OPEN_HISTORY, closeHistoryCte, parameters } from './history.sql';

/** One day's partition of the closed history (UTC day, from its name allocation_history_closed_pYYYYMMDD). */
export interface HistoryPartition {
  name: string;
  day: string;
}

export interface HistoryRetention {
  keptFrom: Date;
  retentionDays: number;
}

const DAY_MS = 86_400_000;

function utcDay(t: number): string {
  return new Date(Math.floor(t / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The attribution history's partitions and retention (docs/attribution.md): the days ahead are made
 * before they are needed, the days past the retention are detached (CONCURRENTLY: lookups and
 * inserts go on) and dropped, never deleted row by row.
 */
export class HistoryRepository {
  constructor(private readonly db: Db) {}

  async retention(): Promise<HistoryRetention> {
    const r = await this.db.one<HistoryRetention>(`SELECT kept_from AS "keptFrom", retention_days AS "retentionDays" FROM ${HISTORY_RETENTION}`);
    if (!r) throw new Error(`${HISTORY_RETENTION} has no row: run the migrations`);
    return r;
  }

  async partitions(): Promise<HistoryPartition[]> {
    const { rows } = await this.db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '${CLOSED_HISTORY}'::regclass ORDER BY 1`,
    );
    return rows.flatMap((r) => {
      const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(r.name);
      return m ? [{ name: r.name, day: `${m[1]}-${m[2]}-${m[3]}` }] : [];
    });
  }

  /**
   * Makes the partitions of the days from yesterday to `aheadDays` after `now`, drops those whose
   * whole day is older than `retentionDays` before `now`, and records where kept history starts.
   */
  async maintain(now: Date, retentionDays: number, aheadDays: number): Promise<{ created: string[]; dropped: string[] }> {
    const t = now.getTime();
    const { rows } = await this.db.query<{ made: boolean; day: string }>(
      `SELECT natplane_history_partition(d::date) AS made, d::date::text AS day
         FROM generate_series($1::date, $2::date, interval '1 day') d`,
      [utcDay(t - DAY_MS), utcDay(t + aheadDays * DAY_MS)],
    );
    const created = rows.filter((r) => r.made).map((r) => r.day);
    const cutoff = utcDay(t - retentionDays * DAY_MS); // days before this one are past the retention
    const dropped: string[] = [];
    for (const p of await this.partitions()) {
      if (p.day >= cutoff) continue;
      try {
        await this.db.query(`ALTER TABLE ${CLOSED_HISTORY} DETACH PARTITION ${p.name} CONCURRENTLY`);
      } catch (e) {
        // another worker detached it meanwhile, or a detach was interrupted: finish it
        if (!/is not a partition|does not exist/.test(String(e))) await this.db.query(`ALTER TABLE ${CLOSED_HISTORY} DETACH PARTITION ${p.name} FINALIZE`).catch(() => undefined);
      }
      await this.db.query(`DROP TABLE IF EXISTS ${p.name}`);
      dropped.push(p.day);
    }
    const oldest = (await this.partitions())[0]?.day ?? cutoff;
    await this.db.query(`UPDATE ${HISTORY_RETENTION} SET kept_from = greatest(kept_from, $1::date::timestamp AT TIME ZONE 'UTC'), retention_days = $2`, [
      oldest > cutoff ? oldest : cutoff,
      retentionDays,
    ]);
    return { created, dropped };
  }

  async openHistory(gatewayId: string): Promise<HistoryRow[]> {
    const { rows } = await this.db.query<HistoryRow>(
      SELECT_OPEN_HISTORY,
      [gatewayId],
    );
    return rows;
  }

  async closeHistory(ids: string[], at: Date): Promise<void> {
    if (ids.length === 0) return;
    const { values, $ } = parameters();
    await this.db.query(`WITH ${closeHistoryCte($, 'closed', ids, $(at))} SELECT 1`, values);
  }
}
