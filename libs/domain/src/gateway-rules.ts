import { FieldError, InvalidArgumentError } from './errors';
import {
  GatewayRule,
  GatewaySubnetwork,
  LogFilter,
  NatGatewaySpec,
  NatIpAllocateOption,
  SourceIpRangesToNat,
  SourceSubnetworkIpRangesToNat,
} from './gateway-spec';
import { nameError } from './names';
import { parseRuleMatch } from './rule-match';

/**
 * What a valid NAT gateway is (../../../shared/API.md, natGateways): server defaults and the 400
 * rules. Decisions where Cloud NAT is silent or natplane differs are marked DECISION.
 */

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

/** A gateway as a client may send it: everything optional, values not yet checked. */
export interface NatGatewayInput {
  network?: string;
  region?: string;
  type?: NatGatewaySpec['type'];
  natIpAllocateOption?: NatIpAllocateOption;
  natIps?: string[];
  drainNatIps?: string[];
  maxDrainDurationSec?: number;
  sourceSubnetworkIpRangesToNat?: SourceSubnetworkIpRangesToNat;
  subnetworks?: Array<{ name: string; sourceIpRangesToNat?: SourceIpRangesToNat[]; secondaryIpRangeNames?: string[] }>;
  minPortsPerVm?: number;
  maxPortsPerVm?: number;
  enableDynamicPortAllocation?: boolean;
  enableEndpointIndependentMapping?: boolean;
  udpIdleTimeoutSec?: number;
  icmpIdleTimeoutSec?: number;
  tcpEstablishedIdleTimeoutSec?: number;
  tcpTransitoryIdleTimeoutSec?: number;
  tcpTimeWaitTimeoutSec?: number;
  logConfig?: { enable?: boolean; filter?: LogFilter };
  rules?: Array<{
    ruleNumber: number;
    description?: string;
    match: string;
    action?: { sourceNatActiveIps?: string[]; sourceNatDrainIps?: string[]; sourceNatActiveRanges?: string[] };
  }>;
}

/**
 * Every server default. Cloud NAT has no default for natIpAllocateOption nor for
 * sourceSubnetworkIpRangesToNat; natplane picks:
 * - DECISION natIpAllocateOption: MANUAL_ONLY when natIps are given, AUTO_ONLY otherwise, so a
 *   minimal gateway `{network, region}` works and giving addresses means "use these". A PRIVATE
 *   gateway: MANUAL_ONLY (its rules name their ranges; nothing is taken from the pools).
 * - DECISION sourceSubnetworkIpRangesToNat: ALL_SUBNETWORKS_ALL_IP_RANGES (the console's default).
 * - minPortsPerVm: 64 with static allocation, 32 with dynamic allocation (API.md). The value the
 *   client gave is kept as given (50 stays 50); rounding to a power of two is libs/allocator's.
 */
export const GATEWAY_DEFAULTS = Object.freeze({
  type: 'PUBLIC' as const,
  natIps: Object.freeze([] as string[]),
  drainNatIps: Object.freeze([] as string[]),
  maxDrainDurationSec: 0,
  sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES' as const,
  subnetworks: Object.freeze([] as GatewaySubnetwork[]),
  subnetworkSourceIpRangesToNat: Object.freeze(['ALL_IP_RANGES'] as SourceIpRangesToNat[]),
  secondaryIpRangeNames: Object.freeze([] as string[]),
  minPortsPerVmStatic: 64,
  minPortsPerVmDynamic: 32,
  maxPortsPerVm: 65536,
  enableDynamicPortAllocation: false,
  enableEndpointIndependentMapping: false,
  udpIdleTimeoutSec: 30,
  icmpIdleTimeoutSec: 30,
  tcpEstablishedIdleTimeoutSec: 1200,
  tcpTransitoryIdleTimeoutSec: 30,
  tcpTimeWaitTimeoutSec: 30,
  logConfig: Object.freeze({ enable: false, filter: 'ALL' }),
  rules: Object.freeze([] as GatewayRule[]),
  ruleDescription: '',
});

/**
 * Fills every default. Pure: the result shares no array or object with the input. Values are not
 * checked here (validateGatewaySpec does); a missing network or region becomes '' and is reported
 * by validation. With a merge patch, `"field": null` therefore means "back to the default".
 */
export function withGatewayDefaults(input: NatGatewayInput): NatGatewaySpec {
  const d = GATEWAY_DEFAULTS;
  const natIps = list(input.natIps, d.natIps);
  const type = input.type ?? d.type;
  const dynamic = input.enableDynamicPortAllocation ?? d.enableDynamicPortAllocation;
  return {
    network: input.network ?? '',
    region: input.region ?? '',
    type,
    natIpAllocateOption:
      input.natIpAllocateOption ?? ((Array.isArray(natIps) && natIps.length > 0) || type === 'PRIVATE' ? 'MANUAL_ONLY' : 'AUTO_ONLY'),
    natIps,
    drainNatIps: list(input.drainNatIps, d.drainNatIps),
    maxDrainDurationSec: input.maxDrainDurationSec ?? d.maxDrainDurationSec,
    sourceSubnetworkIpRangesToNat: input.sourceSubnetworkIpRangesToNat ?? d.sourceSubnetworkIpRangesToNat,
    subnetworks: listOf(input.subnetworks, (s) => ({
      name: s.name,
      sourceIpRangesToNat: list(s.sourceIpRangesToNat, d.subnetworkSourceIpRangesToNat),
      secondaryIpRangeNames: list(s.secondaryIpRangeNames, d.secondaryIpRangeNames),
    })),
    minPortsPerVm: input.minPortsPerVm ?? (dynamic ? d.minPortsPerVmDynamic : d.minPortsPerVmStatic),
    maxPortsPerVm: input.maxPortsPerVm ?? d.maxPortsPerVm,
    enableDynamicPortAllocation: dynamic,
    enableEndpointIndependentMapping: input.enableEndpointIndependentMapping ?? d.enableEndpointIndependentMapping,
    udpIdleTimeoutSec: input.udpIdleTimeoutSec ?? d.udpIdleTimeoutSec,
    icmpIdleTimeoutSec: input.icmpIdleTimeoutSec ?? d.icmpIdleTimeoutSec,
    tcpEstablishedIdleTimeoutSec: input.tcpEstablishedIdleTimeoutSec ?? d.tcpEstablishedIdleTimeoutSec,
    tcpTransitoryIdleTimeoutSec: input.tcpTransitoryIdleTimeoutSec ?? d.tcpTransitoryIdleTimeoutSec,
    tcpTimeWaitTimeoutSec: input.tcpTimeWaitTimeoutSec ?? d.tcpTimeWaitTimeoutSec,
    logConfig: object(input.logConfig, (l) => ({
      enable: l.enable ?? d.logConfig.enable,
      filter: l.filter ?? d.logConfig.filter,
    })),
    rules: listOf(input.rules, (r) => ({
      ruleNumber: r.ruleNumber,
      description: r.description ?? d.ruleDescription,
      match: r.match,
      action: object(r.action, (a) => ({
        sourceNatActiveIps: list(a.sourceNatActiveIps, []),
        sourceNatDrainIps: list(a.sourceNatDrainIps, []),
        sourceNatActiveRanges: list(a.sourceNatActiveRanges, []),
      })),
    })),
  };
}

/*
 * Shape-tolerant copying for withGatewayDefaults: absent (undefined or null) takes the default, a
 * value of the right kind is copied, a value of the wrong kind is passed on untouched so that
 * validation reports it (never "repaired", e.g. a string spread into characters).
 */
function list<T>(value: readonly T[] | undefined | null, fallback: readonly T[]): T[] {
  if (value === undefined || value === null) return [...fallback];
  return Array.isArray(value) ? [...(value as T[])] : (value as unknown as T[]);
}

function object<T extends object, R>(value: T | undefined | null, fill: (value: Partial<T>) => R): R {
  if (value === undefined || value === null) return fill({});
  return isObject(value) ? fill(value) : (value as unknown as R);
}

function listOf<T extends object, R>(value: readonly T[] | undefined | null, fill: (item: T) => R): R[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return value as unknown as R[];
  return (value as T[]).map((item) => (isObject(item) ? fill(item) : (item as unknown as R)));
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/**
 * Bounds. DECISION timeouts: integers from 1 s to 86,400 s (one day). Cloud NAT publishes no upper
 * bound; a day is far above RFC 5382's 2 h 4 min and keeps the quarantine (the longest timeout,
 * DESIGN.md invariant 8) finite. DECISION the 300-address limit (Cloud NAT: 300 manual IPs per
 * gateway) applies to each list: natIps, drainNatIps, and each rule's active and drain lists.
 */
export const GATEWAY_LIMITS = Object.freeze({
  minPortsStatic: { min: 2, max: 57344 },
  minPortsDynamic: { min: 32, max: 32768 },
  maxPorts: { min: 64, max: 65536 },
  timeoutSec: { min: 1, max: 86400 },
  maxDrainDurationSec: { min: 0, max: 86400 },
  ruleNumber: { min: 0, max: 65000 },
  addressesPerList: 300,
});

const GATEWAY_TYPES: readonly NatGatewaySpec['type'][] = ['PUBLIC', 'PRIVATE'];
const NAT_IP_ALLOCATE_OPTIONS: readonly NatIpAllocateOption[] = ['AUTO_ONLY', 'MANUAL_ONLY'];
const SOURCE_SUBNETWORK_OPTIONS: readonly SourceSubnetworkIpRangesToNat[] = [
  'ALL_SUBNETWORKS_ALL_IP_RANGES',
  'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES',
  'LIST_OF_SUBNETWORKS',
];
const SOURCE_IP_RANGE_OPTIONS: readonly SourceIpRangesToNat[] = ['ALL_IP_RANGES', 'PRIMARY_IP_RANGE', 'LIST_OF_SECONDARY_IP_RANGES'];
const LOG_FILTERS: readonly LogFilter[] = ['ALL', 'ERRORS_ONLY', 'TRANSLATIONS_ONLY'];
const TIMEOUT_FIELDS = [
  'udpIdleTimeoutSec',
  'icmpIdleTimeoutSec',
  'tcpEstablishedIdleTimeoutSec',
  'tcpTransitoryIdleTimeoutSec',
  'tcpTimeWaitTimeoutSec',
] as const;
const IMMUTABLE_FIELDS = ['network', 'region', 'type'] as const;

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * Every 400 rule of a gateway, checked on the final state `next` (defaults filled) against the
 * stored state `previous` (undefined on create). Returns ALL errors, each with a JSON path such as
 * `rules[2].action.sourceNatActiveIps[0]`; an empty list means valid. A valid final state is
 * accepted whatever the state before (switching dynamic allocation and EIM in one request works):
 * `previous` matters only for immutable fields and for drain IPs.
 *
 * The static types are not trusted: the spec usually comes from JSON and a merge patch, so wrong
 * types are reported as field errors instead of throwing. What needs the database (an address
 * used by another gateway, overlapping coverage: 409) is not checked here.
 *
 * DECISION rules need natIpAllocateOption MANUAL_ONLY (as in Cloud NAT public NAT), and each rule
 * needs at least one active IP: a rule without IPs would leave its traffic with nowhere to go.
 * DECISION drainNatIps need MANUAL_ONLY: auto-allocated addresses are drained by the allocator.
 * DECISION maxPortsPerVm is checked against 64..65536 (power of two) always, `> minPortsPerVm`
 * only with dynamic allocation, the only mode that uses it.
 */
export function validateGatewaySpec(next: NatGatewaySpec, previous: NatGatewaySpec | undefined): FieldError[] {
  const errors: FieldError[] = [];
  const add = (field: string, message: string) => errors.push({ field, message });
  const spec = next as unknown as Record<string, unknown>;
  const creating = previous === undefined;

  // Identity and immutable fields.
  for (const field of ['network', 'region'] as const) {
    if (typeof spec[field] !== 'string') add(field, 'must be a name');
    else {
      const error = spec[field] === '' ? 'is required' : nameError(spec[field]);
      if (error) add(field, error);
    }
  }
  const type = oneOf(spec.type, 'type', GATEWAY_TYPES, add);
  const isPrivate = type === 'PRIVATE';
  if (previous) {
    for (const field of IMMUTABLE_FIELDS) if (spec[field] !== previous[field]) add(field, 'is immutable');
  }

  // NAT IPs.
  const option = oneOf(spec.natIpAllocateOption, 'natIpAllocateOption', NAT_IP_ALLOCATE_OPTIONS, add);
  const natIps = names(spec.natIps, 'natIps', add);
  const drainNatIps = names(spec.drainNatIps, 'drainNatIps', add);
  if (isPrivate) {
    // A PRIVATE gateway has no default IPs: what no rule matches is not translated.
    const why = "a PRIVATE gateway has no default NAT IPs: its rules' sourceNatActiveRanges supply them";
    if (option === 'AUTO_ONLY') add('natIpAllocateOption', `must be MANUAL_ONLY (the default) for a PRIVATE gateway: ${why}`);
    if (natIps.length > 0) add('natIps', `must be empty: ${why}`);
    if (drainNatIps.length > 0) add('drainNatIps', `must be empty: ${why}`);
  } else if (option === 'AUTO_ONLY') {
    if (natIps.length > 0) add('natIps', 'must be empty when natIpAllocateOption is AUTO_ONLY');
    if (drainNatIps.length > 0 && !creating) add('drainNatIps', 'must be empty when natIpAllocateOption is AUTO_ONLY');
  }
  if (option === 'MANUAL_ONLY' && !isPrivate && isEmptyArray(spec.natIps)) {
    add(
      'natIps',
      drainNatIps.length > 0
        ? 'cannot drain every NAT IP: at least one address must stay in natIps'
        : 'must list at least one address when natIpAllocateOption is MANUAL_ONLY',
    );
  }
  if (creating && !isPrivate && drainNatIps.length > 0) add('drainNatIps', 'must be empty when creating a gateway');
  if (previous && option === 'MANUAL_ONLY' && !isPrivate) {
    const before = new Set([...previous.natIps, ...previous.drainNatIps]);
    for (const ip of drainNatIps) {
      if (!before.has(ip.name)) {
        add(ip.field, `'${ip.name}' was neither active nor draining before this change; only an address in natIps can be drained`);
      }
    }
  }

  const { maxDrainDurationSec: drainRange } = GATEWAY_LIMITS;
  if (!Number.isInteger(spec.maxDrainDurationSec) || !inRange(spec.maxDrainDurationSec, drainRange)) {
    add('maxDrainDurationSec', `must be an integer number of seconds from ${drainRange.min} (no deadline) to ${drainRange.max}`);
  }

  // Subnetworks.
  const coverage = oneOf(spec.sourceSubnetworkIpRangesToNat, 'sourceSubnetworkIpRangesToNat', SOURCE_SUBNETWORK_OPTIONS, add);
  const subnetworks = objects(spec.subnetworks, 'subnetworks', add);
  if (coverage === 'LIST_OF_SUBNETWORKS' && subnetworks.length === 0 && Array.isArray(spec.subnetworks)) {
    add('subnetworks', 'must list at least one subnet when sourceSubnetworkIpRangesToNat is LIST_OF_SUBNETWORKS');
  }
  if (coverage && coverage !== 'LIST_OF_SUBNETWORKS' && subnetworks.length > 0) {
    add('subnetworks', `must be empty when sourceSubnetworkIpRangesToNat is ${coverage}`);
  }
  const subnetNames = new Map<string, string>();
  for (const { field, value: subnet } of subnetworks) {
    const [name] = names([subnet.name], `${field}.name`, add, true, false);
    if (name) {
      const first = subnetNames.get(name.name);
      if (first) add(`${field}.name`, `'${name.name}' is already listed at ${first}`);
      else subnetNames.set(name.name, `${field}.name`);
    }
    validateSourceIpRanges(subnet, field, add);
  }

  // Ports.
  const dynamic = bool(spec.enableDynamicPortAllocation, 'enableDynamicPortAllocation', add);
  const eim = bool(spec.enableEndpointIndependentMapping, 'enableEndpointIndependentMapping', add);
  const minPorts = spec.minPortsPerVm;
  const maxPorts = spec.maxPortsPerVm;
  const { minPortsStatic, minPortsDynamic, maxPorts: maxRange } = GATEWAY_LIMITS;
  const minOk = dynamic
    ? isPowerOfTwo(minPorts as number) && inRange(minPorts, minPortsDynamic)
    : Number.isInteger(minPorts) && inRange(minPorts, minPortsStatic);
  if (!minOk) {
    add(
      'minPortsPerVm',
      dynamic
        ? `with enableDynamicPortAllocation, must be a power of two from ${minPortsDynamic.min} to ${minPortsDynamic.max}`
        : `must be an integer from ${minPortsStatic.min} to ${minPortsStatic.max}`,
    );
  }
  const maxOk = isPowerOfTwo(maxPorts as number) && inRange(maxPorts, maxRange);
  if (!maxOk) add('maxPortsPerVm', `must be a power of two from ${maxRange.min} to ${maxRange.max}`);
  if (dynamic && minOk && maxOk && (maxPorts as number) <= (minPorts as number)) {
    add('maxPortsPerVm', `must be greater than minPortsPerVm (${minPorts as number}) with enableDynamicPortAllocation`);
  }
  if (eim && dynamic) add('enableEndpointIndependentMapping', 'cannot be combined with enableDynamicPortAllocation');

  // Timeouts and logging.
  const { timeoutSec } = GATEWAY_LIMITS;
  for (const field of TIMEOUT_FIELDS) {
    if (!Number.isInteger(spec[field]) || !inRange(spec[field], timeoutSec)) {
      add(field, `must be an integer number of seconds from ${timeoutSec.min} to ${timeoutSec.max}`);
    }
  }
  const logConfig = spec.logConfig;
  if (!isObject(logConfig)) add('logConfig', 'must be an object');
  else {
    bool(logConfig.enable, 'logConfig.enable', add);
    oneOf(logConfig.filter, 'logConfig.filter', LOG_FILTERS, add);
  }

  // Rules.
  const rules = objects(spec.rules, 'rules', add);
  if (eim && rules.length > 0) add('enableEndpointIndependentMapping', 'cannot be combined with rules');
  if (option === 'AUTO_ONLY' && rules.length > 0) add('rules', 'rules require natIpAllocateOption MANUAL_ONLY');
  if (isPrivate && rules.length === 0 && Array.isArray(spec.rules)) {
    add('rules', 'a PRIVATE gateway translates only the destinations its rules name: it needs at least one rule');
  }
  const ranges = new Map<string, string>();
  const ruleNumbers = new Map<number, string>();
  const ruleAddresses: Array<{ active: Named[]; drain: Named[] }> = [];
  for (const { field, value: rule } of rules) {
    const number = rule.ruleNumber;
    const { ruleNumber: bounds } = GATEWAY_LIMITS;
    if (!Number.isInteger(number) || !inRange(number, bounds)) {
      add(`${field}.ruleNumber`, `must be an integer from ${bounds.min} to ${bounds.max}`);
    } else {
      const first = ruleNumbers.get(number as number);
      if (first) add(`${field}.ruleNumber`, `${number as number} is already used at ${first}`);
      else ruleNumbers.set(number as number, `${field}.ruleNumber`);
    }
    if (typeof rule.description !== 'string') add(`${field}.description`, 'must be a string');
    if (typeof rule.match !== 'string') add(`${field}.match`, 'must be a string');
    else {
      const parsed = parseRuleMatch(rule.match);
      if (!parsed.ok) add(`${field}.match`, `at position ${parsed.position}: ${parsed.message}`);
      else if (isPrivate && parsed.side !== 'destination') {
        add(`${field}.match`, "a PRIVATE gateway's rules name destinations (inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP'), not sources");
      }
    }
    const action = isObject(rule.action) ? rule.action : undefined;
    if (!action) add(`${field}.action`, 'must be an object');
    const active = names(action?.sourceNatActiveIps, `${field}.action.sourceNatActiveIps`, add, action !== undefined);
    const drain = names(action?.sourceNatDrainIps, `${field}.action.sourceNatDrainIps`, add, action !== undefined);
    const rangesField = `${field}.action.sourceNatActiveRanges`;
    const activeRanges = names(action?.sourceNatActiveRanges, rangesField, add, action !== undefined);
    ruleAddresses.push({ active, drain });
    if (!action) continue;
    if (!isPrivate) {
      if (activeRanges.length > 0) add(rangesField, 'must be empty for a PUBLIC gateway: PRIVATE_NAT subnets supply the NAT IPs of PRIVATE gateways only');
    } else {
      const why = 'a PRIVATE gateway takes its NAT IPs from subnets named in sourceNatActiveRanges';
      if (active.length > 0) add(`${field}.action.sourceNatActiveIps`, `must be empty: ${why}`);
      if (drain.length > 0) add(`${field}.action.sourceNatDrainIps`, `must be empty: ${why}`);
      if (isEmptyArray(action.sourceNatActiveRanges)) add(rangesField, 'must list at least one subnet with purpose PRIVATE_NAT');
      for (const r of activeRanges) {
        const first = ranges.get(r.name);
        if (first) add(r.field, `'${r.name}' is already used at ${first}; a subnet may supply one rule of a gateway only`);
        else ranges.set(r.name, r.field);
      }
      continue;
    }
    if (option !== 'MANUAL_ONLY') continue;
    if (isEmptyArray(action.sourceNatActiveIps)) {
      add(
        `${field}.action.sourceNatActiveIps`,
        drain.length > 0
          ? "cannot drain every IP of the rule: at least one address must stay in sourceNatActiveIps"
          : 'must list at least one address',
      );
    }
    if (creating) {
      if (drain.length > 0) add(`${field}.action.sourceNatDrainIps`, 'must be empty when creating a gateway');
      continue;
    }
    const previousRule = previous.rules.find((r) => r.ruleNumber === number);
    const before = new Set([...(previousRule?.action.sourceNatActiveIps ?? []), ...(previousRule?.action.sourceNatDrainIps ?? [])]);
    for (const ip of drain) {
      if (!before.has(ip.name)) {
        add(
          ip.field,
          `'${ip.name}' was neither active nor draining in rule ${String(number)} before this change; only an address in sourceNatActiveIps can be drained`,
        );
      }
    }
  }

  // One address in one place of the gateway. A drain entry after an active one of the same list
  // pair reads "still active".
  const seen = new Map<string, { field: string; activeOf?: string }>();
  const place = (list: Named[], activeOf?: string, drainOf?: string) => {
    for (const ip of list) {
      const first = seen.get(ip.name);
      if (!first) seen.set(ip.name, { field: ip.field, activeOf });
      else if (drainOf !== undefined && first.activeOf === drainOf) {
        add(ip.field, `'${ip.name}' is still active at ${first.field}; an address is either active or draining`);
      } else add(ip.field, `'${ip.name}' is already used at ${first.field}; an address may appear only once in a gateway`);
    }
  };
  place(natIps, 'gateway');
  place(drainNatIps, undefined, 'gateway');
  ruleAddresses.forEach(({ active, drain }, i) => {
    place(active, `rule ${i}`);
    place(drain, undefined, `rule ${i}`);
  });

  return errors;
}

/** Throws an InvalidArgumentError carrying every error when the gateway is not valid. */
export function assertValidGatewaySpec(next: NatGatewaySpec, previous: NatGatewaySpec | undefined): void {
  const errors = validateGatewaySpec(next, previous);
  if (errors.length === 0) return;
  const [first] = errors;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  throw new InvalidArgumentError(`Invalid natGateway: ${first.field}: ${first.message}${more}`, errors);
}

/** Every address a gateway references (active or draining, gateway level or per rule), once each. */
export function gatewayAddresses(spec: NatGatewaySpec): string[] {
  const all = [
    ...spec.natIps,
    ...spec.drainNatIps,
    ...spec.rules.flatMap((r) => [...r.action.sourceNatActiveIps, ...r.action.sourceNatDrainIps]),
  ];
  return [...new Set(all)];
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Add = (field: string, message: string) => void;
interface Named {
  field: string;
  name: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEmptyArray(value: unknown): boolean {
  return Array.isArray(value) && value.length === 0;
}

function inRange(value: unknown, range: { min: number; max: number }): boolean {
  return typeof value === 'number' && value >= range.min && value <= range.max;
}

function bool(value: unknown, field: string, add: Add): boolean {
  if (typeof value !== 'boolean') add(field, 'must be true or false');
  return value === true;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[], add: Add): T | undefined {
  if ((allowed as readonly unknown[]).includes(value)) return value as T;
  add(field, `must be one of ${allowed.join(', ')}`);
  return undefined;
}

/** Objects of an array, with their paths; reports a non-array and non-object items. */
function objects(value: unknown, field: string, add: Add): Array<{ field: string; value: Record<string, unknown> }> {
  if (!Array.isArray(value)) {
    add(field, 'must be an array');
    return [];
  }
  const out: Array<{ field: string; value: Record<string, unknown> }> = [];
  value.forEach((item, i) => {
    if (isObject(item)) out.push({ field: `${field}[${i}]`, value: item });
    else add(`${field}[${i}]`, 'must be an object');
  });
  return out;
}

/**
 * The valid names of a list of address references, with their paths. Reports a non-array (when
 * `required`), invalid names, and a list longer than the per-list limit. `indexed` false: `field`
 * is the path of a single value wrapped in an array.
 */
function names(value: unknown, field: string, add: Add, required = true, indexed = true): Named[] {
  if (!Array.isArray(value)) {
    if (required) add(field, 'must be an array of names');
    return [];
  }
  if (indexed && value.length > GATEWAY_LIMITS.addressesPerList) {
    add(field, `must not list more than ${GATEWAY_LIMITS.addressesPerList} addresses`);
  }
  const out: Named[] = [];
  value.forEach((item, i) => {
    const path = indexed ? `${field}[${i}]` : field;
    if (typeof item !== 'string') add(path, 'must be a name');
    else {
      const error = nameError(item);
      if (error) add(path, error);
      else out.push({ field: path, name: item });
    }
  });
  return out;
}

function validateSourceIpRanges(subnet: Record<string, unknown>, field: string, add: Add): void {
  const rangesField = `${field}.sourceIpRangesToNat`;
  const ranges = subnet.sourceIpRangesToNat;
  let hasList = false;
  if (!Array.isArray(ranges) || ranges.length === 0) add(rangesField, `must list at least one of ${SOURCE_IP_RANGE_OPTIONS.join(', ')}`);
  else {
    const seen = new Set<string>();
    ranges.forEach((value, i) => {
      const item = oneOf(value, `${rangesField}[${i}]`, SOURCE_IP_RANGE_OPTIONS, add);
      if (item && seen.has(item)) add(`${rangesField}[${i}]`, `${item} is listed twice`);
      if (item) seen.add(item);
    });
    if (seen.has('ALL_IP_RANGES') && seen.size > 1) add(rangesField, 'ALL_IP_RANGES cannot be combined with other values');
    hasList = seen.has('LIST_OF_SECONDARY_IP_RANGES');
  }
  const namesField = `${field}.secondaryIpRangeNames`;
  const secondary = subnet.secondaryIpRangeNames;
  if (!Array.isArray(secondary)) {
    add(namesField, 'must be an array of names');
    return;
  }
  const seenNames = new Set<string>();
  secondary.forEach((item, i) => {
    const error = typeof item === 'string' ? nameError(item) : 'must be a name';
    if (error) add(`${namesField}[${i}]`, error);
    else if (seenNames.has(item as string)) add(`${namesField}[${i}]`, `'${item as string}' is listed twice`);
    else seenNames.add(item as string);
  });
  if (hasList && secondary.length === 0) {
    add(namesField, 'must list at least one range when sourceIpRangesToNat contains LIST_OF_SECONDARY_IP_RANGES');
  }
  if (!hasList && secondary.length > 0) {
    add(namesField, 'must be empty unless sourceIpRangesToNat contains LIST_OF_SECONDARY_IP_RANGES');
  }
}
