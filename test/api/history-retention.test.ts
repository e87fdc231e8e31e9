/**
 * Attribution history kept for a stated retention in daily partitions (issue 19): a partition
 * exists before it is needed and is dropped once its day is past the retention (a short one
 * here); a holding that spans days is found at an instant of each day it spans, with its whole
 * interval; an instant older than the retention answers 404 saying so.
 */
import type * as Persistence from '../../libs/persistence/src';
import { nativeRequire } from '../support/native-require';
import { TestApi, expectOk, expectProblem } from '../support/api-harness';

let api: TestApi;
let history: Persistence.HistoryRepository;

const DAY = 86_400_000;
const utcDay = (t: number) => new Date(Math.floor(t / DAY) * DAY).toISOString().slice(0, 10);
const NAT = '198.51.100.77';

beforeAll(async () => {
  api = await TestApi.start(__filename);
  const p = nativeRequire<typeof Persistence>('libs/persistence/src/index.ts');
  history = api.app.get(p.HistoryRepository);
  await api.project('pa');
});

afterAll(async () => {
  await api?.close();
});

/** An open history row for NAT:1024-1087 from `from`, as the reconciler writes it. */
async function openRow(from: Date, endpoint: string): Promise<string> {
  const [row] = await api.sql<{ id: string }>(
    `INSERT INTO allocation_history_open (nat_ip, port_lo, port_hi, project_id, project_name, gateway_id, gateway_name, endpoint_id, endpoint_name, host_name, source_ip, rule_number, state, valid_from)
     SELECT $1::inet, 1024, 1087, p.id, p.name, gen_random_uuid(), 'gw-1', gen_random_uuid(), $2, 'h1', '10.0.0.2', -1, 'ACTIVE', $3
     FROM projects p WHERE p.name = 'pa' RETURNING id::text`,
    [NAT, endpoint, from],
  );
  return row.id;
}

const lookup = (at: Date) => api.get(`/v1/admin/attributions?natIp=${NAT}&port=1030&time=${at.toISOString()}`);

describe('attribution history partitions', () => {
  it('makes the partitions of the days ahead before they are needed', async () => {
    const now = Date.now();
    await history.maintain(new Date(now), 180, 14);
    const days = (await history.partitions()).map((p) => p.day);
    for (let d = -1; d <= 14; d++) expect(days).toContain(utcDay(now + d * DAY));
  });

  it('finds a holding that spans days at an instant of each day, with its whole interval', async () => {
    const now = Date.now();
    // partitions for the days the holding spans (as if the worker had been making them all along)
    await history.maintain(new Date(now - 3 * DAY), 180, 14);
    await api.sql(`UPDATE allocation_history_retention SET kept_from = $1`, [new Date(Math.floor((now - 3 * DAY) / DAY) * DAY)]);
    const from = new Date(now - 2 * DAY - 3_600_000);
    const to = new Date(now - 60_000);
    const id = await openRow(from, 'vm-long');
    await history.closeHistory([id], to);
    const pieces = await api.sql<{ n: number; days: number }>(`SELECT count(*)::int AS n, count(DISTINCT date_trunc('day', piece_from, 'UTC'))::int AS days FROM allocation_history_closed WHERE id = $1`, [id]);
    expect(pieces[0]).toEqual({ n: 3, days: 3 });
    // an instant in each of the three days, and the boundaries themselves
    const midnight = Math.floor(now / DAY) * DAY;
    for (const at of [new Date(from.getTime() + 1000), new Date(midnight - DAY), new Date(midnight - 1), new Date(midnight), new Date(to.getTime() - 1000)]) {
      const a = expectOk(await lookup(at));
      expect({ at: at.toISOString(), endpoint: a.endpoint, validFrom: a.validFrom, validTo: a.validTo }).toEqual({
        at: at.toISOString(),
        endpoint: 'vm-long',
        validFrom: from.toISOString(),
        validTo: to.toISOString(),
      });
    }
    // before it and after it: nobody
    expectProblem(await lookup(new Date(from.getTime() - 1000)), 404);
    expectProblem(await lookup(new Date(to.getTime() + 1000)), 404);
    // the view shows it once, whole
    expect(await api.sql(`SELECT endpoint_name, valid_from, valid_to FROM allocation_history WHERE id = $1`, [id])).toEqual([{ endpoint_name: 'vm-long', valid_from: from, valid_to: to }]);
  });

  it('drops the partitions past the retention, and an instant older than the retention is a 404 that says so', async () => {
    const now = Date.now();
    const old = new Date(now - 6 * DAY);
    await history.maintain(old, 180, 14); // the partition of 6 days ago exists
    await api.sql(`UPDATE allocation_history_retention SET kept_from = $1`, [new Date(Math.floor(old.getTime() / DAY) * DAY)]);
    const id = await openRow(old, 'vm-old');
    await history.closeHistory([id], new Date(old.getTime() + 3_600_000));
    expect(expectOk(await lookup(new Date(old.getTime() + 60_000))).endpoint).toBe('vm-old');
    const before = (await history.partitions()).map((p) => p.day);
    expect(before).toContain(utcDay(old.getTime()));

    const r = await history.maintain(new Date(now), 2, 14);
    expect(r.dropped).toContain(utcDay(old.getTime()));
    const after = (await history.partitions()).map((p) => p.day);
    expect(after.every((d) => d >= utcDay(now - 2 * DAY))).toBe(true);
    expect(after).toContain(utcDay(now + 14 * DAY));
    const kept = await history.retention();
    expect({ days: kept.retentionDays, from: kept.keptFrom.toISOString().slice(0, 10) }).toEqual({ days: 2, from: utcDay(now - 2 * DAY) });
    const gone = expectProblem(await lookup(new Date(old.getTime() + 60_000)), 404);
    expect(gone.detail).toMatch(/^attribution history is kept for 2 days and starts at .*: 198\.51\.100\.77:1030 at .* is older, nobody can be named any more$/);
    // a recent instant with nobody holding is the ordinary 404
    expect(expectProblem(await lookup(new Date(now - 1000)), 404).detail).toMatch(/was not found/);
  });
});
