import { Allocator, DEFAULT_RULE, type AllocationResult, type AllocatorEndpoint, type AllocatorInput, type AllocatorRule, type Block } from '@natplane/allocator';
import { endpointNatScope, gatewayAddressUses, gatewayRangeUses, privateNatAddresses, sourceRulesOf, type EndpointNatScope, type NatGatewaySpec } from '@natplane/domain';
import type { ScopeEndpoint, StoredBlock, UsageRow } from './types';

/** A gateway's NAT IP uses, as stored in gateway_addresses or derived from a proposed spec. */
export interface IpUse {
  ip: string;
  ruleNumber: number;
  draining: boolean;
}

export interface PlanTarget {
  /** Undefined for a gateway that does not exist yet (preview of a create). */
  id: string | undefined;
  networkId: string;
  region: string;
  spec: NatGatewaySpec;
  ips: IpUse[];
  /** Drains that reached the gateway's maxDrainDurationSec in this run (AllocatorInput.endedDrains). */
  endedDrains?: { natIp: string; ruleNumber: number }[];
}

export interface GatewayPlan {
  /** Every endpoint of the network's subnets in the region, in scope or not. */
  candidates: ScopeEndpoint[];
  inScope: { endpoint: ScopeEndpoint; scope: EndpointNatScope }[];
  previous: StoredBlock[];
  foreign: StoredBlock[];
  usageRows: UsageRow[];
  input: AllocatorInput;
  result: AllocationResult;
  /** The allocator that rendered `result`, which an incremental computation updates (Allocator.update). */
  allocator?: Allocator;
  /** Latest ports in use per `${endpointId}|${ruleNumber}`. */
  usage: Map<string, number>;
}

/** What the allocator's input is made of, as read from PostgreSQL (or kept from a previous run). */
export interface PlanInputs {
  /** Every endpoint of the network's subnets in the region, sorted by id. */
  candidates: ScopeEndpoint[];
  previous: StoredBlock[];
  foreign: StoredBlock[];
  usage: UsageRow[];
}

/**
 * The reads planGateway makes (PlanInputsRepository in libs/persistence has them). An interface
 * here, so that the planner depends on no persistence: the caller passes its repository.
 */
export interface PlanReads {
  /** Every endpoint of the network's subnets in the region, sorted by id. */
  candidateEndpoints(networkId: string, region: string): Promise<ScopeEndpoint[]>;
  /** The gateway's stored blocks. */
  blocks(gatewayId: string): Promise<StoredBlock[]>;
  /** Other gateways' blocks on these NAT IPs (every gateway but `gatewayId`). */
  foreign(ips: string[], gatewayId: string): Promise<StoredBlock[]>;
  /** The latest usage reports of these endpoints. */
  usage(endpointIds: string[]): Promise<UsageRow[]>;
}

/**
 * Loads what the allocator needs for a gateway (endpoints in scope, previous blocks, other
 * gateways' blocks on its IPs, usage) and runs it. The worker commits the result; a preview
 * only reports it. Pure but for the repository reads.
 */
export async function planGateway(repo: PlanReads, t: PlanTarget, now: Date): Promise<GatewayPlan> {
  const candidates = await repo.candidateEndpoints(t.networkId, t.region);
  const previous = t.id ? await repo.blocks(t.id) : [];
  const foreign = await repo.foreign(
    t.ips.map((i) => i.ip),
    t.id ?? '00000000-0000-0000-0000-000000000000',
  );
  const inScope = scopeOf(t.spec, candidates);
  const usage = await repo.usage(inScope.map((x) => x.endpoint.id));
  return planWith(t, { candidates, previous, foreign, usage }, now, inScope);
}

/**
 * Runs the allocator on inputs already at hand (pure). `known`: what an earlier call computed
 * from the same inputs, to reuse: the scope of endpoints (by id), `previous` as allocator blocks,
 * and the endpoints in scope as the allocator takes them (index for index with `inScope`).
 */
export function planWith(
  t: PlanTarget,
  inputs: PlanInputs,
  now: Date,
  inScope?: GatewayPlan['inScope'],
  known: { scope?: Map<string, EndpointNatScope | null>; previous?: Block[]; endpoints?: AllocatorEndpoint[] } = {},
): GatewayPlan {
  inScope ??= scopeOf(t.spec, inputs.candidates, known.scope);
  const input: AllocatorInput = {
    spec: allocatorSpec(t.spec, t.ips),
    endpoints: known.endpoints ?? inScope.map(allocatorEndpoint),
    previous: known.previous ?? inputs.previous.map(toBlock),
    foreign: inputs.foreign.map((f) => ({ natIp: f.natIp, portLo: f.portLo, size: f.portHi - f.portLo + 1, until: f.until ? f.until.getTime() : undefined })),
    usage: inputs.usage.map((u) => ({ endpointId: u.endpointId, ruleNumber: u.ruleNumber, portsInUse: u.portsInUse, at: u.reportedAt.getTime() })),
    now: now.getTime(),
    ...(t.endedDrains?.length ? { endedDrains: t.endedDrains } : {}),
  };
  const allocator = new Allocator(input);
  return {
    candidates: inputs.candidates,
    inScope,
    previous: inputs.previous,
    foreign: inputs.foreign,
    usageRows: inputs.usage,
    input,
    result: allocator.result(),
    allocator,
    usage: new Map(inputs.usage.map((u) => [`${u.endpointId}|${u.ruleNumber}`, u.portsInUse])),
  };
}

function allocatorEndpoint(x: GatewayPlan['inScope'][number]): AllocatorEndpoint {
  const sourceRules = x.scope.sourceRules?.map((r) => r.ruleNumber);
  return { id: x.endpoint.id, aliasRangesNated: x.scope.aliasRanges.length > 0, ...(sourceRules ? { sourceRules } : {}) };
}

/**
 * A gateway's candidates and what planWith derives from them, kept between computations so that
 * an endpoint write costs O(log n) rather than a pass over every candidate: the candidates in id
 * order, the scope of each (null or absent: out of scope), the endpoints in scope in id order,
 * and the allocator's list of them (index for index).
 */
export interface KeptScope {
  candidates: ScopeEndpoint[];
  scope: Map<string, EndpointNatScope | null>;
  inScope: GatewayPlan['inScope'];
  endpoints: AllocatorEndpoint[];
}

export function keptScope(plan: GatewayPlan): KeptScope {
  return { candidates: plan.candidates, scope: new Map(plan.inScope.map((x) => [x.endpoint.id, x.scope])), inScope: plan.inScope, endpoints: plan.input.endpoints };
}

/** Updates `kept` in place for one endpoint written since (undefined: gone from the candidates). */
export function updateKeptScope(spec: NatGatewaySpec, kept: KeptScope, id: string, endpoint: ScopeEndpoint | undefined): void {
  const { candidates, inScope, endpoints } = kept;
  const c = lowerBound(candidates, id, (e) => e.id);
  const present = c < candidates.length && candidates[c].id === id;
  if (endpoint) candidates.splice(c, present ? 1 : 0, endpoint);
  else if (present) candidates.splice(c, 1);

  const at = lowerBound(inScope, id, (x) => x.endpoint.id);
  if (at < inScope.length && inScope[at].endpoint.id === id) {
    inScope.splice(at, 1);
    endpoints.splice(at, 1);
  }
  const scope = endpoint ? (endpointNatScope(spec, endpoint) ?? null) : null;
  if (endpoint) kept.scope.set(id, scope);
  else kept.scope.delete(id);
  if (endpoint && scope) {
    const x = { endpoint, scope };
    inScope.splice(at, 0, x);
    endpoints.splice(at, 0, allocatorEndpoint(x));
  }
}

/** The endpoint in scope as the allocator takes it (undefined: not in scope). */
export function keptEndpoint(kept: KeptScope, id: string): AllocatorEndpoint | undefined {
  const at = lowerBound(kept.inScope, id, (x) => x.endpoint.id);
  return at < kept.inScope.length && kept.inScope[at].endpoint.id === id ? kept.endpoints[at] : undefined;
}

/** First index of `list` (sorted by id) whose id is not below `id`. */
function lowerBound<T>(list: readonly T[], id: string, idOf: (t: T) => string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (idOf(list[mid]) < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The endpoints in scope and their scope; `cache` (endpoint id -> scope, null: out of scope) is read and filled. */
function scopeOf(spec: NatGatewaySpec, candidates: ScopeEndpoint[], cache?: Map<string, EndpointNatScope | null>): { endpoint: ScopeEndpoint; scope: EndpointNatScope }[] {
  const out: { endpoint: ScopeEndpoint; scope: EndpointNatScope }[] = [];
  for (const e of candidates) {
    let scope = cache?.get(e.id);
    if (scope === undefined) {
      scope = endpointNatScope(spec, e) ?? null;
      cache?.set(e.id, scope);
    }
    if (scope) out.push({ endpoint: e, scope });
  }
  return out;
}

export function allocatorSpec(s: NatGatewaySpec, ips: IpUse[]): AllocatorInput['spec'] {
  const sources = new Set(sourceRulesOf(s).map((r) => r.ruleNumber));
  const rule = (ruleNumber: number): AllocatorRule => ({
    ruleNumber,
    ...(sources.has(ruleNumber) ? { source: true } : {}),
    activeIps: ips.filter((i) => i.ruleNumber === ruleNumber && !i.draining).map((i) => i.ip),
    drainIps: ips.filter((i) => i.ruleNumber === ruleNumber && i.draining).map((i) => i.ip),
  });
  return {
    minPortsPerVm: s.minPortsPerVm,
    maxPortsPerVm: s.maxPortsPerVm,
    enableDynamicPortAllocation: s.enableDynamicPortAllocation,
    natIpAllocateOption: s.natIpAllocateOption,
    idleTimeoutsSec: [s.udpIdleTimeoutSec, s.icmpIdleTimeoutSec, s.tcpEstablishedIdleTimeoutSec, s.tcpTransitoryIdleTimeoutSec, s.tcpTimeWaitTimeoutSec],
    // A PRIVATE gateway has no default IP set: its endpoints get blocks on its rules only.
    rules: [...(s.type === 'PRIVATE' ? [] : [rule(DEFAULT_RULE)]), ...s.rules.map((r) => rule(r.ruleNumber))],
  };
}

/** Orders IP uses as the spec lists them (placement fills IPs in listed order). */
export function ipUsesInSpecOrder(
  spec: NatGatewaySpec,
  addressIp: (name: string) => string | undefined,
  rangeOf: (subnet: string) => string | undefined = () => undefined,
): IpUse[] {
  const out: IpUse[] = [];
  for (const u of gatewayAddressUses(spec)) {
    const ip = addressIp(u.name);
    if (ip) out.push({ ip, ruleNumber: u.ruleNumber, draining: u.draining });
  }
  // A PRIVATE gateway's rules: every usable address of their PRIVATE_NAT subnets, active.
  for (const u of gatewayRangeUses(spec)) {
    const range = rangeOf(u.name);
    if (range) for (const ip of privateNatAddresses(range)) out.push({ ip, ruleNumber: u.ruleNumber, draining: false });
  }
  return out;
}

export function toBlock(b: StoredBlock): Block {
  return {
    endpointId: b.endpointId,
    ruleNumber: b.ruleNumber,
    natIp: b.natIp,
    portLo: b.portLo,
    size: b.portHi - b.portLo + 1,
    state: b.state,
    since: b.since.getTime(),
    until: b.until ? b.until.getTime() : undefined,
    ...(b.state === 'QUARANTINE' && b.cut === true ? { cut: true as const } : {}),
  };
}

export function fromBlock(b: Block): StoredBlock {
  return {
    natIp: b.natIp,
    portLo: b.portLo,
    portHi: b.portLo + b.size - 1,
    endpointId: b.endpointId,
    ruleNumber: b.ruleNumber,
    state: b.state,
    since: new Date(b.since),
    until: b.until !== undefined ? new Date(b.until) : null,
    ...(b.cut === true ? { cut: true } : {}),
  };
}
