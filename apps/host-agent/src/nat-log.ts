/**
 * NAT logs as Cloud NAT users know them (docs/observability.md "NAT logs"): one JSON object per line,
 * per translation (allocation_status OK) or per dropped packet of a new flow (DROPPED), for the
 * gateways whose logConfig asks for it, appended to a file a log shipper follows (AGENT_NAT_LOG,
 * default AGENT_STATE_DIR/nat-flows.log; renamed to .1 past AGENT_NAT_LOG_MAX_BYTES). Rate-limited
 * per host (AGENT_NAT_LOG_RATE records a second, bursts of 2 s): what the limit holds back is
 * counted and said in a `{"type":"suppressed"}` line, and in natplane_agent_nat_log_suppressed_total.
 */
import { closeSync, fstatSync, openSync, renameSync, writeSync } from 'node:fs';
import type { HostGateway, HostEndpoint } from '@natplane/contracts';
import { natLogRecords, natLogSuppressed } from './agent-metrics';

export type AllocationStatus = 'OK' | 'DROPPED';

export interface NatConnection {
  src_ip: string;
  src_port: number;
  dest_ip: string;
  dest_port: number;
  /** IANA protocol number (6 TCP, 17 UDP, 1 ICMP). */
  protocol: number;
  /** Absent for a packet dropped before it got a port. */
  nat_ip?: string;
  nat_port?: number;
}

export interface NatLogRecord {
  timestamp: string;
  allocation_status: AllocationStatus;
  connection: NatConnection;
  /** Why a DROPPED packet was dropped (Cloud NAT's reasons). */
  reason?: 'OUT_OF_RESOURCES' | 'UNTRANSLATABLE_PROTOCOL';
  endpoint: { project_id: string; vm_name: string; endpoint_id: string; host: string; host_interface?: string };
  gateway_identifiers: { project_id: string; gateway_name: string; gateway_id: string; rule_number: number };
}

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };
export const protocolNumber = (p: string | number): number => (typeof p === 'number' ? p : (PROTOCOLS[p] ?? (Number(p) || 0)));

/** `projects/{p}/natGateways/{g}` -> {p, g}. */
function names(path: string): { project: string; name: string } {
  const m = /^projects\/([^/]+)\/[^/]+\/([^/]+)$/.exec(path);
  return m ? { project: m[1], name: m[2] } : { project: '', name: path };
}

/** Whether a gateway's logConfig asks for records of this status. */
export function logs(g: HostGateway, status: AllocationStatus): boolean {
  if (!g.logging.enable) return false;
  return g.logging.filter === 'ALL' || (status === 'OK' ? g.logging.filter === 'TRANSLATIONS_ONLY' : g.logging.filter === 'ERRORS_ONLY');
}

export function natLogRecord(
  host: string,
  g: HostGateway,
  e: HostEndpoint,
  rule: number,
  status: AllocationStatus,
  connection: NatConnection,
  at: Date,
  reason?: NatLogRecord['reason'],
): NatLogRecord {
  const gw = names(g.name);
  const ep = names(e.name);
  return {
    timestamp: at.toISOString(),
    allocation_status: status,
    connection,
    ...(reason ? { reason } : {}),
    endpoint: { project_id: ep.project, vm_name: ep.name, endpoint_id: e.id, host, ...(e.hostInterface ? { host_interface: e.hostInterface } : {}) },
    gateway_identifiers: { project_id: gw.project, gateway_name: gw.name, gateway_id: g.id, rule_number: rule },
  };
}

/** A token bucket: `rate` a second, up to `burst` at once. */
export class RateLimit {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class NatLogWriter {
  /** Appended with one write(2) per line (at most AGENT_NAT_LOG_RATE a second): a line is whole or absent. */
  private fd: number;
  private bytes = 0;
  private suppressed = 0;
  private suppressedSince: Date | null = null;
  private readonly limit: RateLimit;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly path: string,
    opts: { ratePerSec: number; maxBytes: number; now?: () => number },
    private readonly maxBytes = opts.maxBytes,
  ) {
    this.limit = new RateLimit(opts.ratePerSec, opts.ratePerSec * 2, opts.now);
    this.fd = this.open();
    // the count of what was held back is said even when nothing else is written
    this.timer = setInterval(() => this.flushSuppressed(new Date()), 5000);
    this.timer.unref();
  }

  private open(): number {
    const fd = openSync(this.path, 'a');
    this.bytes = fstatSync(fd).size;
    return fd;
  }

  private line(o: unknown): void {
    const text = `${JSON.stringify(o)}\n`;
    if (this.bytes + text.length > this.maxBytes && this.bytes > 0) {
      closeSync(this.fd);
      renameSync(this.path, `${this.path}.1`);
      this.fd = this.open();
    }
    writeSync(this.fd, text);
    this.bytes += Buffer.byteLength(text);
  }

  private flushSuppressed(at: Date): void {
    if (this.suppressed === 0) return;
    this.line({ timestamp: at.toISOString(), type: 'suppressed', suppressed: this.suppressed, since: this.suppressedSince!.toISOString() });
    this.suppressed = 0;
    this.suppressedSince = null;
  }

  write(r: NatLogRecord): boolean {
    if (!this.limit.take()) {
      this.suppressed++;
      this.suppressedSince ??= new Date(r.timestamp);
      natLogSuppressed.inc();
      return false;
    }
    this.flushSuppressed(new Date(r.timestamp));
    this.line(r);
    natLogRecords.inc({ allocation_status: r.allocation_status });
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flushSuppressed(new Date());
    closeSync(this.fd);
    await Promise.resolve();
  }
}
