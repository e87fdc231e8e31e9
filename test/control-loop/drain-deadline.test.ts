/**
 * Drains that end by themselves (issue 18; medium test): real PostgreSQL, Redis, the built api and
 * worker, a fake agent on loopback. An address drained on a gateway with maxDrainDurationSec keeps
 * its endpoints' drain blocks until the deadline the status shows; then, without any other write,
 * the worker ends the drain: the blocks leave the host's document (their connections are cut) but
 * stay quarantined in PostgreSQL, the address leaves the gateway and its status, the holders'
 * history closes at the cut (attribution: nobody after it), and the address can be deleted.
 */
import { DEFAULT_RULE } from '@natplane/contracts';
import { eventually } from '../support/control-loop/stack';
import { byEndpoint, parseRange, World } from '../support/control-loop/world';

jest.setTimeout(90_000);

const P = 'p1';
const GW = 'gw-drain';
const DEADLINE_SEC = 4;
let w: World;
const ip = new Map<string, string>();

beforeAll(async () => {
  w = await World.start({ file: __filename, redisDb: 6 });
  await w.project(P);
  await w.api.must('POST', '/v1/admin/addressPools', 201, { name: 'pool1', region: 'r1', cidrs: ['198.18.0.0/24'] });
  await w.host('h1');
  await w.create(P, 'networks', { name: 'n1' });
  await w.create(P, 'subnets', { name: 's1', network: 'n1', region: 'r1', ipCidrRange: '10.1.0.0/16' });
  for (const a of ['a1', 'a2', 'a3', 'a4']) ip.set(a, (await w.create(P, 'addresses', { name: a, region: 'r1' })).address as string);
  for (const [i, vm] of ['vm-1', 'vm-2', 'vm-3'].entries()) await w.create(P, 'endpoints', { name: vm, subnet: 's1', host: 'h1', networkIp: `10.1.0.${i + 2}` });
}, 120_000);

afterAll(async () => {
  await w?.close();
});

const gwPath = `/v1/projects/${P}/natGateways/${GW}`;
/** The NAT IPs of the drain blocks in h1's last document. */
const docDrainIps = () =>
  new Set(w.agents.get('h1')!.last!.doc.gateways.flatMap((g) => g.endpoints.flatMap((e) => e.mappings.flatMap((m) => m.drain.map((b) => b.natIp)))));

it('a drain past maxDrainDurationSec ends by itself: blocks cut yet quarantined, address free, history closed', async () => {
  const rule = (action: Record<string, string[]>) => ({ ruleNumber: 5, match: "destination.ip == '192.0.2.7'", action });
  await w.create(P, 'natGateways', { name: GW, network: 'n1', region: 'r1', natIps: ['a1'], rules: [rule({ sourceNatActiveIps: ['a3'] })], maxDrainDurationSec: DEADLINE_SEC });
  let conv = await w.converged();
  const before = byEndpoint(conv.mappings.get(`${P}/${GW}`)!);
  expect([...before.values()].map((m) => parseRange(m.natIpPortRanges[0] as string).natIp)).toEqual([ip.get('a1'), ip.get('a1'), ip.get('a1')]);

  // the default IP and the rule's IP drain in one change
  const drained = await w.patch(P, 'natGateways', GW, { natIps: ['a2'], drainNatIps: ['a1'], rules: [rule({ sourceNatActiveIps: ['a4'], sourceNatDrainIps: ['a3'] })] });
  await w.converged();
  const st = await w.api.must('GET', `${gwPath}/status`, 200);
  expect(st.drainUserAllocatedNatIps).toEqual([ip.get('a1')]);
  expect(st.drains.map((x: { address: string; ruleNumber: number; natIp: string }) => [x.address, x.ruleNumber, x.natIp])).toEqual([
    ['a1', DEFAULT_RULE, ip.get('a1')],
    ['a3', 5, ip.get('a3')],
  ]);
  const [d] = st.drains;
  const deadline = Date.parse(d.drainDeadline as string);
  expect(deadline - Date.parse(d.drainStartTime as string)).toBe(DEADLINE_SEC * 1000);
  expect(Math.abs(Date.parse(st.drains[1].drainDeadline as string) - deadline)).toBeLessThan(1000);
  // before the deadline: the drain blocks are programmed and the address is the gateway's
  if (Date.now() < deadline - 500) {
    expect(docDrainIps().has(ip.get('a1')!)).toBe(true);
    const inUse = await w.api.req('DELETE', `/v1/projects/${P}/addresses/a1`);
    expect(inUse.status).toBe(409);
  }
  const drainBlocks = await w.stack.sql<{ lo: number }>(`SELECT port_lo AS lo FROM allocations WHERE host(nat_ip) = $1 AND state = 'DRAIN'`, [ip.get('a1')]);
  expect(drainBlocks).toHaveLength(3);
  expect(await w.stack.sql(`SELECT 1 FROM allocations WHERE host(nat_ip) = $1 AND state = 'DRAIN' AND rule_number = 5`, [ip.get('a3')])).toHaveLength(3);
  const held = drainBlocks[0].lo;
  const during = await w.api.req('GET', `/v1/projects/${P}/attributions?natIp=${ip.get('a1')}&port=${held}&time=${encodeURIComponent(new Date().toISOString())}`);
  expect(during.status).toBe(200);

  // no write: the worker ends the drain once the deadline passes
  const g = await eventually(
    'the drain ended by itself',
    async () => {
      const cur = await w.api.must('GET', gwPath, 200);
      if (cur.drainNatIps.length !== 0) throw new Error(`drainNatIps still ${JSON.stringify(cur.drainNatIps)}`);
      if (cur.rules[0].action.sourceNatDrainIps.length !== 0) throw new Error(`rule 5 still drains ${JSON.stringify(cur.rules[0].action.sourceNatDrainIps)}`);
      return cur;
    },
    20_000,
    200,
  );
  const endedAt = Date.now();
  expect(endedAt).toBeGreaterThanOrEqual(deadline);
  expect(g.natIps).toEqual(['a2']);
  expect(g.rules[0].action).toEqual({ sourceNatActiveIps: ['a4'], sourceNatDrainIps: [], sourceNatActiveRanges: [] });
  expect(g.generation).toBeGreaterThan(drained.generation as number);
  conv = await w.converged();
  // the host no longer keeps the drain blocks: their connections are cut
  expect(docDrainIps().has(ip.get('a1')!)).toBe(false);
  expect(docDrainIps().has(ip.get('a3')!)).toBe(false);
  // ... but nobody else may take those ports before the quarantine ends
  for (const a of ['a1', 'a3']) {
    const rows = await w.stack.sql<{ state: string; cut: boolean }>(`SELECT state, cut FROM allocations WHERE host(nat_ip) = $1`, [ip.get(a)]);
    expect({ a, rows }).toEqual({ a, rows: [1, 2, 3].map(() => ({ state: 'QUARANTINE', cut: true })) });
  }
  const after = await w.api.must('GET', `${gwPath}/status`, 200);
  expect({ drains: after.drains, drain: after.drainUserAllocatedNatIps, active: after.userAllocatedNatIps }).toEqual({ drains: [], drain: [], active: [ip.get('a2')] });
  expect(after.ruleStatus).toEqual([expect.objectContaining({ ruleNumber: 5, activeNatIps: [ip.get('a4')], drainNatIps: [] })]);
  for (const m of byEndpoint(conv.mappings.get(`${P}/${GW}`)!).values()) {
    expect(m.drainNatIpPortRanges).toEqual([]);
    expect(m.ruleMappings[0].drainNatIpPortRanges).toEqual([]);
  }
  // the holders' history closed at the cut: nobody holds those ports now
  const open = await w.stack.sql<{ n: number }>(`SELECT count(*)::int AS n FROM allocation_history WHERE host(nat_ip) = $1 AND valid_to IS NULL`, [ip.get('a1')]);
  expect(open).toEqual([{ n: 0 }]);
  const nobody = await w.api.req('GET', `/v1/projects/${P}/attributions?natIp=${ip.get('a1')}&port=${held}&time=${encodeURIComponent(new Date().toISOString())}`);
  expect(nobody.status).toBe(404);
  // the address is free to delete; the gateway took no offence
  expect((await w.api.req('DELETE', `/v1/projects/${P}/addresses/a1`)).status).toBe(204);
  expect((await w.api.req('DELETE', `/v1/projects/${P}/addresses/a3`)).status).toBe(204);
});
