import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AUTH_CHANNEL } from '../auth-changes';
import type { Db } from '../db';
import type { TokenKind } from '../entities';

export interface TokenOwner {
  kind: TokenKind;
  projectId: string | null;
  hostId: string | null;
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Bearer tokens: 256 random bits, shown once, stored as SHA-256. */
export class TokensRepository {
  constructor(private readonly db: Db) {}

  async issue(kind: TokenKind, owner: { projectId?: string; hostId?: string }): Promise<string> {
    const token = `np${kind[0]}_${randomBytes(32).toString('base64url')}`;
    await this.db.query('INSERT INTO api_tokens (id, kind, project_id, host_id, token_hash) VALUES ($1, $2, $3, $4, $5)', [
      randomUUID(),
      kind,
      owner.projectId ?? null,
      owner.hostId ?? null,
      hashToken(token),
    ]);
    return token;
  }

  /**
   * Announces, in the current transaction, that who may call what changed (a project or host
   * created or deleted, with its tokens): PostgreSQL tells every AuthChangeListener when, and
   * only if, the transaction commits.
   */
  async announceChange(): Promise<void> {
    await this.db.query(`SELECT pg_notify('${AUTH_CHANNEL}', '')`);
  }

  async find(token: string): Promise<TokenOwner | undefined> {
    return this.db.one<TokenOwner & Record<string, unknown>>(
      'SELECT kind, project_id AS "projectId", host_id AS "hostId" FROM api_tokens WHERE token_hash = $1',
      [hashToken(token)],
    );
  }
}
