/**
 * `node dist/libs/persistence/src/cli.js migrate|check|diff`
 *  migrate: create the database if needed and run pending migrations (under an advisory lock)
 *  check:   fail when entities and migrations disagree (after migrating a scratch database)
 *  diff:    print the SQL that would make the database match the entities (to write a migration)
 */
import { databaseConfig } from './config';
import { createDataSource } from './data-source';
import { ensureDatabase, pendingSchemaDiff, runMigrations } from './migrate';

async function main(cmd: string | undefined): Promise<number> {
  const { url } = databaseConfig();
  await ensureDatabase(url);
  const ds = createDataSource(url, 2);
  await ds.initialize();
  try {
    if (cmd === 'migrate') {
      const done = await runMigrations(ds);
      console.log(done.length ? `migrated: ${done.join(', ')}` : 'migrations: up to date');
      return 0;
    }
    if (cmd === 'check' || cmd === 'diff') {
      if (cmd === 'check') await runMigrations(ds);
      const diff = await pendingSchemaDiff(ds);
      for (const q of diff) console.log(`${q};`);
      if (cmd === 'check' && diff.length) {
        console.error(`entities and migrations disagree: ${diff.length} statement(s) above are missing from migrations/`);
        return 1;
      }
      if (cmd === 'check') console.log('entities and migrations agree');
      return 0;
    }
    console.error('usage: cli.js migrate|check|diff');
    return 2;
  } finally {
    await ds.destroy();
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
