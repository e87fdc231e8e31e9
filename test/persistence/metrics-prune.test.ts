/**
 * NatMetricsRepository.downsampleAndPrune on a real PostgreSQL (issue 19, running for months):
 * ports-in-use samples older than 15 minutes go whoever held them (a deleted endpoint's used to
 * stay for ever: each report pruned only its own host's endpoints), and the counter readings that
 * no report will follow (an endpoint's on a host it moved off) once 15 minutes old; what is still
 * read stays.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type * as Persistence from '../../libs/persistence/src';
import { scratchDatabase, type ScratchDatabase } from '../support/databases';
import { nativeRequire } from '../support/native-require';

const { Db, NatMetricsRepository } = nativeRequire<typeof Persistence>('libs/persistence/src/index.ts');

let ds: DataSource;
let db: ScratchDatabase | undefined;
const ids = { project: randomUUID(), network: randomUUID(), subnet: randomUUID(), hostA: randomUUID(), hostB: randomUUID(), gateway: randomUUID() };
const ep = { kept: randomUUID(), moved: randomUUID(), gone: randomUUID() };

beforeAll(async () => {
  db = await scratchDatabase(__filename, 2, true);
  ds = db.ds;
  await ds.query(`INSERT INTO projects (id, name) VALUES ($1, 'p')`, [ids.project]);
  await ds.query(`INSERT INTO networks (id, name, project_id) VALUES ($1, 'n', $2)`, [ids.network, ids.project]);
  await ds.query(`INSERT INTO subnets (id, name, project_id, network_id, region, ip_cidr_range) VALUES ($1, 's', $2, $3, 'r1', '10.0.0.0/24')`, [ids.subnet, ids.project, ids.network]);
  for (const [id, name] of [
    [ids.hostA, 'a'],
    [ids.hostB, 'b'],
  ]) {
    await ds.query(`INSERT INTO hosts (id, name, region, zone, agent_url, push_secret) VALUES ($1, $2, 'r1', 'r1-a', 'http://127.0.0.1:1', 'x')`, [id, name]);
  }
  await ds.query(`INSERT INTO nat_gateways (id, name, project_id, network_id, region, spec) VALUES ($1, 'gw', $2, $3, 'r1', '{}')`, [ids.gateway, ids.project, ids.network]);
  // kept: on host a; moved: now on host b (its readings were taken on a)
  for (const [id, host, ip] of [
    [ep.kept, ids.hostA, '10.0.0.2'],
    [ep.moved, ids.hostB, '10.0.0.3'],
  ]) {
    await ds.query(`INSERT INTO endpoints (id, name, project_id, subnet_id, network_id, host_id, network_ip) VALUES ($1::uuid, $1::text, $2, $3, $4, $5, $6)`, [
      id,
      ids.project,
      ids.subnet,
      ids.network,
      host,
      ip,
    ]);
  }
}, 60_000);

afterAll(async () => {
  await db?.drop();
});

it('deletes the samples and readings nothing reads again, and only those', async () => {
  const ago = (min: number) => new Date(Date.now() - min * 60_000).toISOString();
  for (const [endpoint, min] of [
    [ep.kept, 20],
    [ep.kept, 5],
    [ep.gone, 20],
    [ep.gone, 5],
    [ep.moved, 20],
  ] as const) {
    await ds.query(`INSERT INTO endpoint_usage (endpoint_id, rule_number, ports_in_use, reported_at) VALUES ($1, -1, 3, $2)`, [endpoint, ago(min)]);
  }
  const reading = async (endpoint: string, host: string, min: number) =>
    ds.query(
      `INSERT INTO nat_counter_state (endpoint_id, rule_number, host_id, gateway_id, since, read_at, reported_at, new_connections)
       VALUES ($1, -1, $2, $3, $4, $4, $4, 7)`,
      [endpoint, host, ids.gateway, ago(min)],
    );
  await reading(ep.kept, ids.hostA, 60); // idle but still its host's: the next report takes its difference from it
  await reading(ep.moved, ids.hostA, 20); // its old host's reading
  await reading(ep.kept, ids.hostB, 5); // moved back a moment ago: not yet
  await reading(ep.moved, ids.hostB, 20); // its host's reading

  await new NatMetricsRepository(new Db(ds)).downsampleAndPrune();

  const usage = await ds.query<{ endpoint_id: string; old: boolean }[]>(
    `SELECT endpoint_id, reported_at < now() - interval '15 minutes' AS old FROM endpoint_usage ORDER BY endpoint_id, reported_at`,
  );
  expect(usage.filter((u) => u.old)).toEqual([]);
  expect(usage.map((u) => u.endpoint_id).sort()).toEqual([ep.kept, ep.gone].sort());
  const state = await ds.query<{ endpoint_id: string; host_id: string }[]>(`SELECT endpoint_id, host_id FROM nat_counter_state`);
  const key = (r: { endpoint_id: string; host_id: string }) => `${r.endpoint_id}@${r.host_id}`;
  expect(state.map(key).sort()).toEqual(
    [
      { endpoint_id: ep.kept, host_id: ids.hostA },
      { endpoint_id: ep.kept, host_id: ids.hostB },
      { endpoint_id: ep.moved, host_id: ids.hostB },
    ]
      .map(key)
      .sort(),
  );
});
