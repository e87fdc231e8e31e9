/**
 * Data-plane backends: `nftables` programs table `ip natplane` and reads conntrack; `dry-run`
 * writes the ruleset it would load to AGENT_STATE_DIR/ruleset.nft (laptops, CI without root).
 *
 * The seam is the desired host state, not a data plane's language: a backend is given the whole
 * document to load, or the change to apply (the documents before and after, and the patch when the
 * change came as one), and renders it into its own data plane (nft scripts here; maps in ebpf/).
 */
import { mkdirSync, renameSync, writeFileSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { HostCounters, HostDocument, HostDocumentPatch, HostReport } from '@natplane/contracts';
import { BlockIndex, InterfaceIds, PatchPlan, ReleasedRange, renderDiff, renderFull } from '@natplane/nftables';
import { ConntrackEntry, countUsage, deleteArgs, leftovers, parseConntrack } from './conntrack';
import { Logger, errorMessage } from './log';
import { NftSession, runCommand } from './nft-session';
import { NftObserver } from './observe/observer';

/** The whole desired state of the host's data plane. */
export interface DesiredState {
  /** A validated document (validateHostDocument). */
  doc: HostDocument;
  /** The interface towards the outside. */
  uplink: string;
  /** The ids (zones, marks) of the devices endpoints name, kept by the agent for the data plane's life. */
  interfaces: InterfaceIds;
}

/**
 * A change of the desired state, from the applied document to the next. `before` and `after` are
 * thunks: building a whole document costs O(endpoints), which a one-endpoint patch must not pay
 * unless its backend needs it.
 */
export type StateChange =
  | { kind: 'diff'; uplink: string; interfaces: InterfaceIds; before: () => HostDocument; after: () => HostDocument }
  | {
      kind: 'patch';
      uplink: string;
      interfaces: InterfaceIds;
      before: () => HostDocument;
      after: () => HostDocument;
      /** The validated patch, on top of `before`. */
      patch: HostDocumentPatch;
      /** The applied model's plan of it (HostModel.planPatch): its nft script, its released ports. */
      plan: PatchPlan;
    };

export interface Backend {
  readonly kind: 'nftables' | 'dry-run' | 'ebpf';
  /** false: apply() never reads a patch's nft script (plan.script), so the agent plans none. */
  readonly readsNftScript?: boolean;
  /** Replaces the data plane's state whole (atomically where the data plane can). */
  load(state: DesiredState): Promise<void>;
  /** Applies a change to the applied state (one transaction where the data plane has them). */
  apply(change: StateChange): Promise<void>;
  /**
   * Ports in use per endpoint and rule; null when this backend cannot count. `index`: the applied
   * document's blocks by NAT IP and port, built when first asked for (O(endpoints): a backend
   * that counts by its own numbers, as eBPF does, never asks).
   */
  usage(index: () => BlockIndex): Promise<HostReport['usage'] | null>;
  /** Data-plane counters (docs/observability.md), read after usage(); null when this backend measures none. */
  counters?(): Promise<HostCounters | null>;
  /** Deletes the connections left on released ports; returns how many. */
  release(ranges: ReleasedRange[]): Promise<number>;
  close(): Promise<void>;
}

export class NftablesBackend implements Backend {
  readonly kind = 'nftables' as const;
  private readonly session: NftSession;
  /** Counters and NAT logs (observe/observer.ts); null until started, or when it cannot run. */
  private observer: NftObserver | null = null;
  private lastListing: ConntrackEntry[] = [];

  constructor(
    private readonly netns: string | undefined,
    private readonly log: Logger,
  ) {
    this.session = new NftSession(netns, log);
  }

  /** Starts measuring counters (and writing NAT logs); without it the backend reports ports in use only. */
  async observe(observer: NftObserver): Promise<void> {
    try {
      await observer.start();
      this.observer = observer;
    } catch (e) {
      this.log.warn('counters are not measured on this host', { reason: errorMessage(e) });
      await observer.close();
    }
  }

  get observerError(): string | null {
    return this.observer?.error ?? null;
  }

  /** Whether nft runs here with the privileges it needs (root or CAP_NET_ADMIN), and if not why. */
  static async probe(netns: string | undefined): Promise<string | null> {
    try {
      const r = await runCommand(netns, 'nft', ['list', 'tables']);
      return r.code === 0 ? null : `nft list tables failed: ${r.stderr.trim() || `exit ${r.code}`}`;
    } catch (e) {
      return `nft cannot be run: ${errorMessage(e)}`;
    }
  }

  async load(state: DesiredState): Promise<void> {
    await this.session.oneShot(renderFull(state.doc, { uplink: state.uplink, interfaces: state.interfaces }));
    this.observer?.documentChanged(() => state.doc);
  }

  async apply(change: StateChange): Promise<void> {
    const script = nftScript(change);
    if (!script) return;
    await this.session.run(script);
    this.observer?.documentChanged(change.after);
  }

  private async conntrack(): Promise<ConntrackEntry[]> {
    const r = await runCommand(this.netns, 'conntrack', ['-L', '-f', 'ipv4']);
    if (r.code !== 0) throw new Error(`conntrack -L failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    return parseConntrack(r.stdout);
  }

  async usage(index: () => BlockIndex): Promise<HostReport['usage']> {
    this.lastListing = await this.conntrack();
    return countUsage(this.lastListing, index());
  }

  async counters(): Promise<HostCounters | null> {
    return this.observer ? this.observer.measure(this.lastListing) : null;
  }

  async release(ranges: ReleasedRange[]): Promise<number> {
    if (ranges.length === 0) return 0;
    const found = leftovers(await this.conntrack(), ranges);
    let deleted = 0;
    const queue = [...found];
    const worker = async () => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        const r = await runCommand(this.netns, 'conntrack', deleteArgs(e));
        // exit 1 with "0 flow entries": it ended by itself meanwhile
        if (r.code === 0) deleted++;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return deleted;
  }

  async close(): Promise<void> {
    await this.observer?.close();
    await this.session.close();
  }
}

export class DryRunBackend implements Backend {
  readonly kind = 'dry-run' as const;

  constructor(
    private readonly dir: string,
    private readonly uplink: string,
  ) {}

  /** Whether the state directory can be created and written, and if not why. */
  static probe(dir: string): string | null {
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      return null;
    } catch (e) {
      return `AGENT_STATE_DIR ${dir} is not writable: ${errorMessage(e)}`;
    }
  }

  get rulesetPath(): string {
    return join(this.dir, 'ruleset.nft');
  }

  private write(name: string, text: string): void {
    const tmp = join(this.dir, `.${name}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(this.dir, name));
  }

  async load(state: DesiredState): Promise<void> {
    this.write('ruleset.nft', renderFull(state.doc, { uplink: state.uplink, interfaces: state.interfaces }));
  }

  async apply(change: StateChange): Promise<void> {
    const script = nftScript(change);
    if (!script) return;
    this.write('last-diff.nft', script);
    this.write('ruleset.nft', renderFull(change.after(), { uplink: this.uplink }));
  }

  async usage(): Promise<null> {
    return null;
  }

  async release(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {}
}

/** The nft script of a change: the patch's planned script, or the difference of the two documents ('' when none). */
function nftScript(change: StateChange): string {
  if (change.kind === 'patch') return change.plan.script;
  return renderDiff(change.before(), change.after(), { uplink: change.uplink, interfaces: change.interfaces });
}
