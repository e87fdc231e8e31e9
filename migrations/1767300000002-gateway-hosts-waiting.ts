import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The rows waiting on a host (a moved VM's old host waits until the new host applied a
 * generation), found by the host: every acknowledgement asks for them
 * (HostProgrammingRepository.acknowledged). Without an index that was a scan of every gateway's
 * hosts per acknowledgement: in the convergence bench (13,600 rows) 1.4 ms of PostgreSQL per
 * push, its largest statement. Partial: almost no row waits.
 */
export class GatewayHostsWaiting1767300000002 implements MigrationInterface {
  name = 'GatewayHostsWaiting1767300000002';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE INDEX "gateway_hosts_wait_host_id_idx" ON "gateway_hosts" ("wait_host_id") WHERE "wait_host_id" IS NOT NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX "gateway_hosts_wait_host_id_idx"`);
  }
}
