import type { DataSource } from 'typeorm';

/** Arbitrary constant: the advisory lock under which migrations run, once across processes. */
const MIGRATION_LOCK = 0x6e61_7470; // "natp"

/**
 * Runs pending migrations under a session-level advisory lock, so that several processes
 * starting together migrate once. Creates the database first if it does not exist.
 */
export async function runMigrations(ds: DataSource): Promise<string[]> {
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const done = await ds.runMigrations({ transaction: 'all' });
    return done.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

/**
 * The SQL TypeORM would run to make the database match the entities; empty when migrations and
 * entities agree (checked in CI).
 */
export async function pendingSchemaDiff(ds: DataSource): Promise<string[]> {
  const log = await ds.driver.createSchemaBuilder().log();
  return log.upQueries.map((q) => q.query);
}

/** Creates the database named in `url` if it is missing (connecting to the `postgres` database). */
export async function ensureDatabase(url: string): Promise<void> {
  const { Client } = await import('pg');
  const u = new URL(url);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  u.pathname = '/postgres';
  const client = new Client({ connectionString: u.toString() });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
    if (r.rowCount === 0) {
      await client.query(`CREATE DATABASE "${db.replace(/"/g, '""')}"`).catch((e: { code?: string }) => {
        if (e.code !== '42P04') throw e; // created concurrently
      });
    }
  } finally {
    await client.end();
  }
}
