/**
 * Incremental reconcile (medium test): real PostgreSQL, Redis, the built api and a built worker,
 * fake agents on loopback. Endpoint writes (creates, deletes, renames of nothing that matters,
 * moves between hosts) are computed from the worker's previous result for the changed endpoints
 * alone; this checks that the result is exactly what a full computation gives. After a churn, a
 * fresh worker (no result in memory) recomputes every gateway from PostgreSQL: it must find
 * nothing to change (no block, no history row, no host state, no host generation), and nothing
 * must have gone to a host that a full computation would not send. The churn ends with a tail of
 * creates, deletes and edits only, all computed incrementally, so that no full computation
 * repairs the state before it is compared.
 */
import { JobName, JobQueue } from '@natplane/jobs';
import { prng } from '../support/control-loop/churn';
import { eventually } from '../support/control-loop/stack';
import { allocationViolations, historyViolations, World } from '../support/control-loop/world';

jest.setTimeout(180_000);

const P = 'p1';
const HOSTS = ['h1', 'h2', 'h3'];
let w: World;

beforeAll(async () => {
  w = await World.start({ file: __filename, redisDb: 10 });
  await w.project(P);
  await w.api.must('POST', '/v1/admin/addressPools', 201, { name: 'pool1', region: 'r1', cidrs: ['198.18.2.0/24'] });
  for (const h of HOSTS) await w.host(h);
  await w.create(P, 'networks', { name: 'n1' });
  await w.create(P, 'subnets', { name: 's1', network: 'n1', region: 'r1', ipCidrRange: '10.1.0.0/16' });
  await w.create(P, 'subnets', { name: 's2', network: 'n1', region: 'r1', ipCidrRange: '10.2.0.0/16' });
  for (const a of ['a1', 'a2', 'a3']) await w.create(P, 'addresses', { name: a, region: 'r1' });
  // gw-a: s1 with 64-port blocks; gw-b: s2 with 8,192-port blocks on one IP (7 fit: a shortage).
  await w.create(P, 'natGateways', {
    name: 'gw-a',
    network: 'n1',
    region: 'r1',
    natIps: ['a1', 'a2'],
    sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
    subnetworks: [{ name: 's1', sourceIpRangesToNat: ['ALL_IP_RANGES'] }],
  });
  await w.create(P, 'natGateways', {
    name: 'gw-b',
    network: 'n1',
    region: 'r1',
    natIps: ['a3'],
    minPortsPerVm: 8192,
    sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
    subnetworks: [{ name: 's2', sourceIpRangesToNat: ['ALL_IP_RANGES'] }],
  });
  await w.converged();
}, 120_000);

afterAll(async () => {
  await w?.close();
});

type Row = Record<string, unknown>;

/** Everything the reconciler writes, in a comparable form. */
async function state(): Promise<Record<string, Row[]>> {
  const s = w.stack;
  return {
    allocations: await s.sql(
      `SELECT gateway_id, host(nat_ip) AS ip, port_lo, port_hi, endpoint_id, rule_number, state, since, until, quarantine_sec FROM allocations ORDER BY 1, 2, 3`,
    ),
    history: await s.sql(`SELECT id::text, gateway_id, endpoint_id, host(nat_ip) AS ip, port_lo, port_hi, host_name, state, valid_from FROM allocation_history WHERE valid_to IS NULL ORDER BY id`),
    closed: await s.sql(`SELECT count(*)::int AS n FROM allocation_history WHERE valid_to IS NOT NULL`),
    gatewayHosts: await s.sql(`SELECT gateway_id, host_id, required_generation::text, fingerprint, wait_host_id, wait_generation::text FROM gateway_hosts ORDER BY 1, 2`),
    hosts: await s.sql(`SELECT name, desired_generation::text AS g FROM hosts ORDER BY name`),
    gateways: await s.sql(`SELECT name, state, status_message, nat_status FROM nat_gateways ORDER BY name`),
  };
}

async function workerLog(): Promise<string> {
  const { readFileSync } = await import('node:fs');
  return w.stack.workers.map((p) => readFileSync(p.logFile, 'utf8')).join('\n');
}

describe('incremental reconcile', () => {
  it('a churn of endpoint writes is computed incrementally, and a full recomputation changes nothing', async () => {
    const rnd = prng(0x1ac);
    const live: { name: string; subnet: string }[] = [];
    let n = 0;
    for (let step = 0; step < 160; step++) {
      const r = rnd();
      if (r < 0.55 || live.length < 5) {
        n++;
        const subnet = n % 4 === 0 ? 's2' : 's1';
        const e = { name: `e${n}`, subnet };
        live.push(e);
        await w.create(P, 'endpoints', { name: e.name, subnet, host: HOSTS[n % 3], networkIp: `10.${subnet === 's1' ? 1 : 2}.${n >> 8}.${(n & 255) + 1}` });
      } else if (r < 0.75) {
        const [e] = live.splice(Math.floor(rnd() * live.length), 1);
        await w.remove(P, 'endpoints', e.name);
      } else if (r < 0.9) {
        const e = live[Math.floor(rnd() * live.length)];
        await w.patch(P, 'endpoints', e.name, { labels: { step: String(step) } });
      } else {
        const e = live[Math.floor(rnd() * live.length)];
        await w.patch(P, 'endpoints', e.name, { host: HOSTS[Math.floor(rnd() * 3)] });
      }
    }
    await w.converged(60_000);
    // A tail with no moves: a move's full computation would repair whatever an incremental one
    // got wrong, so the state compared below must come from incremental computations alone.
    const fullBeforeTail = ((await workerLog()).match(/\(full\)/g) ?? []).length;
    for (let step = 0; step < 40; step++) {
      if (step % 4 === 3) {
        const [e] = live.splice(Math.floor(rnd() * live.length), 1);
        await w.remove(P, 'endpoints', e.name);
      } else if (step % 8 === 5) {
        await w.patch(P, 'endpoints', live[Math.floor(rnd() * live.length)].name, { labels: { tail: String(step) } });
      } else {
        n++;
        const subnet = n % 4 === 0 ? 's2' : 's1';
        live.push({ name: `e${n}`, subnet });
        await w.create(P, 'endpoints', { name: `e${n}`, subnet, host: HOSTS[n % 3], networkIp: `10.${subnet === 's1' ? 1 : 2}.${n >> 8}.${(n & 255) + 1}` });
      }
    }
    await w.converged(60_000);
    const log = await workerLog();
    expect((log.match(/\(full\)/g) ?? []).length).toBe(fullBeforeTail);
    // Jobs coalesce, so there are fewer runs than writes; moves take the full path.
    const incremental = (log.match(/\(incremental\)/g) ?? []).length;
    const full = (log.match(/\(full\)/g) ?? []).length;
    expect(incremental).toBeGreaterThan(20);
    expect(incremental).toBeGreaterThan(full);
    expect(await allocationViolations(w.stack)).toEqual([]);
    expect(await historyViolations(w.stack)).toEqual([]);

    const before = await state();
    // A fresh worker holds no previous result: the jobs below are full computations from PostgreSQL.
    await w.stack.workers[0].close();
    w.stack.addWorker();
    const seqs = async () => (await w.stack.sql<{ s: string }>('SELECT string_agg(reconcile_seq::text, \',\' ORDER BY name) AS s FROM nat_gateways'))[0].s;
    const seqBefore = await seqs();
    const jobs = new JobQueue(w.stack.redisUrl);
    try {
      const ids = await w.stack.sql<{ id: string }>('SELECT id FROM nat_gateways');
      await jobs.addAll(ids.map(({ id }) => ({ name: JobName.ReconcileGateway, data: { gatewayId: id, generation: 1e9, reason: 'host-applied' as const } })));
      await eventually('full recomputation of both gateways', async () => {
        const now = (await seqs()).split(',').map(Number);
        const was = seqBefore.split(',').map(Number);
        return now.every((s, i) => s > was[i]);
      });
    } finally {
      await jobs.close();
    }
    const after = await state();
    expect(after).toEqual(before);
    expect((await workerLog()).match(/\(full\)/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });
});
