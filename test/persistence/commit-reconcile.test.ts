/**
 * ReconcileRepository.commitReconcile on a real PostgreSQL (issue 15): the one statement that
 * writes any decision. Its guard (reconcile_seq unchanged, the gateway's advisory lock free or
 * held by this session) refuses a stale commit having written nothing; a host a VM left waits
 * for the VM's new host when that host is raised in the same commit and has not applied the
 * generation, and is raised with the others otherwise (a host ahead of its generation).
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type * as Persistence from '../../libs/persistence/src';
import type * as Domain from '../../libs/domain/src';
import type * as Planner from '../../libs/planner/src';
import { scratchDatabase, type ScratchDatabase } from '../support/databases';
import { nativeRequire } from '../support/native-require';

const { Db, ReconcileRepository } = nativeRequire<typeof Persistence>('libs/persistence/src/index.ts');
const { withGatewayDefaults } = nativeRequire<typeof Domain>('libs/domain/src/index.ts');

let ds: DataSource;
let db: ScratchDatabase | undefined;
const ids = { project: randomUUID(), network: randomUUID(), gateway: randomUUID(), old: randomUUID(), next: randomUUID(), other: randomUUID() };

beforeAll(async () => {
  db = await scratchDatabase(__filename, 4, true);
  ds = db.ds;
  await ds.query(`INSERT INTO projects (id, name) VALUES ($1, 'p')`, [ids.project]);
  await ds.query(`INSERT INTO networks (id, name, project_id) VALUES ($1, 'n', $2)`, [ids.network, ids.project]);
  const spec = withGatewayDefaults({ network: 'n', region: 'r1', natIps: [] });
  await ds.query(`INSERT INTO nat_gateways (id, name, project_id, network_id, region, spec, generation) VALUES ($1, 'gw', $2, $3, 'r1', $4, 2)`, [
    ids.gateway,
    ids.project,
    ids.network,
    JSON.stringify(spec),
  ]);
  for (const [name, id] of [['old', ids.old], ['next', ids.next], ['other', ids.other]]) {
    await ds.query(`INSERT INTO hosts (id, name, region, zone, agent_url, push_secret, desired_generation, applied_generation) VALUES ($1, $2, 'r1', 'z1', 'http://127.0.0.1:1', 's', 4, 4)`, [id, name]);
  }
  await ds.query(`INSERT INTO gateway_hosts (gateway_id, host_id, required_generation, fingerprint) VALUES ($1, $2, 4, 'old-section')`, [ids.gateway, ids.old]);
}, 60_000);

afterAll(async () => {
  await db?.drop();
});

const status = (seq: number): Planner.GatewayStatus => ({ seq, observedGeneration: 2, state: 'READY', message: '', natStatus: {} });
const moveCommit = (seq: number): Planner.ReconcileCommit => ({
  status: status(seq),
  blocks: { removed: [], added: [] },
  history: { close: [], open: [], at: new Date() },
  hosts: {
    bump: [ids.next],
    leaving: [{ hostId: ids.old, waitHostId: ids.next, fingerprint: 'old-section', requiredGeneration: 4 }],
    states: [{ hostId: ids.next, requiredGeneration: null, fingerprint: 'next-section' }],
    drop: [ids.old],
  },
});
const hostStates = () =>
  ds.query(
    `SELECT h.name, gh.required_generation::int AS required, gh.fingerprint, w.name AS "waitsOn", gh.wait_generation::int AS "waitGeneration"
     FROM gateway_hosts gh JOIN hosts h ON h.id = gh.host_id LEFT JOIN hosts w ON w.id = gh.wait_host_id WHERE gh.gateway_id = $1 ORDER BY h.name`,
    [ids.gateway],
  );

it('refuses a commit on a reconcile_seq that moved, writing nothing', async () => {
  const repo = new ReconcileRepository(new Db(ds));
  expect(await repo.commitReconcile(ids.gateway, moveCommit(7))).toBeUndefined();
  expect(await hostStates()).toEqual([{ name: 'old', required: 4, fingerprint: 'old-section', waitsOn: null, waitGeneration: null }]);
  const [g] = await ds.query('SELECT reconcile_seq::int AS seq, desired_generation::int AS d FROM nat_gateways, hosts WHERE nat_gateways.id = $1 AND hosts.id = $2', [ids.gateway, ids.next]);
  expect(g).toEqual({ seq: 0, d: 4 });
});

it('a VM moved: its new host is raised, its old host keeps its section and waits for the new generation', async () => {
  const repo = new ReconcileRepository(new Db(ds));
  const c = await repo.commitReconcile(ids.gateway, moveCommit(0));
  expect(c?.seq).toBe(1);
  expect(c?.bumped.map((b) => [b.name, b.desiredGeneration])).toEqual([['next', 5]]);
  expect(await hostStates()).toEqual([
    { name: 'next', required: 5, fingerprint: 'next-section', waitsOn: null, waitGeneration: null },
    { name: 'old', required: 4, fingerprint: 'old-section', waitsOn: 'next', waitGeneration: 5 },
  ]);
});

it('a new host ahead of its new generation does not hold the old host back: both are raised, the old host state goes', async () => {
  await ds.query('UPDATE hosts SET applied_generation = 9 WHERE id = $1', [ids.next]);
  const repo = new ReconcileRepository(new Db(ds));
  const c = await repo.commitReconcile(ids.gateway, moveCommit(1));
  expect(c?.bumped.map((b) => [b.name, b.desiredGeneration]).sort()).toEqual([
    ['next', 6],
    ['old', 5],
  ]);
  expect(await hostStates()).toEqual([{ name: 'next', required: 6, fingerprint: 'next-section', waitsOn: null, waitGeneration: null }]);
});

it('a gone gateway commits only while it is gone', async () => {
  const repo = new ReconcileRepository(new Db(ds));
  const gone: Planner.ReconcileCommit = { status: undefined, blocks: { removed: [], added: [] }, history: { close: [], open: [], at: new Date() }, hosts: { bump: [ids.other], leaving: [], states: [], drop: [] } };
  expect(await repo.commitReconcile(ids.gateway, gone)).toBeUndefined();
  await ds.query('DELETE FROM nat_gateways WHERE id = $1', [ids.gateway]);
  const c = await repo.commitReconcile(ids.gateway, gone);
  expect(c?.seq).toBeNull();
  expect(c?.bumped.map((b) => b.name)).toEqual(['other']);
});
