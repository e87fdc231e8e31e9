import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { DROP_REASON_FIELDS, type CounterValues } from '@natplane/domain';
import { NatMetricsRepository } from '@natplane/persistence';
import { API_CONFIG, type ApiConfig } from '../common/config';
import { registry } from './metrics';

/** Read the database at most this often, whatever the number of scrapers. */
const REFRESH_MS = 5000;

/** Counters named after Cloud NAT's metrics (docs/observability.md "Metrics"). */
const TOTALS = {
  newConnections: ['new_connections_total', 'New connections translated (Cloud NAT new_connections_count)'],
  sentPackets: ['sent_packets_total', 'Packets sent by endpoints to the outside through NAT (Cloud NAT sent_packets_count)'],
  sentBytes: ['sent_bytes_total', 'IP bytes sent by endpoints to the outside through NAT (Cloud NAT sent_bytes_count)'],
  receivedPackets: ['received_packets_total', 'Packets received by endpoints from the outside through NAT (Cloud NAT received_packets_count)'],
  receivedBytes: ['received_bytes_total', 'IP bytes received by endpoints from the outside through NAT (Cloud NAT received_bytes_count)'],
} as const;

function family(prefix: string, labels: readonly string[], what: string, allocated: readonly string[]) {
  const g = (name: string, help: string, extra: readonly string[] = []) =>
    new Gauge({ name: `${prefix}_${name}`, help: `${help}${what}`, labelNames: [...labels, ...extra], registers: [registry] });
  const c = (name: string, help: string, extra: readonly string[] = []) =>
    new Counter({ name: `${prefix}_${name}`, help: `${help}${what}`, labelNames: [...labels, ...extra], registers: [registry] });
  return {
    allocatedPorts: g('allocated_ports', 'NAT ports allocated (active blocks) (Cloud NAT allocated_ports)', allocated),
    openConnections: g('open_connections', 'Connections open now, as last reported by the hosts (Cloud NAT open_connections)'),
    dropped: c('dropped_sent_packets_total', 'Packets sent by endpoints and dropped, by reason (Cloud NAT dropped_sent_packets_count)', ['reason']),
    totals: Object.fromEntries(Object.entries(TOTALS).map(([k, [name, help]]) => [k, c(name, help)])) as Record<keyof typeof TOTALS, Counter>,
  };
}

const GW = ['project', 'gateway'] as const;
const EP = ['project', 'gateway', 'endpoint'] as const;

// One set of series per process (the registry is the process's), made on first use.
let gwSeries: ReturnType<typeof makeGatewaySeries> | undefined;
let epSeries: ReturnType<typeof makeEndpointSeries> | undefined;
const gatewaySeries = () => (gwSeries ??= makeGatewaySeries());
const endpointSeries = () => (epSeries ??= makeEndpointSeries());

function makeGatewaySeries() {
  return {
    ...family('natplane_nat', GW, ', per gateway and NAT IP', ['nat_ip']),
    portUsage: new Gauge({ name: 'natplane_nat_port_usage', help: 'Ports in use by the busiest endpoint of the gateway (Cloud NAT port_usage: its highest per VM)', labelNames: GW, registers: [registry] }),
    portUsageRatio: new Gauge({ name: 'natplane_nat_port_usage_ratio', help: 'Highest ratio of ports in use to ports allocated among the endpoints of the gateway', labelNames: GW, registers: [registry] }),
    outOfPorts: new Gauge({ name: 'natplane_nat_endpoints_out_of_ports', help: 'Endpoints that used all their ports, or dropped packets for lack of ports in the last 30 s', labelNames: GW, registers: [registry] }),
    withoutMapping: new Gauge({ name: 'natplane_nat_endpoints_without_mapping', help: 'Endpoints in scope without NAT ports (numVmEndpointsWithoutNatMappings)', labelNames: GW, registers: [registry] }),
    allocationFailed: new Gauge({ name: 'natplane_nat_allocation_failed', help: '1 when some endpoint of the gateway could not get NAT ports (Cloud NAT nat_allocation_failed)', labelNames: GW, registers: [registry] }),
  };
}

function makeEndpointSeries() {
  return {
    ...family('natplane_endpoint_nat', EP, ', per endpoint', []),
    portUsage: new Gauge({ name: 'natplane_endpoint_nat_port_usage', help: 'Ports in use by the endpoint (distinct NAT ports with a connection)', labelNames: EP, registers: [registry] }),
  };
}

/**
 * The tenants' NAT metrics on the api's /metrics, read from PostgreSQL (the same on every replica):
 * per gateway always, per endpoint when NATPLANE_METRICS_PER_ENDPOINT is on. A figure no host
 * measures has no series (not measured is never 0).
 */
@Injectable()
export class NatMetrics {
  private readonly gw = gatewaySeries();
  private readonly ep = this.config.metricsPerEndpoint ? endpointSeries() : undefined;
  private fresh = 0;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly repo: NatMetricsRepository,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  /** Brings the series up to date (at most every 5 s; concurrent scrapes share one read). */
  refresh(): Promise<void> {
    if (Date.now() - this.fresh < REFRESH_MS) return Promise.resolve();
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const [gateways, byIp, endpoints] = await Promise.all([this.repo.gatewayMetrics(), this.repo.allocatedByNatIp(), this.ep ? this.repo.endpointMetrics() : Promise.resolve([])]);
    const names = new Map(gateways.map((g) => [g.gatewayId, { project: g.project, gateway: g.gateway }]));
    const all = [this.gw, ...(this.ep ? [this.ep] : [])];
    for (const f of all) {
      for (const m of Object.values(f)) if (m instanceof Gauge || m instanceof Counter) m.reset();
      for (const m of Object.values(f.totals)) m.reset();
    }
    for (const g of gateways) {
      const l = { project: g.project, gateway: g.gateway };
      this.gw.portUsage.set(l, g.portUsage);
      this.gw.portUsageRatio.set(l, g.portUsageRatio);
      this.gw.outOfPorts.set(l, g.outOfPorts);
      this.gw.withoutMapping.set(l, g.endpointsWithoutMapping);
      this.gw.allocationFailed.set(l, g.allocationFailed);
      setFigures(this.gw, l, g, g.openConnections);
    }
    for (const a of byIp) {
      const n = names.get(a.gatewayId);
      if (n) this.gw.allocatedPorts.set({ ...n, nat_ip: a.natIp }, a.ports);
    }
    if (this.ep) {
      for (const e of endpoints) {
        const n = names.get(e.gatewayId);
        if (!n) continue;
        const l = { ...n, endpoint: e.endpoint };
        this.ep.portUsage.set(l, e.portsInUse);
        this.ep.allocatedPorts.set(l, e.allocatedPorts);
        setFigures(this.ep, l, e, e.openConnections);
      }
    }
    this.fresh = Date.now();
  }
}

function setFigures(f: ReturnType<typeof family>, labels: Record<string, string>, v: CounterValues, open: number | null): void {
  if (open !== null) f.openConnections.set(labels, open);
  for (const [reason, field] of Object.entries(DROP_REASON_FIELDS)) {
    const n = v[field];
    if (n !== null) f.dropped.inc({ ...labels, reason }, n);
  }
  for (const k of Object.keys(TOTALS) as (keyof typeof TOTALS)[]) {
    const n = v[k];
    if (n !== null) f.totals[k].inc(labels, n);
  }
}
