import { basename } from 'node:path';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import type * as Persistence from '../../libs/persistence/src';
import { nativeRequire } from './native-require';

/** Drops a test database (closing its connections), given a URL of the cluster's admin database. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

/** A database of one test file's own, on the cluster of DATABASE_URL, and how to drop it. */
export interface ScratchDatabase {
  ds: DataSource;
  /** Closes the data source and drops the database. */
  drop(): Promise<void>;
}

/**
 * Creates (afresh) the database `natplane_test_<file>_<pid>` and opens a data source of `poolSize`
 * connections on it; with `migrate`, runs natplane's migrations on it.
 */
export async function scratchDatabase(testFile: string, poolSize: number, migrate: boolean): Promise<ScratchDatabase> {
  const { createDataSource, ensureDatabase, runMigrations } = nativeRequire<typeof Persistence>('libs/persistence/src/index.ts');
  const name = `natplane_test_${basename(testFile).replace(/\W/g, '_')}_${process.pid}`.slice(0, 63).toLowerCase();
  const admin = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  admin.pathname = '/postgres';
  const adminUrl = admin.toString();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await dropDatabase(adminUrl, name);
  await ensureDatabase(url.toString());
  const ds = createDataSource(url.toString(), poolSize);
  await ds.initialize();
  if (migrate) await runMigrations(ds);
  return {
    ds,
    async drop() {
      await ds.destroy();
      await dropDatabase(adminUrl, name);
    },
  };
}
