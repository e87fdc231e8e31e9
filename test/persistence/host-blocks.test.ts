/**
 * HostProgrammingRepository on a real PostgreSQL: a host's blocks come as rows in the document's
 * order, each with its own gateway's spec (sent once per gateway by PostgreSQL), and document()
 * reads the blocks only while the agent has not acknowledged the desired generation.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type * as Persistence from '../../libs/persistence/src';
import type * as Domain from '../../libs/domain/src';
import { scratchDatabase, type ScratchDatabase } from '../support/databases';
import { nativeRequire } from '../support/native-require';

const { Db, HostProgrammingRepository } = nativeRequire<typeof Persistence>('libs/persistence/src/index.ts');
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
