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
  Entry,
  EntryTable,
  HOST_OWNER,
  MAP_ORDER,
  OpList,
  blkKey,
  endpointEntries,
  gatewayEntries,
  idKey,
  idValue,
  opLine,
  ownerOfEndpoint,
  ownerOfGateway,
  parseBlkKey,
  parseBlkSince,
  parseIdValue,
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

  constructor(private readonly recovered: Map<string, number>) {
    this.next = Math.max(0, ...recovered.values()) + 1;
  }

  of(owner: string): number {
    let n = this.byOwner.get(owner);
    if (n !== undefined) return n;
    n = this.recovered.get(idKey(owner)) ?? this.next++;
    this.recovered.delete(idKey(owner));
    this.byOwner.set(owner, n);
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
  private readonly client: LoaderClient;
  private table = new EntryTable();
  private slots = new Numbers(new Map());
  private gws = new Numbers(new Map());
  /** slot -> the endpoint it counts for */
  private readonly slotOwners = new Map<number, string>();
  private readonly settings = new Map<string, HostGatewaySettings>();
  /** blkKey -> when its counters started (ms) */
  private readonly since = new Map<string, number>();
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
        const { num, sinceMs } = parseIdValue(v);
        ids.set(k, num);
        if (k === idKey(HOST_OWNER)) this.hostSinceMs = sinceMs;
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
      .simple('w')
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
    return (await this.client.simple('w')).last;
  }

  /** When a (slot, rule)'s counters started: kept while its counters live (in the table, or in the maps at a load). */
  private sinceOf = (slot: number, rule: number): number => {
    const k = blkKey(slot, rule);
    const known = this.since.get(k);
    if (known !== undefined && this.table.has('np_cnt', k)) return known;
    const s = this.kernelSince.get(k) ?? Date.now();
    this.since.set(k, s);
    return s;
  };

  /** During a full load: the counters' start of the pairs whose counters the maps hold. */
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

  private endpointOwnerEntries(gatewayId: string, e: HostEndpoint): Entry[] {
    const owner = ownerOfEndpoint(gatewayId, e.id);
    const slot = this.slots.of(owner);
    this.slotOwners.set(slot, e.id);
    const settings = this.settings.get(gatewayId) as HostGatewaySettings;
    const ifkey = e.hostInterface === undefined ? 0 : (this.ifindexes.get(e.hostInterface) ?? -1);
    return [
      { map: 'np_ids', key: idKey(owner), value: idValue(slot, 0) },
      ...endpointEntries(e, { slot, gw: this.gws.of(ownerOfGateway(gatewayId)), settings, ifkey, since: this.sinceOf }),
    ];
  }

  private gatewayOwnerEntries(g: HostGatewaySettings): Entry[] {
    const owner = ownerOfGateway(g.id);
    const gw = this.gws.of(owner);
    return [{ map: 'np_ids', key: idKey(owner), value: idValue(gw, 0) }, ...gatewayEntries(g, gw)];
  }

  private dropOwner(owner: string, ops: OpList): void {
    this.table.set(owner, null, ops);
    if (!owner.startsWith('e\0')) {
      this.gws.free(owner);
      return;
    }
    const slot = this.slots.free(owner);
    if (slot === undefined) return;
    this.slotOwners.delete(slot);
    for (const k of [...this.since.keys()]) if (parseBlkKey(k).slot === slot) this.since.delete(k);
  }

  /** Sets every owner of `doc` in the table; owners it no longer has go. */
  private setDocument(doc: HostDocument, ops: OpList, previousOwners: Iterable<string>): void {
    const keep = new Set<string>([HOST_OWNER]);
    this.settings.clear();
    for (const g of doc.gateways) {
      const { endpoints: _endpoints, ...settings } = g;
      this.settings.set(g.id, settings);
    }
    for (const g of doc.gateways) {
      const owner = ownerOfGateway(g.id);
      keep.add(owner);
      this.table.set(owner, this.gatewayOwnerEntries(this.settings.get(g.id) as HostGatewaySettings), ops);
      for (const e of g.endpoints) {
        const eo = ownerOfEndpoint(g.id, e.id);
        keep.add(eo);
        this.table.set(eo, this.endpointOwnerEntries(g.id, e), ops);
      }
    }
    for (const o of previousOwners) if (!keep.has(o)) this.dropOwner(o, ops);
  }

  async load(state: DesiredState): Promise<void> {
    await this.start();
    const doc = state.doc;
    const names = new Set<string>();
    for (const g of doc.gateways) for (const e of g.endpoints) if (e.hostInterface !== undefined) names.add(e.hostInterface);
    await this.resolveInterfaces(names, true);
    // what the maps hold now: after a restart, the previous agent's entries
    const kernel = new Map<Entry['map'], Map<string, string>>();
    for (const m of MAP_ORDER) kernel.set(m, new Map(await this.client.dump(m)));
    const counted = kernel.get('np_cnt') as Map<string, string>;
    this.kernelSince = new Map([...(kernel.get('np_blk') as Map<string, string>)].filter(([k]) => counted.has(k)).map(([k, v]) => [k, parseBlkSince(v)]));
    this.table = new EntryTable();
    const scratch = new OpList();
    this.table.set(HOST_OWNER, [{ map: 'np_ids', key: idKey(HOST_OWNER), value: idValue(0, this.hostSinceMs) }], scratch);
    this.setDocument(doc, scratch, []);
    const ops = new OpList();
    for (const e of this.table.entries()) {
      const now = kernel.get(e.map)?.get(e.key);
      if (now === undefined || (e.value !== null && now !== e.value)) ops.write(e);
    }
    for (const [map, keys] of kernel) for (const key of keys.keys()) if (!this.table.has(map, key)) ops.remove(map, key);
    this.kernelSince = new Map();
    await this.client.batch(ops.ops().map(opLine));
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
      for (const x of p.putEndpoints ?? []) this.table.set(ownerOfEndpoint(x.gatewayId, x.endpoint.id), this.endpointOwnerEntries(x.gatewayId, x.endpoint), ops);
    } else {
      const doc = change.after();
      const names = new Set<string>();
      for (const g of doc.gateways) for (const e of g.endpoints) if (e.hostInterface !== undefined) names.add(e.hostInterface);
      await this.resolveInterfaces(names, false);
      const before = change.before();
      const previous = [...before.gateways.flatMap((g) => [ownerOfGateway(g.id), ...g.endpoints.map((e) => ownerOfEndpoint(g.id, e.id))])];
      this.setDocument(doc, ops, previous);
    }
    const list = ops.ops();
    if (list.length > 0) await this.client.batch(list.map(opLine));
  }

  async usage(): Promise<HostReport['usage']> {
    await this.start();
    const r = await this.client.simple('p');
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
    const r = await this.client.simple('c');
    const readAt = new Date().toISOString();
    const out: HostEndpointCounters[] = [];
    let unsolicited = 0;
    let fragments = 0;
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
      const [newFlows, sp, sb, rp, rb, d0, d1, d2, d3] = f.slice(3).map(Number);
      const open = this.lastFlows.get(blkKey(slot, rule)) ?? 0;
      if (newFlows + sp + rp + d0 + d1 + d2 + d3 + open === 0) continue;
      out.push({
        endpoint,
        ruleNumber: rule,
        since: new Date(this.since.get(blkKey(slot, rule)) ?? this.hostSinceMs).toISOString(),
        newConnections: newFlows,
        openConnections: open,
        sentPackets: sp,
        sentBytes: sb,
        receivedPackets: rp,
        receivedBytes: rb,
        droppedSentPackets: { OUT_OF_RESOURCES: d0, ENDPOINT_INDEPENDENT_CONFLICT: d1, UNTRANSLATABLE_FRAGMENT: d2, UNTRANSLATABLE_PROTOCOL: d3 },
      });
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
    let n = 0;
    for (const r of ranges) n += Number((await this.client.simple(`r ${r.natIp} ${r.portLo} ${r.portHi}`)).last.slice(3));
    return n;
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.sweeping;
    await this.client.close();
  }
}
