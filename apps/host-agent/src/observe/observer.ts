/**
 * What the nftables backend measures beyond ports in use (docs/observability.md): it loads the
 * observation table (libs/nftables observe.ts), turns conntrack accounting on, follows conntrack's
 * events (connections confirmed and ended) and, while some gateway logs errors, `nft monitor
 * trace`; at each report it reads the set counters and computes the counters per (endpoint, rule).
 * It also writes the NAT log records of the gateways that ask for them.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { HostCounters, HostDocument, HostEndpointCounters } from '@natplane/contracts';
import { BlockIndex, OBS_TABLE, parseSetCounters, renderObservation, traceRule } from '@natplane/nftables';
import { parseConntrack, type ConntrackEntry } from '../conntrack';
import { Logger, errorMessage } from '../log';
import { NatLogWriter, logs, natLogRecord, protocolNumber } from '../nat-log';
import { commandIn, runCommand } from '../nft-session';
import { computeCounters, forgetLeftEndpoints, pairKey, ratchet, type Tally } from './counters';
import { SourceIndex } from './sources';
import { parseTraceLine, type TraceLine } from './trace';

/** The set counters are read, then the events that confirm what they counted are waited for. */
const EVENT_GRACE_MS = 150;
/** A traced new flow without a NEW event after this long was dropped. */
const DROP_VERDICT_MS = 400;
/** How long a NEW event's tuple is remembered for the verdict on a traced flow. */
const RECENT_NEW_MS = 5000;

export class NftObserver {
  private since = new Date().toISOString();
  private accounting = false;
  private doc: HostDocument = { apiVersion: 'natplane.host/v1', host: '', generation: 0, gateways: [] };
  private sources = new SourceIndex(this.doc);
  private blocks = new BlockIndex(this.doc);
  private readonly tally = new Map<string, Tally>();
  private last = new Map<string, HostEndpointCounters>();
  private events: ChildProcessWithoutNullStreams | null = null;
  private tracer: ChildProcessWithoutNullStreams | null = null;
  private tracing = false;
  /**
   * Original tuples of recent NEW events, while flows are traced (for telling traced flows that
   * made it from dropped ones); kept RECENT_NEW_MS, and not at all while nothing is traced.
   */
  private readonly recentNew = new Map<string, number>();
  private prunedAt = 0;
  private readonly traced = new Map<string, { lines: TraceLine[]; at: number }>();
  private problem: string | null = null;
  private closed = false;

  constructor(
    private readonly netns: string | undefined,
    private readonly log: Logger,
    private readonly uplink: string,
    private readonly host: string,
    private readonly natLog: NatLogWriter | null,
  ) {}

  get error(): string | null {
    return this.problem;
  }

  /** Loads the observation table afresh (counters from 0: a new `since`), turns accounting on, follows events. */
  async start(): Promise<void> {
    const r = await runCommand(this.netns, 'nft', ['-f', '-'], renderObservation(this.uplink, { trace: false }));
    if (r.code !== 0) throw new Error(`loading ${OBS_TABLE} failed: ${r.stderr.trim()}`);
    this.since = new Date().toISOString();
    const acct = await runCommand(this.netns, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_acct']);
    if (acct.stdout.trim() !== '1') await runCommand(this.netns, 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_acct=1']);
    this.accounting = (await runCommand(this.netns, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_acct'])).stdout.trim() === '1';
    if (!this.accounting) this.log.warn('conntrack accounting is off and cannot be turned on: packets and bytes are not measured');
    this.events = this.follow('conntrack', ['-E', '-e', 'NEW,DESTROY', '-f', 'ipv4'], (l) => this.onEvent(l));
  }

  private follow(cmd: string, args: string[], onLine: (l: string) => void): ChildProcessWithoutNullStreams {
    const [file, argv] = commandIn(this.netns, cmd, args);
    const p = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: p.stdout }).on('line', onLine);
    createInterface({ input: p.stderr }).on('line', (l) => {
      if (/ENOBUFS/i.test(l)) this.problem = 'conntrack events were lost (ENOBUFS): new connections and drops are undercounted';
    });
    p.on('exit', (code) => {
      if (!this.closed) {
        this.problem = `${cmd} ${args[0]} exited (${code}): counters stopped`;
        this.log.warn(`${cmd} ${args.join(' ')} exited`, { code });
      }
    });
    p.on('error', (e) => (this.problem = `${cmd} cannot run: ${errorMessage(e)}`));
    return p;
  }

  /**
   * The applied document changed. Its indexes (who owns which sources and blocks, who logs what)
   * are rebuilt lazily, at most once a second while events flow, and at every report: building
   * them is O(endpoints), too much for every patch of a burst.
   */
  documentChanged(doc: () => HostDocument): void {
    this.pending = doc;
  }

  private pending: (() => HostDocument) | null = null;
  private rebuiltAt = 0;

  private async refresh(force: boolean): Promise<void> {
    if (!this.pending || (!force && Date.now() - this.rebuiltAt < 1000)) return;
    const doc = this.pending();
    this.pending = null;
    this.rebuiltAt = Date.now();
    await this.setDocument(doc);
  }

  private async setDocument(doc: HostDocument): Promise<void> {
    this.doc = doc;
    forgetLeftEndpoints(this.tally, doc);
    this.sources = new SourceIndex(doc);
    this.blocks = new BlockIndex(doc);
    const trace = doc.gateways.some((g) => logs(g, 'DROPPED'));
    if (trace === this.tracing || !this.natLog) return;
    const script = [`flush chain ${OBS_TABLE} before_nat`, renderObservation(this.uplink, { trace }).split('\n').find((l) => l.includes('update @attempts'))!, ...(trace ? [traceRule(this.uplink)] : []), ''].join('\n');
    const r = await runCommand(this.netns, 'nft', ['-f', '-'], script);
    if (r.code !== 0) {
      this.log.warn('could not switch tracing for NAT logs of drops', { error: r.stderr.trim() });
      return;
    }
    this.tracing = trace;
    if (trace && !this.tracer) this.tracer = this.follow('nft', ['monitor', 'trace'], (l) => this.onTrace(l));
    if (!trace && this.tracer) {
      this.tracer.kill();
      this.tracer = null;
      this.recentNew.clear();
    }
  }

  private onEvent(line: string): void {
    if (this.pending) void this.refresh(false).catch((e: unknown) => this.log.warn('observer refresh failed', { error: errorMessage(e) }));
    const m = /^\s*(?:\[\d+\.\d+\]\s*)?\[(NEW|DESTROY)\]\s+(.*)$/.exec(line);
    if (!m) return;
    const [entry] = parseConntrack(m[2]);
    if (!entry) return;
    const owner = this.blocks.lookup(entry.replyDst, entry.replyPort);
    if (m[1] === 'NEW') {
      if (this.tracing) this.rememberNew(tupleKey(entry.proto, entry.origSrc, entry.origSport ?? entry.icmp?.id ?? 0, entry.origDst, entry.origDport ?? 0));
      if (!owner) return;
      this.tallyOf(owner.endpointId, owner.ruleNumber).confirmed++;
      this.logTranslation(owner.gatewayId, owner.endpointId, owner.ruleNumber, entry);
    } else if (owner && entry.acct) {
      const t = this.tallyOf(owner.endpointId, owner.ruleNumber).ended;
      t.origPackets += entry.acct.origPackets;
      t.origBytes += entry.acct.origBytes;
      t.replyPackets += entry.acct.replyPackets;
      t.replyBytes += entry.acct.replyBytes;
    }
  }

  private rememberNew(tuple: string): void {
    const now = Date.now();
    this.recentNew.set(tuple, now);
    if (now - this.prunedAt < RECENT_NEW_MS) return;
    this.prunedAt = now;
    for (const [k, at] of this.recentNew) if (now - at > RECENT_NEW_MS) this.recentNew.delete(k);
  }

  private tallyOf(endpoint: string, rule: number): Tally {
    const k = pairKey(endpoint, rule);
    let t = this.tally.get(k);
    if (!t) this.tally.set(k, (t = { confirmed: 0, ended: { origPackets: 0, origBytes: 0, replyPackets: 0, replyBytes: 0 } }));
    return t;
  }

  private logTranslation(gatewayId: string, endpointId: string, rule: number, c: ConntrackEntry): void {
    if (!this.natLog) return;
    const g = this.doc.gateways.find((x) => x.id === gatewayId);
    const e = g?.endpoints.find((x) => x.id === endpointId);
    if (!g || !e || !logs(g, 'OK')) return;
    this.natLog.write(
      natLogRecord(this.host, g, e, rule, 'OK', {
        src_ip: c.origSrc,
        src_port: c.origSport ?? c.icmp?.id ?? 0,
        dest_ip: c.origDst,
        dest_port: c.origDport ?? 0,
        protocol: protocolNumber(c.proto),
        nat_ip: c.replyDst,
        nat_port: c.replyPort,
      }, new Date()),
    );
  }

  private onTrace(line: string): void {
    const t = parseTraceLine(line);
    if (!t) return;
    let flow = this.traced.get(t.id);
    if (!flow) {
      this.traced.set(t.id, (flow = { lines: [], at: Date.now() }));
      setTimeout(() => this.judge(t.id), DROP_VERDICT_MS).unref();
    }
    flow.lines.push(t);
  }

  /** A traced new flow: dropped by natplane's rules, or never confirmed (no NEW event), is logged DROPPED. */
  private judge(id: string): void {
    const flow = this.traced.get(id);
    this.traced.delete(id);
    const now = Date.now();
    if (!flow || !this.natLog) return;
    const before = flow.lines.find((l) => l.kind === 'packet' && l.table === 'natplane_obs' && l.chain === 'before_nat');
    if (!before?.iif || !before.saddr || !before.daddr || !before.proto) return;
    const owner = this.sources.lookup(before.iif, before.saddr);
    if (!owner || !logs(owner.gateway, 'DROPPED')) return;
    const droppedByRule = flow.lines.some((l) => l.kind === 'verdict' && l.table === 'natplane' && l.verdict === 'drop');
    const seen = this.recentNew.get(tupleKey(before.proto, before.saddr, before.sport ?? 0, before.daddr, before.dport ?? 0));
    const confirmed = seen !== undefined && now - seen <= RECENT_NEW_MS;
    if (!droppedByRule && confirmed) return;
    const after = flow.lines.find((l) => l.kind === 'packet' && l.chain === 'after_nat');
    const rule = after?.saddr ? (owner.endpoint.mappings.find((m) => m.active?.natIp === after.saddr)?.ruleNumber ?? -1) : (owner.endpoint.mappings.find((m) => !m.active)?.ruleNumber ?? -1);
    this.natLog.write(
      natLogRecord(
        this.host,
        owner.gateway,
        owner.endpoint,
        rule,
        'DROPPED',
        { src_ip: before.saddr, src_port: before.sport ?? 0, dest_ip: before.daddr, dest_port: before.dport ?? 0, protocol: protocolNumber(before.proto) },
        new Date(flow.at),
        'OUT_OF_RESOURCES',
      ),
    );
  }

  /** The counters now, from the set counters, the events and conntrack's table (`live`). */
  async measure(live: ConntrackEntry[]): Promise<HostCounters> {
    await this.refresh(true);
    const readAt = new Date().toISOString();
    const [attempts, translated] = await Promise.all(['attempts', 'translated'].map((s) => this.readSet(s)));
    await new Promise((r) => setTimeout(r, EVENT_GRACE_MS));
    const raw = computeCounters({ since: this.since, sources: this.sources, blocks: this.blocks, tally: this.tally, live, attempts, translated, accounting: this.accounting });
    const endpoints = ratchet(this.last, raw);
    this.last = new Map(endpoints.map((e) => [pairKey(e.endpoint, e.ruleNumber), e]));
    return { readAt, complete: true, endpoints, host: { since: this.since, droppedReceivedUnsolicited: null, droppedReceivedFragments: null } };
  }

  private async readSet(name: string) {
    const r = await runCommand(this.netns, 'nft', ['-j', 'list', 'set', ...OBS_TABLE.split(' '), name]);
    if (r.code !== 0) throw new Error(`nft list set ${name} failed: ${r.stderr.trim()}`);
    return parseSetCounters(r.stdout);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.events?.kill();
    this.tracer?.kill();
    await this.natLog?.close();
  }
}

function tupleKey(proto: string, src: string, sport: number, dst: string, dport: number): string {
  return `${proto} ${src}:${sport} ${dst}:${dport}`;
}
