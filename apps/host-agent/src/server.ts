/**
 * The agent's HTTP surface (node:http, nothing else):
 *   PUT   /v1/programming   signed whole document            -> 200 {appliedGeneration} after the commit
 *   PATCH /v1/programming   signed incremental patch          -> same, or 409 base-generation-mismatch
 *   GET   /v1/status        host, backend, uplink, applied generation, errors (no secrets, no document)
 *   GET   /healthz          process up
 * Errors are application/problem+json.
 */
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from '@natplane/contracts';
import { Agent, PROBLEM_BASE } from './agent';
import { Logger, errorMessage } from './log';

/** A 50,000-endpoint document is about 12 MB. */
const MAX_BODY_BYTES = 128 * 1024 * 1024;

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const problem = status >= 400;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': problem ? 'application/problem+json' : 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendProblem(res: ServerResponse, status: number, slug: string, title: string, detail: string): void {
  send(res, status, { type: PROBLEM_BASE + slug, title, status, detail });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function createAgentServer(agent: Agent, log: Logger): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' && req.method === 'GET') return send(res, 200, { status: 'ok' });
    if (path === '/v1/status' && req.method === 'GET') return send(res, 200, agent.status());
    if (path !== '/v1/programming') return sendProblem(res, 404, 'not-found', 'Not found', `no route ${req.method ?? ''} ${path}`);
    if (req.method !== 'PUT' && req.method !== 'PATCH') {
      res.setHeader('allow', 'PUT, PATCH');
      return sendProblem(res, 405, 'method-not-allowed', 'Method not allowed', `${req.method ?? ''} is not allowed on ${path}`);
    }
    let body: string;
    try {
      body = await readBody(req);
    } catch (e) {
      if (e instanceof BodyTooLarge) return sendProblem(res, 413, 'payload-too-large', 'Payload too large', `the body exceeds ${MAX_BODY_BYTES} bytes`);
      throw e;
    }
    const headers = { timestamp: header(req, TIMESTAMP_HEADER), signature: header(req, SIGNATURE_HEADER) };
    const outcome = req.method === 'PUT' ? await agent.push(body, headers) : await agent.patch(body, headers);
    if (outcome.status !== 200) log.warn('push refused', { method: req.method, status: outcome.status, detail: outcome.body.detail });
    send(res, outcome.status, outcome.body);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      log.error('request failed', { error: errorMessage(e), url: req.url });
      if (!res.headersSent) sendProblem(res, 500, 'internal', 'Internal error', 'an internal error occurred');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}
