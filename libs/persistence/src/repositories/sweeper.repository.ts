import type { Db } from '../db';

const SWEEP_LOCK = 0x6e61_7473; // "nats"

export class SweeperRepository {
  constructor(private readonly db: Db) {}

  /** One sweeper at a time across workers (held until the sweep's transaction ends). */
  async tryLock(): Promise<boolean> {
    return (await this.db.one<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SWEEP_LOCK]))!.ok;
  }

  /**
   * Gateways to reconcile: behind their generation; gone while still holding blocks that are not
   * quarantined or whose quarantine ended; holding a quarantine that has ended; waiting on a host
   * that has now applied what a moved VM needed; with a drain past its deadline (a pseudo
   * generation per second, so the job is not taken for the minute's). The last four carry a negative pseudo
   * generation (the minute, or the host's applied generation) so each gets a fresh job id.
   */
  async unconvergedGateways(limit = 1000): Promise<{ id: string; generation: number; followUp: boolean }[]> {
    const { rows } = await this.db.query<{ id: string; generation: number }>(
      `SELECT id, generation::float8 AS generation FROM nat_gateways WHERE observed_generation < generation
       UNION
       SELECT DISTINCT a.gateway_id, -extract(epoch FROM date_trunc('minute', now()))::float8 FROM allocations a
       WHERE NOT EXISTS (SELECT 1 FROM nat_gateways g WHERE g.id = a.gateway_id) AND (a.state <> 'QUARANTINE' OR a.until < now())
       UNION
       SELECT DISTINCT a.gateway_id, -extract(epoch FROM date_trunc('minute', now()))::float8 FROM allocations a
       WHERE a.state = 'QUARANTINE' AND a.until < now()
       UNION
       SELECT DISTINCT ga.gateway_id, -(floor(extract(epoch FROM now())) * 10 + 1)::float8 FROM gateway_addresses ga JOIN nat_gateways g ON g.id = ga.gateway_id
       WHERE ga.draining AND coalesce((g.spec->>'maxDrainDurationSec')::int, 0) > 0
         AND ga.drain_since + make_interval(secs => (g.spec->>'maxDrainDurationSec')::int) <= now()
       UNION
       SELECT DISTINCT gh.gateway_id, -h.applied_generation::float8 FROM gateway_hosts gh JOIN hosts h ON h.id = gh.wait_host_id
       WHERE h.applied_generation >= gh.wait_generation
       LIMIT $1`,
      [limit],
    );
    // Negative generations mark recomputations that are due without a new generation.
    return rows.map((r) => ({ ...r, followUp: r.generation < 0 }));
  }

  /** Hosts behind their desired generation; a failing host is retried at most every 2^failures s (<= 30 s). */
  async unconvergedHosts(limit = 1000): Promise<{ id: string; generation: number }[]> {
    const { rows } = await this.db.query<{ id: string; generation: number }>(
      `SELECT id, desired_generation::float8 AS generation FROM hosts
       WHERE applied_generation < desired_generation
         AND (push_failures = 0 OR last_push_time IS NULL OR last_push_time < now() - make_interval(secs => least(30, power(2, push_failures))))
       LIMIT $1`,
      [limit],
    );
    return rows;
  }
}
