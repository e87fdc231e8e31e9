/**
 * Data-plane backends: `nftables` programs table `ip natplane` and reads conntrack; `dry-run`
 * writes the ruleset it would load to AGENT_STATE_DIR/ruleset.nft (laptops, CI without root).
 */
import { mkdirSync, renameSync, writeFileSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { HostDocument, HostReport } from '@natplane/contracts';
import { BlockIndex, ReleasedRange, renderFull } from '@natplane/nftables';
import { ConntrackEntry, countUsage, deleteArgs, leftovers, parseConntrack } from './conntrack';
import { Logger, errorMessage } from './log';
import { NftSession, runCommand } from './nft-session';

export interface Backend {
  readonly kind: 'nftables' | 'dry-run';
  /** Replaces the table whole (one transaction). `doc` is the document the script renders. */
  load(script: string, doc: () => HostDocument): Promise<void>;
  /** Applies a difference (one transaction). `doc` is the document after it. */
  apply(script: string, doc: () => HostDocument): Promise<void>;
  /** Ports in use per endpoint and rule; null when this backend cannot count. */
  usage(index: BlockIndex): Promise<HostReport['usage'] | null>;
  /** Deletes the connections left on released ports; returns how many. */
  release(ranges: ReleasedRange[]): Promise<number>;
  close(): Promise<void>;
}

export class NftablesBackend implements Backend {
  readonly kind = 'nftables' as const;
  private readonly session: NftSession;

  constructor(
    private readonly netns: string | undefined,
    log: Logger,
  ) {
    this.session = new NftSession(netns, log);
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

  async load(script: string): Promise<void> {
    await this.session.oneShot(script);
  }

  async apply(script: string): Promise<void> {
    await this.session.run(script);
  }

  private async conntrack(): Promise<ConntrackEntry[]> {
    const r = await runCommand(this.netns, 'conntrack', ['-L', '-f', 'ipv4']);
    if (r.code !== 0) throw new Error(`conntrack -L failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    return parseConntrack(r.stdout);
  }

  async usage(index: BlockIndex): Promise<HostReport['usage']> {
    return countUsage(await this.conntrack(), index);
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

  async load(script: string): Promise<void> {
    this.write('ruleset.nft', script);
  }

  async apply(script: string, doc: () => HostDocument): Promise<void> {
    this.write('last-diff.nft', script);
    this.write('ruleset.nft', renderFull(doc(), { uplink: this.uplink }));
  }

  async usage(): Promise<null> {
    return null;
  }

  async release(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {}
}
