/**
 * Crash safety (medium test): real PostgreSQL, Redis, the built api and built worker processes,
 * fake agents on loopback. A churn of 2,000 endpoint changes through the API while the worker is
 * SIGKILLed at random moments and restarted; two workers at once; Redis flushed mid-run; an agent
 * that goes down and comes back. After each: convergence, no (NAT IP, port) held twice (the
 * committed allocations, the allocation history, and what the agents were told), and every
 * endpoint in scope either mapped or counted in the shortage.
 *
 * Two gateways on one network: gw-a NATs subnet s1 with 64-port blocks on two IPs (room for every
 * endpoint), gw-b NATs s2 with 4,096-port blocks on one IP (15 endpoints fit: a shortage).
 */
import { EndpointChurn, prng } from '../support/control-loop/churn';
import { eventually, sleep, type ChildProc } from '../support/control-loop/stack';
import { agentOverlaps, allocationViolations, historyViolations, World, type Converged } from '../support/control-loop/world';

jest.setTimeout(240_000);

const P = 'p1';
const SEED = Number(process.env.CONTROL_LOOP_SEED ?? 0x5eed);
const HOSTS = ['h1', 'h2', 'h3', 'h4'];
let w: World;
let churnA: EndpointChurn;
let churnB: EndpointChurn;

beforeAll(async () => {
  w = await World.start({ file: __filename, redisDb: 12 });
  await w.project(P);
  await w.api.must('POST', '/v1/admin/addressPools', 201, { name: 'pool1', region: 'r1', cidrs: ['198.18.1.0/24'] });
  for (const h of HOSTS) await w.host(h);
  await w.create(P, 'networks', { name: 'n1' });
  await w.create(P, 'subnets', { name: 's1', network: 'n1', region: 'r1', ipCidrRange: '10.0.0.0/16' });
  await w.create(P, 'subnets', { name: 's2', network: 'n1', region: 'r1', ipCidrRange: '10.9.0.0/16' });
  for (const a of ['a1', 'a2', 'b1']) await w.create(P, 'addresses', { name: a, region: 'r1' });
  const list = (s: string) => ({ sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: s, sourceIpRangesToNat: ['ALL_IP_RANGES'] }] });
  await w.create(P, 'natGateways', { name: 'gw-a', network: 'n1', region: 'r1', natIps: ['a1', 'a2'], ...list('s1') });
  await w.create(P, 'natGateways', { name: 'gw-b', network: 'n1', region: 'r1', natIps: ['b1'], minPortsPerVm: 4096, ...list('s2') });
  const rng = prng(SEED);
  churnA = new EndpointChurn(w, { project: P, subnet: 's1', prefix: '10.0', namePrefix: 'va', hosts: HOSTS, rng });
  churnB = new EndpointChurn(w, { project: P, subnet: 's2', prefix: '10.9', namePrefix: 'vb', hosts: HOSTS, rng });
  await w.converged();
}, 120_000);

afterAll(async () => {
  await w?.close();
});

/** Both churns side by side: `n` operations in all, 70% on s1; `between` sees the s1 operations done. */
async function churn(n: number, concurrency: number, between?: (done: number) => Promise<void>): Promise<void> {
  const nb = Math.round(n * 0.3);
  const base = churnA.done;
  await Promise.all([churnA.run(n - nb, Math.max(1, concurrency - 2), between && ((d) => between(d - base))), churnB.run(nb, 2)]);
}

/** SIGKILLs `worker` at random moments (and restarts it after a random pause) until stopped. */
function chaos(worker: ChildProc, rng: () => number, minMs: number, maxMs: number): { stop: () => Promise<number> } {
  let stopped = false;
  let kills = 0;
  const loop = (async () => {
    while (!stopped) {
      await sleep(minMs + rng() * (maxMs - minMs));
      if (stopped) break;
      await worker.kill('SIGKILL');
      kills++;
      await sleep(rng() * 300);
      worker.start();
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      if (!worker.running) worker.start();
      return kills;
    },
  };
}

/** Every check of a converged world after a run. */
async function verify(timeoutMs = 120_000): Promise<Converged> {
  expect([...churnA.errors, ...churnB.errors].slice(0, 20)).toEqual([]);
  const conv = await w.converged(timeoutMs);
  expect(await allocationViolations(w.stack)).toEqual([]);
  expect(await historyViolations(w.stack)).toEqual([]);
  expect(agentOverlaps(w.agents.values())).toEqual([]);
  for (const a of w.agents.values()) expect(a.refused.filter((r) => r.status !== 409)).toEqual([]);

  // Nothing accepted was lost: the API lists exactly the endpoints the churn left alive.
  const eps = await w.api.listAll(`/v1/projects/${P}/endpoints`);
  const live = new Map([...churnA.live, ...churnB.live]);
  expect(new Map(eps.map((e) => [e.name as string, e.host as string]))).toEqual(live);

  // Every endpoint in scope is mapped (on its own host) or counted in the shortage.
  for (const [gw, subnet] of [
    ['gw-a', 's1'],
    ['gw-b', 's2'],
  ]) {
    const inScope = new Map(eps.filter((e) => e.subnet === subnet).map((e) => [e.name as string, e.host as string]));
    const st = conv.natStatus.get(`${P}/${gw}`);
    const items = conv.mappings.get(`${P}/${gw}`)!;
    expect({ gw, total: st.numVmEndpointsWithNatMappings + st.numVmEndpointsWithoutNatMappings, mapped: items.length }).toEqual({
      gw,
      total: inScope.size,
      mapped: st.numVmEndpointsWithNatMappings,
    });
    for (const m of items) expect({ endpoint: m.endpoint, host: m.host }).toEqual({ endpoint: m.endpoint, host: inScope.get(m.endpoint) });
  }
  // gw-b: one IP of 4,096-port blocks holds 15 endpoints at most.
  const b = conv.natStatus.get(`${P}/gw-b`);
  expect(b.numVmEndpointsWithNatMappings).toBeLessThanOrEqual(15);
  if (b.numVmEndpointsWithoutNatMappings > 0) expect(b.minExtraNatIpsNeeded).toBeGreaterThan(0);

  // Two computations of one gateway never raced into the exclusion constraint.
  const logs = w.stack.workers.map((x) => x.tail(1_000_000)).join('\n');
  expect(logs.match(/.*(allocations_no_overlap|exclusion constraint).*/g) ?? []).toEqual([]);
  for (const x of w.stack.workers) expect(x.unexpectedExits()).toEqual([]);
  return conv;
}

describe('crash safety', () => {
  it('2,000 endpoint changes while the worker is SIGKILLed at random moments: converges, nothing held twice, every endpoint mapped or in the shortage', async () => {
    const started = Date.now();
    const worker = w.stack.workers[0];
    const c = chaos(worker, prng(SEED + 1), 400, 2500);
    await churn(2000, 10);
    const kills = await c.stop();
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(churnA.done + churnB.done).toBe(2000);
    const conv = await verify();
    expect(conv.natStatus.get(`${P}/gw-b`).numVmEndpointsWithoutNatMappings).toBeGreaterThan(0);
    console.log(`crash: 2000 changes, ${kills} SIGKILLs, converged ${Date.now() - started} ms after start; ${churnA.live.size + churnB.live.size} endpoints live`);
  });

  it('two workers at once during churn never allocate a port twice', async () => {
    w.stack.addWorker();
    await churn(400, 10);
    await verify();
  });

  it('Redis FLUSHDB in the middle of a run still converges (the sweeper)', async () => {
    let flushed = 0;
    await churn(300, 8, async (done) => {
      if ((done >= 70 && flushed === 0) || (done >= 150 && flushed === 1)) {
        await w.stack.flushRedis();
        flushed++;
      }
    });
    expect(flushed).toBe(2);
    // And once more with nothing else happening: every queued job is gone, PostgreSQL still knows.
    await churn(40, 8);
    await w.stack.flushRedis();
    await verify();
  });

  it('an agent that is down turns its host UNREACHABLE and converges when it is back on the same port', async () => {
    const agent = w.agents.get('h4')!;
    const port = agent.port;
    await agent.stop();
    await churn(60, 6);
    // Make sure h4 has something to apply.
    await w.api.must('POST', `/v1/projects/${P}/endpoints`, 201, { name: 'down-1', subnet: 's1', host: 'h4', networkIp: '10.0.250.1' });
    churnA.live.set('down-1', 'h4');
    const seen = await eventually(
      'h4 UNREACHABLE',
      async () => {
        const h = await w.api.must('GET', '/v1/admin/hosts/h4', 200);
        return h.status.state === 'UNREACHABLE' ? h : false;
      },
      45_000,
      200,
    );
    expect(seen.status.appliedGeneration).toBeLessThan(seen.status.desiredGeneration);
    expect(seen.status.lastError).toEqual(expect.any(String));
    const gw = await w.api.must('GET', `/v1/projects/${P}/natGateways/gw-a`, 200);
    expect(gw.status.state).toBe('PROVISIONING');
    expect(gw.status.hostsProgrammed).toBeLessThan(gw.status.hostsTotal);
    // The other hosts still get their documents.
    for (const h of ['h1', 'h2', 'h3']) {
      await eventually(`${h} READY while h4 is down`, async () => (await w.api.must('GET', `/v1/admin/hosts/${h}`, 200)).status.state === 'READY', 30_000);
    }

    await agent.start();
    expect(agent.port).toBe(port);
    const conv = await verify(60_000);
    expect(conv.hosts.find((h) => h.name === 'h4').status.lastError).toBeNull();
    expect(conv.docs.get('h4')!.gateways.some((g) => g.endpoints.some((e) => e.name === `projects/${P}/endpoints/down-1`))).toBe(true);
  });
});
