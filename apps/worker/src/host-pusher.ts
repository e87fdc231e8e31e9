import { Injectable, Logger } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import {
  applyHostPatch,
  diffHostDocuments,
  gatewaySectionPatch,
  signPush,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  type HostDocument,
  type HostGateway,
} from '@natplane/contracts';
import { JobQueue, Jobs } from '@natplane/jobs';
import { aheadMessage, HostProgrammingRepository, HostsRepository } from '@natplane/persistence';
import { observePush } from './metrics/worker-metrics';

const PUSH_TIMEOUT_MS = 5000;
/** Pushes reuse connections to agents (node:http rather than fetch: a fraction of the CPU per push). */
const AGENTS = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 4 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 4 }) };
/** Documents kept per worker to send differences (bounded; a miss just means a full push). */
const SENT_CACHE_MAX = 5000;

/** Where and how to reach a host's agent. */
export interface PushTarget {
  id: string;
  name: string;
  agentUrl: string;
  pushSecret: string;
}

/** A push that failed; `status` is the agent's answer, undefined when it gave none. */
class PushError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** A 409 naming the generation the agent holds (`held`): an older generation, or (PATCH) another base. */
class AgentHolds extends PushError {
  constructor(
    message: string,
    readonly held: number,
  ) {
    super(message, 409);
  }
}

/**
 * What became of a whole document's push: `applied`, the generation the agent acknowledged (at
 * most the desired one); `movedPast`, the agent holds a generation past the host's desired one
 * (one this control plane never gave it), whose desired generation moved past it: build and push
 * the document again, at that generation; `superseded`, the agent holds a newer generation of
 * ours (a push that overtook this one acknowledges it): nothing to record.
 */
export type PushOutcome = { kind: 'applied'; applied: number } | { kind: 'movedPast'; desired: number } | { kind: 'superseded'; held: number };

/**
 * Pushes host documents to agents, signed (HMAC-SHA256 of timestamp and body), and records what
 * they acknowledged. It keeps the document each agent last acknowledged from this worker, so
 * that a change goes out as the difference (PATCH, natplane.host/v1 patch) rather than the whole
 * table; the agent answers 409 when its base differs, and the whole document follows (PUT).
 *
 * One push per host at a time (per worker): the reconciler's section patches and program-host's
 * documents for one host run one after the other, and each looks at what the agent acknowledged
 * last only once its turn comes. So a patch never goes out on a base the agent has left, and a
 * document never goes out older than one the agent acknowledged: with one worker, an agent in
 * steady state never refuses a push (before, two pushes to one host raced, and the loser was
 * refused: about 1.4 refusals a second in the soak bench). With several workers, a refusal can
 * still happen; it is absorbed (the whole document follows) and counted
 * (natplane_worker_host_pushes_total{outcome="refused"}), not logged.
 */
@Injectable()
export class HostPusher {
  private readonly log = new Logger('program-host');
  private readonly sent = new Map<string, HostDocument>();
  /** Per host, the end of the chain of pushes waiting their turn (absent: none). */
  private readonly turns = new Map<string, Promise<void>>();

  constructor(
    private readonly programming: HostProgrammingRepository,
    private readonly hosts: HostsRepository,
    private readonly jobs: JobQueue,
  ) {}

  /**
   * The host's whole document: the difference when this worker knows the agent's base, else
   * the document itself. A failure is recorded on the host's status (with the agent's answer,
   * if any) and thrown (the job retries with backoff, then the sweeper). A 409 "older
   * generation" to the whole document is never an acknowledgement (see PushOutcome).
   */
  pushDocument(host: PushTarget, doc: HostDocument): Promise<PushOutcome> {
    return this.inTurn(host.id, () => this.pushDocumentNow(host, doc));
  }

  private async pushDocumentNow(host: PushTarget, doc: HostDocument): Promise<PushOutcome> {
    const base = this.sent.get(host.id);
    if (base && base.generation >= doc.generation) {
      // The agent acknowledged this generation or a newer one while this push waited (a section
      // patch of this worker): nothing to send; record it again in case that record failed.
      await this.acknowledged(host.id, base.generation);
      return { kind: 'applied', applied: doc.generation };
    }
    try {
      let applied: number | undefined;
      if (base && base.generation < doc.generation) {
        try {
          applied = await this.send(host, 'PATCH', JSON.stringify(diffHostDocuments(base, doc)));
        } catch (e) {
          if (!(e instanceof PushError && e.status === 409)) throw e;
          // The agent holds another base: fall back to the whole document.
        }
      }
      if (applied === undefined) {
        try {
          applied = await this.send(host, 'PUT', JSON.stringify(doc));
        } catch (e) {
          if (!(e instanceof AgentHolds && e.held > doc.generation)) throw e;
          this.sent.delete(host.id);
          const desired = await this.hosts.movePast(host.id, e.held);
          if (desired === undefined) return { kind: 'superseded', held: e.held };
          this.log.warn(`${host.name}: ${aheadMessage(e.held, desired)}`);
          return { kind: 'movedPast', desired };
        }
      }
      this.remember(host.id, doc);
      await this.acknowledged(host.id, applied);
      return { kind: 'applied', applied: Math.min(applied, doc.generation) };
    } catch (e) {
      this.sent.delete(host.id);
      const msg = `push of generation ${doc.generation} to ${host.agentUrl} failed: ${e instanceof Error ? e.message : String(e)}`;
      await this.hosts.recordPushFailure(host.id, msg, e instanceof PushError ? e.status : undefined);
      this.log.warn(msg);
      throw e instanceof Error ? e : new Error(msg);
    }
  }

  /**
   * One gateway's computation raised the host to `generation` by changing only that gateway's
   * section there (`section`; undefined: nothing of it left on the host). When this worker holds
   * the document the agent acknowledged at generation - 1, the change goes out now as a patch,
   * with no job and no read of the host's document. Returns false when it did not go out (no or
   * another base, the push failed or was refused): a program-host job then pushes the document.
   */
  pushSection(host: PushTarget, generation: number, gatewayId: string, section: HostGateway | undefined): Promise<boolean> {
    return this.inTurn(host.id, () => this.pushSectionNow(host, generation, gatewayId, section));
  }

  private async pushSectionNow(host: PushTarget, generation: number, gatewayId: string, section: HostGateway | undefined): Promise<boolean> {
    const base = this.sent.get(host.id);
    if (!base || base.generation !== generation - 1) return false;
    const patch = gatewaySectionPatch(base, generation, gatewayId, section);
    let applied: number;
    try {
      applied = await this.send(host, 'PATCH', JSON.stringify(patch));
    } catch {
      this.sent.delete(host.id);
      return false;
    }
    this.remember(host.id, applyHostPatch(base, patch));
    await this.acknowledged(host.id, applied);
    return true;
  }

  /** Runs `push` once every push to `hostId` queued before it has finished (whatever its outcome). */
  private inTurn<T>(hostId: string, push: () => Promise<T>): Promise<T> {
    const before = this.turns.get(hostId);
    const run = before ? before.then(push) : push();
    const end = run.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(hostId, end);
    void end.then(() => {
      if (this.turns.get(hostId) === end) this.turns.delete(hostId);
    });
    return run;
  }

  /** Records the generation the agent holds; VMs that moved to this host can now leave their old hosts. */
  private async acknowledged(hostId: string, applied: number): Promise<void> {
    const waiting = await this.programming.acknowledged(hostId, applied);
    await this.jobs.addAll(waiting.map((gatewayId) => Jobs.hostApplied(gatewayId, applied)));
  }

  /** One signed request, timed and counted (natplane_worker_host_pushes_total). */
  private send(host: PushTarget, method: 'PUT' | 'PATCH', body: string): Promise<number> {
    return observePush(method, () => this.sendOnce(host, method, body), (e) => e instanceof PushError && e.status === 409);
  }

  /** One signed request; resolves to the generation the agent holds. */
  private async sendOnce(host: PushTarget, method: 'PUT' | 'PATCH', body: string): Promise<number> {
    const ts = Math.floor(Date.now() / 1000);
    const res = await request(`${host.agentUrl.replace(/\/$/, '')}/v1/programming`, method, body, {
      'content-type': 'application/json',
      [SIGNATURE_HEADER]: signPush(host.pushSecret, ts, body),
      [TIMESTAMP_HEADER]: String(ts),
    });
    let reply: { appliedGeneration?: unknown; detail?: unknown } = {};
    try {
      reply = JSON.parse(res.body) as { appliedGeneration?: unknown; detail?: unknown };
    } catch {
      // not JSON: judged by the status alone
    }
    const held = typeof reply.appliedGeneration === 'number' && Number.isSafeInteger(reply.appliedGeneration) ? reply.appliedGeneration : undefined;
    const ok = res.status >= 200 && res.status < 300;
    if (ok && held !== undefined) return held;
    const said = typeof reply.detail === 'string' ? `: ${reply.detail.slice(0, 500)}` : '';
    // Refused, naming the generation it holds: an older generation (PUT), another base (PATCH).
    if (res.status === 409 && held !== undefined) throw new AgentHolds(`agent answered 409 to ${method} (it holds generation ${held})${said}`, held);
    throw new PushError(`agent answered ${res.status} to ${method}${said}`, res.status);
  }

  /** Keeps the newest document acknowledged per host (pushes to one host may finish out of order). */
  private remember(hostId: string, doc: HostDocument): void {
    const kept = this.sent.get(hostId);
    if (kept && kept.generation > doc.generation) return;
    this.sent.delete(hostId);
    if (this.sent.size >= SENT_CACHE_MAX) this.sent.delete(this.sent.keys().next().value!);
    this.sent.set(hostId, doc);
  }
}

/** One HTTP(S) request with a body; resolves to the status and the body text. */
function request(url: string, method: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
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
