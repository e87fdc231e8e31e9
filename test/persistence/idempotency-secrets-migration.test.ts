/**
 * Migration 1765100000000 (issue 13, item 6): responses kept for Idempotency-Key replays before
 * the api stopped storing secrets lose their token, hostToken and pushSecret; other responses and
 * in-flight claims are left as they are.
 */
import type { DataSource } from 'typeorm';
import { IdempotencyWithoutSecrets1765100000000 } from '../../migrations/1765100000000-idempotency-without-secrets';
import { scratchDatabase, type ScratchDatabase } from '../support/databases';

let ds: DataSource;
let db: ScratchDatabase | undefined;

beforeAll(async () => {
  db = await scratchDatabase(__filename, 2, true);
  ds = db.ds;
});

afterAll(async () => {
  await db?.drop();
});

it('removes the secrets of stored responses, and nothing else', async () => {
  const rows: [string, number, string][] = [
    ['token', 201, JSON.stringify({ token: 'npp_secret-token' })],
    ['host', 201, JSON.stringify({ id: 'h-id', name: 'h1', hostToken: 'nph_secret', pushSecret: 'push-secret', status: { state: 'READY' } })],
    ['network', 201, JSON.stringify({ id: 'n-id', name: 'n1', description: 'token hostToken pushSecret' })],
    ['claim', 0, ''],
    ['null', 201, 'null'],
  ];
  for (const [key, status, body] of rows) {
    await ds.query(`INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response_body) VALUES ('admin', $1, 'h', $2, $3)`, [key, status, body]);
  }
  const runner = ds.createQueryRunner();
  try {
    await new IdempotencyWithoutSecrets1765100000000().up(runner);
  } finally {
    await runner.release();
  }
  const stored: { key: string; b: string }[] = await ds.query(`SELECT key, response_body AS b FROM idempotency_keys`);
  const after = new Map(stored.map((r) => [r.key, r.b]));
  expect(JSON.parse(after.get('token')!)).toEqual({});
  expect(JSON.parse(after.get('host')!)).toEqual({ id: 'h-id', name: 'h1', status: { state: 'READY' } });
  expect(after.get('network')).toBe(rows[2][2]);
  expect(after.get('claim')).toBe('');
  expect(after.get('null')).toBe('null');
  expect([...after.values()].join()).not.toMatch(/secret/);
});
