/**
 * Counters from host reports, end to end through the built api and worker (PostgreSQL and Redis,
 * no data plane): a report's counters become the gateway's and the endpoint's traffic in status and
 * mappings, points of the time series, and Prometheus series on the api's /metrics (per gateway, and
 * per endpoint with NATPLANE_METRICS_PER_ENDPOINT on); the worker's /metrics shows its jobs and the
 * hosts behind. `promtool check metrics` passes on both expositions.
 */
import { existsSync } from 'node:fs';
import type { Json } from '../support/control-loop/api-client';
import { Stack, eventually, freePort } from '../support/control-loop/stack';
import { PROMTOOL, promtoolCheck, sample } from './support';

const P = 'obs';
const GW = `/v1/projects/${P}/natGateways/gw-1`;

jest.setTimeout(90_000);

describe('traffic: host counters in status, mappings, the time series and /metrics', () => {
  let stack: Stack;
  let workerMetrics = '';
  let endpointId = '';
  const since = new Date(Date.now() - 60_000).toISOString();

  const counters = (over: Json, s = since) => ({
    readAt: new Date().toISOString(),
    complete: true,
    endpoints: [
      {
        endpoint: endpointId,
        ruleNumber: -1,
        since: s,
        newConnections: 64,
        openConnections: 64,
        sentPackets: 640,
        sentBytes: 64000,
        receivedPackets: 600,
        receivedBytes: 60000,
        droppedSentPackets: { OUT_OF_RESOURCES: 6, ENDPOINT_INDEPENDENT_CONFLICT: 0, UNTRANSLATABLE_FRAGMENT: null, UNTRANSLATABLE_PROTOCOL: 0, ...over },
      },
    ],
    host: { since: s, droppedReceivedUnsolicited: null, droppedReceivedFragments: null },
  });
  const report = (body: Json) => stack.api.must('POST', '/v1/hosts/h1/reports', 200, { appliedGeneration: 0, errors: [], ...body });

  beforeAll(async () => {
    if (!existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} is missing: apt-get install prometheus`);
    stack = await Stack.start({ file: __filename, redisDb: 8, workers: 0, apiEnv: { NATPLANE_METRICS_PER_ENDPOINT: 'true' } });
    const port = await freePort();
    stack.addWorker({ WORKER_METRICS_LISTEN: `127.0.0.1:${port}` });
    workerMetrics = `http://127.0.0.1:${port}/metrics`;
    const api = stack.api;
    await api.must('POST', '/v1/admin/projects', 201, { name: P });
    await api.must('POST', '/v1/admin/addressPools', 201, { name: 'pool', region: 'r1', cidrs: ['203.0.113.0/28'] });
    // an agent nobody answers at: the host stays behind its desired generation
    await api.must('POST', '/v1/admin/hosts', 201, { name: 'h1', region: 'r1', zone: 'r1-a', agentUrl: 'http://127.0.0.1:9' });
    await api.must('POST', `/v1/projects/${P}/networks`, 201, { name: 'net' });
    await api.must('POST', `/v1/projects/${P}/subnets`, 201, { name: 'sub', network: 'net', region: 'r1', ipCidrRange: '10.0.0.0/24' });
    endpointId = (await api.must('POST', `/v1/projects/${P}/endpoints`, 201, { name: 'vm-1', subnet: 'sub', host: 'h1', networkIp: '10.0.0.2' })).id as string;
    await api.must('POST', `/v1/projects/${P}/endpoints`, 201, { name: 'vm-2', subnet: 'sub', host: 'h1', networkIp: '10.0.0.3' });
    await api.must('POST', `/v1/projects/${P}/addresses`, 201, { name: 'ip-1', region: 'r1' });
    await api.must('POST', `/v1/projects/${P}/natGateways`, 201, {
      name: 'gw-1', network: 'net', region: 'r1', natIpAllocateOption: 'MANUAL_ONLY', natIps: ['ip-1'], sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
    });
    await eventually('the gateway computed', async () => (await api.listAll(`${GW}/mappings`)).length === 2, 30_000, 100);
  }, 90_000);

  afterAll(async () => {
    await stack?.close();
  });

  it('before any counter, nothing is measured: null, never 0, and no drop series', async () => {
    const st = await stack.api.must('GET', `${GW}/status`, 200);
    expect(st.traffic).toEqual({
      allocatedPorts: 128,
      portsInUse: 0,
      openConnections: null,
      newConnections: null,
      sentPackets: null,
      sentBytes: null,
      receivedPackets: null,
      receivedBytes: null,
      droppedSentPackets: { OUT_OF_RESOURCES: null, ENDPOINT_INDEPENDENCE_CONFLICT: null, UNTRANSLATABLE_FRAGMENT: null, UNTRANSLATABLE_PROTOCOL: null },
    });
    const text = (await stack.api.get('/metrics')).text;
    expect(sample(text, 'natplane_nat_allocated_ports', { project: P, gateway: 'gw-1' })).toBe(128);
    expect(sample(text, 'natplane_nat_dropped_sent_packets_total', { gateway: 'gw-1' })).toBeUndefined();
    expect(sample(text, 'natplane_nat_open_connections', { gateway: 'gw-1' })).toBeUndefined();
  });

  it('a report with counters shows in status and mappings (the endpoint out of ports)', async () => {
    await report({ usage: [{ endpoint: endpointId, ruleNumber: -1, portsInUse: 64 }], counters: counters({}) });
    const st = await stack.api.must('GET', `${GW}/status`, 200);
    expect(st.traffic).toEqual(
      expect.objectContaining({
        portsInUse: 64,
        openConnections: 64,
        newConnections: 64,
        droppedSentPackets: { OUT_OF_RESOURCES: 6, ENDPOINT_INDEPENDENCE_CONFLICT: 0, UNTRANSLATABLE_FRAGMENT: null, UNTRANSLATABLE_PROTOCOL: 0 },
      }),
    );
    const items = await stack.api.listAll(`${GW}/mappings`);
    const vm1 = items.find((m) => m.endpoint === 'vm-1');
    const vm2 = items.find((m) => m.endpoint === 'vm-2');
    expect(vm1.traffic).toEqual(expect.objectContaining({ allocatedPorts: 64, portsInUse: 64, openConnections: 64, droppedSentPackets: expect.objectContaining({ OUT_OF_RESOURCES: 6 }) }));
    expect(vm2.traffic).toEqual(expect.objectContaining({ allocatedPorts: 64, portsInUse: 0, openConnections: null, droppedSentPackets: expect.objectContaining({ OUT_OF_RESOURCES: null }) }));
  });

  it('later reports add their increase; a host restart (a later since) counts from 0 again', async () => {
    await report({ usage: [{ endpoint: endpointId, ruleNumber: -1, portsInUse: 64 }], counters: counters({ OUT_OF_RESOURCES: 10 }) });
    // an older report arriving late changes nothing
    await report({ usage: [], counters: counters({ OUT_OF_RESOURCES: 500 }, new Date(Date.now() - 3600_000).toISOString()) });
    await report({ usage: [{ endpoint: endpointId, ruleNumber: -1, portsInUse: 10 }], counters: counters({ OUT_OF_RESOURCES: 2 }, new Date().toISOString()) });
    const st = await stack.api.must('GET', `${GW}/status`, 200);
    expect(st.traffic.droppedSentPackets.OUT_OF_RESOURCES).toBe(12);
  });

  it('the time series of the gateway and of the endpoint carry the drops, ports in use and allocated ports', async () => {
    const gw = await eventually(
      'the gateway sampled by the worker',
      async () => {
        const s = await stack.api.must('GET', `${GW}/timeSeries`, 200);
        if (!s.points.some((p: Json) => p.allocatedPorts === 128)) throw new Error(JSON.stringify(s));
        return s;
      },
      30_000,
      500,
    );
    expect(gw.resolutionSec).toBe(60);
    const sum = (pts: Json[], f: (p: Json) => number | null) => pts.reduce((n, p) => n + (f(p) ?? 0), 0);
    expect(sum(gw.points, (p) => p.droppedSentPackets.OUT_OF_RESOURCES)).toBe(12);
    expect(Math.max(...gw.points.map((p: Json) => p.portsInUse ?? 0))).toBe(64);
    const ep = await stack.api.must('GET', `${GW}/timeSeries?endpoint=vm-1`, 200);
    expect(ep.points.length).toBeGreaterThan(0);
    expect(ep.points.every((p: Json) => p.allocatedPorts === 64)).toBe(true);
    expect(sum(ep.points, (p) => p.droppedSentPackets.OUT_OF_RESOURCES)).toBe(12);
    expect(ep.points[0].droppedSentPackets.UNTRANSLATABLE_FRAGMENT).toBeNull();
  });

  it('bad time-series queries get a 4xx problem naming the field', async () => {
    const bad = await stack.api.get(`${GW}/timeSeries?startTime=yesterday`);
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ field: 'startTime', message: expect.any(String) }]);
    const order = await stack.api.get(`${GW}/timeSeries?startTime=2030-01-02T00:00:00Z&endTime=2030-01-01T00:00:00Z`);
    expect(order.body.errors).toEqual([{ field: 'startTime', message: 'must be before endTime' }]);
    const old = await stack.api.get(`${GW}/timeSeries?startTime=2020-01-01T00:00:00Z`);
    expect(old.status).toBe(400);
    expect((await stack.api.get(`${GW}/timeSeries?endpoint=nope`)).status).toBe(404);
  });

  it("the api's /metrics has Cloud NAT's metrics per gateway and per endpoint, and passes promtool check metrics", async () => {
    await report({ usage: [{ endpoint: endpointId, ruleNumber: -1, portsInUse: 64 }], counters: counters({ OUT_OF_RESOURCES: 3 }, new Date().toISOString()) });
    await new Promise((r) => setTimeout(r, 5100)); // the api reads the database at most every 5 s
    const text = (await stack.api.get('/metrics')).text;
    expect(promtoolCheck(text)).toBe('');
    const gw = { project: P, gateway: 'gw-1' };
    expect(sample(text, 'natplane_nat_dropped_sent_packets_total', { ...gw, reason: 'OUT_OF_RESOURCES' })).toBe(15);
    expect(sample(text, 'natplane_nat_dropped_sent_packets_total', { ...gw, reason: 'UNTRANSLATABLE_FRAGMENT' })).toBeUndefined();
    expect(sample(text, 'natplane_nat_endpoints_out_of_ports', gw)).toBe(1);
    expect(sample(text, 'natplane_nat_port_usage', gw)).toBe(64);
    expect(sample(text, 'natplane_nat_port_usage_ratio', gw)).toBe(1);
    expect(sample(text, 'natplane_nat_allocation_failed', gw)).toBe(0);
    expect(sample(text, 'natplane_nat_open_connections', gw)).toBe(64);
    expect(sample(text, 'natplane_nat_new_connections_total', gw)).toBeGreaterThan(0);
    expect(sample(text, 'natplane_endpoint_nat_dropped_sent_packets_total', { ...gw, endpoint: 'vm-1', reason: 'OUT_OF_RESOURCES' })).toBe(15);
    expect(sample(text, 'natplane_endpoint_nat_allocated_ports', { ...gw, endpoint: 'vm-2' })).toBe(64);
  });

  it("the worker's /metrics has its jobs, queues and the hosts behind, and passes promtool check metrics", async () => {
    const text = await eventually(
      'the worker /metrics',
      async () => {
        const t = await (await fetch(workerMetrics)).text();
        if (sample(t, 'natplane_host_behind_seconds', { host: 'h1' }) === undefined) throw new Error(t.slice(0, 500));
        return t;
      },
      30_000,
      500,
    );
    expect(promtoolCheck(text)).toBe('');
    expect(sample(text, 'natplane_worker_job_duration_seconds_count', { job: 'reconcile-gateway', outcome: 'completed' })).toBeGreaterThan(0);
    expect(sample(text, 'natplane_worker_host_pushes_total', { outcome: 'failed' })).toBeGreaterThan(0);
    expect(sample(text, 'natplane_hosts_behind')).toBe(1);
    expect(sample(text, 'natplane_host_last_report_timestamp_seconds', { host: 'h1' })).toBeGreaterThan(Date.now() / 1000 - 120);
    expect(sample(text, 'natplane_worker_queue_jobs', { queue: 'natplane-program', state: 'waiting' })).toBeGreaterThanOrEqual(0);
  });
});
