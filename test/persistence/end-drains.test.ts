/**
 * ReconcileRepository.endDrains on a real PostgreSQL (issue 18): the drains of a gateway past its
 * maxDrainDurationSec end, and only those; the spec is rewritten from the row as it is at that
 * moment, so a PATCH the api committed after the computation read the gateway is kept (the
 * computation's copy is stale), and the drain start of an address that stays draining survives
 * the api's rewrite of the gateway's addresses.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type * as Persistence from '../../libs/persistence/src';
import type * as Domain from '../../libs/domain/src';
import { scratchDatabase, type ScratchDatabase } from '../support/databases';
import { nativeRequire } from '../support/native-require';

const { Db, ReconcileRepository, GatewaysRepository } = nativeRequire<typeof Persistence>('libs/persistence/src/index.ts');
const { withGatewayDefaults } = nativeRequire<typeof Domain>('libs/domain/src/index.ts');

let ds: DataSource;
let db: ScratchDatabase | undefined;
const ids = { project: randomUUID(), network: randomUUID(), pool: randomUUID(), gateway: randomUUID() };
const addr = new Map<string, { id: string; ip: string }>();

beforeAll(async () => {
  db = await scratchDatabase(__filename, 4, true);
  ds = db.ds;
  await ds.query(`INSERT INTO projects (id, name) VALUES ($1, 'p')`, [ids.project]);
  await ds.query(`INSERT INTO networks (id, name, project_id) VALUES ($1, 'n', $2)`, [ids.network, ids.project]);
  await ds.query(`INSERT INTO address_pools (id, name, region, cidrs) VALUES ($1, 'pool', 'r1', '{198.18.0.0/24}')`, [ids.pool]);
  for (const [i, a] of ['a1', 'a2', 'a3', 'a4'].entries()) {
    const id = randomUUID();
    addr.set(a, { id, ip: `198.18.0.${i + 1}` });
    await ds.query(`INSERT INTO addresses (id, name, project_id, region, address, pool_id) VALUES ($1, $2, $3, 'r1', $4, $5)`, [id, a, ids.project, `198.18.0.${i + 1}`, ids.pool]);
  }
}, 60_000);

afterAll(async () => {
  await db?.drop();
});

it('ends the due drains only, from the spec as it is now; keeps drain starts across address rewrites', async () => {
  const db = new Db(ds);
  const spec = withGatewayDefaults({
    network: 'n',
    region: 'r1',
    natIps: ['a2'],
    drainNatIps: ['a1', 'a4'],
    maxDrainDurationSec: 60,
    rules: [{ ruleNumber: 5, match: "destination.ip == '192.0.2.7'", action: { sourceNatActiveIps: ['a3'] } }],
  });
  await ds.query(`INSERT INTO nat_gateways (id, name, project_id, network_id, region, spec, generation) VALUES ($1, 'gw', $2, $3, 'r1', $4, 3)`, [
    ids.gateway,
    ids.project,
    ids.network,
    JSON.stringify(spec),
  ]);
  const gateways = new GatewaysRepository(db);
  const entries = [
    { addressId: addr.get('a2')!.id, ruleNumber: -1, draining: false },
    { addressId: addr.get('a1')!.id, ruleNumber: -1, draining: true },
    { addressId: addr.get('a4')!.id, ruleNumber: -1, draining: true },
    { addressId: addr.get('a3')!.id, ruleNumber: 5, draining: false },
  ];
  await db.transaction(() => gateways.setAddresses(ids.gateway, entries, false));
  // a1 began draining 2 minutes ago, a4 just now
  await ds.query(`UPDATE gateway_addresses SET drain_since = now() - interval '2 minutes' WHERE address_id = $1`, [addr.get('a1')!.id]);
  // the api rewrites the addresses (any PATCH does): the drain starts stay
  await db.transaction(() => gateways.setAddresses(ids.gateway, entries, false));
  const starts = await ds.query(`SELECT a.name, ga.drain_since < now() - interval '1 minute' AS old FROM gateway_addresses ga JOIN addresses a ON a.id = ga.address_id WHERE ga.draining ORDER BY a.name`);
  expect(starts).toEqual([
    { name: 'a1', old: true },
    { name: 'a4', old: false },
  ]);
  const drains = await gateways.drains(ids.gateway);
  expect(drains.map((d) => [d.address, d.drainDeadline!.getTime() - d.drainStartTime.getTime()])).toEqual([
    ['a1', 60_000],
    ['a4', 60_000],
  ]);

  // the computation read the gateway, then the api committed a PATCH (udpIdleTimeoutSec 45)
  const stale = { id: ids.gateway, name: 'gw', projectId: ids.project, projectName: 'p', networkId: ids.network, region: 'r1', spec, generation: 3, observedGeneration: 3, reconcileSeq: 0 };
  await ds.query(`UPDATE nat_gateways SET spec = jsonb_set(spec, '{udpIdleTimeoutSec}', '45'), generation = 4 WHERE id = $1`, [ids.gateway]);
  const repo = new ReconcileRepository(db);
  const r = await db.transaction(() => repo.endDrains(stale));
  expect(r.ended).toEqual([{ name: 'a1', ip: addr.get('a1')!.ip, ruleNumber: -1 }]);
  expect(r.generation).toBe(5);
  expect(r.spec).toEqual({ ...spec, udpIdleTimeoutSec: 45, drainNatIps: ['a4'] });
  const [row] = await ds.query(`SELECT spec, generation::int AS generation FROM nat_gateways WHERE id = $1`, [ids.gateway]);
  expect(row).toEqual({ spec: r.spec, generation: 5 });
  expect((await ds.query(`SELECT a.name FROM gateway_addresses ga JOIN addresses a ON a.id = ga.address_id ORDER BY a.name`)).map((x: { name: string }) => x.name)).toEqual(['a2', 'a3', 'a4']);

  // nothing due: nothing written, no lock taken
  const again = await db.transaction(() => repo.endDrains({ ...stale, spec: r.spec, generation: 5 }));
  expect(again).toEqual({ ended: [], spec: r.spec, generation: 5 });
  // without a maximum, no drain ever ends
  await ds.query(`UPDATE nat_gateways SET spec = jsonb_set(spec, '{maxDrainDurationSec}', '0') WHERE id = $1`, [ids.gateway]);
  await ds.query(`UPDATE gateway_addresses SET drain_since = now() - interval '1 day' WHERE draining`);
  expect((await db.transaction(() => repo.endDrains({ ...stale, generation: 5 }))).ended).toEqual([]);
});
