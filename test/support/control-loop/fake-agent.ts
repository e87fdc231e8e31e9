/**
 * A fake host agent: a real node:http server on loopback that accepts the worker's signed pushes
 * (`PUT /v1/programming`), verifies them with libs/contracts `verifyPush`, refuses a generation
 * older than the one it applied with 409, records every document it accepted with the time it
 * received it, and answers 200 {appliedGeneration}. It can be stopped (the port closes) and
 * started again on the same port, keeping what it applied (an agent that was down).
 *
 * Incremental pushes (`PATCH /v1/programming`, libs/contracts host-document-patch.ts) are applied
 * with `applyHostPatch` when their base generation is the applied one (409 otherwise), unless the
 * agent is created PUT-only: then a PATCH gets 404, as from a programmer that implements only the
 * full document.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyHostPatch, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyPush, type HostDocument, type HostDocumentPatch } from '@natplane/contracts';

export interface Received {
  /** Date.now() when the whole body had arrived. */
  at: number;
  doc: HostDocument;
  via: 'PUT' | 'PATCH';
}

export class FakeAgent {
  /** Accepted documents, in arrival order. */
  readonly received: Received[] = [];
  /** Pushes refused: bad signature or older generation. */
  readonly refused: { at: number; status: number; reason: string }[] = [];
  appliedGeneration = 0;
  secret = '';
  /** When set, every signed push is answered with this status and problem (a programmer that refuses the documents). */
  refuseAll: { status: number; detail: string } | undefined;
  port = 0;
  private server?: Server;

  constructor(
    readonly name: string,
    readonly opts: { acceptPatch?: boolean } = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get up(): boolean {
    return this.server !== undefined;
  }

  get last(): Received | undefined {
    return this.received[this.received.length - 1];
  }

  /** The last document received at or before `t` (ms), if any. */
  docAt(t: number): HostDocument | undefined {
    let found: HostDocument | undefined;
    for (const r of this.received) {
      if (r.at > t) break;
      found = r.doc;
    }
    return found;
  }

  /** Starts listening (on port 0 the first time, on the same port afterwards). */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 1000;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.port, '127.0.0.1', () => res());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the port and every open connection: pushes fail with a connection error. */
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((res) => {
      s.close(() => res());
      s.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const patching = req.method === 'PATCH' && this.opts.acceptPatch !== false;
      if ((req.method !== 'PUT' && !patching) || req.url !== '/v1/programming') return reply(404, { error: 'not found' });
      const body = Buffer.concat(chunks).toString('utf8');
      const ts = req.headers[TIMESTAMP_HEADER];
      const sig = req.headers[SIGNATURE_HEADER];
      const check = verifyPush(this.secret, typeof ts === 'string' ? ts : undefined, typeof sig === 'string' ? sig : undefined, body, Math.floor(at / 1000));
      if (!check.ok || this.secret === '') {
        this.refused.push({ at, status: 401, reason: check.ok ? 'no secret yet' : check.reason });
        return reply(401, { error: check.ok ? 'no secret' : check.reason });
      }
      if (this.refuseAll) {
        this.refused.push({ at, status: this.refuseAll.status, reason: this.refuseAll.detail });
        return res
          .writeHead(this.refuseAll.status, { 'content-type': 'application/problem+json' })
          .end(JSON.stringify({ type: 'https://natplane.dev/problems/invalid-argument', title: 'Refused', status: this.refuseAll.status, detail: this.refuseAll.detail }));
      }
      let parsed: HostDocument | HostDocumentPatch;
      try {
        parsed = JSON.parse(body) as HostDocument | HostDocumentPatch;
      } catch {
        this.refused.push({ at, status: 400, reason: 'bad json' });
        return reply(400, { error: 'bad json' });
      }
      if (parsed.host !== this.name) {
        this.refused.push({ at, status: 400, reason: `document for ${parsed.host}` });
        return reply(400, { error: 'wrong host' });
      }
      let doc: HostDocument;
      if (patching) {
        const patch = parsed as HostDocumentPatch;
        const current = this.last?.doc;
        if (!current || patch.baseGeneration !== this.appliedGeneration) {
          this.refused.push({ at, status: 409, reason: `patch base ${patch.baseGeneration} <> applied ${this.appliedGeneration}` });
          return res
            .writeHead(409, { 'content-type': 'application/problem+json' })
            .end(JSON.stringify({ type: 'https://natplane.dev/problems/base-generation-mismatch', title: 'Conflict', status: 409, appliedGeneration: this.appliedGeneration }));
        }
        try {
          doc = applyHostPatch(current, patch);
        } catch (e) {
          this.refused.push({ at, status: 400, reason: `patch does not apply: ${e instanceof Error ? e.message : String(e)}` });
          return reply(400, { error: 'patch does not apply' });
        }
      } else {
        doc = parsed as HostDocument;
      }
      if (!Number.isInteger(doc.generation) || doc.generation < this.appliedGeneration) {
        this.refused.push({ at, status: 409, reason: `generation ${doc.generation} < applied ${this.appliedGeneration}` });
        return reply(409, { appliedGeneration: this.appliedGeneration });
      }
      this.appliedGeneration = doc.generation;
      this.received.push({ at, doc, via: patching ? 'PATCH' : 'PUT' });
      return reply(200, { appliedGeneration: doc.generation });
    });
  }
}
