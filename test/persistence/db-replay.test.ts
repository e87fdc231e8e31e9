/**
 * Db's replay of what PostgreSQL aborts as a deadlock (40P01) or a serialization failure (40001)
 * (issue 13, item 1): two transactions, and two single statements, that lock two rows in opposite
 * orders deadlock for real on PostgreSQL; with `replayConflicts` the one PostgreSQL picks as the
 * victim runs again from its start and both apply exactly once (and a replayed attempt's
 * afterCommit never runs); without it, the victim's error reaches the caller.
 */
import type { DataSource } from 'typeorm';
import type * as Persistence from '../../libs/persistence/src';
import { scratchDatabase, type ScratchDatabase } from '../support/databases';
import { nativeRequire } from '../support/native-require';

const { Db, pgCode } = nativeRequire<typeof Persistence>('libs/persistence/src/index.ts');

let ds: DataSource;
let db: ScratchDatabase | undefined;

beforeAll(async () => {
  db = await scratchDatabase(__filename, 6, false);
  ds = db.ds;
  await ds.query('CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)');
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(async () => {
  await ds.query('TRUNCATE counters');
  await ds.query('INSERT INTO counters VALUES (1, 0), (2, 0)');
});

async function counts(): Promise<number[]> {
  const rows: { n: number }[] = await ds.query('SELECT n FROM counters ORDER BY id');
  return rows.map((r) => r.n);
}

/** Resolves once `n` parties arrived (each first attempt waits for the other's first lock). */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return () => {
    if (++arrived >= n) open();
    return opened;
  };
}

/** Two transactions: one locks row 1 then 2, the other 2 then 1, both first locks before either second. */
async function crossedTransactions(db: InstanceType<typeof Db>): Promise<{ results: PromiseSettledResult<void>[]; attempts: number[]; committed: number[] }> {
  const meet = barrier(2);
  const attempts = [0, 0];
  const committed = [0, 0];
  const run = (i: number, first: number, second: number) =>
    db.transaction(async () => {
      const attempt = ++attempts[i];
      db.afterCommit(() => committed[i]++);
      await db.query('UPDATE counters SET n = n + 1 WHERE id = $1', [first]);
      if (attempt === 1) await meet();
      await db.query('UPDATE counters SET n = n + 1 WHERE id = $1', [second]);
    });
  const results = await Promise.allSettled([run(0, 1, 2), run(1, 2, 1)]);
  return { results, attempts, committed };
}

describe('a deadlock between two transactions', () => {
  it('without replay: the victim fails with 40P01 (what the api answered 500 for)', async () => {
    const { results } = await crossedTransactions(new Db(ds));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(pgCode(failed[0].reason)).toBe('40P01');
    expect(await counts()).toEqual([1, 1]);
  });

  it('with replayConflicts: the victim runs again, both apply once, afterCommit once each', async () => {
    const replays: string[] = [];
    const { results, attempts, committed } = await crossedTransactions(new Db(ds, { replayConflicts: true, onReplay: (code) => replays.push(code) }));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(replays).toEqual(['40P01']);
    expect([...attempts].sort()).toEqual([1, 2]);
    expect(committed).toEqual([1, 1]);
    expect(await counts()).toEqual([2, 2]);
  });
});

describe('a deadlock between two single statements (no transaction of their own)', () => {
  // One statement: update row `a`, wait, then update row `b` (a data-modifying WITH runs first).
  const crossed = (a: number, b: number) =>
    `WITH first AS (UPDATE counters SET n = n + 1 WHERE id = ${a} RETURNING pg_sleep(0.3))
     UPDATE counters SET n = n + 1 WHERE id = ${b} AND (SELECT count(*) FROM first) = 1`;

  it('without replay: one fails with 40P01', async () => {
    const db = new Db(ds);
    const results = await Promise.allSettled([db.query(crossed(1, 2)), db.query(crossed(2, 1))]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed.map((f) => pgCode(f.reason))).toEqual(['40P01']);
  });

  it('with replayConflicts: both apply', async () => {
    const db = new Db(ds, { replayConflicts: true });
    const results = await Promise.allSettled([db.query(crossed(1, 2)), db.query(crossed(2, 1))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(await counts()).toEqual([2, 2]);
  });
});

it('other errors are not replayed', async () => {
  let attempts = 0;
  const db = new Db(ds, { replayConflicts: true });
  await expect(
    db.transaction(async () => {
      attempts++;
      await db.query('SELECT 1/0');
    }),
  ).rejects.toThrow(/division by zero/);
  expect(attempts).toBe(1);
});
