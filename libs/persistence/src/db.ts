import { createHash } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import type { DataSource } from 'typeorm';

interface TxContext {
  client: PoolClient;
  afterCommit: (() => void)[];
}

export interface Rows<T> {
  rows: T[];
  rowCount: number;
}

export interface DbOptions {
  /**
   * Replay what PostgreSQL aborted as a serialization failure (40001) or a deadlock (40P01): a
   * statement run outside a transaction, and a whole transaction from its start. Only for callers
   * whose transactions can be replayed, i.e. run only SQL through this Db and defer every other
   * effect to `afterCommit` (which a replayed attempt never runs): the api's, whose every write
   * is one such transaction. The worker keeps its own retries (job attempts, reconcile_seq).
   */
  replayConflicts?: boolean;
  /** Called before each replay (for a metric). */
  onReplay?: (code: string, attempt: number) => void;
}

/** serialization_failure, deadlock_detected: the statement or transaction did nothing and may run again. */
const REPLAYABLE = new Set(['40001', '40P01']);
/** Attempts in all (the first and the replays); each replay waits a few random ms more than the last. */
export const MAX_ATTEMPTS = 5;

/**
 * The unit of work. Repositories run their SQL through `query`, which joins the transaction of
 * the current async context if there is one (so a service can make several repositories commit
 * together, and the idempotency layer can wrap a whole request in one transaction).
 * SQL goes straight to node-postgres on TypeORM's pool: TypeORM owns the schema (entities,
 * migrations) and the connection pool; statements are written by hand in the repositories.
 */
export class Db {
  private readonly als = new AsyncLocalStorage<TxContext>();

  constructor(
    readonly dataSource: DataSource,
    private readonly opts: DbOptions = {},
  ) {}

  private get pool(): Pool {
    return (this.dataSource.driver as unknown as { master: Pool }).master;
  }

  async query<T extends QueryResultRow = QueryResultRow>(sql: string, params: unknown[] = []): Promise<Rows<T>> {
    const ctx = this.als.getStore();
    // Named statements: PostgreSQL parses and plans each distinct statement once per connection.
    const run = async () => {
      const r = await (ctx ? ctx.client : this.pool).query<T>({ name: statementName(sql), text: sql, values: params });
      return { rows: r.rows, rowCount: r.rowCount ?? 0 };
    };
    // In a transaction, the transaction is what is replayed (the statement's failure aborted it).
    return ctx ? run() : this.replaying(run);
  }

  async one<T extends QueryResultRow = QueryResultRow>(sql: string, params: unknown[] = []): Promise<T | undefined> {
    return (await this.query<T>(sql, params)).rows[0];
  }

  get inTransaction(): boolean {
    return this.als.getStore() !== undefined;
  }

  /**
   * Runs fn in a transaction, or inside the current one when already in one. With
   * `replayConflicts`, a transaction PostgreSQL aborted as a deadlock or serialization failure is
   * run again from the start, up to MAX_ATTEMPTS in all.
   */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.als.getStore()) return fn();
    return this.replaying(() => this.once(fn));
  }

  private async replaying<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (e) {
        const code = pgCode(e);
        if (!this.opts.replayConflicts || code === undefined || !REPLAYABLE.has(code) || attempt >= MAX_ATTEMPTS) throw e;
        this.opts.onReplay?.(code, attempt);
        // Apart, so that the two sides of a deadlock do not meet again at once.
        await new Promise((r) => setTimeout(r, attempt * (5 + Math.random() * 20)));
      }
    }
  }

  private async once<T>(fn: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const ctx: TxContext = { client, afterCommit: [] };
    let result: T;
    try {
      await client.query('BEGIN');
      result = await this.als.run(ctx, fn);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
    for (const f of ctx.afterCommit) f();
    return result;
  }

  /** Runs f once the current transaction commits (at once when there is none). Never on rollback. */
  afterCommit(f: () => void): void {
    const ctx = this.als.getStore();
    if (ctx) ctx.afterCommit.push(f);
    else f();
  }
}

const names = new Map<string, string>();

/** A stable name per SQL text (the repositories' statements are a finite set). */
function statementName(sql: string): string {
  let n = names.get(sql);
  if (n === undefined) {
    n = `np_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    names.set(sql, n);
  }
  return n;
}

/** PostgreSQL error codes the services turn into domain errors. */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';
export const PG_EXCLUSION_VIOLATION = '23P01';
export const PG_UNDEFINED_TABLE = '42P01';

export function pgCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e).code) : undefined;
}

export function pgConstraint(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'constraint' in e ? String((e).constraint) : undefined;
}
