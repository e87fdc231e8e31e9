import { randomUUID } from 'node:crypto';
import type { QueryResultRow } from 'pg';
import { ConflictError, InvalidArgumentError, type ListFilter } from '@natplane/domain';
import { Db, PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, pgCode, pgConstraint } from './db';

/** The columns every resource row has (see entities/base.ts). */
export interface ResourceRecord {
  id: string;
  name: string;
  description: string;
  labels: Record<string, string>;
  version: number;
  /** RFC 3339 in UTC with milliseconds, as Date#toISOString writes it (see rfc3339). */
  createdAt: string;
  updatedAt: string;
}

export interface TableSpec {
  table: string;
  /** Scope column (`project_id`) or undefined for admin collections. */
  scope?: string;
  /** property -> column, beyond the common resource columns and the scope column. */
  columns: Record<string, string>;
  /** property -> SQL read expression over alias `t`, where a column is not read as is (inet, bigint). */
  reads?: Record<string, string>;
  /** Extra joined read-only fields: property -> SQL expression over alias `t` and the joins. */
  joined?: Record<string, string>;
  joins?: string;
  /** Fields a list filter may name: filter field -> SQL expression. */
  filterable?: Record<string, string>;
  /** Properties stored as SQL arrays (e.g. cidr[]); other objects and arrays are jsonb. */
  arrays?: string[];
  /** Unique constraint name -> the field it is about (turned into 409 with that field). */
  uniques?: Record<string, string>;
}

export interface Page<T> {
  items: T[];
  /** The last name of this page when more may follow. */
  nextAfter?: string;
}

const COMMON: Record<string, string> = {
  id: 'id',
  name: 'name',
  description: 'description',
  labels: 'labels',
  version: 'version',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

/**
 * A timestamptz column read as RFC 3339 text in UTC with milliseconds, exactly what
 * `Date#toISOString` gives (to_char truncates the microseconds as Date does): the api sends it
 * as it is, instead of parsing a Date from PostgreSQL's text and formatting it again, twice per
 * row (a quarter of the api's work for a page of 50 endpoints).
 */
export function rfc3339(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * Table gateway for one resource collection: the CRUD statements every collection shares,
 * written once. Scoped collections are always queried with their scope (project id), so a
 * query can never read another tenant's rows.
 */
export class ResourceTable<T extends ResourceRecord> {
  private readonly select: string;
  private readonly cols: [string, string][];

  constructor(
    protected readonly db: Db,
    readonly spec: TableSpec,
  ) {
    this.cols = Object.entries({ ...COMMON, ...(spec.scope ? { scopeId: spec.scope } : {}), ...spec.columns });
    const reads: Record<string, string> = { createdAt: rfc3339('t.created_at'), updatedAt: rfc3339('t.updated_at'), ...spec.reads };
    const own = this.cols.map(([p, c]) => `${reads[p] ?? `t.${c}`} AS "${p}"`);
    const joined = Object.entries(spec.joined ?? {}).map(([p, e]) => `${e} AS "${p}"`);
    this.select = `SELECT ${[...own, ...joined].join(', ')} FROM ${spec.table} t ${spec.joins ?? ''}`;
  }

  private scopeWhere(scopeId: string | undefined, params: unknown[]): string {
    if (!this.spec.scope) return 'TRUE';
    params.push(scopeId);
    return `t.${this.spec.scope} = $${params.length}`;
  }

  async get(scopeId: string | undefined, name: string): Promise<T | undefined> {
    const params: unknown[] = [];
    const where = this.scopeWhere(scopeId, params);
    params.push(name);
    return this.db.one<T & QueryResultRow>(`${this.select} WHERE ${where} AND t.name = $${params.length}`, params);
  }

  async getById(id: string): Promise<T | undefined> {
    return this.db.one<T & QueryResultRow>(`${this.select} WHERE t.id = $1`, [id]);
  }

  /**
   * Locks the row for the rest of the transaction. `update` (FOR NO KEY UPDATE, the lock an UPDATE
   * of its other columns takes): writers of the row wait, but not the foreign-key checks of rows
   * being inserted that reference it (an endpoint into its subnet and host, an allocation to its
   * endpoint), so a PATCH never deadlocks with them. `delete` (FOR UPDATE): they wait too, and
   * find the row gone (409) rather than being lost beside it.
   */
  async getForUpdate(scopeId: string | undefined, name: string, mode: 'update' | 'delete' = 'update'): Promise<T | undefined> {
    const params: unknown[] = [];
    const where = this.scopeWhere(scopeId, params);
    params.push(name);
    const lock = mode === 'delete' ? 'FOR UPDATE' : 'FOR NO KEY UPDATE';
    return this.db.one<T & QueryResultRow>(`${this.select} WHERE ${where} AND t.name = $${params.length} ${lock} OF t`, params);
  }

  async list(scopeId: string | undefined, opts: { after?: string; limit: number; filter?: ListFilter }): Promise<Page<T>> {
    const params: unknown[] = [];
    const conds = [this.scopeWhere(scopeId, params)];
    if (opts.after !== undefined) {
      params.push(opts.after);
      conds.push(`t.name > $${params.length}`);
    }
    for (const term of opts.filter?.terms ?? []) {
      let expr: string | undefined;
      if (term.field.startsWith('labels.')) {
        params.push(term.field.slice('labels.'.length));
        expr = `t.labels ->> $${params.length}`;
      } else expr = (this.spec.filterable ?? {})[term.field] ?? (term.field === 'name' ? 't.name' : undefined);
      if (!expr) throw InvalidArgumentError.field('filter', `cannot filter on '${term.field}'`);
      params.push(term.value);
      conds.push(term.op === '=' ? `${expr}::text = $${params.length}` : `${expr}::text IS DISTINCT FROM $${params.length}`);
    }
    // The limit is written into the statement, not passed as a parameter: with `LIMIT $n`
    // PostgreSQL never finds its generic plan cheap enough and plans the named statement again on
    // every execution (custom plans only), which cost more than running it.
    if (!Number.isSafeInteger(opts.limit) || opts.limit < 0) throw new Error(`list limit must be a non-negative integer, got ${opts.limit}`);
    const { rows } = await this.db.query<T & QueryResultRow>(
      `${this.select} WHERE ${conds.join(' AND ')} ORDER BY t.name LIMIT ${opts.limit + 1}`,
      params,
    );
    const more = rows.length > opts.limit;
    const items = more ? rows.slice(0, opts.limit) : rows;
    return { items, nextAfter: more ? items[items.length - 1].name : undefined };
  }

  /** Inserts a row; `values` holds every own property but the generated ones. Returns the id. */
  async insert(scopeId: string | undefined, values: Partial<T>): Promise<string> {
    return (await this.insertReturning(scopeId, values)).id;
  }

  /** Inserts a row and returns the generated columns, so the caller needs no re-read. */
  async insertReturning(scopeId: string | undefined, values: Partial<T>): Promise<{ id: string; createdAt: string; updatedAt: string }> {
    const ins = this.insertStatement(scopeId, values);
    try {
      const { rows } = await this.db.query<{ createdAt: string; updatedAt: string }>(
        `${ins.text} RETURNING ${rfc3339('created_at')} AS "createdAt", ${rfc3339('updated_at')} AS "updatedAt"`,
        ins.params,
      );
      return { id: ins.id, ...rows[0] };
    } catch (e) {
      throw this.translate(e);
    }
  }

  /**
   * The INSERT of a row (without RETURNING; parameters $1..$n), for a repository that runs it
   * together with other statements (a data-modifying WITH): `text`, or its column list and
   * placeholders to write it otherwise. Errors go through `translate`.
   */
  protected insertStatement(scopeId: string | undefined, values: Partial<T>): { id: string; text: string; columns: string; placeholders: string; params: unknown[] } {
    const id = values.id ?? randomUUID();
    const row: Record<string, unknown> = { ...values, id, scopeId };
    const cols = this.cols.filter(([p]) => row[p] !== undefined && p !== 'version' && p !== 'createdAt' && p !== 'updatedAt');
    const columns = cols.map(([, c]) => c).join(', ');
    const placeholders = cols.map((_, i) => `$${i + 1}`).join(', ');
    return {
      id,
      text: `INSERT INTO ${this.spec.table} (${columns}) VALUES (${placeholders})`,
      columns,
      placeholders,
      params: cols.map(([p]) => this.encode(p, row[p])),
    };
  }

  /** Updates the given own properties, bumps version and updated_at. */
  async update(id: string, values: Partial<T>): Promise<void> {
    const cols = this.cols.filter(([p]) => p in values && !['id', 'version', 'createdAt', 'updatedAt', 'scopeId'].includes(p));
    const params: unknown[] = cols.map(([p]) => this.encode(p, (values as Record<string, unknown>)[p]));
    params.push(id);
    const sets = [...cols.map(([, c], i) => `${c} = $${i + 1}`), 'version = version + 1', 'updated_at = now()'];
    try {
      await this.db.query(`UPDATE ${this.spec.table} SET ${sets.join(', ')} WHERE id = $${params.length}`, params);
    } catch (e) {
      throw this.translate(e);
    }
  }

  async delete(id: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.spec.table} WHERE id = $1`, [id]);
  }

  /** jsonb columns get JSON text; SQL array columns stay arrays. */
  private encode(property: string, v: unknown): unknown {
    if (v === null || v === undefined || v instanceof Date || this.spec.arrays?.includes(property)) return v;
    return typeof v === 'object' ? JSON.stringify(v) : v;
  }

  /** Constraint violations -> 409 (a unique field named by `uniques`, a vanished reference). */
  protected translate(e: unknown): unknown {
    // A referenced row deleted meanwhile (a project, subnet or host removed concurrently).
    if (pgCode(e) === PG_FOREIGN_KEY_VIOLATION) return new ConflictError('a referenced resource no longer exists; retry the request');
    if (pgCode(e) === PG_UNIQUE_VIOLATION) {
      const constraint = pgConstraint(e) ?? '';
      const field = this.spec.uniques?.[constraint];
      if (field) return new ConflictError(`${field} is already taken`, [{ field, message: 'already taken' }]);
    }
    return e;
  }
}
