import type { Db } from '../db';

export interface StoredResponse {
  requestHash: string;
  statusCode: number;
  responseBody: string;
  responseHeaders: Record<string, string>;
}

/**
 * Idempotency keys. `claim` inserts a placeholder inside the request's transaction: a concurrent
 * request with the same key blocks on the primary key until the first commits (then it reads the
 * stored response) or rolls back (then it claims the key itself). So 20 identical requests at
 * once create one row and get one response.
 */
export class IdempotencyRepository {
  constructor(private readonly db: Db) {}

  async claim(scope: string, key: string, requestHash: string): Promise<boolean> {
    const r = await this.db.query(
      `INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response_body) VALUES ($1, $2, $3, 0, '')
       ON CONFLICT (scope, key) DO NOTHING`,
      [scope, key, requestHash],
    );
    return r.rowCount === 1;
  }

  async get(scope: string, key: string): Promise<StoredResponse | undefined> {
    return this.db.one<StoredResponse & Record<string, unknown>>(
      `SELECT request_hash AS "requestHash", status_code AS "statusCode", response_body AS "responseBody", response_headers AS "responseHeaders"
       FROM idempotency_keys WHERE scope = $1 AND key = $2`,
      [scope, key],
    );
  }

  async store(scope: string, key: string, statusCode: number, body: string, headers: Record<string, string>): Promise<void> {
    await this.db.query('UPDATE idempotency_keys SET status_code = $3, response_body = $4, response_headers = $5 WHERE scope = $1 AND key = $2', [
      scope,
      key,
      statusCode,
      body,
      JSON.stringify(headers),
    ]);
  }

  /** Keys older than the retention (24 h) are forgotten. */
  async expire(olderThanSec = 86400): Promise<number> {
    return (await this.db.query(`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, [olderThanSec])).rowCount;
  }
}
