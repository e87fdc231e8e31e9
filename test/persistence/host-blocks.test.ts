/**
 * HostProgrammingRepository on a real PostgreSQL: a host's blocks come as rows in the document's
 * order, each with its own gateway's spec (sent once per gateway by PostgreSQL), and document()
 * reads the blocks only while the agent has not acknowledged the desired generation. An
 * acknowledgement is recorded never above the desired generation nor backwards, names the gateways
 * waiting on the host, and commits lazily only on its own (inside a caller's transaction, the
 * transaction's commit stays durable).
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type * as Persistence from '../../libs/persistence/src';
import type * as Domain from '../../libs/domain/src';
import { scratchDatabase, type ScratchDatabase } from '../support/databases';
import { nativeRequire } from '../support/native-require';

const { Db, HostProgrammingRepository, createDataSource } = nativeRequire<typeof Persistence>('libs/persistence/src/index.ts');
const { withGatewayDefaults } = nativeRequire<typeof Domain>('libs/domain/src/index.ts');

let ds: DataSource;
let db: ScratchDatabase | undefined;
const ids = { project: randomUUID(), network: randomUUID(), subnet: randomUUID(), host: randomUUID(), other: randomUUID() };
/** Three gateways (ids sorted, as the rows are) with distinct specs, and two endpoints each. */
const gateways = [randomUUID(), randomUUID(), randomUUID()].sort().map((id, i) => ({ id, name: `gw${i}`, udp: 31 + i }));

beforeAll(async () => {
  db = await scratchDatabase(__filename, 2, true);
  ds = db.ds;
  await ds.query(`INSERT INTO projects (id, name) VALUES ($1, 'p')`, [ids.project]);
  await ds.query(`INSERT INTO networks (id, name, project_id) VALUES ($1, 'n', $2)`, [ids.network, ids.project]);
  await ds.query(`INSERT INTO subnets (id, name, project_id, network_id, region, ip_cidr_range) VALUES ($1, 's', $2, $3, 'r1', '10.0.0.0/16')`, [ids.subnet, ids.project, ids.network]);
  for (const [id, name] of [[ids.host, 'h1'], [ids.other, 'h2']]) {
    await ds.query(`INSERT INTO hosts (id, name, region, zone, agent_url, push_secret, desired_generation) VALUES ($1, $2, 'r1', 'r1-a', 'http://127.0.0.1:1', 's', 3)`, [id, name]);
  }
  let n = 0;
  for (const g of gateways) {
    const spec = withGatewayDefaults({ network: 'n', region: 'r1', natIps: ['a'], udpIdleTimeoutSec: g.udp });
    await ds.query(`INSERT INTO nat_gateways (id, name, project_id, network_id, region, spec) VALUES ($1, $2, $3, $4, 'r1', $5)`, [g.id, g.name, ids.project, ids.network, JSON.stringify(spec)]);
    for (let e = 0; e < 2; e++) {
      n++;
      const endpoint = randomUUID();
      // the second endpoint of each gateway lives on the other host
      const host = e === 0 ? ids.host : ids.other;
      await ds.query(`INSERT INTO endpoints (id, name, project_id, subnet_id, network_id, host_id, network_ip) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
        endpoint, `vm${n}`, ids.project, ids.subnet, ids.network, host, `10.0.0.${n}`,
      ]);
      for (const [lo, state] of [[1024, 'ACTIVE'], [2048, 'ACTIVE'], [4096, 'DRAIN']] as const) {
        await ds.query(`INSERT INTO allocations (nat_ip, port_lo, port_hi, gateway_id, endpoint_id, rule_number, state, since) VALUES ($1, $2, $3, $4, $5, -1, $6, now())`, [
          `198.18.0.${n}`, lo, lo + 63, g.id, endpoint, state,
        ]);
      }
    }
  }
}, 60_000);

afterAll(async () => {
  await db?.drop();
});

it("gives every block its own gateway's spec, in the document's order", async () => {
  const rows = await new HostProgrammingRepository(new Db(ds)).blocks(ids.host);
  expect(rows.map((r) => [r.gatewayName, r.endpointName, r.portLo, r.spec.udpIdleTimeoutSec])).toEqual([
    ['gw0', 'vm1', 1024, 31], ['gw0', 'vm1', 2048, 31], ['gw0', 'vm1', 4096, 31],
    ['gw1', 'vm3', 1024, 32], ['gw1', 'vm3', 2048, 32], ['gw1', 'vm3', 4096, 32],
    ['gw2', 'vm5', 1024, 33], ['gw2', 'vm5', 2048, 33], ['gw2', 'vm5', 4096, 33],
  ]);
  expect(rows.every((r) => r.spec.network === 'n' && r.state !== undefined && r.natIp.startsWith('198.18.0.'))).toBe(true);
});

it('reads the blocks for a push only while the host is behind', async () => {
  const repo = new HostProgrammingRepository(new Db(ds));
  const behind = await repo.document(ids.other);
  expect(behind?.host).toMatchObject({ name: 'h2', desiredGeneration: 3, appliedGeneration: 0 });
  expect(behind?.blocks?.map((r) => r.endpointName)).toEqual(['vm2', 'vm2', 'vm2', 'vm4', 'vm4', 'vm4', 'vm6', 'vm6', 'vm6']);
  await ds.query(`UPDATE hosts SET applied_generation = 3 WHERE id = $1`, [ids.other]);
  expect(await repo.document(ids.other)).toMatchObject({ host: { appliedGeneration: 3 }, blocks: undefined });
  expect(await repo.document(randomUUID())).toBeUndefined();
});

it('records an acknowledgement within the desired generation, never backwards, with the gateways waiting on the host', async () => {
  const repo = new HostProgrammingRepository(new Db(ds));
  await ds.query(`UPDATE hosts SET applied_generation = 0, desired_generation = 3 WHERE id = $1`, [ids.host]);
  await ds.query(`INSERT INTO gateway_hosts (gateway_id, host_id, required_generation, wait_host_id, wait_generation) VALUES ($1, $2, 3, $3, 2)`, [gateways[0].id, ids.other, ids.host]);
  const applied = async () => Number((await ds.query(`SELECT applied_generation AS g FROM hosts WHERE id = $1`, [ids.host]))[0].g);
  expect(await repo.acknowledged(ids.host, 1)).toEqual([]);
  expect(await applied()).toBe(1);
  expect(await repo.acknowledged(ids.host, 9)).toEqual([gateways[0].id]);
  expect(await applied()).toBe(3);
  expect(await repo.acknowledged(ids.host, 2)).toEqual([gateways[0].id]);
  expect(await applied()).toBe(3);
  await ds.query(`DELETE FROM gateway_hosts WHERE host_id = $1`, [ids.other]);
});

it("commits an acknowledgement lazily on its own, never a caller's transaction", async () => {
  const pg = new Db(ds);
  const repo = new HostProgrammingRepository(pg);
  const setting = () => pg.one<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`);
  const inside = await pg.transaction(async () => {
    await repo.acknowledged(ids.host, 3);
    return (await setting())?.s;
  });
  expect(inside).toBe('on');
  // On its own: the statement's transaction only (one connection, so the next statement sees the session's setting).
  const one = new Db(await scratchPoolOfOne());
  const lazy = await one.one<{ s: string }>(
    `WITH lazy AS (SELECT set_config('synchronous_commit', 'off', true)) SELECT (SELECT current_setting('synchronous_commit') FROM lazy) AS s`,
  );
  expect(lazy?.s).toBe('off');
  await new HostProgrammingRepository(one).acknowledged(ids.host, 3);
  expect((await one.one<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`))?.s).toBe('on');
  await one.dataSource.destroy();
});

/** A data source of one connection on the test's database. */
async function scratchPoolOfOne(): Promise<DataSource> {
  const one = createDataSource((ds.options as { url: string }).url, 1);
  return one.initialize();
}
