import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * hosts.last_push_status: the HTTP status the programmer answered the last failed push with, or
 * null when it answered nothing (a connection error, a timeout) or the last push succeeded. A host
 * whose pushes fail is UNREACHABLE only when they got no answer; one that answers with a refusal
 * (a 400 for a document it cannot take) is reachable, and shows STALE with the refusal in
 * lastError. Additive: existing rows start with null (generated with `cli.js diff`).
 */
export class HostPushStatus1765100000001 implements MigrationInterface {
  name = 'HostPushStatus1765100000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE "hosts" ADD "last_push_status" integer`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE "hosts" DROP COLUMN "last_push_status"`);
  }
}
