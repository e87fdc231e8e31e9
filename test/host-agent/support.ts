/**
 * Test support for the host agent: a small fake of the API's host routes (a real node:http server
 * on loopback), signed pushes, and an agent started the way main.ts starts it.
 */
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostDocument, HostReport, SIGNATURE_HEADER, TIMESTAMP_HEADER, signPush } from '@natplane/contracts';
import { AgentConfig, DEFAULT_MAX_DOCUMENT_BYTES } from '../../apps/host-agent/src/config';
import { Logger, memoryLogger } from '../../apps/host-agent/src/log';
import { startAgent } from '../../apps/host-agent/src/main';

export const HOST = 'host-a';
export const TOKEN = 'host-token-1';
export const SECRET = 'push-secret-1';

export interface FakeApi {
  url: string;
  document: HostDocument | null;
  reports: HostReport[];
  pulls: { ifNoneMatch: string | undefined; status: number }[];
  close(): Promise<void>;
}

/** GET /v1/hosts/{host}/programming (ETag = generation, 304 on If-None-Match) and POST reports. */
export async function startFakeApi(document: HostDocument | null): Promise<FakeApi> {
  const api: FakeApi = { url: '', document, reports: [], pulls: [], close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { 'content-type': 'application/problem+json' }).end('{"status":401}');
        return;
      }
      if (req.method === 'GET' && req.url === `/v1/hosts/${HOST}/programming`) {
        const inm = req.headers['if-none-match'];
        if (!api.document) {
          api.pulls.push({ ifNoneMatch: inm, status: 404 });
          res.writeHead(404).end();
          return;
        }
        const etag = `"${api.document.generation}"`;
        if (inm === etag) {
          api.pulls.push({ ifNoneMatch: inm, status: 304 });
          res.writeHead(304, { etag }).end();
          return;
        }
        api.pulls.push({ ifNoneMatch: inm, status: 200 });
        res.writeHead(200, { 'content-type': 'application/json', etag }).end(JSON.stringify(api.document));
        return;
      }
      if (req.method === 'POST' && req.url === `/v1/hosts/${HOST}/reports`) {
        api.reports.push(JSON.parse(Buffer.concat(chunks).toString()) as HostReport);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ desiredGeneration: api.document?.generation ?? 0 }));
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return api;
}

export interface Push {
  method?: 'PUT' | 'PATCH';
  /** Seconds; default now. */
  timestamp?: number;
  secret?: string;
  /** Sign this body but send another. */
  tamper?: (body: string) => string;
  headers?: Record<string, string>;
}

export async function push(agentUrl: string, payload: unknown, p: Push = {}): Promise<{ status: number; type: string; body: Record<string, unknown> }> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const ts = p.timestamp ?? Math.floor(Date.now() / 1000);
  const res = await fetch(`${agentUrl}/v1/programming`, {
    method: p.method ?? 'PUT',
    headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signPush(p.secret ?? SECRET, ts, body), ...p.headers },
    body: p.tamper ? p.tamper(body) : body,
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as Record<string, unknown> };
}

export interface TestAgent {
  url: string;
  agent: Awaited<ReturnType<typeof startAgent>>['agent'];
  logs: Record<string, unknown>[];
  stateDir: string;
  stop(): Promise<void>;
}

export async function startTestAgent(apiUrl: string, over: Partial<AgentConfig> = {}): Promise<TestAgent> {
  const stateDir = over.stateDir ?? mkdtempSync(join(tmpdir(), 'natplane-agent-'));
  const config: AgentConfig = {
    apiUrl,
    host: HOST,
    hostToken: TOKEN,
    pushSecret: SECRET,
    listenHost: '127.0.0.1',
    listenPort: 0,
    backend: 'dry-run',
    uplink: 'up0',
    stateDir,
    pullIntervalMs: 3_600_000,
    reportIntervalMs: 3_600_000,
    maxDocumentBytes: DEFAULT_MAX_DOCUMENT_BYTES,
    netns: undefined,
    natLog: { path: join(stateDir, 'nat-flows.log'), ratePerSec: 100, maxBytes: 1 << 20 },
    counters: true,
    ebpfPinDir: `/sys/fs/bpf/natplane-test-${stateDir.split('-').pop()}`,
    ...over,
  };
  const logs: Record<string, unknown>[] = [];
  const log: Logger = memoryLogger(logs);
  const running = await startAgent(config, log);
  const port = (running.server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, agent: running.agent, logs, stateDir, stop: running.stop };
}

/** Polls until `check` holds (the agent pulls and reports asynchronously). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

