/**
 * The host agent's /metrics over real HTTP (dry-run backend, a fake api): applies by mode and
 * outcome, their duration, the applied generation, endpoints and reports; a bearer token when
 * NATPLANE_METRICS_TOKEN is set; `promtool check metrics` passes on it.
 */
import { exampleDocument } from '../../libs/nftables/src/testing/fixtures';
import { FakeApi, HOST, push, startFakeApi, startTestAgent, type TestAgent } from '../host-agent/support';
import { promtoolCheck, sample } from './support';

describe('host agent /metrics', () => {
  let api: FakeApi;
  let agent: TestAgent;

  beforeAll(async () => {
    api = await startFakeApi(null);
    agent = await startTestAgent(api.url, { backend: 'dry-run' });
  });

  afterAll(async () => {
    await agent?.stop();
    await api?.close();
    delete process.env.NATPLANE_METRICS_TOKEN;
  });

  const metrics = async (token?: string) => fetch(`${agent.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('counts applies by mode and outcome, and shows the generation applied', async () => {
    const before = await (await metrics()).text();
    const full0 = sample(before, 'natplane_agent_applies_total', { mode: 'full', outcome: 'ok' }) ?? 0;
    const d = exampleDocument(7);
    d.host = HOST;
    expect((await push(agent.url, d)).status).toBe(200);
    const d2 = exampleDocument(8);
    d2.host = HOST;
    d2.gateways[0].endpoints.pop();
    expect((await push(agent.url, d2)).status).toBe(200);
    const bad = { ...exampleDocument(9), host: HOST, apiVersion: 'nope' };
    expect((await push(agent.url, bad)).status).toBe(400);
    const text = await (await metrics()).text();
    expect(sample(text, 'natplane_agent_applies_total', { mode: 'full', outcome: 'ok' })).toBe(full0 + 1);
    expect(sample(text, 'natplane_agent_applies_total', { mode: 'diff', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'natplane_agent_document_generation')).toBe(8);
    expect(sample(text, 'natplane_agent_endpoints')).toBe(d2.gateways.reduce((n, g) => n + g.endpoints.length, 0));
    expect(sample(text, 'natplane_agent_apply_duration_seconds_count', { mode: 'full' })).toBeGreaterThanOrEqual(1);
    expect(promtoolCheck(text)).toBe('');
  });

  it('counts reports', async () => {
    await agent.agent.report();
    expect(sample(await (await metrics()).text(), 'natplane_agent_reports_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
  });

  it('asks for NATPLANE_METRICS_TOKEN when it is set', async () => {
    process.env.NATPLANE_METRICS_TOKEN = 'metrics-token-0123456789';
    expect((await metrics()).status).toBe(401);
    expect((await metrics('wrong')).status).toBe(401);
    expect((await metrics('metrics-token-0123456789')).status).toBe(200);
  });
});
