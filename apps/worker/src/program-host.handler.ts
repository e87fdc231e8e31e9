import { Injectable, Logger } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import { diffHostDocuments, signPush, SIGNATURE_HEADER, TIMESTAMP_HEADER, type HostDocument } from '@natplane/contracts';
import { JobName, JobQueue, type JobData } from '@natplane/jobs';
import { buildHostDocument, HostProgrammingRepository, HostsRepository } from '@natplane/persistence';
import type { JobHandler } from './job-handler';

const PUSH_TIMEOUT_MS = 5000;
/** Pushes reuse connections to agents (node:http rather than fetch: a fraction of the CPU per push). */
const AGENTS = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 4 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 4 }) };
/** Documents kept per worker to send differences (bounded; a miss just means a full push). */
const SENT_CACHE_MAX = 5000;

class PushError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * program-host: build the host's whole document at its desired generation and push it signed to
 * the agent; record the generation the agent acknowledged. When this worker knows the document
 * the agent applied (it sent it), it pushes only the difference (PATCH, natplane.host/v1 patch:
 * a one-endpoint change instead of the whole table); the agent answers 409 when its base differs
 * and the whole document follows at once (PUT). A failed push is recorded on the host's status
 * and retried with backoff (the job's attempts, then the sweeper).
 */
@Injectable()
export class ProgramHostHandler implements JobHandler<JobName.ProgramHost> {
  readonly name = JobName.ProgramHost;
  private readonly log = new Logger('program-host');
  private readonly sent = new Map<string, HostDocument>();

  constructor(
    private readonly programming: HostProgrammingRepository,
    private readonly hosts: HostsRepository,
    private readonly jobs: JobQueue,
  ) {}

  async handle(data: JobData<JobName.ProgramHost>): Promise<{ applied?: number }> {
    const found = await this.programming.document(data.hostId);
    if (!found) return {};
    const { host } = found;
    // Jobs of a host coalesce: a follow-up may find its generation pushed already.
    if (host.appliedGeneration >= host.desiredGeneration) return { applied: host.appliedGeneration };
    const doc = buildHostDocument(host.name, host.desiredGeneration, found.blocks);
    const base = this.sent.get(host.id);
    try {
      let applied: number | undefined;
      if (base && base.generation < doc.generation) {
        try {
          applied = await this.push(host.agentUrl, host.pushSecret, 'PATCH', JSON.stringify(diffHostDocuments(base, doc)));
        } catch (e) {
          if (!(e instanceof PushError && e.status === 409)) throw e;
          // The agent holds another base: fall back to the whole document.
        }
      }
      applied ??= await this.push(host.agentUrl, host.pushSecret, 'PUT', JSON.stringify(doc));
      this.remember(host.id, doc);
      // VMs that moved here can now leave their old hosts.
      const waiting = await this.programming.acknowledged(host.id, applied);
      await this.jobs.addAll(waiting.map((gatewayId) => ({ name: JobName.ReconcileGateway, data: { gatewayId, generation: applied, reason: 'host-applied' as const } })));
      return { applied };
    } catch (e) {
      this.sent.delete(host.id);
      const msg = `push of generation ${doc.generation} to ${host.agentUrl} failed: ${e instanceof Error ? e.message : String(e)}`;
      await this.hosts.recordPushFailure(host.id, msg);
      this.log.warn(msg);
      throw e instanceof Error ? e : new Error(msg);
    }
  }

  /** One signed request; resolves to the generation the agent holds. */
  private async push(agentUrl: string, secret: string, method: 'PUT' | 'PATCH', body: string): Promise<number> {
    const ts = Math.floor(Date.now() / 1000);
    const res = await send(`${agentUrl.replace(/\/$/, '')}/v1/programming`, method, body, {
      'content-type': 'application/json',
      [SIGNATURE_HEADER]: signPush(secret, ts, body),
      [TIMESTAMP_HEADER]: String(ts),
    });
    let reply: { appliedGeneration?: number } = {};
    try {
      reply = JSON.parse(res.body) as { appliedGeneration?: number };
    } catch {
      // not JSON: judged by the status alone
    }
    const ok = res.status >= 200 && res.status < 300;
    if (ok && typeof reply.appliedGeneration === 'number') return reply.appliedGeneration;
    // A PUT refused as older: the agent already applied a newer generation than this one.
    if (method === 'PUT' && res.status === 409 && typeof reply.appliedGeneration === 'number') return reply.appliedGeneration;
    throw new PushError(`agent answered ${res.status} to ${method}`, res.status);
  }

  private remember(hostId: string, doc: HostDocument): void {
    this.sent.delete(hostId);
    if (this.sent.size >= SENT_CACHE_MAX) this.sent.delete(this.sent.keys().next().value!);
    this.sent.set(hostId, doc);
  }
}

/** One HTTP(S) request with a body; resolves to the status and the body text. */
function send(url: string, method: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
  if (!lib) return Promise.reject(new PushError(`agentUrl ${url}: not http or https`));
  return new Promise((resolve, reject) => {
    const req = lib.request(
      u,
      { method, agent: AGENTS[u.protocol as 'http:' | 'https:'], headers: { ...headers, 'content-length': Buffer.byteLength(body) }, timeout: PUSH_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PUSH_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
