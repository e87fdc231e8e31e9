import { Injectable } from '@nestjs/common';
import { DEFAULT_RULE, gatewayAddressUses, HistoryExpiredError, InvalidArgumentError, NotFoundError, parseIpv4, privateNatAddresses, sourceRulesOf, type NatGatewaySpec } from '@natplane/domain';
import { Db, GatewaysRepository, InsightsRepository, NatMetricsRepository, PlanInputsRepository, type GatewayRecord, type MappingBlockRow } from '@natplane/persistence';
import { ipUsesInSpecOrder, planGateway, type AllocationStatus, type Block } from '@natplane/planner';
import type { ProjectScope } from '../common/auth';
import { pageToken, parsePaging } from '../common/paging';
import type { AttributionDto, ChurnChangeDto, TimeSeriesDto, NatGatewayPreviewDto, NatMappingDto, NatMappingListDto, NatStatusDto, RuleMappingDto } from './insights.dto';
import { ChurnKind } from './insights.dto';
import { pointView, trafficView } from './traffic';
import { NatGatewaysService } from './nat-gateways.service';

const MAX_PREVIEW_CHANGES = 500;

const range = (b: { natIp: string; portLo: number; portHi: number }) => `${b.natIp}:${b.portLo}-${b.portHi}`;

/** A block in quarantine, `until` in RFC 3339. */
interface QuarantineBlock {
  natIp: string;
  portLo: number;
  portHi: number;
  ruleNumber: number;
  until: string;
}

/** The QUARANTINE blocks of an allocator result, by NAT IP and port. */
function quarantineOf(blocks: Block[]): QuarantineBlock[] {
  return blocks
    .filter((b) => b.state === 'QUARANTINE' && b.until !== undefined)
    .map((b) => ({ natIp: b.natIp, portLo: b.portLo, portHi: b.portLo + b.size - 1, ruleNumber: b.ruleNumber, until: new Date(b.until!).toISOString() }))
    .sort((a, b) => (a.natIp < b.natIp ? -1 : a.natIp > b.natIp ? 1 : a.portLo - b.portLo));
}

/** What was computed for a gateway: mappings, natStatus, preview of a change, attribution. */
@Injectable()
export class GatewayInsightsService {
  constructor(
    private readonly db: Db,
    private readonly gateways: GatewaysRepository,
    private readonly insights: InsightsRepository,
    private readonly planInputs: PlanInputsRepository,
    private readonly gatewaysService: NatGatewaysService,
    private readonly natMetrics: NatMetricsRepository,
  ) {}

  private async gateway(p: ProjectScope, name: string): Promise<GatewayRecord> {
    const g = await this.gateways.get(p.id, name);
    if (!g) throw new NotFoundError('natGateway', name);
    return g;
  }

  async mappings(p: ProjectScope, name: string, q: { pageSize?: string; pageToken?: string }): Promise<NatMappingListDto> {
    const g = await this.gateway(p, name);
    const { limit, after } = parsePaging(q.pageSize, q.pageToken);
    const page = await this.insights.mappings(g.id, after, limit);
    const byEndpoint = new Map<string, MappingBlockRow[]>();
    for (const r of page.rows) byEndpoint.set(r.endpointName, [...(byEndpoint.get(r.endpointName) ?? []), r]);
    const traffic = await this.natMetrics.endpointFigures(g.id, p.id, [...byEndpoint.keys()]);
    const items = [...byEndpoint.values()].map((rows) => ({ ...mappingView(rows, g.spec), traffic: trafficView(traffic.get(rows[0].endpointName)) }));
    return { items, nextPageToken: pageToken(page.nextAfter) };
  }

  async status(p: ProjectScope, name: string): Promise<NatStatusDto> {
    const g = await this.gateway(p, name);
    const quarantine = (await this.insights.quarantine(g.id)).map((q) => ({ natIp: q.natIp, portLo: q.portLo, portHi: q.portHi, ruleNumber: q.ruleNumber, until: q.until.toISOString() }));
    const status = await this.statusView(p, g.spec, g.natStatus as AllocationStatus | null, g.observedGeneration, quarantine, g.id, await this.gateways.drains(g.id));
    return { ...status, traffic: trafficView(await this.natMetrics.gatewayFigures(g.id)) };
  }

  private async statusView(
    p: ProjectScope,
    spec: NatGatewaySpec,
    st: AllocationStatus | null,
    observedGeneration: number,
    quarantine: QuarantineBlock[],
    gatewayId: string | undefined,
    drainsNow: { address: string; ruleNumber: number; drainStartTime: Date }[],
  ): Promise<NatStatusDto> {
    const addrs = await this.insights.addressIps(p.id);
    // Each drain of the spec with its start (a drain that starts with this change: now) and deadline.
    const now = new Date();
    const drains = gatewayAddressUses(spec)
      .filter((u) => u.draining)
      .map((u) => ({ address: u.name, ruleNumber: u.ruleNumber }))
      .map((d) => {
      const start = drainsNow.find((x) => x.address === d.address && x.ruleNumber === d.ruleNumber)?.drainStartTime ?? now;
      const max = spec.maxDrainDurationSec ?? 0;
      return {
        natIp: addrs.get(d.address)?.ip ?? d.address,
        address: d.address,
        ruleNumber: d.ruleNumber,
        drainStartTime: start.toISOString(),
        drainDeadline: max > 0 ? new Date(start.getTime() + max * 1000).toISOString() : null,
      };
    });
    const auto = gatewayId && spec.natIpAllocateOption === 'AUTO_ONLY' ? await this.insights.autoIps(gatewayId) : [];
    const ips = (names: string[], auto: boolean) => names.map((n) => addrs.get(n)).filter((a) => a !== undefined && a.autoAllocated === auto).map((a) => a!.ip);
    const ranges = spec.type === 'PRIVATE' ? await this.insights.privateNatRanges(p.id) : new Map<string, string>();
    const rangeIps = (names: string[]) => names.flatMap((n) => (ranges.has(n) ? privateNatAddresses(ranges.get(n)!) : []));
    const ruleStatus = spec.rules.map((r) => {
      const rs = st?.rules.find((x) => x.ruleNumber === r.ruleNumber);
      return {
        ruleNumber: r.ruleNumber,
        activeNatIps: [...r.action.sourceNatActiveIps.map((n) => addrs.get(n)?.ip ?? n), ...rangeIps(r.action.sourceNatActiveRanges ?? [])],
        drainNatIps: r.action.sourceNatDrainIps.map((n) => addrs.get(n)?.ip ?? n),
        minExtraIpsNeeded: rs?.minExtraIpsNeeded ?? 0,
        numVmEndpointsWithNatMappings: rs?.endpointsWithMappings ?? 0,
        numVmEndpointsWithoutNatMappings: rs?.endpointsWithoutMappings ?? 0,
      };
    });
    return {
      autoAllocatedNatIps: [...ips(spec.natIps, true), ...auto.filter((a) => !a.draining).map((a) => a.ip)],
      drainAutoAllocatedNatIps: [...ips(spec.drainNatIps, true), ...auto.filter((a) => a.draining).map((a) => a.ip)],
      userAllocatedNatIps: ips(spec.natIps, false),
      drainUserAllocatedNatIps: ips(spec.drainNatIps, false),
      minExtraNatIpsNeeded: st?.minExtraNatIpsNeeded ?? 0,
      numVmEndpointsWithNatMappings: st?.endpointsWithMappings ?? 0,
      numVmEndpointsWithoutNatMappings: st?.endpointsWithoutMappings ?? 0,
      ruleStatus,
      drains,
      portUtilization: (st?.portUtilization ?? []).map((u) => ({
        natIp: u.natIp,
        ruleNumber: u.ruleNumber,
        draining: u.draining,
        activePorts: u.activePorts,
        drainPorts: u.drainPorts,
        quarantinedPorts: u.quarantinedPorts,
        foreignPorts: u.foreignPorts ?? 0,
        freePorts: u.freePorts,
        quarantineRanges: quarantine.filter((q) => q.natIp === u.natIp).map((q) => ({ range: range(q), ruleNumber: q.ruleNumber, until: q.until })),
      })),
      observedGeneration,
    };
  }

  /**
   * Runs the allocator on the proposed gateway (a merge patch over the existing one, or a whole
   * body for a new one) against the current endpoints, blocks and usage. Nothing is written.
   */
  async preview(p: ProjectScope, name: string | undefined, body: unknown): Promise<NatGatewayPreviewDto> {
    return this.db.transaction(async () => {
      const proposal = await this.gatewaysService.propose(p, name, body);
      const addrs = await this.insights.addressIps(p.id);
      const ranges = await this.insights.privateNatRanges(p.id);
      const ips = ipUsesInSpecOrder(proposal.spec, (n) => addrs.get(n)?.ip, (s) => ranges.get(s));
      const plan = await planGateway(this.planInputs, { id: proposal.id, networkId: proposal.networkId, region: proposal.spec.region, spec: proposal.spec, ips }, new Date());
      const names = new Map(plan.inScope.map((x) => [x.endpoint.id, x.endpoint.name]));
      const missing = [...new Set(plan.result.changes.map((c) => c.endpointId).filter((id) => !names.has(id)))];
      for (const [id, n] of await this.insights.endpointNames(missing)) names.set(id, n);
      const all: ChurnChangeDto[] = plan.result.changes
        .filter((c) => names.has(c.endpointId))
        .map((c) => ({
          endpoint: names.get(c.endpointId)!,
          ruleNumber: c.ruleNumber,
          kind: c.kind as ChurnKind,
          from: c.from ? range({ natIp: c.from.natIp, portLo: c.from.portLo, portHi: c.from.portLo + c.from.size - 1 }) : null,
          to: c.to ? range({ natIp: c.to.natIp, portLo: c.to.portLo, portHi: c.to.portLo + c.to.size - 1 }) : null,
          breaksConnections: c.breaksConnections,
          portsInUse: plan.usage.get(`${c.endpointId}|${c.ruleNumber}`) ?? 0,
        }))
        .sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : a.ruleNumber - b.ruleNumber));
      const count = (k: ChurnKind) => new Set(all.filter((c) => c.kind === k).map((c) => c.endpoint)).size;
      const broken = all.filter((c) => c.breaksConnections);
      return {
        status: await this.statusView(p, proposal.spec, plan.result.status, 0, quarantineOf(plan.result.blocks), undefined, proposal.id ? await this.gateways.drains(proposal.id) : []),
        churn: {
          endpointsAdded: count(ChurnKind.ADDED),
          endpointsMoved: count(ChurnKind.MOVED),
          endpointsResized: count(ChurnKind.RESIZED),
          endpointsDrained: count(ChurnKind.DRAINED),
          endpointsReleased: count(ChurnKind.RELEASED),
          endpointsUnmapped: count(ChurnKind.UNMAPPED),
          endpointsWithBrokenConnections: new Set(broken.map((c) => c.endpoint)).size,
          connectionsBroken: broken.reduce((n, c) => n + c.portsInUse, 0),
        },
        changes: all.slice(0, MAX_PREVIEW_CHANGES),
        changesTruncated: all.length > MAX_PREVIEW_CHANGES,
      };
    });
  }

  /** A gateway's (or one of its endpoints') time series between two instants (at most 14 days back). */
  async timeSeries(p: ProjectScope, name: string, q: { startTime?: string; endTime?: string; endpoint?: string }): Promise<TimeSeriesDto> {
    const g = await this.gateway(p, name);
    const errors: { field: string; message: string }[] = [];
    const instant = (field: string, v: string | undefined, dflt: Date): Date => {
      if (v === undefined) return dflt;
      const d = new Date(v);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(d.getTime())) errors.push({ field, message: 'must be an RFC 3339 instant' });
      return d;
    };
    const end = instant('endTime', q.endTime, new Date());
    const start = instant('startTime', q.startTime, new Date(end.getTime() - 3600_000));
    if (!errors.length && start.getTime() >= end.getTime()) errors.push({ field: 'startTime', message: 'must be before endTime' });
    if (!errors.length && Date.now() - start.getTime() > 14 * 86400_000) errors.push({ field: 'startTime', message: 'must be within the last 14 days (the retention of the series)' });
    if (errors.length) throw new InvalidArgumentError(errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
    let endpointId: string | undefined;
    if (q.endpoint !== undefined) {
      endpointId = await this.natMetrics.endpointId(p.id, q.endpoint);
      if (!endpointId) throw new NotFoundError('endpoint', q.endpoint);
    }
    // 1-minute buckets are kept 6 hours (pruned every 10 minutes: a few minutes' slack)
    const resolutionSec = Date.now() - start.getTime() <= 6 * 3600_000 + 5 * 60_000 ? 60 : 3600;
    const points = await this.natMetrics.series(g.id, endpointId, start, end, resolutionSec);
    return { resolutionSec, startTime: start.toISOString(), endTime: end.toISOString(), points: points.map(pointView) };
  }

  async attribution(q: { natIp: string; port: string; time?: string }, project: ProjectScope | undefined): Promise<AttributionDto> {
    const errors = [];
    const ip = parseIpv4(q.natIp);
    if (!ip.ok) errors.push({ field: 'natIp', message: ip.message });
    const port = /^\d{1,5}$/.test(q.port) ? Number(q.port) : NaN;
    if (!(port >= 1 && port <= 65535)) errors.push({ field: 'port', message: 'must be an integer from 1 to 65535' });
    const at = q.time === undefined ? new Date() : new Date(q.time);
    if (q.time !== undefined && (!/^\d{4}-\d{2}-\d{2}T/.test(q.time) || Number.isNaN(at.getTime()))) errors.push({ field: 'time', message: 'must be an RFC 3339 instant' });
    if (errors.length) throw new InvalidArgumentError(errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
    const { held: r, kept } = await this.insights.attribution(q.natIp, port, at, project?.id);
    if (!r) {
      if (at < kept.keptFrom) throw new HistoryExpiredError(`${q.natIp}:${port}`, at, kept.keptFrom, kept.retentionDays);
      throw new NotFoundError('attribution', `${q.natIp}:${port} at ${at.toISOString()}`);
    }
    return {
      project: r.projectName,
      gateway: r.gatewayName,
      endpoint: r.endpointName,
      host: r.hostName,
      sourceIp: r.sourceIp,
      natIpPortRange: range(r),
      validFrom: r.validFrom.toISOString(),
      validTo: r.validTo ? r.validTo.toISOString() : null,
    };
  }
}

function mappingView(rows: MappingBlockRow[], spec: NatGatewaySpec): Omit<NatMappingDto, 'traffic'> {
  const first = rows[0];
  const sourceRules = new Set(sourceRulesOf(spec).map((r) => r.ruleNumber));
  const rule = (n: number): RuleMappingDto => {
    const mine = rows.filter((r) => r.ruleNumber === n);
    const active = mine.filter((r) => r.state === 'ACTIVE');
    const drain = mine.filter((r) => r.state === 'DRAIN');
    const ports = (xs: MappingBlockRow[]) => xs.reduce((s, r) => s + r.portHi - r.portLo + 1, 0);
    return { ruleNumber: n, natIpPortRanges: active.map(range), numTotalNatPorts: ports(active), drainNatIpPortRanges: drain.map(range), numTotalDrainNatPorts: ports(drain) };
  };
  const d = rule(DEFAULT_RULE);
  return {
    endpoint: first.endpointName,
    host: first.hostName,
    sourceVirtualIp: first.networkIp,
    sourceAliasIpRange: first.aliasIpRanges.map((a) => a.ipCidrRange).join(','),
    natIpPortRanges: d.natIpPortRanges,
    numTotalNatPorts: d.numTotalNatPorts,
    drainNatIpPortRanges: d.drainNatIpPortRanges,
    numTotalDrainNatPorts: d.numTotalDrainNatPorts,
    // a source-based rule serves only the endpoints it matches: listed for those (with blocks)
    ruleMappings: spec.rules.filter((r) => !sourceRules.has(r.ruleNumber) || rows.some((x) => x.ruleNumber === r.ruleNumber)).map((r) => rule(r.ruleNumber)),
  };
}
