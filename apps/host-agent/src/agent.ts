/**
 * The host agent's core, without HTTP: generation fencing, applying documents and patches to the
 * backend (one transaction each, one at a time), pulling as a safety net, reporting.
 *
 * - A push (PUT, full document) or a pull brings a whole document: the first one, or any after a
 *   failure, is loaded whole (`delete table` + create, atomically); later ones as the difference
 *   from the applied document.
 * - A patch (PATCH) applies only on top of the generation it names; otherwise the sender must
 *   fall back to a full push.
 * - A generation older than the applied one is refused; the same one is acknowledged unchanged.
 * - Ports released by a change have their leftover connections removed from conntrack after the
 *   commit; reports go out every few seconds and right after an apply.
 * - Pulls are the safety net for pushes that did not come, so they wait while pushes are coming
 *   (one within the last pushQuietMs): a document pulled behind the pusher's back would make its
 *   next patch miss its base, and be refused (docs/host-protocol.md, "Pushes and pulls").
 */
import { HostDocument, HostDocumentPatch, HostReport, SignatureCheck, applyHostPatch, checkPushHeaders, verifyPush } from '@natplane/contracts';
import {
  BlockIndex,
  FieldError,
  HostModel,
  InterfaceIds,
  ReleasedRange,
  documentWarnings,
  namedInterfaces,
  releasedBetween,
  validateHostDocument,
  validateHostPatchShape,
} from '@natplane/nftables';
import { ApiClient } from './api-client';
import { observeApply, observeReport } from './agent-metrics';
import { Backend } from './backend';
import { Logger, errorMessage } from './log';
import { ReplyRouting } from './reply-routing';

export const PROBLEM_BASE = 'https://natplane.dev/problems/';
const REPORT_GAP_MS = 1000;
const RELEASE_GAP_MS = 500;

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  appliedGeneration?: number;
}

export type Refusal = { status: 400 | 401 | 409 | 500 | 503; body: Problem };
export type Outcome = { status: 200; body: { appliedGeneration: number } } | Refusal;

export interface AgentOptions {
  host: string;
  pushSecret: string;
  uplink: string;
  backend: Backend;
  api: ApiClient;
  log: Logger;
  pullIntervalMs: number;
  reportIntervalMs: number;
  /** Seconds since the epoch (tests move it). */
  nowSec?: () => number;
  /**
   * Devices named by endpoints (hosts shared by networks): the ids they had in the table found at
   * start (read before the first load, so live connections keep their zone), and the routing of
   * their replies. Both only where the data plane is the host's own (nftables).
   */
  interfaceIds?: () => Promise<[string, number][]>;
  routing?: ReplyRouting;
  /** How long after a push a pull waits (DEFAULT_PUSH_QUIET_MS). */
  pushQuietMs?: number;
}

/** A pull waits until no push has come for this long (pushes keep the host current meanwhile). */
export const DEFAULT_PUSH_QUIET_MS = 2000;

function problem(status: 400 | 401 | 409 | 500 | 503, slug: string, title: string, detail: string, extra: Partial<Problem> = {}): Refusal {
  return { status, body: { type: PROBLEM_BASE + slug, title, status, detail, ...extra } };
}

export class Agent {
  private model: HostModel | null = null;
  /** The kernel table may differ from the model: the next document is loaded whole. */
  private dirty = true;
  private tail: Promise<unknown> = Promise.resolve();
  private etag: string | undefined;
  private usageIndex: BlockIndex | null = null;
  private readonly problems = new Map<'apply' | 'pull' | 'usage' | 'release' | 'document', string>();
  private warnings: string[] = [];
  private timers: NodeJS.Timeout[] = [];
  private reportSoon: NodeJS.Timeout | null = null;
  private lastReportAt = 0;
  private reporting: Promise<void> | null = null;
  private reportQueued: Promise<void> | null = null;
  private pullInFlight: Promise<void> | null = null;
  /** When the last authenticated push came (ms since the epoch; 0: none yet). */
  private lastPushAt = 0;
  private pullDeferred: NodeJS.Timeout | null = null;
  private releasing = new Set<Promise<unknown>>();
  private pendingReleases: ReleasedRange[] = [];
  private releaseTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly nowSec: () => number;
  /** Device ids (zones, marks) the table is rendered with; seeded from the kernel before the first load. */
  private interfaces: InterfaceIds | null = null;

  constructor(private readonly o: AgentOptions) {
    this.nowSec = o.nowSec ?? (() => Math.floor(Date.now() / 1000));
  }

  get appliedGeneration(): number | null {
    return this.model?.generation ?? null;
  }

  get backendKind(): string {
    return this.o.backend.kind;
  }

  /** The applied document (O(endpoints): for status pages and tests, not hot paths). */
  appliedDocument(): HostDocument | null {
    return this.model?.toDocument() ?? null;
  }

  status(): Record<string, unknown> {
    return {
      host: this.o.host,
      backend: this.o.backend.kind,
      uplink: this.o.uplink,
      appliedGeneration: this.appliedGeneration,
      endpoints: this.model?.endpointCount ?? 0,
      errors: this.errors(),
    };
  }

  private errors(): string[] {
    const routing = this.o.routing?.error;
    return [...this.problems.values(), ...(routing ? [routing] : []), ...this.warnings];
  }

  private async interfaceIds(): Promise<InterfaceIds> {
    if (this.interfaces) return this.interfaces;
    let seed: [string, number][] = [];
    try {
      seed = (await this.o.interfaceIds?.()) ?? [];
    } catch (e) {
      this.o.log.warn('could not read the device ids of the table in place; devices get new ones', { error: errorMessage(e) });
    }
    this.interfaces = new InterfaceIds(seed);
    return this.interfaces;
  }

  /** Routes replies to named devices as `doc` asks, when that changed (a no-op for most applies). */
  private async route(doc: HostDocument, ids: InterfaceIds, force: boolean): Promise<void> {
    if (!this.o.routing || (!force && namedInterfaces(doc).size === 0 && !this.routed)) return;
    this.routed = namedInterfaces(doc).size > 0;
    await this.o.routing.sync(doc, ids, force);
  }

  /** Whether the last applied document named any device (its routes may need removing). */
  private routed = false;

  /** Runs `fn` after every earlier apply finished: one transaction at a time, in arrival order. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * What can be refused of a push before its body is read (the server calls it first): no push
   * secret, a header missing, a timestamp not canonical or out of the window, a signature not of
   * the v1 form.
   */
  checkHeaders(headers: { timestamp?: string; signature?: string }): Refusal | null {
    if (!this.o.pushSecret) return problem(401, 'unauthenticated', 'Unauthenticated', 'this agent has no NATPLANE_PUSH_SECRET: every push is refused');
    return refusal(checkPushHeaders(headers.timestamp, headers.signature, this.nowSec()));
  }

  private authenticate(body: string, headers: { timestamp?: string; signature?: string }): Refusal | null {
    if (!this.o.pushSecret) return problem(401, 'unauthenticated', 'Unauthenticated', 'this agent has no NATPLANE_PUSH_SECRET: every push is refused');
    return refusal(verifyPush(this.o.pushSecret, headers.timestamp, headers.signature, body, this.nowSec()));
  }

  private parse(body: string): { ok: true; value: unknown } | { ok: false; outcome: Outcome } {
    try {
      return { ok: true, value: JSON.parse(body) };
    } catch (e) {
      return { ok: false, outcome: problem(400, 'invalid-argument', 'Invalid argument', `the body is not JSON: ${errorMessage(e)}`) };
    }
  }

  private hostMismatch(host: string): Outcome | null {
    if (host === this.o.host) return null;
    return problem(400, 'invalid-argument', 'Invalid argument', `the document is for host ${host}, this agent is ${this.o.host}`, {
      errors: [{ field: 'host', message: `must be ${this.o.host}` }],
    });
  }

  /** PUT /v1/programming: a signed whole document. */
  async push(body: string, headers: { timestamp?: string; signature?: string }): Promise<Outcome> {
    const denied = this.authenticate(body, headers);
    if (denied) return denied;
    this.lastPushAt = Date.now();
    const parsed = this.parse(body);
    if (!parsed.ok) return parsed.outcome;
    const v = validateHostDocument(parsed.value, { collisions: 'exclude' });
    if (!v.ok) return problem(400, 'invalid-argument', 'Invalid argument', 'the host document is invalid', { errors: v.errors });
    return this.hostMismatch(v.value.host) ?? this.applyDocument(v.value, 'push', v.excluded);
  }

  /** PATCH /v1/programming: a signed incremental change on top of the applied generation. */
  async patch(body: string, headers: { timestamp?: string; signature?: string }): Promise<Outcome> {
    const denied = this.authenticate(body, headers);
    if (denied) return denied;
    this.lastPushAt = Date.now();
    const parsed = this.parse(body);
    if (!parsed.ok) return parsed.outcome;
    const v = validateHostPatchShape(parsed.value);
    if (!v.ok) return problem(400, 'invalid-argument', 'Invalid argument', 'the patch is invalid', { errors: v.errors });
    return this.hostMismatch(v.value.host) ?? this.applyPatch(v.value);
  }

  private older(generation: number, applied: number): Outcome {
    return problem(409, 'older-generation', 'Older generation', `generation ${generation} is older than the applied generation ${applied}`, {
      appliedGeneration: applied,
    });
  }

  private ok(): Outcome {
    return { status: 200, body: { appliedGeneration: this.model?.generation ?? 0 } };
  }

  /**
   * Applies a validated whole document (from a push or a pull). `excluded`: endpoints validation
   * left out (their sources collide on this host with another's); the rest is applied and the
   * reason stays in the report's errors until a document without collisions comes.
   */
  applyDocument(doc: HostDocument, source: 'push' | 'pull', excluded: FieldError[] = []): Promise<Outcome> {
    return this.exclusive(async () => {
      const applied = this.model?.generation ?? null;
      if (applied !== null && doc.generation < applied) return this.older(doc.generation, applied);
      if (applied !== null && doc.generation === applied && !this.dirty) return this.ok();
      const started = process.hrtime.bigint();
      const prev = this.model && !this.dirty ? this.model.toDocument() : null;
      let mode: 'full' | 'diff' = prev ? 'diff' : 'full';
      const interfaces = await this.interfaceIds();
      const uplink = this.o.uplink;
      try {
        if (prev) {
          try {
            await this.o.backend.apply({ kind: 'diff', uplink, interfaces, before: () => prev, after: () => doc });
          } catch (e) {
            this.o.log.warn('diff refused, loading the table whole', { generation: doc.generation, error: errorMessage(e) });
            mode = 'full';
            await this.o.backend.load({ doc, uplink, interfaces });
          }
        } else await this.o.backend.load({ doc, uplink, interfaces });
      } catch (e) {
        this.dirty = true;
        const message = `apply of generation ${doc.generation} failed: ${errorMessage(e)}`;
        this.problems.set('apply', message);
        this.o.log.error('apply failed', { generation: doc.generation, source, error: errorMessage(e) });
        observeApply(mode, 'failed', elapsedMs(started));
        this.scheduleReport();
        return problem(500, 'apply-failed', 'Apply failed', message, applied === null ? {} : { appliedGeneration: applied });
      }
      this.model = HostModel.fromDocument(doc, interfaces);
      this.dirty = false;
      this.noteExcluded(doc.generation, excluded);
      interfaces.retain(namedInterfaces(doc));
      await this.route(doc, interfaces, mode === 'full');
      this.warnings = documentWarnings(doc);
      this.afterApply(prev ? releasedBetween(prev, doc) : []);
      this.o.log.info('applied', { generation: doc.generation, source, mode, ms: elapsedMs(started), endpoints: this.model.endpointCount });
      observeApply(mode, 'ok', elapsedMs(started), { generation: doc.generation, endpoints: this.model.endpointCount });
      return this.ok();
    });
  }

  private applyPatch(patch: HostDocumentPatch): Promise<Outcome> {
    return this.exclusive(async () => {
      const model = this.model;
      const applied = model?.generation ?? null;
      if (applied !== null && patch.generation === applied && !this.dirty) return this.ok();
      if (applied !== null && patch.generation < applied) return this.older(patch.generation, applied);
      if (!model || applied === null || this.dirty || patch.baseGeneration !== applied) {
        const why = !model ? 'nothing is applied yet' : this.dirty ? 'the table must be loaded whole first' : `the applied generation is ${applied}`;
        return problem(409, 'base-generation-mismatch', 'Base generation mismatch', `the patch applies to generation ${patch.baseGeneration} but ${why}: push the whole document`, {
          ...(applied === null ? {} : { appliedGeneration: applied }),
        });
      }
      const started = process.hrtime.bigint();
      // checked and claimed whatever the backend; the nft script only where it is read
      const planned = model.planPatch(patch, { uplink: this.o.uplink, script: this.o.backend.readsNftScript !== false });
      if (!planned.ok) return problem(400, 'invalid-argument', 'Invalid argument', 'the patch does not fit the applied document', { errors: planned.errors });
      const { plan } = planned;
      try {
        await this.o.backend.apply({
          kind: 'patch',
          uplink: this.o.uplink,
          interfaces: model.interfaces,
          before: () => model.toDocument(),
          after: () => applyHostPatch(model.toDocument(), patch),
          patch,
          plan,
        });
      } catch (e) {
        plan.abandon();
        this.dirty = true;
        const message = `patch to generation ${patch.generation} failed: ${errorMessage(e)}`;
        this.problems.set('apply', message);
        this.o.log.error('patch failed', { generation: patch.generation, error: errorMessage(e) });
        observeApply('patch', 'failed', elapsedMs(started));
        this.scheduleReport();
        return problem(500, 'apply-failed', 'Apply failed', message, { appliedGeneration: applied });
      }
      plan.commit();
      if (this.routed || (patch.putEndpoints ?? []).some((p) => p.endpoint.hostInterface !== undefined)) await this.route(model.toDocument(), model.interfaces, false);
      if ((patch.putGateways ?? []).length > 0 || (patch.deleteGateways ?? []).length > 0) this.warnings = documentWarnings(model.toDocument());
      this.afterApply(plan.released);
      this.o.log.info('applied', { generation: patch.generation, source: 'patch', mode: 'patch', ms: elapsedMs(started) });
      observeApply('patch', 'ok', elapsedMs(started), { generation: patch.generation, endpoints: model.endpointCount });
      return this.ok();
    });
  }

  private noteExcluded(generation: number, excluded: FieldError[]): void {
    if (excluded.length === 0) {
      this.problems.delete('document');
      return;
    }
    const what = excluded.slice(0, 5).map((e) => `${e.field}: ${e.message}`).join('; ');
    this.problems.set('document', `generation ${generation} was applied without ${excluded.length} endpoint source(s) that collide on this host: ${what}`);
    this.o.log.warn('endpoints left out: their sources collide on this host', { generation, excluded: excluded.length, first: what });
  }

  private afterApply(released: ReleasedRange[]): void {
    this.problems.delete('apply');
    this.usageIndex = null;
    if (released.length > 0) {
      // batched: listing conntrack costs a process and a walk of the table, once per RELEASE_GAP_MS
      this.pendingReleases.push(...released);
      this.releaseTimer ??= setTimeout(() => {
        this.releaseTimer = null;
        this.flushReleases();
      }, RELEASE_GAP_MS);
    }
    this.scheduleReport();
  }

  /** Removes the leftover connections of the ports released so far (in the background). */
  private flushReleases(): void {
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    const ranges = this.pendingReleases;
    this.pendingReleases = [];
    if (ranges.length === 0) return;
    const job = this.o.backend
      .release(ranges)
      .then((n) => {
        this.problems.delete('release');
        if (n > 0) this.o.log.info('removed leftover connections of released ports', { connections: n, ranges: ranges.length });
      })
      .catch((e) => {
        this.problems.set('release', `conntrack clean-up failed: ${errorMessage(e)}`);
        this.o.log.warn('conntrack clean-up failed', { error: errorMessage(e) });
      })
      .finally(() => this.releasing.delete(job));
    this.releasing.add(job);
  }

  private pullNow(): void {
    if (this.stopped || this.pullInFlight) return;
    this.pullInFlight = this.pull()
      .catch((e) => this.o.log.warn('pull failed', { error: errorMessage(e) }))
      .finally(() => {
        this.pullInFlight = null;
      });
  }

  /** How long until pushes count as quiet (0: they are now). */
  private untilQuiet(): number {
    return Math.max(0, this.lastPushAt + (this.o.pushQuietMs ?? DEFAULT_PUSH_QUIET_MS) - Date.now());
  }

  /**
   * Pulls once no push has come for pushQuietMs, if the applied generation is still below
   * `wanted` then (pushes that kept coming have usually brought it there).
   */
  private pullWhenQuiet(wanted: number): void {
    if (this.stopped || this.pullDeferred) return;
    const wait = this.untilQuiet();
    if (wait === 0) return this.pullNow();
    this.pullDeferred = setTimeout(() => {
      this.pullDeferred = null;
      if ((this.model?.generation ?? -1) < wanted) this.pullWhenQuiet(wanted);
    }, wait);
  }

  /** GET the document from the API; applies it when newer. */
  async pull(): Promise<void> {
    const etag = this.model && !this.dirty ? this.etag : undefined;
    let result;
    try {
      result = await this.o.api.fetchProgramming(etag);
    } catch (e) {
      this.problems.set('pull', `pull failed: ${errorMessage(e)}`);
      throw e;
    }
    this.problems.delete('pull');
    if (result.status === 'unchanged') return;
    const parsed = this.parse(result.body);
    const v = parsed.ok ? validateHostDocument(parsed.value, { collisions: 'exclude' }) : null;
    if (!v || !v.ok) {
      const detail = !v ? 'not JSON' : v.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      this.problems.set('pull', `the pulled document is invalid: ${detail.slice(0, 500)}`);
      throw new Error(`pulled document is invalid: ${detail.slice(0, 500)}`);
    }
    const mismatch = this.hostMismatch(v.value.host);
    if (mismatch) throw new Error(`pulled document is for host ${v.value.host}`);
    const outcome = await this.applyDocument(v.value, 'pull', v.excluded);
    if (outcome.status === 200) this.etag = result.etag;
    // Older than the applied generation: a push overtook this pull, or the control plane is
    // behind this host (a database restored from a backup, a host registered again under its
    // name). Not applied; reported at once with the generation held, so that the control plane,
    // if behind, moves past it (docs/host-protocol.md, "A host ahead of the control plane").
    else if (outcome.status === 409) this.scheduleReport();
    else throw new Error(outcome.body.detail);
  }

  /**
   * POSTs a report. One is in flight at a time; a report asked for meanwhile is sent when it ends
   * (so the state after the latest apply is always reported).
   */
  report(): Promise<void> {
    if (this.reporting) {
      this.reportQueued ??= this.reporting.catch(() => undefined).then(() => {
        this.reportQueued = null;
        return this.report();
      });
      return this.reportQueued;
    }
    this.lastReportAt = Date.now();
    const run = this.buildReport()
      .then((r) => this.o.api.postReport(r))
      .then((ack) => {
        observeReport('ok');
        // the API wants a newer generation than the one applied (a lost push, or the generation
        // it moved to past this host's): pull it now
        if (ack.desiredGeneration !== undefined && ack.desiredGeneration > (this.model?.generation ?? -1)) this.pullWhenQuiet(ack.desiredGeneration);
      })
      .catch((e: unknown) => {
        observeReport('failed');
        throw e;
      })
      .finally(() => {
        this.reporting = null;
      });
    this.reporting = run;
    return run;
  }

  async buildReport(): Promise<HostReport> {
    let usage: HostReport['usage'] = [];
    const model = this.model;
    if (model) {
      try {
        // built only if the backend asks (nftables; not eBPF), from the model applied by then,
        // and kept until the next apply: the report a second while patches come rebuilt it
        // whole each time, a sixth of the agent's CPU in the dataplane bench's patch phase
        const index = () => (this.usageIndex ??= new BlockIndex((this.model ?? model).toDocument()));
        usage = (await this.o.backend.usage(index)) ?? [];
        this.problems.delete('usage');
      } catch (e) {
        this.problems.set('usage', `counting ports in use failed: ${errorMessage(e)}`);
      }
    }
    const report: HostReport = { appliedGeneration: this.model?.generation ?? 0, usage, errors: this.errors() };
    if (this.model && this.o.backend.counters) {
      try {
        const counters = await this.o.backend.counters();
        if (counters) report.counters = counters;
      } catch (e) {
        this.o.log.warn('counters not measured', { error: errorMessage(e) });
      }
    }
    return report;
  }

  /**
   * A report right after an apply, but at most one per REPORT_GAP_MS: counting ports walks
   * conntrack and the whole document, which must not slow a burst of pushes down.
   */
  private scheduleReport(): void {
    if (this.stopped || this.reportSoon) return;
    const wait = Math.max(0, this.lastReportAt + REPORT_GAP_MS - Date.now());
    this.reportSoon = setTimeout(() => {
      this.reportSoon = null;
      this.report().catch((e) => this.o.log.warn('report failed', { error: errorMessage(e) }));
    }, wait);
  }

  /** Pulls at once (retrying with back-off until the API answers), then every pullIntervalMs; reports every reportIntervalMs. */
  start(): void {
    let backoff = 1000;
    const pullLoop = () => {
      if (this.stopped) return;
      // Pushes are coming: they keep the host current, and a pull now would cross them.
      if (this.lastPushAt > 0 && this.untilQuiet() > 0) return this.after(this.o.pullIntervalMs, pullLoop);
      this.pull()
        .then(() => {
          backoff = 1000;
          this.after(this.o.pullIntervalMs, pullLoop);
        })
        .catch((e) => {
          this.o.log.warn('pull failed', { error: errorMessage(e), retryInMs: backoff });
          this.after(backoff, pullLoop);
          backoff = Math.min(backoff * 2, this.o.pullIntervalMs);
        });
    };
    const reportLoop = () => {
      if (this.stopped) return;
      this.report()
        .catch((e) => this.o.log.warn('report failed', { error: errorMessage(e) }))
        .finally(() => this.after(this.o.reportIntervalMs, reportLoop));
    };
    pullLoop();
    this.after(this.o.reportIntervalMs, reportLoop);
    this.startRouting();
  }

  /** Starts the periodic look at the devices the document names (reply routing). */
  private startRouting(): void {
    this.o.routing?.start();
  }

  private after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers = this.timers.filter((x) => x !== t);
      fn();
    }, ms);
    this.timers.push(t);
  }

  /** Stops the loops, waits for the apply in flight and the clean-ups, closes the backend. The table stays. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (this.reportSoon) clearTimeout(this.reportSoon);
    if (this.pullDeferred) clearTimeout(this.pullDeferred);
    await this.tail;
    this.flushReleases();
    await Promise.allSettled([...this.releasing, this.reporting, this.reportQueued, this.pullInFlight]);
    await this.o.routing?.stop();
    await this.o.backend.close();
  }

  /** For tests: runs the pending clean-ups now and waits for them. */
  async settled(): Promise<void> {
    await this.tail;
    this.flushReleases();
    await Promise.allSettled([...this.releasing]);
  }
}

function refusal(check: SignatureCheck): Refusal | null {
  if (check.ok) return null;
  const detail = {
    missing: 'the signature or timestamp header is missing',
    'bad-timestamp': 'the timestamp is not canonical decimal seconds (no sign, leading zero, fraction or space)',
    'stale-timestamp': 'the timestamp is too far from the agent clock',
    'bad-signature': 'the signature does not match the body',
  }[check.reason];
  return problem(401, 'unauthenticated', 'Unauthenticated', detail);
}

function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}
