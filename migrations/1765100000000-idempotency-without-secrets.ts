import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Responses kept for Idempotency-Key replays no longer hold secrets shown once (a project token, a
 * host's hostToken and pushSecret: apps/api/src/common/idempotency.interceptor.ts). Those kept
 * before (for at most 24 hours) lose them now: the token, host token and push secret otherwise
 * stored only hashed, or by the host alone, are not left in plain text beside them. Data only; no
 * way back (down does nothing).
 */
export class IdempotencyWithoutSecrets1765100000000 implements MigrationInterface {
  name = 'IdempotencyWithoutSecrets1765100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `UPDATE idempotency_keys SET response_body = ((response_body::jsonb) - 'token' - 'hostToken' - 'pushSecret')::text
       WHERE status_code <> 0 AND left(response_body, 1) = '{' AND (response_body::jsonb) ?| array['token', 'hostToken', 'pushSecret']`,
    );
  }

  async down(): Promise<void> {
    // The secrets are gone for good.
  }
}
