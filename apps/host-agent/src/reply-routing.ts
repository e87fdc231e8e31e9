/**
 * Reply routing for devices that endpoints name (hosts shared by networks, nftables backend).
 *
 * Two VMs of two networks may both be 10.0.0.2 on one host; the main routing table can send
 * 10.0.0.2 to one device only. The table marks the connections of each named device
 * (libs/nftables/src/interfaces.ts) and puts the mark back on their replies; here each device gets
 * a routing table of its own, whose number is its mark, holding routes to its VM's addresses, and
 * one rule `fwmark <mark> lookup <mark>` before the main table. Strict reverse-path filtering
 * cannot work on such devices (the VM's address is routed to one of them only, and ARP requests
 * carry no mark), so a named device under strict filtering is set to loose (rp_filter=2, the
 * device's value wins over `all` when it is higher): the hosts need no set-up beyond attaching the
 * devices.
 *
 * State is read back from the kernel at the first sync and whenever the device list changes (the
 * rules at RULE_PRIORITY with natplane's mark tag and the routes of their tables), and kept in
 * memory in between, so that a routing change costs two `ip` processes (the device list and one
 * batch). A device that does not exist yet (the VM is not started) is skipped and reported; a
 * device that comes, goes or comes back is noticed by a cheap periodic look at the device list,
 * which triggers a sync from the kernel's state.
 */
import { HostDocument } from '@natplane/contracts';
import { InterfaceIds, MARK_TAG, MARK_TAG_MASK, formatMark, formatCidr, parseCidr, type Cidr } from '@natplane/nftables';
import { Logger, errorMessage } from './log';
import { runCommand } from './nft-session';

/** Before the main table (32766) and the default one, after the local table (0). */
export const RULE_PRIORITY = 32000;
const RECHECK_MS = 2000;

/** Per named device: its mark (= its routing table) and the destinations routed to it. */
export type RoutingState = Map<string, { mark: number; prefixes: Set<string> }>;

/** What the document asks for: every named device, with its endpoints' addresses and alias ranges. */
export function desiredRouting(doc: HostDocument, ids: InterfaceIds): RoutingState {
  const out: RoutingState = new Map();
  for (const g of doc.gateways) {
    for (const e of g.endpoints) {
      if (e.hostInterface === undefined) continue;
      let d = out.get(e.hostInterface);
      if (!d) {
        d = { mark: ids.mark(e.hostInterface), prefixes: new Set() };
        out.set(e.hostInterface, d);
      }
      d.prefixes.add(`${e.networkIp}/32`);
      for (const a of e.aliasRanges) d.prefixes.add(formatCidr(parseCidr(a) as Cidr));
    }
  }
  return out;
}

/**
 * The `ip -batch` lines that turn `current` (rules and routes found, by mark) into `desired`, for
 * the devices that exist. Routes before rules, so a rule never sends replies to an empty table.
 */
export function routingCommands(current: Map<number, Set<string>>, desired: RoutingState, present: ReadonlySet<string>): string[] {
  const routes: string[] = [];
  const rules: string[] = [];
  const wanted = new Map<number, { dev: string; prefixes: Set<string> }>();
  for (const [dev, d] of desired) if (present.has(dev)) wanted.set(d.mark, { dev, prefixes: d.prefixes });
  for (const [mark, found] of current) {
    const want = wanted.get(mark);
    if (!want) {
      routes.push(`route flush table ${mark}`);
      rules.push(`rule del pref ${RULE_PRIORITY} fwmark ${formatMark(mark)} lookup ${mark}`);
      continue;
    }
    for (const p of found) if (!want.prefixes.has(p)) routes.push(`route del ${p} table ${mark}`);
  }
  for (const [mark, want] of wanted) {
    // `replace`: also right when the route exists on another device (the name moved)
    for (const p of want.prefixes) routes.push(`route replace ${p} dev ${want.dev} table ${mark}`);
    if (!current.has(mark)) rules.push(`rule add pref ${RULE_PRIORITY} fwmark ${formatMark(mark)} lookup ${mark}`);
  }
  return [...routes, ...rules];
}

function sameRouting(a: RoutingState, b: RoutingState): boolean {
  if (a.size !== b.size) return false;
  for (const [dev, d] of a) {
    const o = b.get(dev);
    if (!o || o.mark !== d.mark || o.prefixes.size !== d.prefixes.size || [...d.prefixes].some((p) => !o.prefixes.has(p))) return false;
  }
  return true;
}

/** The kernel's state once routingCommands' batch went through. */
function expected(desired: RoutingState, present: ReadonlySet<string>): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>();
  for (const [dev, d] of desired) if (present.has(dev)) out.set(d.mark, new Set(d.prefixes));
  return out;
}

const isOurs = (mark: number) => ((mark & MARK_TAG_MASK) >>> 0) === MARK_TAG;

export class ReplyRouting {
  private desired: RoutingState = new Map();
  private lastLinks = '';
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private problem: string | null = null;
  /** Named devices whose reverse-path filtering was checked (and made loose if it was strict). */
  private readonly rpChecked = new Set<string>();
  /** What the kernel holds (by mark), as last read or written; null: read it again. */
  private kernel: Map<number, Set<string>> | null = null;

  constructor(
    private readonly netns: string | undefined,
    private readonly log: Logger,
  ) {}

  /** Why replies to some VM cannot be delivered right now, if they cannot. */
  get error(): string | null {
    return this.problem;
  }

  /** Makes the kernel route replies as `doc` asks (after the table was committed); `force` re-reads the kernel even when nothing changed. */
  sync(doc: HostDocument, ids: InterfaceIds, force = false): Promise<void> {
    const desired = desiredRouting(doc, ids);
    if (!force && this.problem === null && sameRouting(desired, this.desired)) return this.running;
    this.desired = desired;
    if (force) this.kernel = null;
    return this.queue(() => this.apply());
  }

  /** Keeps watching the device list while any device is named (VMs start and stop). */
  start(): void {
    this.timer ??= setInterval(() => {
      if (this.desired.size === 0 && this.lastLinks === '') return;
      void this.queue(async () => {
        const links = await this.links();
        if (links.key === this.lastLinks) return;
        this.kernel = null; // devices came or went: their routes may have gone with them
        await this.apply(links);
      });
    }, RECHECK_MS);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private queue(fn: () => Promise<void>): Promise<void> {
    const run = this.running.then(fn).catch((e: unknown) => {
      this.problem = `reply routing failed: ${errorMessage(e)}`;
      this.log.warn('reply routing failed', { error: errorMessage(e) });
    });
    this.running = run;
    return run;
  }

  private async ip(args: string[], input?: string): Promise<string> {
    const r = await runCommand(this.netns, 'ip', args, input);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`);
    return r.stdout;
  }

  /** rp_filter of the device: strict (1 here or in `all`) becomes loose (2); returns whether it could tell. */
  private async loosenReversePath(dev: string): Promise<boolean> {
    const key = `net.ipv4.conf.${dev.replace(/\./g, '/')}.rp_filter`;
    const r = await runCommand(this.netns, 'sysctl', ['-n', 'net.ipv4.conf.all.rp_filter', key]);
    if (r.code !== 0) return false;
    const [all, own] = r.stdout.trim().split('\n').map(Number);
    if (Math.max(all, own) !== 1) return true;
    const w = await runCommand(this.netns, 'sysctl', ['-q', '-w', `${key}=2`]);
    if (w.code === 0) this.log.info('reverse-path filtering made loose on a named device', { device: dev });
    return w.code === 0;
  }

  /** Device names present now, and a key that changes when one comes, goes or is made again. */
  private async links(): Promise<{ names: Set<string>; key: string }> {
    const list = JSON.parse(await this.ip(['-j', 'link', 'show'])) as { ifindex: number; ifname: string }[];
    const named = list.filter((l) => this.desired.has(l.ifname));
    return { names: new Set(list.map((l) => l.ifname)), key: named.map((l) => `${l.ifname}#${l.ifindex}`).sort().join(',') };
  }

  /** Our rules and the routes of their tables, as the kernel has them. */
  private async current(): Promise<Map<number, Set<string>>> {
    const rules = JSON.parse(await this.ip(['-j', 'rule', 'show'])) as { priority?: number; fwmark?: string; table?: string }[];
    const out = new Map<number, Set<string>>();
    for (const r of rules) {
      if (r.priority !== RULE_PRIORITY || r.fwmark === undefined) continue;
      const mark = Number(r.fwmark);
      if (isOurs(mark) && String(mark) === r.table) out.set(mark, new Set());
    }
    if (out.size === 0) return out;
    const routes = JSON.parse(await this.ip(['-j', 'route', 'show', 'table', 'all'])) as { dst: string; table?: string }[];
    for (const r of routes) {
      const set = r.table === undefined ? undefined : out.get(Number(r.table));
      if (set) set.add(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
    }
    return out;
  }

  private async apply(known?: { names: Set<string>; key: string }): Promise<void> {
    const links = known ?? (await this.links());
    const current = this.kernel ?? (await this.current());
    const commands = routingCommands(current, this.desired, links.names);
    this.kernel = null;
    if (commands.length > 0) {
      // -force: a device that vanished meanwhile fails its own lines, not the others
      const r = await runCommand(this.netns, 'ip', ['-force', '-batch', '-'], `${commands.join('\n')}\n`);
      if (r.code !== 0) this.log.warn('some reply routes could not be set', { error: r.stderr.trim().split('\n').slice(0, 3).join('; ') });
      else this.kernel = expected(this.desired, links.names);
    } else this.kernel = current;
    for (const dev of this.desired.keys()) {
      if (!links.names.has(dev) || this.rpChecked.has(dev)) continue;
      if (await this.loosenReversePath(dev)) this.rpChecked.add(dev);
    }
    for (const dev of this.rpChecked) if (!links.names.has(dev)) this.rpChecked.delete(dev);
    this.lastLinks = links.key;
    const missing = [...this.desired.keys()].filter((d) => !links.names.has(d)).sort();
    this.problem = missing.length === 0 ? null : `devices named by endpoints are not on this host (yet): ${missing.slice(0, 20).join(', ')}; replies to their VMs cannot be delivered until they exist`;
  }
}
