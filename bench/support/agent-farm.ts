/**
 * Bench support: many simulated host agents (real HTTP listeners on loopback) in ONE child
 * process, so that the bench's own timing loop is not starved by push handling.
 *
 * Each agent accepts `PUT /v1/programming` (the whole document) and `PATCH /v1/programming` (an
 * incremental HostDocumentPatch) exactly as a real programmer does: it verifies the HMAC
 * signature and timestamp with the host's push secret (verifyPush), refuses a PUT older than the
 * generation it applied and a PATCH whose baseGeneration is not the one it applied (409 with its
 * appliedGeneration), applies a patch to the document it holds (applyHostPatch), and answers 200
 * {appliedGeneration}. It reports to the parent over IPC:
 *  - `seen`: endpoint ids that appear for the first time on that agent with an active block
 *    (one message per push that brought new ones, stamped with the receive time);
 *  - `watch-done`: the first push after `watch()` in which every endpoint of the watched gateway
 *    on that host has an active block of the watched size (and there are as many as expected).
 *
 * Times are epoch milliseconds with sub-millisecond precision (`wallNow`), comparable across
 * processes on one machine.
 *
 * Parent side: `startAgentFarm(n)`. Child side: this same file run through `fork()`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { verifyPush } from '../../libs/contracts/src/signature';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, type HostDocument } from '../../libs/contracts/src/host-document';
import { applyHostPatch, type HostDocumentPatch } from '../../libs/contracts/src/host-document-patch';

/** Epoch milliseconds, sub-millisecond resolution, monotonic within a process. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface FarmStats {
  pushes: number;
  /** Pushes answered 200 (applied), 409 (older generation / other base) and 401 (bad signature). */
  applied: number;
  /** Of the pushes, how many were PATCHes (incremental). */
  patches: number;
  stale: number;
  badSignature: number;
  bytes: number;
  /** Pushes per agent: max and how many agents got at least one. */
  maxPerAgent: number;
  agentsPushed: number;
  /** Largest document received (bytes). */
  maxDocBytes: number;
  /** Time spent in the farm's handlers (verify + parse + scan), ms. */
  handlerMs: number;
}

interface Watch {
  gateway: string;
  size: number;
  expected: number[];
  done: boolean[];
}

type ToChild =
  | { type: 'listen'; count: number }
  | { type: 'secret'; h: number; secret: string }
  | { type: 'watch'; gateway: string; size: number; expected: number[] }
  | { type: 'stats'; reset?: boolean };

type ToParent =
  | { type: 'ports'; ports: number[] }
  | { type: 'ok' }
  | { type: 'stats'; stats: FarmStats }
  | { type: 'seen'; h: number; t: number; ids: string[] }
  | { type: 'watch-done'; h: number; t: number }
  | { type: 'error'; message: string };

// ---------------------------------------------------------------- child side

function child(): void {
  const servers: Server[] = [];
  const secrets: string[] = [];
  let applied: number[] = [];
  let docs: (HostDocument | undefined)[] = [];
  let seen: Set<string>[] = [];
  let perAgent: number[] = [];
  let watch: Watch | undefined;
  const stats: FarmStats = { pushes: 0, patches: 0, applied: 0, stale: 0, badSignature: 0, bytes: 0, maxPerAgent: 0, agentsPushed: 0, maxDocBytes: 0, handlerMs: 0 };
  const send = (m: ToParent) => process.send?.(m);

  const handle = (h: number, req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const t = wallNow();
      const body = Buffer.concat(chunks).toString('utf8');
      if ((req.method !== 'PUT' && req.method !== 'PATCH') || req.url !== '/v1/programming') {
        res.writeHead(404).end();
        return;
      }
      stats.pushes++;
      stats.bytes += body.length;
      stats.maxDocBytes = Math.max(stats.maxDocBytes, body.length);
      if (perAgent[h]++ === 0) stats.agentsPushed++;
      stats.maxPerAgent = Math.max(stats.maxPerAgent, perAgent[h]);
      const sig = verifyPush(secrets[h] ?? '', header(req, TIMESTAMP_HEADER), header(req, SIGNATURE_HEADER), body, Math.floor(Date.now() / 1000));
      if (!sig.ok) {
        stats.badSignature++;
        json(res, 401, { error: sig.reason });
        stats.handlerMs += wallNow() - t;
        return;
      }
      let doc: HostDocument;
      try {
        if (req.method === 'PATCH') {
          stats.patches++;
          const patch = JSON.parse(body) as HostDocumentPatch;
          const held = docs[h];
          if (!held || patch.baseGeneration !== applied[h]) {
            stats.stale++;
            json(res, 409, { type: 'https://natplane.dev/problems/base-generation-mismatch', appliedGeneration: applied[h] });
            stats.handlerMs += wallNow() - t;
            return;
          }
          doc = applyHostPatch(held, patch);
        } else {
          doc = JSON.parse(body) as HostDocument;
        }
      } catch (e) {
        json(res, 400, { error: e instanceof Error ? e.message : 'bad body' });
        return;
      }
      if (doc.generation < applied[h]) {
        stats.stale++;
        json(res, 409, { appliedGeneration: applied[h] });
        stats.handlerMs += wallNow() - t;
        return;
      }
      applied[h] = doc.generation;
      docs[h] = doc;
      stats.applied++;
      json(res, 200, { appliedGeneration: doc.generation });

      const fresh: string[] = [];
      const s = seen[h];
      for (const gw of doc.gateways) {
        for (const ep of gw.endpoints) {
          if (!s.has(ep.id) && ep.mappings.some((m) => m.active)) {
            s.add(ep.id);
            fresh.push(ep.id);
          }
        }
      }
      if (fresh.length) send({ type: 'seen', h, t, ids: fresh });
      if (watch && !watch.done[h]) {
        const gw = doc.gateways.find((g) => g.name === watch!.gateway);
        const n = gw?.endpoints.length ?? 0;
        const size = watch.size;
        const ok =
          n === watch.expected[h] &&
          (gw?.endpoints ?? []).every((ep) => ep.mappings.length > 0 && ep.mappings.every((m) => m.active && m.active.portHi - m.active.portLo + 1 === size));
        if (ok) {
          watch.done[h] = true;
          send({ type: 'watch-done', h, t });
        }
      }
      stats.handlerMs += wallNow() - t;
    });
  };

  process.on('message', (m: ToChild) => {
    switch (m.type) {
      case 'listen': {
        applied = new Array<number>(m.count).fill(0);
        docs = new Array<HostDocument | undefined>(m.count);
        seen = Array.from({ length: m.count }, () => new Set<string>());
        perAgent = new Array<number>(m.count).fill(0);
        let pending = m.count;
        const ports = new Array<number>(m.count);
        for (let h = 0; h < m.count; h++) {
          const srv = createServer((req, res) => handle(h, req, res));
          srv.keepAliveTimeout = 60_000;
          srv.on('error', (e) => send({ type: 'error', message: `agent ${h}: ${e.message}` }));
          srv.listen(0, '127.0.0.1', () => {
            const a = srv.address();
            ports[h] = typeof a === 'object' && a ? a.port : 0;
            if (--pending === 0) send({ type: 'ports', ports });
          });
          servers.push(srv);
        }
        break;
      }
      case 'secret':
        secrets[m.h] = m.secret;
        send({ type: 'ok' });
        break;
      case 'watch':
        watch = { gateway: m.gateway, size: m.size, expected: m.expected, done: m.expected.map((e) => e === 0) };
        send({ type: 'ok' });
        break;
      case 'stats':
        send({ type: 'stats', stats: { ...stats } });
        if (m.reset) {
          Object.assign(stats, { pushes: 0, patches: 0, applied: 0, stale: 0, badSignature: 0, bytes: 0, maxPerAgent: 0, agentsPushed: 0, maxDocBytes: 0, handlerMs: 0 });
          perAgent.fill(0);
        }
        break;
    }
  });
  process.on('disconnect', () => process.exit(0));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) }).end(s);
}

// ---------------------------------------------------------------- parent side

export interface AgentFarm {
  /** agentUrl of agent h. */
  urls: string[];
  child: ChildProcess;
  /** The push secret of agent h (as soon as its host is created: the worker may push at once). */
  setSecret(h: number, secret: string): Promise<void>;
  /** Report hosts whose document has every endpoint of `gateway` at exactly `size` ports. */
  watch(gateway: string, size: number, expected: number[]): Promise<void>;
  stats(reset?: boolean): Promise<FarmStats>;
  onSeen(cb: (h: number, t: number, ids: string[]) => void): void;
  onWatchDone(cb: (h: number, t: number) => void): void;
  stop(): Promise<void>;
}

export async function startAgentFarm(count: number, nodeArgs: string[] = []): Promise<AgentFarm> {
  const child = fork(__filename, [], { env: { ...process.env, NATPLANE_AGENT_FARM_CHILD: '1' }, execArgv: nodeArgs, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waiters = new Map<string, ((m: ToParent) => void)[]>();
  let seenCb: (h: number, t: number, ids: string[]) => void = () => undefined;
  let watchCb: (h: number, t: number) => void = () => undefined;
  child.on('message', (m: ToParent) => {
    if (m.type === 'seen') return seenCb(m.h, m.t, m.ids);
    if (m.type === 'watch-done') return watchCb(m.h, m.t);
    if (m.type === 'error') process.stderr.write(`agent farm: ${m.message}\n`);
    const q = waiters.get(m.type);
    q?.shift()?.(m);
  });
  const ask = <T extends ToParent['type']>(msg: ToChild, answer: T): Promise<Extract<ToParent, { type: T }>> =>
    new Promise((resolve, reject) => {
      if (!waiters.has(answer)) waiters.set(answer, []);
      waiters.get(answer)!.push((m) => resolve(m as Extract<ToParent, { type: T }>));
      child.send(msg, (e) => e && reject(e));
    });
  const exitedEarly = exited.then(() => {
    throw new Error('agent farm exited');
  });
  const { ports } = await Promise.race([ask({ type: 'listen', count }, 'ports'), exitedEarly]);
  exitedEarly.catch(() => undefined);
  return {
    urls: ports.map((p) => `http://127.0.0.1:${p}`),
    child,
    async setSecret(h, secret) {
      await ask({ type: 'secret', h, secret }, 'ok');
    },
    async watch(gateway, size, expected) {
      await ask({ type: 'watch', gateway, size, expected }, 'ok');
    },
    async stats(reset) {
      return (await ask({ type: 'stats', reset }, 'stats')).stats;
    },
    onSeen(cb) {
      seenCb = cb;
    },
    onWatchDone(cb) {
      watchCb = cb;
    },
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

if (process.env.NATPLANE_AGENT_FARM_CHILD === '1' && require.main === module) child();
