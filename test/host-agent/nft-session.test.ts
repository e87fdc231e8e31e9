/**
 * The long-running `nft -i` session and the agent's recovery, against the real nftables in a
 * scratch network namespace (root only).
 */
import { DEFAULT_RULE, HostDocument } from '@natplane/contracts';
import { renderFull } from '@natplane/nftables';
import { NftError, NftSession } from '../../apps/host-agent/src/nft-session';
import { memoryLogger } from '../../apps/host-agent/src/log';
import { exampleDocument } from '../../libs/nftables/src/testing/fixtures';
import { deleteNamespaces, inNamespace, kernelTestsUnavailable, listTable, makeNamespace, nft } from '../../libs/nftables/src/testing/netns';
import { FakeApi, HOST, TestAgent, eventually, push, startFakeApi, startTestAgent } from './support';

const unavailable = kernelTestsUnavailable();
const describeKernel = unavailable ? describe.skip : describe;
if (unavailable) console.warn(`nft-session.test skipped: ${unavailable}`);

const MAP = 'g_7f3c2a10000040008000000000000001_def';

describeKernel('NftSession (nft -i)', () => {
  let ns: string;
  let session: NftSession;
  beforeAll(() => {
    ns = makeNamespace('np-sess');
    nft(ns, renderFull(exampleDocument(), { uplink: 'up0' }));
    session = new NftSession(ns, memoryLogger());
  });
  afterAll(async () => {
    await session.close();
    deleteNamespaces();
  });

  const elements = () => inNamespace(ns, 'nft', ['list', 'map', 'ip', 'natplane', MAP]).stdout;

  it('commits a transaction and resolves after it', async () => {
    await session.run(`add element ip natplane ${MAP} { 10.99.0.9 : 203.0.113.5 . 2048-2111 }\n`);
    expect(elements()).toContain('10.99.0.9 : 203.0.113.5 . 2048-2111');
  });

  it('rejects a failing transaction as a whole, and keeps working', async () => {
    const bad = `add element ip natplane ${MAP} { 10.99.0.10 : 203.0.113.5 . 2112-2175 }\ndelete element ip natplane ${MAP} { 10.99.0.77 }\n`;
    await expect(session.run(bad)).rejects.toThrow(NftError);
    expect(elements()).not.toContain('10.99.0.10');
    await session.run(`delete element ip natplane ${MAP} { 10.99.0.9 }\n`);
    expect(elements()).not.toContain('10.99.0.9');
  });

  it('runs concurrent callers one transaction at a time, in order', async () => {
    const runs = Array.from({ length: 20 }, (_, i) =>
      session.run(`add element ip natplane ${MAP} { 10.99.1.${i} : 203.0.113.5 . ${2048 + 64 * i}-${2111 + 64 * i} }\ndelete element ip natplane ${MAP} { 10.99.1.${i} }\n`),
    );
    await Promise.all(runs);
    expect(elements()).not.toContain('10.99.1.');
  });
});

describeKernel('agent recovery when the kernel table is not what the agent applied', () => {
  let api: FakeApi;
  let agent: TestAgent;
  let ns: string;
  let reference: string;
  const doc = (generation: number, portLo: number): HostDocument => {
    const d = exampleDocument(generation);
    d.host = HOST;
    d.gateways[0].endpoints[1].mappings[0] = { ruleNumber: DEFAULT_RULE, active: { natIp: '203.0.113.5', portLo, portHi: portLo + 63 }, drain: [] };
    return d;
  };
  beforeAll(async () => {
    ns = makeNamespace('np-recov');
    reference = makeNamespace('np-recref');
    api = await startFakeApi(doc(1, 1088));
    agent = await startTestAgent(api.url, { backend: 'nftables', netns: ns });
    await eventually(() => agent.agent.appliedGeneration === 1, 'the first pull');
  });
  afterAll(async () => {
    await agent?.stop();
    await api?.close();
    deleteNamespaces();
  });

  it('a diff the kernel refuses (an element was deleted behind its back) is retried as a full load', async () => {
    nft(ns, `delete element ip natplane ${MAP} { 10.99.0.3 }\n`);
    const r = await push(agent.url, doc(2, 1152));
    expect(r.status).toBe(200);
    nft(reference, renderFull(doc(2, 1152), { uplink: 'up0' }));
    expect(listTable(ns)).toEqual(listTable(reference));
    expect(agent.logs.some((l) => l.msg === 'diff refused, loading the table whole')).toBe(true);
  });

  it('a deleted table is rebuilt by the next document', async () => {
    nft(ns, 'delete table ip natplane\n');
    expect((await push(agent.url, doc(3, 1216))).status).toBe(200);
    nft(reference, renderFull(doc(3, 1216), { uplink: 'up0' }));
    expect(listTable(ns)).toEqual(listTable(reference));
  });
});
