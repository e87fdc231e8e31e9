/**
 * nftables programming through the host agent's real apply path, inside a scratch network
 * namespace (the machine's own firewall is never touched). Needs root and nft.
 *
 *   1. 50,000 endpoints from empty: from the (validated) document in memory to the transaction
 *      committed by nft (render + one `nft -f`). Target <= 1.5 s.
 *   2. One endpoint changed in a 50,000-endpoint table: a signed PATCH over HTTP on loopback,
 *      from the request sent to the 200 received (the agent answers after nft committed), i.e.
 *      push received -> committed plus the loopback round trip. Target <= 5 ms median.
 *   3. (informational) the same one-endpoint change pushed as the whole 50,000-endpoint document
 *      (PUT): signing, sending and parsing ~12 MB dominates; this is why PATCH exists.
 *
 * `npx nest build api && node dist/bench/run.js nftables`
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { Server } from 'node:http';
import { DEFAULT_RULE, HostDocument, HostDocumentPatch, HostEndpoint, HostGateway } from '@natplane/contracts';
import { gatewayKey, ruleKey, snatMap, validateHostDocument } from '@natplane/nftables';
import { Agent } from '../apps/host-agent/src/agent';
import { ApiClient } from '../apps/host-agent/src/api-client';
import { NftablesBackend } from '../apps/host-agent/src/backend';
import { jsonLogger } from '../apps/host-agent/src/log';
import { createAgentServer } from '../apps/host-agent/src/server';
import { Benchmark, BenchRow, median, percentile } from './harness';
import { cannotRun, signedPush } from './support/agent-push';

const ENDPOINTS = 50_000;
const GATEWAYS = 5;
const SECRET = 'bench-secret';
const HOST = 'bench-host';
const UPLINK = 'up0';
const FULL_RUNS = 5;
const PATCH_RUNS = 300;
const PUT_RUNS = 5;

function ip(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Endpoint i: source 10.64.0.0 + i, NAT IP 203.0.113.x / 198.51.100.x, the i-th 64-port block. */
function endpoint(i: number, shift = 0): HostEndpoint {
  const natIndex = Math.floor(i / 1008);
  const slot = (i % 1008) + shift;
  const lo = 1024 + 64 * (slot % 1008);
  const natIp = natIndex < 256 ? `203.0.113.${natIndex}` : `198.51.100.${natIndex - 256}`;
  return {
    id: `ep-${i}`,
    name: `projects/bench/endpoints/vm-${i}`,
    networkIp: ip(0x0a400000 + i),
    aliasRanges: [],
    natPrimary: true,
    mappings: [{ ruleNumber: DEFAULT_RULE, active: { natIp, portLo: lo, portHi: lo + 63 }, drain: [] }],
  };
}

function document(generation: number): HostDocument {
  const per = ENDPOINTS / GATEWAYS;
  const gateways: HostGateway[] = [];
  for (let g = 0; g < GATEWAYS; g++) {
    const endpoints: HostEndpoint[] = [];
    for (let i = g * per; i < (g + 1) * per; i++) endpoints.push(endpoint(i));
    gateways.push({
      id: `0bench00-0000-4000-8000-00000000000${g}`,
      name: `projects/bench/natGateways/nat-${g}`,
      mapping: 'ENDPOINT_DEPENDENT',
      timeouts: { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 30, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 30, tcpTimeWaitTimeoutSec: 30 },
      logging: { enable: false, filter: 'ALL' },
      rules: [],
      endpoints,
    });
  }
  return { apiVersion: 'natplane.host/v1', host: HOST, generation, gateways };
}

const noApi: ApiClient = {
  fetchProgramming: () => Promise.reject(new Error('no API in the benchmark')),
  postReport: () => Promise.resolve({}),
};

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function sh(args: string[]): void {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
}

const bench: Benchmark = {
  name: 'nftables',
  async run(): Promise<BenchRow[]> {
    const why = cannotRun('network namespaces and nft', [['nft', 'nft is not installed']]);
    if (why) {
      return [
        { benchmark: 'nftables', metric: `program ${ENDPOINTS} endpoints from empty`, value: NaN, unit: 'ms', target: '<= 1500 ms', details: { skipped: why } },
        { benchmark: 'nftables', metric: '1 endpoint changed in a 50,000-endpoint table', value: NaN, unit: 'ms', target: '<= 5 ms', details: { skipped: why } },
      ];
    }
    const ns = `np-bench-${randomBytes(3).toString('hex')}`;
    sh(['ip', 'netns', 'add', ns]);
    const log = jsonLogger({ service: 'bench' }, 'warn');
    const backends: NftablesBackend[] = [];
    let server: Server | null = null;
    try {
      const rows: BenchRow[] = [];
      const base = document(1);
      const validated = validateHostDocument(JSON.parse(JSON.stringify(base)));
      if (!validated.ok) throw new Error('bench document is invalid');

      // 1. from empty: a fresh agent (nothing applied) and an empty ruleset each run
      const full: number[] = [];
      for (let run = 0; run < FULL_RUNS; run++) {
        sh(['ip', 'netns', 'exec', ns, 'nft', 'flush', 'ruleset']);
        const backend = new NftablesBackend(ns, log);
        backends.push(backend);
        const agent = new Agent({ host: HOST, pushSecret: SECRET, uplink: UPLINK, backend, api: noApi, log, pullIntervalMs: 1e9, reportIntervalMs: 1e9 });
        const t0 = nowMs();
        const outcome = await agent.applyDocument(validated.value, 'push');
        full.push(nowMs() - t0);
        if (outcome.status !== 200) throw new Error(`full load failed: ${JSON.stringify(outcome.body)}`);
        await agent.stop();
      }
      const firstMap = snatMap(gatewayKey(base.gateways[0].id), ruleKey(DEFAULT_RULE));
      const elements = spawnSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'map', 'ip', 'natplane', firstMap], { encoding: 'utf8' }).stdout.split(' : ').length - 2; // one ' : ' is in the type line
      rows.push({
        benchmark: 'nftables',
        metric: `program ${ENDPOINTS} endpoints from empty (document -> nft committed)`,
        value: median(full),
        unit: 'ms',
        target: '<= 1500 ms',
        pass: median(full) <= 1500,
        details: { runs: FULL_RUNS, min: Math.min(...full), max: Math.max(...full), elementsInFirstMap: elements },
      });

      // 2. one endpoint changed, signed PATCH over HTTP, against a loaded 50,000-endpoint table
      const backend = new NftablesBackend(ns, log);
      backends.push(backend);
      const agent = new Agent({ host: HOST, pushSecret: SECRET, uplink: UPLINK, backend, api: noApi, log, pullIntervalMs: 1e9, reportIntervalMs: 1e9 });
      server = createAgentServer(agent, log, { hostToken: '' });
      const srv = server;
      await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const baseBody = JSON.stringify(base);
      if ((await signedPush(url, SECRET, 'PUT', baseBody)) !== 200) throw new Error('initial push failed');
      let generation = 1;
      const patchTimes: number[] = [];
      for (let run = 0; run < PATCH_RUNS + 20; run++) {
        const i = (run * 7919) % ENDPOINTS;
        const g = Math.floor(i / (ENDPOINTS / GATEWAYS));
        const patch: HostDocumentPatch = {
          apiVersion: 'natplane.host/v1',
          host: HOST,
          baseGeneration: generation,
          generation: generation + 1,
          putEndpoints: [{ gatewayId: base.gateways[g].id, endpoint: endpoint(i, 1 + (run % 2)) }],
        };
        const body = JSON.stringify(patch);
        const t0 = nowMs();
        const status = await signedPush(url, SECRET, 'PATCH', body);
        const ms = nowMs() - t0;
        if (status !== 200) throw new Error(`patch ${run} answered ${status}`);
        generation++;
        if (run >= 20) patchTimes.push(ms); // the first ones warm up nft -i and the JIT
      }
      rows.push({
        benchmark: 'nftables',
        metric: '1 endpoint changed in a 50,000-endpoint table (signed PATCH, push -> committed)',
        value: median(patchTimes),
        unit: 'ms',
        target: '<= 5 ms',
        pass: median(patchTimes) <= 5,
        details: { runs: patchTimes.length, p90: percentile(patchTimes, 90), p99: percentile(patchTimes, 99), max: Math.max(...patchTimes) },
      });

      // 3. informational: the same change as a whole-document PUT
      const putTimes: number[] = [];
      for (let run = 0; run < PUT_RUNS; run++) {
        const doc = agent.appliedDocument() as HostDocument;
        doc.generation = ++generation;
        doc.gateways[0].endpoints[run] = endpoint(run, 3 + (run % 2));
        const body = JSON.stringify(doc);
        const t0 = nowMs();
        const status = await signedPush(url, SECRET, 'PUT', body);
        putTimes.push(nowMs() - t0);
        if (status !== 200) throw new Error(`put ${run} answered ${status}`);
      }
      rows.push({
        benchmark: 'nftables',
        metric: '1 endpoint changed, pushed as the whole document (PUT, ~12 MB)',
        value: median(putTimes),
        unit: 'ms',
        details: { runs: PUT_RUNS, bodyMB: Number((Buffer.byteLength(baseBody) / 1e6).toFixed(1)) },
      });
      await agent.stop();
      return rows;
    } finally {
      if (server) {
        const srv = server;
        await new Promise<void>((resolve) => {
          srv.close(() => resolve());
          srv.closeAllConnections();
        });
      }
      for (const b of backends) await b.close().catch(() => undefined);
      spawnSync('ip', ['netns', 'del', ns]);
    }
  },
};

export default bench;
