import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Incremental reconcile (generated with `cli.js diff`, reviewed by hand):
 * - gateway_endpoint_changes: the generations of a gateway that endpoint writes caused, and the
 *   endpoint of each, written by the api with the bump; the reconciler consumes them.
 * - nat_gateways.reconcile_seq: counts reconciler commits, so a worker knows whether the result it
 *   keeps in memory is still the latest one.
 * Both are additive: existing rows get reconcile_seq 0 and no pending change (their next
 * reconcile is a full one).
 */
export class EndpointChanges1764072000000 implements MigrationInterface {
  name = 'EndpointChanges1764072000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `CREATE TABLE "gateway_endpoint_changes" ("gateway_id" uuid NOT NULL, "generation" bigint NOT NULL, "endpoint_id" uuid NOT NULL, CONSTRAINT "gateway_endpoint_changes_pkey" PRIMARY KEY ("gateway_id", "generation"))`,
    );
    await db.query(`ALTER TABLE "nat_gateways" ADD "reconcile_seq" bigint NOT NULL DEFAULT '0'`);
    await db.query(
      `ALTER TABLE "gateway_endpoint_changes" ADD CONSTRAINT "gateway_endpoint_changes_gateway_id_fkey" FOREIGN KEY ("gateway_id") REFERENCES "nat_gateways"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE "gateway_endpoint_changes"`);
    await db.query(`ALTER TABLE "nat_gateways" DROP COLUMN "reconcile_seq"`);
  }
}
