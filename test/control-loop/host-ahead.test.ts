/**
 * Hosts whose programmer does not hold what the control plane says (issue 13, items 5 and 10),
 * with the built api and worker and fake agents:
 *  - an agent holding a generation higher than its host's in PostgreSQL (a database restored from
 *    a backup, a host registered again under its old name) answers the worker's pushes "409 older
 *    generation": that is no acknowledgement. The control plane moves the host's generation past
 *    the agent's and pushes again, so an endpoint created then is programmed, and the gateway is
 *    READY only once it is (before: READY, 1 of 1 hosts, the endpoint never programmed);
 *  - the same through the report alone (no push gets through): the report of a generation above
 *    the desired one moves the host past it, and the host is not READY meanwhile;
 *  - a host whose programmer answers every push 400 is reachable: STALE with the refusal in
 *    lastError, not UNREACHABLE.
 */
import { eventually } from '../support/control-loop/stack';
import { World } from '../support/control-loop/world';

jest.setTimeout(120_000);

const P = 'p1';
let w: World;

beforeAll(async () => {
  w = await World.start({ file: __filename, redisDb: 8 });
  await w.project(P);
  await w.api.must('POST', '/v1/admin/addressPools', 201, { name: 'pool1', region: 'r1', cidrs: ['198.18.2.0/24'] });
  for (const h of ['h1', 'h2', 'h3']) await w.host(h);
  await w.create(P, 'networks', { name: 'n1' });
  await w.create(P, 'subnets', { name: 's1', network: 'n1', region: 'r1', ipCidrRange: '10.0.0.0/16' });
  await w.create(P, 'addresses', { name: 'a1', region: 'r1' });
  await w.create(P, 'natGateways', { name: 'gw', network: 'n1', region: 'r1', natIps: ['a1'] });
  await w.create(P, 'endpoints', { name: 'e0', subnet: 's1', host: 'h1', networkIp: '10.0.0.2' });
  await w.converged();
}, 120_000);

afterAll(async () => {
  await w?.close();
});

const inDoc = (doc: { gateways: { endpoints: { name: string }[] }[] } | undefined, ep: string) =>
  !!doc?.gateways.some((g) => g.endpoints.some((e) => e.name === `projects/${P}/endpoints/${ep}`));

it('an agent ahead of the control plane: its 409 is no acknowledgement; the host moves past it and the new endpoint is programmed', async () => {
  const agent = w.agents.get('h1')!;
  const before = await w.api.must('GET', '/v1/admin/hosts/h1', 200);
  // What a restored database leaves: the agent holds a generation the control plane never gave it.
  agent.appliedGeneration = before.status.desiredGeneration + 1000;
  const ahead = agent.appliedGeneration;
  await w.create(P, 'endpoints', { name: 'e1', subnet: 's1', host: 'h1', networkIp: '10.0.0.3' });
  // Converged means every agent holds exactly what the api serves, every host and gateway READY.
  const conv = await w.converged(30_000);
  expect(inDoc(conv.docs.get('h1'), 'e1')).toBe(true);
  expect(inDoc(agent.last?.doc, 'e1')).toBe(true);
  const host = conv.hosts.find((h) => h.name === 'h1');
  expect(host.status.desiredGeneration).toBeGreaterThan(ahead);
  expect(agent.appliedGeneration).toBe(host.status.desiredGeneration);
  // The worker said what happened.
  expect(w.stack.workers[0].tail(2000)).toMatch(new RegExp(`holds generation ${ahead}`));
});

it('an agent ahead, known from its report alone: the report moves the host past it, and the host is not READY until then', async () => {
  const agent = w.agents.get('h2')!;
  await agent.stop(); // no push gets through; the report is all the control plane hears
  const token = w.hostTokens.get('h2')!;
  const before = await w.api.must('GET', '/v1/admin/hosts/h2', 200);
  const ahead = before.status.desiredGeneration + 500;
  const ack = await w.api.must('POST', '/v1/hosts/h2/reports', 200, { appliedGeneration: ahead, usage: [], errors: [] }, { token });
  expect(ack.desiredGeneration).toBeGreaterThan(ahead);
  const after = await w.api.must('GET', '/v1/admin/hosts/h2', 200);
  expect(after.status.state).not.toBe('READY');
  expect(after.status.appliedGeneration).toBeLessThan(after.status.desiredGeneration);
  // The reason shows: the report's (the agent holds generation `ahead`), or, when the worker's first
  // push of the generation past it fails first (the agent is down: connection refused at once),
  // that push's, which names the generation the host moved to.
  expect(after.status.lastError).toMatch(new RegExp(`generation ${ahead}|push of generation ${after.status.desiredGeneration} `));
  // The agent comes back holding that generation: it is pushed the one past it.
  agent.appliedGeneration = ahead;
  await agent.start();
  await w.converged(30_000);
  expect(agent.appliedGeneration).toBe(ack.desiredGeneration);
});

it('a host whose programmer answers 400 is reachable: STALE with the refusal in lastError, never UNREACHABLE', async () => {
  const agent = w.agents.get('h3')!;
  agent.refuseAll = { status: 400, detail: 'gateways[0].rules: this programmer cannot do rules' };
  await w.create(P, 'endpoints', { name: 'e3', subnet: 's1', host: 'h3', networkIp: '10.0.0.4' });
  const seen = await eventually(
    'three refused pushes',
    async () => {
      const h = await w.api.must('GET', '/v1/admin/hosts/h3', 200);
      return agent.refused.filter((r) => r.status === 400).length >= 4 ? h : false;
    },
    60_000,
    200,
  );
  expect(seen.status.state).toBe('STALE');
  expect(seen.status.lastError).toMatch(/400/);
  expect(seen.status.lastError).toMatch(/this programmer cannot do rules/);
  const [{ failures }] = await w.stack.sql<{ failures: number }>(`SELECT push_failures AS failures FROM hosts WHERE name = 'h3'`);
  expect(failures).toBeGreaterThanOrEqual(3);
  // The same host silent (no answer at all) is UNREACHABLE.
  await agent.stop();
  await eventually('h3 UNREACHABLE once it stops answering', async () => (await w.api.must('GET', '/v1/admin/hosts/h3', 200)).status.state === 'UNREACHABLE', 60_000, 200);
  agent.refuseAll = undefined;
  await agent.start();
  await w.converged(60_000);
});
