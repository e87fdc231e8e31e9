import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { JobName, JobQueue, Jobs, type JobData } from '@natplane/jobs';
import { Db, ReconcileRepository, type BumpedHost } from '@natplane/persistence';
import type { HostGateway } from '@natplane/contracts';
import { commitOf, decide, fullHosts, goneCommit, incrementalHosts, keptHostStates, keptOf } from '@natplane/planner';
import { HostPusher } from './host-pusher';
import type { JobHandler } from './job-handler';
import { CURRENT, ReconcileLoader, type Gone, type Loaded } from './reconcile-loader';

interface Outcome {
  hostIds: string[];
  hostGenerations: number[];
}

const NOTHING: Outcome = { hostIds: [], hostGenerations: [] };

/** A commit's hosts to program, and the gateway's section of each where the computation built it for a direct push. */
interface Committed {
  gatewayId: string;
  bumped: BumpedHost[];
  sections?: Map<string, { section: HostGateway }>;
}

/**
 * reconcile-gateway: load -> decide -> commit -> push. The loader gives the gateway's inputs
 * (ReconcileLoader: from the worker's cache advanced by the endpoint writes since, without a lock
 * or a transaction, or all from PostgreSQL under the gateway's advisory lock in a transaction);
 * libs/planner decides, purely, the allocation, the block difference, the history rows, each
 * host's section and which hosts get a new document generation; commitReconcile writes all of it
 * in ONE statement under one guard (no other computation committed since, none under way), the
 * same for both; then the hosts whose section changed get it: pushed at once where this worker
 * knows their document (incremental), by a program-host job otherwise. A gateway that no longer
 * exists has its blocks released to quarantine through the same commit.
 *
 * A VM that moved keeps its old host's section unchanged until the new host applied the
 * generation that carries the VM (programmed on the new host before removed from the old one):
 * the old host's row waits on the new host (decided in the commit, on the generations it
 * writes), and the new host's acknowledgement brings the gateway back here. Moves are the full
 * computation's.
 */
@Injectable()
export class ReconcileGatewayHandler implements JobHandler<JobName.ReconcileGateway>, OnApplicationShutdown {
  readonly name = JobName.ReconcileGateway;
  private readonly log = new Logger('reconcile-gateway');

  constructor(
    private readonly db: Db,
    private readonly repo: ReconcileRepository,
    private readonly loader: ReconcileLoader,
    private readonly jobs: JobQueue,
    private readonly pusher: HostPusher,
  ) {}

  async handle(data: JobData<JobName.ReconcileGateway>): Promise<Outcome> {
    const id = data.gatewayId;
    try {
      if (data.reason === undefined) {
        const quick = await this.loader.incremental(id, new Date());
        if (quick === CURRENT) return NOTHING;
        const done = quick && (await this.reconcile(quick));
        if (done) return this.push(done);
      }
      const done = await this.db.transaction(async () => {
        const loaded = await this.loader.full(id, data.reason, new Date());
        if (loaded === CURRENT) return undefined;
        if ('blocks' in loaded) return this.release(loaded);
        const c = await this.reconcile(loaded, data.reason);
        // Under the lock, another commit in between is a rare race of lockGateway's read: roll back and run again.
        if (!c) throw new Error(`gateway ${id}: another reconcile committed meanwhile; computing again`);
        return c;
      });
      return done ? await this.push(done) : NOTHING;
    } catch (e) {
      this.loader.forget(id);
      throw e;
    }
  }

  /**
   * Decides on the loaded inputs and commits. Undefined, having written nothing, when an
   * incremental computation has to be a full one instead (a VM moved, or another computation
   * committed since or is under way: the full one waits for its lock and reads what it committed).
   */
  private async reconcile(l: Loaded, reason?: string): Promise<Committed | undefined> {
    const t0 = performance.now();
    const { gw, run, full } = l;
    const d = decide(gw, run, full?.open);
    // The kept result was updated in place by advance(): a run given up drops it.
    if (run.incremental && d.history.moves.size > 0) return this.giveUp(gw.id);
    const hosts = run.incremental ? incrementalHosts(gw, { ...run, incremental: run.incremental }, d) : fullHosts(gw, run.plan, d, full!.hosts, full!.hostIds);
    const c = await this.repo.commitReconcile(gw.id, commitOf(d, hosts, l.now));
    if (!c) return this.giveUp(gw.id);
    const states = keptHostStates(run.incremental?.prior.hosts ?? new Map(), hosts.drop, c.states);
    this.loader.remember(gw.id, keptOf(gw, run, d, c.seq!, d.history.after(c.opened), states));
    this.log.log(
      `gateway ${gw.projectName}/${gw.name} generation ${gw.generation} (${run.incremental ? 'incremental' : 'full'}${reason ? `, ${reason}` : ''}): ${d.added.length} blocks added, ${d.removed.length} removed, ${c.bumped.length} hosts to program, ${(performance.now() - t0).toFixed(1)} ms`,
    );
    return { gatewayId: gw.id, bumped: c.bumped, sections: run.incremental ? hosts.sections : undefined };
  }

  private giveUp(gatewayId: string): undefined {
    this.loader.forget(gatewayId);
    return undefined;
  }

  /** A gateway that no longer exists: its blocks cool down in quarantine, its history closes, its hosts are reprogrammed. */
  private async release(g: Gone): Promise<Committed> {
    const c = await this.repo.commitReconcile(g.gatewayId, goneCommit(g.blocks, g.open, g.hostIds, g.now));
    if (!c) throw new Error(`gateway ${g.gatewayId}: exists again; computing again`);
    return { gatewayId: g.gatewayId, bumped: c.bumped };
  }

  /**
   * The hosts a commit raised get their new document: the section pushed at once where known, a
   * program-host job otherwise. The section pushes are not waited for (up to BACKGROUND_PUSHES
   * hosts at a time): the gateway's next job, which an endpoint written meanwhile waits for, starts
   * as soon as the commit is made, not a push round trip and an acknowledgement later. Each push
   * takes its host's turn before this returns (HostPusher: pushes to one host go out in the order
   * they were asked for), so the next job's pushes follow these. A push that does not go out, or
   * a worker that dies first, leaves the host behind its desired generation: a program-host job,
   * or the sweeper, pushes its document.
   */
  private async push({ gatewayId, bumped, sections }: Committed): Promise<Outcome> {
    const outcome = { hostIds: bumped.map((h) => h.id), hostGenerations: bumped.map((h) => h.desiredGeneration) };
    if (!sections) {
      await this.jobs.addAll(bumped.map((h) => Jobs.programHost(h.id, h.desiredGeneration)));
      return outcome;
    }
    const pushes = bumped.map(async (h) => ((await this.pusher.pushSection(h, h.desiredGeneration, gatewayId, sections.get(h.id)?.section)) ? undefined : h));
    const done = Promise.all(pushes).then((late) => this.jobs.addAll(late.filter((h) => h !== undefined).map((h) => Jobs.programHost(h.id, h.desiredGeneration))));
    if (this.inBackground + bumped.length > BACKGROUND_PUSHES) {
      await done;
      return outcome;
    }
    this.inBackground += bumped.length;
    const settled = done
      .catch((e: unknown) => this.log.error(`gateway ${gatewayId}: program-host jobs not queued (the sweeper will push the hosts): ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        this.inBackground -= bumped.length;
        this.background.delete(settled);
      });
    this.background.add(settled);
    return outcome;
  }

  /** Section pushes under way in the background (hosts), and their promises. */
  private inBackground = 0;
  private readonly background = new Set<Promise<void>>();

  /** Resolves once every push started so far has settled (for shutdown and tests). */
  async drained(): Promise<void> {
    while (this.background.size > 0) await Promise.all(this.background);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.drained();
  }
}

/** Hosts whose section pushes may be under way after their jobs ended; past it, jobs wait for their pushes again. */
const BACKGROUND_PUSHES = 512;
