/**
 * The eBPF backend (AGENT_BACKEND=ebpf, docs/ebpf-backend.md): the host document becomes the
 * contents of the programs' configuration maps, written through the long-lived loader. A full
 * load reads what the maps hold (after an agent restart, the flows and the numbers it gave
 * endpoints are still there), writes what differs and deletes the rest; a patch rewrites only the
 * entries of the endpoints it names. A sweep every second ends conversations idle past their
 * gateway's timeouts and frees their ports.
 */
import { readFileSync } from 'node:fs';
import { HostCounters, HostDocument, HostEndpoint, HostEndpointCounters, HostGatewaySettings, HostReport } from '@natplane/contracts';
import { ReleasedRange } from '@natplane/nftables';
import { Backend, DesiredState, StateChange } from '../backend';
import { Logger, errorMessage } from '../log';
import { runCommand } from '../nft-session';
import { LoaderClient, ebpfProblem } from './loader-client';
import {
  Entries,
  EntryTable,
  HOST_OWNER,
  MAP_ORDER,
  NO_OPS,
  OpList,
  OpSink,
  blkKey,
  endpointEntries,
  fromHex,
  gatewayEntries,
  idEntry,
  idKey,
  legacyIdKey,
  mapOf,
  ownerOfEndpoint,
  ownerOfGateway,
  parseBlkKey,
  parseBlkSince,
  parseIdValue,
  tag,
} from './maps';

const SWEEP_MS = 1000;

/**
 * Numbers for owners (endpoint slots, gateway numbers), never given twice while the agent runs: a
 * slot freed by one endpoint and taken by another in the same batch would hand it the first one's
 * counters. Numbers found in the maps at start stay with their owners.
 */
class Numbers {
  private readonly byOwner = new Map<string, number>();
  private next: number;

  /** `recovered`: np_ids key (binary) -> number, as the maps held them at start; shared by both spaces. */
  constructor(private readonly recovered: Map<string, number>) {
    let max = 0;
    for (const n of recovered.values()) if (n > max) max = n;
    this.next = max + 1;
  }

  of(owner: string): number {
    let n = this.byOwner.get(owner);
    if (n !== undefined) return n;
    if (this.recovered.size > 0) n = this.take(idKey(owner)) ?? this.take(legacyIdKey(owner));
    n ??= this.next++;
    this.byOwner.set(owner, n);
    return n;
  }

  private take(key: string): number | undefined {
    const n = this.recovered.get(key);
    if (n !== undefined) this.recovered.delete(key);
    return n;
  }

  /** Forgets an owner; returns its number. */
  free(owner: string): number | undefined {
    const n = this.byOwner.get(owner);
    this.byOwner.delete(owner);
    return n;
  }
}

export class EbpfBackend implements Backend {
  readonly kind = 'ebpf' as const;
  /** Patches become map entries from the patch itself (apply): no nft script is planned. */
  readonly readsNftScript = false;
  private readonly client: LoaderClient;
  private table = new EntryTable();
  private slots = new Numbers(new Map());
  private gws = new Numbers(new Map());
  /** slot -> the endpoint it counts for */
  private readonly slotOwners = new Map<number, string>();
  private readonly settings = new Map<string, HostGatewaySettings>();
  private hostSinceMs = Date.now();
  private readonly ifindexes = new Map<string, number>();
  private lastFlows = new Map<string, number>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<unknown> | null = null;
  private started: Promise<void> | null = null;
  /** Problems of the sweep, for the report's errors. */
  error: string | null = null;

  constructor(
    private readonly netns: string | undefined,
    pinDir: string,
    uplink: string,
    log: Logger,
  ) {
    this.client = new LoaderClient(netns, pinDir, uplink, log);
  }

  /** Why this backend cannot run here (which package to install), or null. */
  static probe(): string | null {
    return ebpfProblem();
  }

  /** Mounts bpffs at /sys/fs/bpf when nothing is mounted there (it is not at boot). */
  static async ensureBpffs(): Promise<void> {
    const mounts = readFileSync('/proc/mounts', 'utf8');
    if (mounts.split('\n').some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf')) return;
    const r = await runCommand(undefined, 'mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
    if (r.code !== 0) throw new Error(`bpffs is not mounted at /sys/fs/bpf and mount failed: ${r.stderr.trim()}`);
  }

  /** Loads and attaches the programs, and reads back what the pinned maps hold. */
  start(): Promise<void> {
    this.started ??= (async () => {
      await EbpfBackend.ensureBpffs();
      await this.client.start();
      const ids = new Map<string, number>();
      for (const [k, v] of await this.client.dump('np_ids')) {
        const { num, sinceMs } = parseIdValue(fromHex(v));
        const key = fromHex(k);
        if (key === idKey(HOST_OWNER) || key === legacyIdKey(HOST_OWNER)) this.hostSinceMs = sinceMs;
        else ids.set(key, num);
      }
      // slots and gateway numbers live in one map, in two spaces: the owners' prefixes tell them apart
      this.slots = new Numbers(ids);
      this.gws = new Numbers(ids);
      this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweepTimer.unref();
    })();
    return this.started;
  }

  private sweep(): void {
    if (this.sweeping) return;
    this.sweeping = this.client
      .walk('w')
      .then(() => {
        this.error = null;
      })
      .catch((e) => {
        this.error = `the eBPF timeout sweep failed: ${errorMessage(e)}`;
      })
      .finally(() => {
        this.sweeping = null;
      });
  }

  /** Runs one sweep now (tests). */
  async sweepNow(): Promise<string> {
    await this.sweeping;
    return (await this.client.walk('w')).last;
  }

  /** When a (slot, rule)'s counters started: kept while its counters live (in the table, or in the maps at a load). */
  private sinceOf = (slot: number, rule: number): number => {
    const since = this.sinceInTable(slot, rule);
    if (since !== undefined) return since;
    return (this.kernelSince.size > 0 ? this.kernelSince.get(blkKey(slot, rule)) : undefined) ?? Date.now();
  };

  /** The counters' start the table's np_blk value of a (slot, rule) holds, while its counters live. */
  private sinceInTable(slot: number, rule: number): number | undefined {
    if (this.table.size === 0) return undefined;
    const k = blkKey(slot, rule);
    const v = this.table.entries().get(tag('np_blk', k));
    return typeof v === 'string' && this.table.has(tag('np_cnt', k)) ? parseBlkSince(v) : undefined;
  }

  /** During a full load: the counters' start of the pairs whose counters the maps hold (by blkKey). */
  private kernelSince = new Map<string, number>();

  private async resolveInterfaces(names: Iterable<string>, fresh: boolean): Promise<void> {
    for (const name of names) {
      if (!fresh && this.ifindexes.has(name)) continue;
      const r = await this.client.request([`i ${name}`]);
      const ifindex = r.last.startsWith('ok') ? Number(r.last.slice(3)) : -1;
      this.ifindexes.set(name, ifindex);
      if (ifindex > 0) await this.looseReversePath(name);
    }
  }

  /**
   * A named device's VM address may be routed to another device (two networks share it), so
   * strict reverse-path filtering would drop its packets: loose (2) on such a device, as the
   * nftables backend's reply routing does (the device's value wins over `all` when higher).
   */
  private async looseReversePath(dev: string): Promise<void> {
    const keys = ['net/ipv4/conf/all/rp_filter', `net/ipv4/conf/${dev}/rp_filter`];
    const r = await runCommand(this.netns, 'sysctl', ['-n', ...keys]);
    const values = r.stdout.trim().split('\n').map(Number);
    if (r.code === 0 && Math.max(...values) === 1) await runCommand(this.netns, 'sysctl', ['-qw', `${keys[1]}=2`]);
  }

  private endpointOwnerEntries(owner: string, gatewayId: string, e: HostEndpoint): Entries {
    const slot = this.slots.of(owner);
    this.slotOwners.set(slot, e.id);
    const settings = this.settings.get(gatewayId) as HostGatewaySettings;
    const ifkey = e.hostInterface === undefined ? 0 : (this.ifindexes.get(e.hostInterface) ?? -1);
    return endpointEntries(e, { slot, gw: this.gws.of(ownerOfGateway(gatewayId)), settings, ifkey, since: this.sinceOf }, idEntry(owner, slot));
  }

  private gatewayOwnerEntries(g: HostGatewaySettings): Entries {
    const owner = ownerOfGateway(g.id);
    const gw = this.gws.of(owner);
    return gatewayEntries(g, gw, idEntry(owner, gw));
  }

  private dropOwner(owner: string, ops: OpSink): void {
    this.table.set(owner, null, ops);
    if (!owner.startsWith('e\0')) {
      this.gws.free(owner);
      return;
    }
    const slot = this.slots.free(owner);
    if (slot === undefined) return;
    this.slotOwners.delete(slot);
  }

  /** Sets every owner of `doc` in the table; owners it no longer has go. */
  private setDocument(doc: HostDocument, ops: OpSink, previousOwners: string[]): void {
    // the owners kept, known only when some could go
    const keep = previousOwners.length > 0 ? new Set<string>([HOST_OWNER]) : null;
    this.settings.clear();
    for (const g of doc.gateways) {
      const { endpoints: _endpoints, ...settings } = g;
      this.settings.set(g.id, settings);
    }
    for (const g of doc.gateways) {
      const owner = ownerOfGateway(g.id);
      keep?.add(owner);
      this.table.set(owner, this.gatewayOwnerEntries(this.settings.get(g.id) as HostGatewaySettings), ops);
      for (const e of g.endpoints) {
        const eo = ownerOfEndpoint(g.id, e.id);
        keep?.add(eo);
        this.table.set(eo, this.endpointOwnerEntries(eo, g.id, e), ops);
      }
    }
    if (keep) for (const o of previousOwners) if (!keep.has(o)) this.dropOwner(o, ops);
  }

  async load(state: DesiredState): Promise<void> {
    await this.start();
    const doc = state.doc;
    const names = new Set<string>();
    for (const g of doc.gateways) for (const e of g.endpoints) if (e.hostInterface !== undefined) names.add(e.hostInterface);
    await this.resolveInterfaces(names, true);
    // what the maps hold now (tagged key -> value): after a restart, the previous agent's entries
    const kernel = new Map<string, string>();
    // asked together: the loader answers in order, with no round trip between maps
    const dumps = await Promise.all(MAP_ORDER.map((m) => this.client.dump(m)));
    MAP_ORDER.forEach((m, i) => {
      for (const [k, v] of dumps[i]) kernel.set(tag(m, fromHex(k)), fromHex(v));
    });
    this.kernelSince = new Map();
    for (const [k, v] of kernel) {
      if (mapOf(k) === 'np_blk' && kernel.has(tag('np_cnt', k.slice(1)))) this.kernelSince.set(k.slice(1), parseBlkSince(v));
    }
    this.table = new EntryTable();
    // the table is built with no operations: what to write comes from comparing it with the maps
    this.table.set(HOST_OWNER, idEntry(HOST_OWNER, 0, this.hostSinceMs), NO_OPS);
    this.setDocument(doc, NO_OPS, []);
    const ops = new OpList(true);
    for (const [k, v] of this.table.entries()) {
      const now = kernel.get(k);
      if (now === undefined || (v !== null && now !== v)) ops.write(k, v);
    }
    for (const k of kernel.keys()) if (!this.table.has(k)) ops.remove(k);
    this.kernelSince = new Map();
    await this.client.writeBatch(ops.encode());
  }

  async apply(change: StateChange): Promise<void> {
    await this.start();
    const ops = new OpList();
    const p = change.kind === 'patch' ? change.patch : null;
    if (p && !(p.putGateways?.length || p.deleteGateways?.length)) {
      // only endpoints change: O(endpoints named)
      const names = (p.putEndpoints ?? []).map((x) => x.endpoint.hostInterface).filter((n): n is string => n !== undefined);
      await this.resolveInterfaces(names, false);
      for (const d of p.deleteEndpoints ?? []) this.dropOwner(ownerOfEndpoint(d.gatewayId, d.endpointId), ops);
      for (const x of p.putEndpoints ?? []) {
        const owner = ownerOfEndpoint(x.gatewayId, x.endpoint.id);
        this.table.set(owner, this.endpointOwnerEntries(owner, x.gatewayId, x.endpoint), ops);
      }
    } else {
      const doc = change.after();
      const names = new Set<string>();
      for (const g of doc.gateways) for (const e of g.endpoints) if (e.hostInterface !== undefined) names.add(e.hostInterface);
      await this.resolveInterfaces(names, false);
      const before = change.before();
      const previous = [...before.gateways.flatMap((g) => [ownerOfGateway(g.id), ...g.endpoints.map((e) => ownerOfEndpoint(g.id, e.id))])];
      this.setDocument(doc, ops, previous);
    }
    if (ops.size > 0) await this.client.writeBatch(ops.encode());
  }

  async usage(): Promise<HostReport['usage']> {
    await this.start();
    const r = await this.client.walk('p');
    const byPair = new Map<string, { endpoint: string; ruleNumber: number; portsInUse: number }>();
    const flows = new Map<string, number>();
    for (const line of r.lines) {
      const [, slotS, ruleS, portsS, flowsS] = line.split(' ');
      const slot = Number(slotS);
      const rule = Number(ruleS);
      const endpoint = this.slotOwners.get(slot);
      if (endpoint === undefined) continue;
      const k = `${endpoint}|${rule}`;
      const u = byPair.get(k) ?? { endpoint, ruleNumber: rule, portsInUse: 0 };
      u.portsInUse += Number(portsS);
      byPair.set(k, u);
      flows.set(blkKey(slot, rule), Number(flowsS));
    }
    this.lastFlows = flows;
    return [...byPair.values()].filter((u) => u.portsInUse > 0);
  }

  async counters(): Promise<HostCounters> {
    const r = await this.client.walk('c');
    const readAt = new Date().toISOString();
    const out: HostEndpointCounters[] = [];
    let unsolicited = 0;
    let fragments = 0;
    const listed = new Set<string>();
    const pair = (slot: number, rule: number, endpoint: string, c: number[]): HostEndpointCounters => {
      const [newFlows, sp, sb, rp, rb, d0, d1, d2, d3] = c;
      return {
        endpoint,
        ruleNumber: rule,
        since: new Date(this.sinceInTable(slot, rule) ?? this.hostSinceMs).toISOString(),
        newConnections: newFlows,
        openConnections: this.lastFlows.get(blkKey(slot, rule)) ?? 0,
        sentPackets: sp,
        sentBytes: sb,
        receivedPackets: rp,
        receivedBytes: rb,
        droppedSentPackets: { OUT_OF_RESOURCES: d0, ENDPOINT_INDEPENDENT_CONFLICT: d1, UNTRANSLATABLE_FRAGMENT: d2, UNTRANSLATABLE_PROTOCOL: d3 },
      };
    };
    for (const line of r.lines) {
      const f = line.split(' ');
      if (f[0] === 'h') {
        unsolicited = Number(f[1]);
        fragments = Number(f[2]);
        continue;
      }
      const slot = Number(f[1]);
      const rule = Number(f[2]);
      const endpoint = this.slotOwners.get(slot);
      if (endpoint === undefined) continue;
      listed.add(blkKey(slot, rule));
      out.push(pair(slot, rule, endpoint, f.slice(3).map(Number)));
    }
    // the loader lists only pairs with a count: a pair with open conversations and none is still one
    for (const [k, open] of this.lastFlows) {
      if (open === 0 || listed.has(k) || !this.table.has(tag('np_cnt', k))) continue;
      const { slot, rule } = parseBlkKey(k);
      const endpoint = this.slotOwners.get(slot);
      if (endpoint !== undefined) out.push(pair(slot, rule, endpoint, [0, 0, 0, 0, 0, 0, 0, 0, 0]));
    }
    return {
      readAt,
      complete: true,
      endpoints: out,
      host: { since: new Date(this.hostSinceMs).toISOString(), droppedReceivedUnsolicited: unsolicited, droppedReceivedFragments: fragments },
    };
  }

  async release(ranges: ReleasedRange[]): Promise<number> {
    await this.start();
    if (ranges.length === 0) return 0;
    // one command for all: each is a walk of two 1 M-entry maps in the loader, however empty
    let n = 0;
    for (let i = 0; i < ranges.length; i += 256) {
      const args = ranges.slice(i, i + 256).map((r) => `${r.natIp} ${r.portLo} ${r.portHi}`);
      n += Number((await this.client.walk(`r ${args.join(' ')}`)).last.slice(3));
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.sweeping;
    await this.client.close();
  }
}
