import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Private NAT, first piece (issue #18): a subnet's purpose, as Cloud NAT's subnets have it.
 * PRIVATE (every subnet so far) holds endpoints; PRIVATE_NAT supplies the NAT IPs of Private NAT
 * gateways and holds no endpoint. Immutable after create.
 */
export class SubnetPurpose1767300000001 implements MigrationInterface {
  name = 'SubnetPurpose1767300000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE "subnets" ADD "purpose" text NOT NULL DEFAULT 'PRIVATE'`);
    await db.query(`ALTER TABLE "subnets" ADD CONSTRAINT "subnets_purpose_check" CHECK ("purpose" IN ('PRIVATE', 'PRIVATE_NAT'))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE "subnets" DROP CONSTRAINT "subnets_purpose_check"`);
    await db.query(`ALTER TABLE "subnets" DROP COLUMN "purpose"`);
  }
}
