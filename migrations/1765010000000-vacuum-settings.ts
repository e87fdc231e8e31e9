import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Autovacuum settings for the tables the control loop rewrites all the time (docs/postgresql.md).
 *
 * PostgreSQL's default vacuums a table when 20% of it is dead, which for a table of 20 rows that is
 * rewritten 200 times a second means "as soon as autovacuum looks", but its cost limit then makes
 * the vacuum sleep, and a bigger table of constant churn waits until a fifth of it is garbage. Here:
 * - rows rewritten on every change, in tables that stay small (a gateway's generation and status,
 *   hosts' generations, gateway-host states, usage snapshots, the endpoint-change queue): vacuum
 *   after a fixed number of dead rows whatever the size, without cost-based sleeping;
 * - tables of steady insert/delete churn (allocations, endpoints): vacuum at 5% dead.
 * With autovacuum on (the default of every PostgreSQL), these tables stay at their live size;
 * measured by `npm run bench soak`. Storage parameters only: entities do not describe them.
 */
const HOT = ['nat_gateways', 'hosts', 'gateway_hosts', 'endpoint_usage', 'gateway_endpoint_changes'];
const CHURN = ['allocations', 'endpoints'];

export class VacuumSettings1765010000000 implements MigrationInterface {
  name = 'VacuumSettings1765010000000';

  async up(db: QueryRunner): Promise<void> {
    for (const t of HOT) {
      await db.query(
        `ALTER TABLE "${t}" SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.05)`,
      );
    }
    for (const t of CHURN) await db.query(`ALTER TABLE "${t}" SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05)`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const t of HOT) {
      await db.query(`ALTER TABLE "${t}" RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay, autovacuum_analyze_scale_factor)`);
    }
    for (const t of CHURN) await db.query(`ALTER TABLE "${t}" RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor)`);
  }
}
