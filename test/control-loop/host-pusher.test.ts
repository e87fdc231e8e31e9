import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HOST_DOCUMENT_API_VERSION, type HostDocument, type HostGateway, type HostDocumentPatch } from '@natplane/contracts';
import type { JobQueue } from '@natplane/jobs';
import type { HostProgrammingRepository, HostsRepository } from '@natplane/persistence';
import type * as Pusher from '../../apps/worker/src/host-pusher';
import { nativeRequire } from '../support/native-require';

// The worker's pusher, loaded as the worker loads it (NestJS 12 is ES modules only: native-require.ts).
const { HostPusher } = nativeRequire<typeof Pusher>('apps/worker/src/host-pusher.ts');
type PushTarget = Pusher.PushTarget;

/**
 * A fake agent with the real one's rules for generations (apps/host-agent/src/agent.ts): a whole
 * document older than the one held is refused (409), a patch on another base is refused (409).
 * Each answer takes a few milliseconds, so pushes that are not ordered overtake each other.
 */
class FakeAgent {
  held = 0;
  requests = 0;
  refusals: string[] = [];
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as HostDocument & HostDocumentPatch;
        // Read now, answered later: what a slow apply looks like to pushes crossing it.
        const refused = req.method === 'PUT' ? body.generation < this.held : body.baseGeneration !== this.held;
        if (!refused) this.held = Math.max(this.held, body.generation);
        const held = this.held;
        if (refused) this.refusals.push(`${req.method} ${body.generation} (holding ${held})`);
        setTimeout(() => {
          res.writeHead(refused ? 409 : 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ appliedGeneration: held, detail: refused ? 'refused' : undefined }));
        }, 3 + Math.floor(Math.random() * 5));
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

function section(gen: number): HostGateway {
  return {
    id: 'gw-1',
    name: 'gw-1',
    mapping: 'ENDPOINT_DEPENDENT',
    timeouts: { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 30, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 30, tcpTimeWaitTimeoutSec: 120 },
    logging: { enable: false, filter: 'ALL' },
    rules: [],
    endpoints: Array.from({ length: gen }, (_, i) => ({
      id: `ep-${i}`,
      name: `vm-${i}`,
      networkIp: `10.0.0.${i + 2}`,
      aliasRanges: [],
      natPrimary: true,
      mappings: [{ ruleNumber: -1, active: { natIp: '198.51.100.1', portLo: 1024 + 64 * i, portHi: 1087 + 64 * i }, drain: [] }],
    })),
  };
}

function doc(gen: number): HostDocument {
  return { apiVersion: HOST_DOCUMENT_API_VERSION, host: 'h1', generation: gen, gateways: [section(gen)] };
}

describe('HostPusher', () => {
  const agent = new FakeAgent();
  let target: PushTarget;
  const acknowledged: number[] = [];
  const failures: string[] = [];
  let pusher: Pusher.HostPusher;

  beforeAll(async () => {
    target = { id: 'host-1', name: 'h1', agentUrl: await agent.start(), pushSecret: 'secret' };
    const programming = { acknowledged: (_host: string, gen: number) => (acknowledged.push(gen), Promise.resolve([])) } as unknown as HostProgrammingRepository;
    const hosts = {
      recordPushFailure: (_host: string, msg: string) => (failures.push(msg), Promise.resolve()),
      movePast: () => Promise.resolve(undefined),
    } as unknown as HostsRepository;
    const jobs = { addAll: () => Promise.resolve() } as unknown as JobQueue;
    pusher = new HostPusher(programming, hosts, jobs);
  });
  afterAll(() => agent.stop());

  it('orders the pushes to one host: section patches and whole documents crossing each other are never refused', async () => {
    expect(await pusher.pushDocument(target, doc(1))).toEqual({ kind: 'applied', applied: 1 });
    // What one worker does under churn: each reconcile pushes its generation's section as it
    // commits, and program-host jobs push the whole document at the generation they read.
    const pushes: Promise<unknown>[] = [];
    for (let gen = 2; gen <= 40; gen++) {
      pushes.push(pusher.pushSection(target, gen, 'gw-1', section(gen)));
      if (gen % 3 === 0) pushes.push(pusher.pushDocument(target, doc(gen)));
      if (gen % 7 === 0) pushes.push(pusher.pushDocument(target, doc(gen - 2)));
    }
    const outcomes = await Promise.all(pushes);
    expect(agent.refusals).toEqual([]);
    expect(failures).toEqual([]);
    expect(agent.held).toBe(40);
    // Every section went out as a patch (none fell back to a program-host job).
    expect(outcomes.filter((o) => o === false)).toEqual([]);
    // The documents found their generation acknowledged already: nothing sent for them.
    expect(agent.requests).toBe(1 + 39);
    expect(Math.max(...acknowledged)).toBe(40);
  });

  it('a patch whose base the agent left falls back to the whole document, counted and not failed', async () => {
    agent.held = 50; // the agent moved on without this worker (another worker pushed)
    expect(await pusher.pushSection(target, 41, 'gw-1', section(41))).toBe(false);
    expect(await pusher.pushDocument(target, doc(52))).toEqual({ kind: 'applied', applied: 52 });
    expect(failures).toEqual([]);
    expect(agent.held).toBe(52);
  });
});
