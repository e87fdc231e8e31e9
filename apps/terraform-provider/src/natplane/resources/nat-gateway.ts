import { ok } from '@natplane/sdk';
import { DiagnosticsError, error } from '../../framework/diagnostics';
import { parseDuration } from '../../framework/duration';
import type { ApiObject, Context } from '../../framework/resource';
import { blockList, blockSingle, bool, num, str, strSet } from '../../framework/schema';
import { isObject, text, type TfObject, type TfValue } from '../../framework/values';
import { dynamic, projectResource, timeoutsBlock, type Paths } from '../kit';

const powerOfTwo = (v: TfValue) => {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0 ? undefined : `must be a power of two (got ${typeof v === 'number' ? v : typeof v === 'bigint' ? v.toString() : JSON.stringify(v)})`;
};
const optComputed = { optional: true, computed: true } as const;

/** natplane_nat_gateway: Cloud NAT for a network in a region (google_compute_router_nat's shape). */
export const natGateway = projectResource({
  typeName: 'natplane_nat_gateway',
  kind: 'NAT gateway',
  collection: 'natGateways',
  description:
    'A NAT gateway: translates the traffic of a network\'s endpoints in one region to NAT IPs, each endpoint holding its own port blocks. Shaped like google_compute_router_nat. Create and update wait until the gateway is READY (every host programmed).',
  schema: {
    network: str('The network (name, `projects/P/networks/N` or selfLink). Changing it replaces the gateway.', { required: true, forceNew: true, reference: true }),
    region: str('The region. Changing it replaces the gateway.', { required: true, forceNew: true }),
    type: str(
      "PUBLIC (default) or PRIVATE (Private NAT: no `nat_ips`; each rule's `source_nat_active_ranges` names PRIVATE_NAT subnets, and only traffic to the rules' destinations is translated). Changing it replaces the gateway.",
      { ...optComputed, forceNew: true },
    ),
    nat_ip_allocate_option: str('AUTO_ONLY (natplane allocates addresses) or MANUAL_ONLY (`nat_ips`). Default: MANUAL_ONLY when `nat_ips` is set, else AUTO_ONLY.', optComputed),
    nat_ips: strSet('Addresses (natplane_address names, paths or selfLinks) to NAT to, with MANUAL_ONLY.', { optional: true, reference: true, absentIs: [] }),
    drain_nat_ips: strSet('Addresses being drained: no new port blocks, existing ones kept until released. Only on update, and only addresses that were active or draining.', { optional: true, reference: true, absentIs: [] }),
    max_drain_duration_sec: num(
      'Seconds an address may drain before its drain ends by itself (as AWS MaxDrainDurationSeconds): its last connections are cut and it leaves `drain_nat_ips` (and the rules\' `source_nat_drain_ips`), free to delete. 0 (default): no deadline. Remove the address from your configuration once its drain ended.',
      optComputed,
    ),
    source_subnetwork_ip_ranges_to_nat: str('ALL_SUBNETWORKS_ALL_IP_RANGES (default), ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES or LIST_OF_SUBNETWORKS (`subnetwork` blocks).', optComputed),
    subnetwork: blockList('A subnet to NAT, with LIST_OF_SUBNETWORKS.', {
      name: str('The subnet (name, path or selfLink).', { required: true, reference: true }),
      source_ip_ranges_to_nat: strSet('ALL_IP_RANGES (default), PRIMARY_IP_RANGE, LIST_OF_SECONDARY_IP_RANGES.', optComputed),
      secondary_ip_range_names: strSet('Secondary ranges to NAT, with LIST_OF_SECONDARY_IP_RANGES.', { optional: true, absentIs: [] }),
    }, { api: 'subnetworks', key: 'name' }),
    min_ports_per_vm: num('Ports per endpoint: static allocation, a power of two (default 64); dynamic, the minimum 32..32768 (default 32).', { ...optComputed, validate: powerOfTwo }),
    max_ports_per_vm: num('With dynamic allocation: the maximum ports per endpoint, a power of two 64..65536 (default 65536).', { ...optComputed, validate: powerOfTwo }),
    enable_dynamic_port_allocation: bool('Dynamic port allocation (default false).', optComputed),
    enable_endpoint_independent_mapping: bool('Endpoint-independent mapping (default false; not with rules or dynamic allocation).', optComputed),
    udp_idle_timeout_sec: num('UDP idle timeout in seconds (default 30).', optComputed),
    icmp_idle_timeout_sec: num('ICMP idle timeout in seconds (default 30).', optComputed),
    tcp_established_idle_timeout_sec: num('TCP established idle timeout in seconds (default 1200).', optComputed),
    tcp_transitory_idle_timeout_sec: num('TCP transitory idle timeout in seconds (default 30).', optComputed),
    tcp_time_wait_timeout_sec: num('TCP TIME_WAIT timeout in seconds (default 30).', optComputed),
    log_config: blockSingle('Logging of translations and errors (default: disabled, filter ALL).', {
      enable: bool('Whether to log (default false).', optComputed),
      filter: str('ALL (default), ERRORS_ONLY or TRANSLATIONS_ONLY.', optComputed),
    }, { emptyWhen: (o) => o.enable === false && o.filter === 'ALL' }),
    rules: blockList('A NAT rule: traffic matching `match` uses the rule\'s own NAT IPs (a PRIVATE gateway: the addresses of its PRIVATE_NAT subnets).', {
      rule_number: num('The rule\'s number, 0..65000, unique in the gateway (lower first).', { required: true }),
      description: str('A description of the rule.', { optional: true, absentIs: '' }),
      match: str("The match: inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP' (or the same over source.ip), joined by ||.", { required: true }),
      action: blockSingle('The NAT IPs of the rule.', {
        source_nat_active_ips: strSet('Addresses for the rule\'s traffic.', { optional: true, reference: true, absentIs: [] }),
        source_nat_drain_ips: strSet('The rule\'s addresses being drained.', { optional: true, reference: true, absentIs: [] }),
        source_nat_active_ranges: strSet(
          'PRIVATE gateways: subnets with purpose PRIVATE_NAT (natplane_subnet names, paths or selfLinks) whose addresses are the rule\'s NAT IPs.',
          { optional: true, reference: true, absentIs: [] },
        ),
      }, { emptyWhen: (o) => isEmptyList(o.sourceNatActiveIps) && isEmptyList(o.sourceNatDrainIps) && isEmptyList(o.sourceNatActiveRanges) }),
    }, { key: 'rule_number' }),
    state: str('PROVISIONING, READY or DEGRADED (READY after every apply: create and update wait for it).', { computed: true, volatile: true, read: (o) => (o.status as { state?: string } | undefined)?.state }),
    timeouts: timeoutsBlock(['create', 'update']),
  },
  settle: waitUntilReady,
});

function isEmptyList(v: unknown): boolean {
  return !Array.isArray(v) || v.length === 0;
}

interface GatewayStatus {
  state?: string;
  observedGeneration?: number;
  hostsTotal?: number;
  hostsProgrammed?: number;
  message?: string;
}

const DEFAULT_TIMEOUT = '5m';

/** Waits until the gateway is READY at its current generation with every host programmed. */
async function waitUntilReady(ctx: Context, obj: ApiObject, planned: TfObject, op: 'create' | 'update', paths: Paths): Promise<ApiObject> {
  const t = isObject(planned.timeouts) ? planned.timeouts[op] : null;
  const timeout = typeof t === 'string' ? t : DEFAULT_TIMEOUT;
  const deadline = Date.now() + parseDuration(timeout);
  const params = { path: paths.params(planned) };
  let current = obj;
  let delay = 100;
  for (;;) {
    const s = (current.status ?? {}) as GatewayStatus;
    const generation = Number(current.generation);
    if (s.state === 'READY' && Number(s.observedGeneration) >= generation && s.hostsProgrammed === s.hostsTotal) return current;
    if (Date.now() >= deadline || ctx.signal.aborted) {
      const why = ctx.signal.aborted ? 'interrupted' : `not READY after ${timeout}`;
      throw new DiagnosticsError([
        error(
          `NAT gateway "${text(planned.name)}": ${why}`,
          `state ${s.state ?? '?'} (generation ${generation}, observed ${s.observedGeneration ?? '?'}; hosts programmed ${s.hostsProgrammed ?? '?'} of ${s.hostsTotal ?? '?'})${s.message ? `: ${s.message}` : ''}`,
        ),
      ]);
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), ctx.signal);
    delay = Math.min(delay * 2, 2000);
    current = (await ok(dynamic(ctx.client).GET(paths.item, { params }))) as ApiObject;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
