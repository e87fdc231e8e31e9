import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Source-based NAT rules with IP forwarding (issue #18): an endpoint may forward traffic from
 * ranges that are not its own (GCE's canIpForward); forwarded_ip_ranges are the CIDRs it forwards
 * from, which source-based rules can match. Existing endpoints forward nothing.
 */
export class SourceRules1767300000000 implements MigrationInterface {
  name = 'SourceRules1767300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE "endpoints" ADD "can_ip_forward" boolean NOT NULL DEFAULT false`);
    await db.query(`ALTER TABLE "endpoints" ADD "forwarded_ip_ranges" jsonb NOT NULL DEFAULT '[]'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE "endpoints" DROP COLUMN "forwarded_ip_ranges"`);
    await db.query(`ALTER TABLE "endpoints" DROP COLUMN "can_ip_forward"`);
  }
}
