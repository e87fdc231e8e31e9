/**
 * The agent's HTTP surface (node:http, nothing else):
 *   PUT   /v1/programming   signed whole document            -> 200 {appliedGeneration} after the commit
 *   PATCH /v1/programming   signed incremental patch          -> same, or 409 base-generation-mismatch
 *   GET   /v1/status        host, backend, uplink, applied generation, errors (no secrets, no document);
 *                           with `Authorization: Bearer <the host token>` only
 *   GET   /healthz          process up
 *   GET   /metrics          Prometheus text (agent-metrics.ts); NATPLANE_METRICS_TOKEN, when set, as a bearer token
 * Errors are application/problem+json.
 *
 * A push is judged by its headers before its body is read: an unsigned or stale push (401) or
 * one declaring more than the document bound (413) is answered at once, and what it sends after
 * is discarded, never held. Bodies being read at once hold at most twice the bound in all (503,
 * Retry-After, beyond).
 */
import { timingSafeEqual } from 'node:crypto';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from '@natplane/contracts';
import { Agent, PROBLEM_BASE, type Refusal } from './agent';
import { DEFAULT_MAX_DOCUMENT_BYTES } from './config';
import { agentRegistry, metricsAuthorized, observeRefusal } from './agent-metrics';
import { Logger, errorMessage } from './log';

export { DEFAULT_MAX_DOCUMENT_BYTES } from './config';

export interface AgentServerOptions {
  /** The host token: the credential GET /v1/status asks for (empty: status refused to everyone). */
  hostToken: string;
  /** The bound of a pushed body. */
  maxDocumentBytes?: number;
}

class BodyTooLarge extends Error {}

/** Bytes of request bodies being read now, across requests; reserved as they arrive. */
class BodyBudget {
  used = 0;
  constructor(readonly limit: number) {}
}

function readBody(req: IncomingMessage, max: number, budget: BodyBudget): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      budget.used -= size;
      if (e) {
        // Stop holding it; whatever else arrives is read and dropped while the answer goes out.
        chunks.length = 0;
        req.removeListener('data', onData);
        req.resume();
        reject(e);
      } else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (c: Buffer) => {
      size += c.length;
      budget.used += c.length;
      if (size > max) finish(new BodyTooLarge());
      else chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => finish());
    req.on('error', (e) => finish(e));
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const problem = status >= 400;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': problem ? 'application/problem+json' : 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendProblem(res: ServerResponse, status: number, slug: string, title: string, detail: string, headers: Record<string, string> = {}): void {
  send(res, status, { type: PROBLEM_BASE + slug, title, status, detail }, headers);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function bearerIs(req: IncomingMessage, token: Buffer): boolean {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(header(req, 'authorization') ?? '')?.[1];
  if (given === undefined || token.length === 0) return false;
  const b = Buffer.from(given);
  return b.length === token.length && timingSafeEqual(b, token);
}

/** How often at most a kind of refusal that means something is wrong is logged (the rest are counted). */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Refused pushes: every one is counted (natplane_agent_push_refusals_total). A 409 (another
 * generation or base: pushes crossing, which the pusher absorbs by sending the whole document) is
 * logged at debug only. Any other (a bad signature, a document this host cannot take) means
 * something is wrong: logged at warn, but at most once a minute per status and reason, with how
 * many more there were since, so a flood of bad pushes cannot bury the log.
 */
export class RefusalLog {
  private readonly last = new Map<string, { at: number; since: number }>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  note(method: string, refusal: Refusal): void {
    const reason = refusal.body.type.startsWith(PROBLEM_BASE) ? refusal.body.type.slice(PROBLEM_BASE.length) : refusal.body.type;
    observeRefusal(method, refusal.status, reason);
    const fields = { method, status: refusal.status, reason, detail: refusal.body.detail };
    if (refusal.status === 409) return this.log.debug('push refused', fields);
    const key = `${refusal.status} ${reason}`;
    const seen = this.last.get(key);
    const t = this.now();
    if (seen && t - seen.at < REFUSAL_LOG_INTERVAL_MS) {
      seen.since++;
      return;
    }
    this.last.set(key, { at: t, since: 0 });
    this.log.warn('push refused', seen?.since ? { ...fields, alsoRefusedSinceLastLine: seen.since } : fields);
  }
}

export function createAgentServer(agent: Agent, log: Logger, opts: AgentServerOptions): Server {
  const refusals = new RefusalLog(log);
  const max = opts.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  const budget = new BodyBudget(2 * max);
  const hostToken = Buffer.from(opts.hostToken);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' && req.method === 'GET') return send(res, 200, { status: 'ok' });
    if (path === '/v1/status' && req.method === 'GET') {
      if (!bearerIs(req, hostToken)) return sendProblem(res, 401, 'unauthenticated', 'Unauthenticated', 'GET /v1/status needs Authorization: Bearer <the host token this agent runs with>');
      return send(res, 200, agent.status());
    }
    if (path === '/metrics' && req.method === 'GET') {
      if (!metricsAuthorized(process.env.NATPLANE_METRICS_TOKEN || undefined, header(req, 'authorization'))) {
        return sendProblem(res, 401, 'unauthenticated', 'Unauthenticated', 'GET /metrics needs the bearer token NATPLANE_METRICS_TOKEN');
      }
      const text = await agentRegistry.metrics();
      res.writeHead(200, { 'content-type': agentRegistry.contentType, 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (path !== '/v1/programming') return sendProblem(res, 404, 'not-found', 'Not found', `no route ${req.method ?? ''} ${path}`);
    if (req.method !== 'PUT' && req.method !== 'PATCH') {
      res.setHeader('allow', 'PUT, PATCH');
      return sendProblem(res, 405, 'method-not-allowed', 'Method not allowed', `${req.method ?? ''} is not allowed on ${path}`);
    }
    const headers = { timestamp: header(req, TIMESTAMP_HEADER), signature: header(req, SIGNATURE_HEADER) };
    // Headers first: nothing of a push refused here is read.
    const refused = agent.checkHeaders(headers);
    if (refused) {
      refusals.note(req.method ?? '', refused);
      return send(res, refused.status, refused.body);
    }
    const declared = Number(header(req, 'content-length') ?? NaN);
    if (declared > max) return sendProblem(res, 413, 'payload-too-large', 'Payload too large', `the body (${declared} bytes) exceeds ${max} bytes, the largest document this host takes`);
    if (budget.used + (Number.isFinite(declared) ? declared : max) > budget.limit) {
      return sendProblem(res, 503, 'busy', 'Busy', `other pushes are being read (${budget.used} bytes); retry`, { 'retry-after': '1' });
    }
    let body: string;
    try {
      body = await readBody(req, max, budget);
    } catch (e) {
      if (e instanceof BodyTooLarge) return sendProblem(res, 413, 'payload-too-large', 'Payload too large', `the body exceeds ${max} bytes, the largest document this host takes`);
      throw e;
    }
    const outcome = req.method === 'PUT' ? await agent.push(body, headers) : await agent.patch(body, headers);
    if (outcome.status !== 200) refusals.note(req.method ?? '', outcome);
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
