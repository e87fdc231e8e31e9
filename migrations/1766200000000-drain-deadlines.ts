import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Drains that end by themselves (a gateway's maxDrainDurationSec, issue #18):
 * - gateway_addresses.drain_since: when the address entered its drain list (kept across writes
 *   that leave it draining in the same place); null when it is active. Drains under way when this
 *   runs start now: none ends before the operator set a deadline plus its length.
 * - allocations.cut: a QUARANTINE block whose holder's connections were cut (its drain reached
 *   the deadline): hosts no longer keep it as a drain block, though nobody else gets its ports
 *   before the quarantine ends.
 * - nat_gateways.spec gets the field's default (0: no deadline), as every server default is
 *   stored and returned.
 */
export class DrainDeadlines1766200000000 implements MigrationInterface {
  name = 'DrainDeadlines1766200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE "gateway_addresses" ADD "drain_since" TIMESTAMP WITH TIME ZONE`);
    await db.query(`UPDATE "gateway_addresses" SET "drain_since" = now() WHERE "draining"`);
    await db.query(`ALTER TABLE "allocations" ADD "cut" boolean NOT NULL DEFAULT false`);
    await db.query(`UPDATE "nat_gateways" SET "spec" = "spec" || '{"maxDrainDurationSec": 0}'::jsonb WHERE NOT ("spec" ? 'maxDrainDurationSec')`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`UPDATE "nat_gateways" SET "spec" = "spec" - 'maxDrainDurationSec'`);
    await db.query(`ALTER TABLE "allocations" DROP COLUMN "cut"`);
    await db.query(`ALTER TABLE "gateway_addresses" DROP COLUMN "drain_since"`);
  }
}
