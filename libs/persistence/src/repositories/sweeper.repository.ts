import type { Db } from '../db';

const SWEEP_LOCK = 0x6e61_7473; // "nats"

export class SweeperRepository {
  constructor(private readonly db: Db) {}

  /** One sweeper at a time across workers (held until the sweep's transaction ends). */
  async tryLock(): Promise<boolean> {
    return (await this.db.one<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SWEEP_LOCK]))!.ok;
  }

  /**
   * Gateways to reconcile: behind their generation; gone while still holding non-quarantined
   * blocks; holding a quarantine that has ended. The generation of a gone gateway is unknown:
   * 0 makes a fresh job id per sweep minute is not needed, since the job is a no-op once released.
   */
  async unconvergedGateways(limit = 1000): Promise<{ id: string; generation: number }[]> {
    const { rows } = await this.db.query<{ id: string; generation: number }>(
      `SELECT id, generation::float8 AS generation FROM nat_gateways WHERE observed_generation < generation
       UNION
       SELECT DISTINCT a.gateway_id, -extract(epoch FROM date_trunc('minute', now()))::float8 FROM allocations a
       WHERE NOT EXISTS (SELECT 1 FROM nat_gateways g WHERE g.id = a.gateway_id) AND (a.state <> 'QUARANTINE' OR a.until < now())
       LIMIT $1`,
      [limit],
    );
    return rows;
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
