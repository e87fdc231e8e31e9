/**
 * The push handler over real HTTP, with each backend: dry-run (always) and nftables in a scratch
 * network namespace (as root). A refused push (bad signature, stale or missing timestamp, older
 * generation, invalid document, another host) changes nothing: the ruleset is compared before and
 * after. Accepted pushes and patches program exactly the document's table.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RULE, HostDocument, HostDocumentPatch, applyHostPatch, diffHostDocuments } from '@natplane/contracts';
import { renderFull } from '@natplane/nftables';
import { exampleDocument } from '../../libs/nftables/src/testing/fixtures';
import { deleteNamespaces, kernelTestsUnavailable, listTable, makeNamespace, nft } from '../../libs/nftables/src/testing/netns';
import { DEFAULT_PUSH_QUIET_MS } from '../../apps/host-agent/src/agent';
import { FakeApi, HOST, SECRET, TestAgent, eventually, push, startFakeApi, startTestAgent } from './support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const unavailable = kernelTestsUnavailable();
if (unavailable) console.warn(`push.test: the nftables backend cases are skipped: ${unavailable}`);

function doc(generation: number, change?: (d: HostDocument) => void): HostDocument {
  const d = exampleDocument(generation);
  d.host = HOST;
  change?.(d);
  return d;
}

const moveE2 = (d: HostDocument) => {
  d.gateways[0].endpoints[1].mappings[0] = { ruleNumber: DEFAULT_RULE, active: { natIp: '203.0.113.5', portLo: 1152, portHi: 1215 }, drain: [] };
};

type Case = { name: string; setup: () => Promise<{ agent: TestAgent; ruleset: () => unknown; expected: (d: HostDocument) => unknown }> };

const cases: Case[] = [
  {
    name: 'dry-run',
    setup: async () => {
      const agent = await startTestAgent(api.url, { backend: 'dry-run' });
      return {
        agent,
        ruleset: () => readFileSync(join(agent.stateDir, 'ruleset.nft'), 'utf8'),
        expected: (d) => renderFull(d, { uplink: 'up0' }),
      };
    },
  },
];
if (!unavailable) {
  cases.push({
    name: 'nftables',
    setup: async () => {
      const ns = makeNamespace('np-push');
      const reference = makeNamespace('np-pushref');
      const agent = await startTestAgent(api.url, { backend: 'nftables', netns: ns });
      return {
        agent,
        ruleset: () => listTable(ns),
        expected: (d) => {
          nft(reference, renderFull(d, { uplink: 'up0' }));
          return listTable(reference);
        },
      };
    },
  });
}

let api: FakeApi;

describe.each(cases)('push handler, $name backend', ({ setup }) => {
  let agent: TestAgent;
  let ruleset: () => unknown;
  let expected: (d: HostDocument) => unknown;

  beforeAll(async () => {
    api = await startFakeApi(doc(5));
    ({ agent, ruleset, expected } = await setup());
    await eventually(() => agent.agent.appliedGeneration === 5, 'the pull on start');
  });
  afterAll(async () => {
    await agent?.stop();
    await api?.close();
    deleteNamespaces();
  });

  it('pulled generation 5 on start and programmed it', () => {
    expect(ruleset()).toEqual(expected(doc(5)));
    expect(api.pulls[0]).toEqual({ ifNoneMatch: undefined, status: 200 });
  });

  describe('refusals change nothing', () => {
    let before: unknown;
    beforeEach(() => {
      before = ruleset();
    });
    afterEach(() => {
      expect(ruleset()).toEqual(before);
      expect(agent.agent.appliedGeneration).toBe(5);
    });

    it('a bad signature: 401', async () => {
      const r = await push(agent.url, doc(6, moveE2), { secret: 'not-the-secret' });
      expect(r).toMatchObject({ status: 401, type: 'application/problem+json', body: { status: 401, detail: 'the signature does not match the body' } });
    });

    it('a body that is not the one signed: 401', async () => {
      const r = await push(agent.url, doc(6), { tamper: () => JSON.stringify(doc(6, moveE2)) });
      expect(r.status).toBe(401);
    });

    it('a stale timestamp (more than 300 s away): 401', async () => {
      const old = await push(agent.url, doc(6, moveE2), { timestamp: Math.floor(Date.now() / 1000) - 301 });
      const future = await push(agent.url, doc(6, moveE2), { timestamp: Math.floor(Date.now() / 1000) + 301 });
      expect([old.status, old.body.detail, future.status]).toEqual([401, 'the timestamp is too far from the agent clock', 401]);
    });

    it('missing headers: 401', async () => {
      const res = await fetch(`${agent.url}/v1/programming`, { method: 'PUT', body: JSON.stringify(doc(6)) });
      expect(res.status).toBe(401);
    });

    it('an older generation: 409 with the applied generation', async () => {
      const r = await push(agent.url, doc(4, moveE2));
      expect(r).toMatchObject({
        status: 409,
        type: 'application/problem+json',
        body: { type: 'https://natplane.dev/problems/older-generation', appliedGeneration: 5, detail: 'generation 4 is older than the applied generation 5' },
      });
    });

    it('the same generation again: 200, idempotent', async () => {
      const r = await push(agent.url, doc(5, moveE2));
      expect(r).toEqual({ status: 200, type: 'application/json', body: { appliedGeneration: 5 } });
    });

    it('an invalid document: 400 naming the field', async () => {
      const r = await push(agent.url, doc(6, (d) => (d.gateways[0].endpoints[0].networkIp = '10.99.0.999')));
      expect(r).toMatchObject({ status: 400, body: { errors: [{ field: 'gateways[0].endpoints[0].networkIp', message: 'must be an IPv4 address' }] } });
      expect((await push(agent.url, '{not json')).status).toBe(400);
    });

    it("another host's document: 400", async () => {
      const r = await push(agent.url, doc(6, (d) => (d.host = 'host-b')));
      expect(r).toMatchObject({ status: 400, body: { errors: [{ field: 'host', message: `must be ${HOST}` }] } });
    });

    it('a patch on another base generation: 409 base-generation-mismatch', async () => {
      const patch = { ...diffHostDocuments(doc(4), doc(6, moveE2)), baseGeneration: 4 };
      const r = await push(agent.url, patch, { method: 'PATCH' });
      expect(r).toMatchObject({ status: 409, body: { type: 'https://natplane.dev/problems/base-generation-mismatch', appliedGeneration: 5 } });
    });

    it('a patch that does not fit the document: 400', async () => {
      const patch: HostDocumentPatch = { apiVersion: 'natplane.host/v1', host: HOST, baseGeneration: 5, generation: 6, deleteEndpoints: [{ gatewayId: 'nope', endpointId: 'e1' }] };
      const r = await push(agent.url, patch, { method: 'PATCH' });
      expect(r).toMatchObject({ status: 400, body: { errors: [{ field: 'deleteEndpoints[0]', message: 'unknown endpoint e1 in gateway nope' }] } });
    });

    it('a signed patch with a bad signature: 401', async () => {
      const r = await push(agent.url, diffHostDocuments(doc(5), doc(6, moveE2)), { method: 'PATCH', secret: 'x' });
      expect(r.status).toBe(401);
    });
  });

  it('a newer generation is applied as a difference: 200 after the commit', async () => {
    const r = await push(agent.url, doc(6, moveE2));
    expect(r).toEqual({ status: 200, type: 'application/json', body: { appliedGeneration: 6 } });
    expect(ruleset()).toEqual(expected(doc(6, moveE2)));
    expect(agent.logs.some((l) => l.msg === 'applied' && l.generation === 6 && l.mode === 'diff')).toBe(true);
  });

  it('a patch on the applied generation is applied incrementally', async () => {
    const next = doc(7, (d) => {
      moveE2(d);
      d.gateways[0].endpoints.push({ ...d.gateways[0].endpoints[0], id: 'e3', networkIp: '10.99.0.4', mappings: [{ ruleNumber: DEFAULT_RULE, active: { natIp: '203.0.113.5', portLo: 1216, portHi: 1279 }, drain: [] }] });
    });
    const patch = diffHostDocuments(doc(6, moveE2), next);
    expect(patch.putEndpoints).toHaveLength(1);
    const r = await push(agent.url, patch, { method: 'PATCH' });
    expect(r).toEqual({ status: 200, type: 'application/json', body: { appliedGeneration: 7 } });
    expect(ruleset()).toEqual(expected(applyHostPatch(doc(6, moveE2), patch)));
    // the same patch again is acknowledged without change
    expect((await push(agent.url, patch, { method: 'PATCH' })).status).toBe(200);
  });

  it('reports the applied generation to the API after applying', async () => {
    await eventually(() => api.reports.some((r) => r.appliedGeneration === 7), 'a report of generation 7');
    const last = api.reports[api.reports.length - 1];
    expect(last.errors).toEqual([]);
    expect(Array.isArray(last.usage)).toBe(true);
  });

  it('pulls again with If-None-Match, and applies a newer pulled document', async () => {
    api.document = doc(7);
    await agent.agent.pull(); // the generation is the applied one: nothing changes
    api.document = doc(9);
    await agent.agent.pull();
    expect(agent.agent.appliedGeneration).toBe(9);
    expect(ruleset()).toEqual(expected(doc(9)));
    await agent.agent.pull();
    expect(api.pulls[api.pulls.length - 1]).toEqual({ ifNoneMatch: '"9"', status: 304 });
    // a pulled document older than the applied one is ignored
    api.document = doc(8, moveE2);
    await agent.agent.pull();
    expect(agent.agent.appliedGeneration).toBe(9);
  });

  it('pulls at once when a report is answered with a newer desired generation (a lost push)', async () => {
    api.document = doc(10, moveE2);
    await agent.agent.report();
    await eventually(() => agent.agent.appliedGeneration === 10, 'the pull after the report');
    expect(ruleset()).toEqual(expected(doc(10, moveE2)));
  });

  it("colliding endpoints (one tenant's mistake) never stop the others: the rest is applied, the reason reported", async () => {
    // e2 takes e1's address with no device to tell them apart: e2 is left out, e1 and the rest stay
    const colliding = doc(11, (d) => {
      d.gateways[0].endpoints[1].networkIp = d.gateways[0].endpoints[0].networkIp;
    });
    const r = await push(agent.url, colliding);
    expect(r).toEqual({ status: 200, type: 'application/json', body: { appliedGeneration: 11 } });
    expect(ruleset()).toEqual(expected(doc(11, (d) => d.gateways[0].endpoints.splice(1, 1))));
    const report = await agent.agent.buildReport();
    expect(report.errors.join('\n')).toMatch(/generation 11 was applied without 1 endpoint source\(s\) that collide on this host: gateways\[0\]\.endpoints\[1\]\.networkIp: 10\.99\.0\.2 is already NATed/);
    // with their own devices they coexist, and the error is gone
    const shared = doc(12, (d) => {
      d.gateways[0].endpoints[0].hostInterface = 'tapA';
      d.gateways[0].endpoints[1] = { ...d.gateways[0].endpoints[1], networkIp: d.gateways[0].endpoints[0].networkIp, hostInterface: 'tapB' };
    });
    expect((await push(agent.url, shared)).status).toBe(200);
    expect((await agent.agent.buildReport()).errors.filter((e) => e.includes('collide'))).toEqual([]);
  });

  it('a pull does not cross pushes: a report answered ahead waits until pushes are quiet, and pulls only if still behind', async () => {
    // pushes are coming (generation 13), and a report is answered with 14: a push is on its way
    expect((await push(agent.url, doc(13))).status).toBe(200);
    api.document = doc(14);
    const pulls = api.pulls.length;
    await agent.agent.report();
    await sleep(500);
    expect(api.pulls.length).toBe(pulls);
    // the push arrives: nothing left to pull, even once pushes are quiet
    expect((await push(agent.url, doc(14))).status).toBe(200);
    await sleep(DEFAULT_PUSH_QUIET_MS + 500);
    expect(api.pulls.length).toBe(pulls);
    // a push that never comes: the pull follows once pushes have been quiet
    expect((await push(agent.url, doc(15))).status).toBe(200);
    const lastPush = Date.now();
    api.document = doc(16, moveE2);
    await agent.agent.report();
    await eventually(() => agent.agent.appliedGeneration === 16, 'the pull once pushes are quiet');
    expect(Date.now() - lastPush).toBeGreaterThanOrEqual(DEFAULT_PUSH_QUIET_MS - 100);
    expect(api.pulls.length).toBe(pulls + 1);
  });
});

describe('agent start-up', () => {
  it('refuses to start when the chosen backend cannot work, saying why', async () => {
    await expect(startTestAgent('http://127.0.0.1:9', { backend: 'dry-run', stateDir: '/dev/null/natplane' })).rejects.toThrow(
      /AGENT_BACKEND=dry-run but AGENT_STATE_DIR \/dev\/null\/natplane is not writable/,
    );
  });

  it('an agent without push secret refuses every push', async () => {
    const fake = await startFakeApi(null);
    const a = await startTestAgent(fake.url, { pushSecret: '' });
    try {
      const r = await push(a.url, doc(1), { secret: '' });
      expect(r).toMatchObject({ status: 401, body: { detail: 'this agent has no NATPLANE_PUSH_SECRET: every push is refused' } });
      expect(SECRET).not.toBe('');
    } finally {
      await a.stop();
      await fake.close();
    }
  });
});
