/**
 * Validation of a host document (and of the pieces of an incremental patch) as it arrives from
 * the wire: every field the renderer relies on is checked, and every problem is reported with its
 * JSON path. Cross-entity rules that the data plane needs:
 * - a gateway id yields a unique nftables key (see names.ts),
 * - sources are keyed by (hostInterface, address): an exact source address (networkIp of an
 *   endpoint with natPrimary) is NATed by one endpoint of one gateway per interface, alias ranges
 *   of one interface never overlap, and an endpoint without hostInterface (matched on any device
 *   no endpoint names) collides with every other endpoint's sources, whatever their interface,
 * - a mapping names the default rule or a rule of its gateway.
 */
import {
  DEFAULT_RULE,
  HOST_DOCUMENT_API_VERSION,
  HostDocument,
  HostDocumentPatch,
  HostEndpoint,
  HostGatewaySettings,
} from '@natplane/contracts';
import { Cidr, parseCidr, parseIpv4 } from './ipv4';
import { gatewayKey } from './names';

export interface FieldError {
  field: string;
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export const PORT_MIN = 1024;
export const PORT_MAX = 65535;
const MAX_TIMEOUT_SEC = 365 * 24 * 3600;
const TIMEOUT_FIELDS = [
  'udpIdleTimeoutSec',
  'icmpIdleTimeoutSec',
  'tcpEstablishedIdleTimeoutSec',
  'tcpTransitoryIdleTimeoutSec',
  'tcpTimeWaitTimeoutSec',
] as const;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

class Checker {
  readonly errors: FieldError[] = [];
  fail(field: string, message: string): false {
    if (this.errors.length < 100) this.errors.push({ field, message });
    return false;
  }
  string(o: Json, key: string, path: string, maxLength = 1024): boolean {
    const v = o[key];
    if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) {
      return this.fail(`${path}${key}`, `must be a non-empty string of at most ${maxLength} characters`);
    }
    return true;
  }
  array(o: Json, key: string, path: string): unknown[] | null {
    const v = o[key];
    if (!Array.isArray(v)) {
      this.fail(`${path}${key}`, 'must be an array');
      return null;
    }
    return v;
  }
}

/** The rule numbers of a gateway and, among them, its source-based rules. */
type RuleNumbers = Set<number> & { sources?: Set<number> };

/** A gateway's settings (without endpoints). Returns the rule numbers when valid. */
function checkGatewaySettings(c: Checker, g: unknown, path: string): RuleNumbers | null {
  if (!isObject(g)) {
    c.fail(path || '.', 'must be an object');
    return null;
  }
  const p = path ? `${path}.` : '';
  let ok = c.string(g, 'id', p, 64) && c.string(g, 'name', p);
  if (typeof g.id === 'string' && gatewayKey(g.id) === 'g_') ok = c.fail(`${p}id`, 'must contain letters or digits');
  if (g.mapping !== 'ENDPOINT_INDEPENDENT' && g.mapping !== 'ENDPOINT_DEPENDENT') {
    ok = c.fail(`${p}mapping`, 'must be ENDPOINT_INDEPENDENT or ENDPOINT_DEPENDENT');
  }
  if (!isObject(g.timeouts)) ok = c.fail(`${p}timeouts`, 'must be an object');
  else {
    for (const f of TIMEOUT_FIELDS) {
      if (!isInt(g.timeouts[f], 1, MAX_TIMEOUT_SEC)) ok = c.fail(`${p}timeouts.${f}`, `must be an integer from 1 to ${MAX_TIMEOUT_SEC}`);
    }
  }
  if (!isObject(g.logging) || typeof g.logging.enable !== 'boolean' || !['ALL', 'ERRORS_ONLY', 'TRANSLATIONS_ONLY'].includes(g.logging.filter as string)) {
    ok = c.fail(`${p}logging`, 'must be {enable: boolean, filter: ALL|ERRORS_ONLY|TRANSLATIONS_ONLY}');
  }
  if (g.unmatched !== undefined && g.unmatched !== 'PASS') ok = c.fail(`${p}unmatched`, 'must be PASS or absent');
  const rules = c.array(g, 'rules', p);
  const numbers: RuleNumbers = new Set<number>();
  numbers.sources = new Set<number>();
  if (!rules) return null;
  let previous = -Infinity;
  rules.forEach((r, i) => {
    const rp = `${p}rules[${i}]`;
    if (!isObject(r)) {
      ok = c.fail(rp, 'must be an object');
      return;
    }
    if (!isInt(r.ruleNumber, 0, 65000)) ok = c.fail(`${rp}.ruleNumber`, 'must be an integer from 0 to 65000');
    else if (numbers.has(r.ruleNumber)) ok = c.fail(`${rp}.ruleNumber`, `duplicate rule number ${r.ruleNumber}`);
    else {
      if (r.ruleNumber < previous) ok = c.fail(`${rp}.ruleNumber`, 'rules must be in ascending ruleNumber');
      previous = r.ruleNumber;
      numbers.add(r.ruleNumber);
    }
    const dst = c.array(r, 'destinations', `${rp}.`);
    dst?.forEach((d, j) => {
      if (typeof d !== 'string' || !parseCidr(d)) ok = c.fail(`${rp}.destinations[${j}]`, 'must be an IPv4 CIDR with no host bits set');
    });
    if (r.sources !== undefined) {
      const src = c.array(r, 'sources', `${rp}.`);
      if (!src) ok = false;
      src?.forEach((d, j) => {
        if (typeof d !== 'string' || !parseCidr(d)) ok = c.fail(`${rp}.sources[${j}]`, 'must be an IPv4 CIDR with no host bits set');
      });
      if (dst && dst.length > 0) ok = c.fail(`${rp}.destinations`, 'must be empty on a source-based rule (one with sources)');
      if (isInt(r.ruleNumber, 0, 65000)) numbers.sources!.add(r.ruleNumber);
    }
  });
  return ok ? numbers : null;
}

function checkBlock(c: Checker, b: unknown, path: string): boolean {
  if (!isObject(b)) return c.fail(path, 'must be an object');
  let ok = true;
  if (typeof b.natIp !== 'string' || parseIpv4(b.natIp) === null) ok = c.fail(`${path}.natIp`, 'must be an IPv4 address');
  if (!isInt(b.portLo, PORT_MIN, PORT_MAX)) ok = c.fail(`${path}.portLo`, `must be an integer from ${PORT_MIN} to ${PORT_MAX}`);
  if (!isInt(b.portHi, PORT_MIN, PORT_MAX)) ok = c.fail(`${path}.portHi`, `must be an integer from ${PORT_MIN} to ${PORT_MAX}`);
  else if (typeof b.portLo === 'number' && b.portHi < b.portLo) ok = c.fail(`${path}.portHi`, 'must not be below portLo');
  return ok;
}

/** One endpoint, against the rule numbers of its gateway. */
function checkEndpoint(c: Checker, e: unknown, path: string, rules: RuleNumbers | 'any'): boolean {
  if (!isObject(e)) return c.fail(path, 'must be an object');
  const p = `${path}.`;
  let ok = c.string(e, 'id', p, 256) && c.string(e, 'name', p);
  if (e.hostInterface !== undefined && !isInterfaceName(e.hostInterface)) ok = c.fail(`${p}hostInterface`, INTERFACE_NAME_RULE);
  if (typeof e.networkIp !== 'string' || parseIpv4(e.networkIp) === null) ok = c.fail(`${p}networkIp`, 'must be an IPv4 address');
  if (typeof e.natPrimary !== 'boolean') ok = c.fail(`${p}natPrimary`, 'must be a boolean');
  const aliases = c.array(e, 'aliasRanges', p);
  if (!aliases) ok = false;
  aliases?.forEach((a, j) => {
    if (typeof a !== 'string' || !parseCidr(a)) ok = c.fail(`${p}aliasRanges[${j}]`, 'must be an IPv4 CIDR with no host bits set');
  });
  if (e.forwardedRanges !== undefined) {
    const forwarded = c.array(e, 'forwardedRanges', p);
    if (!forwarded) ok = false;
    forwarded?.forEach((a, j) => {
      if (typeof a !== 'string' || !parseCidr(a)) ok = c.fail(`${p}forwardedRanges[${j}]`, 'must be an IPv4 CIDR with no host bits set');
    });
    if (forwarded && forwarded.length > 0 && rules !== 'any' && rules.sources?.size === 0) {
      ok = c.fail(`${p}forwardedRanges`, 'the gateway has no source-based rule to translate them');
    }
  }
  const mappings = c.array(e, 'mappings', p);
  if (!mappings) return false;
  const seen = new Set<number>();
  mappings.forEach((m, j) => {
    const mp = `${p}mappings[${j}]`;
    if (!isObject(m)) {
      ok = c.fail(mp, 'must be an object');
      return;
    }
    const known = rules === 'any' ? isInt(m.ruleNumber, 0, 65000) : typeof m.ruleNumber === 'number' && rules.has(m.ruleNumber);
    if (typeof m.ruleNumber !== 'number' || (m.ruleNumber !== DEFAULT_RULE && !known)) {
      ok = c.fail(`${mp}.ruleNumber`, `must be ${DEFAULT_RULE} (default) or a ruleNumber of the gateway's rules`);
    } else if (seen.has(m.ruleNumber)) ok = c.fail(`${mp}.ruleNumber`, `duplicate mapping for rule ${m.ruleNumber}`);
    else seen.add(m.ruleNumber);
    if (m.active !== undefined && !checkBlock(c, m.active, `${mp}.active`)) ok = false;
    if (m.sources !== undefined) {
      const src = c.array(m, 'sources', `${mp}.`);
      if (!src) ok = false;
      src?.forEach((s, k) => {
        if (typeof s !== 'string' || !parseCidr(s)) ok = c.fail(`${mp}.sources[${k}]`, 'must be an IPv4 CIDR with no host bits set');
      });
      if (rules !== 'any' && typeof m.ruleNumber === 'number' && !rules.sources?.has(m.ruleNumber)) ok = c.fail(`${mp}.sources`, 'only a mapping on a source-based rule has sources');
    }
    const drain = c.array(m, 'drain', `${mp}.`);
    if (!drain) ok = false;
    drain?.forEach((b, k) => {
      if (!checkBlock(c, b, `${mp}.drain[${k}]`)) ok = false;
    });
  });
  return ok;
}

/** A Linux device name: 1-15 characters, none of '/', ':' or white space, not '.' or '..' (stricter: [A-Za-z0-9_.@+-]). */
const INTERFACE_NAME = /^(?!\.\.?$)[A-Za-z0-9_.@+-]{1,15}$/;
const INTERFACE_NAME_RULE = "must be a network device name: 1-15 characters of [A-Za-z0-9_.@+-], not '.' or '..'";

export function isInterfaceName(v: unknown): v is string {
  return typeof v === 'string' && INTERFACE_NAME.test(v);
}

/** One holder of a source: the endpoint (of a gateway) and the device it is matched on (null: any unnamed device). */
interface Holder {
  owner: string;
  iface: string | null;
}

/** Two holders collide unless both name a device and the devices differ. */
function collides(a: string | null, b: string | null): boolean {
  return a === null || b === null || a === b;
}

/**
 * Who NATs which source on the host. Sources are keyed by (hostInterface, address): an exact
 * address or an alias range may be held once per device; a holder without a device is matched
 * on every unnamed device, so it collides with every other holder of the address.
 */
export class SourceOwners {
  private readonly exact = new Map<string, Holder[]>();
  /** Alias ranges by canonical CIDR text; overlaps are looked for by a sweep (they are few). */
  private readonly aliases = new Map<string, { cidr: Cidr; holders: Holder[] }>();

  static ownerOf(gatewayId: string, endpointId: string): string {
    return `${gatewayId}\u0000${endpointId}`;
  }

  /** Returns the owner already holding `ip` on a colliding device, or undefined after taking it. */
  claimExact(ip: string, owner: string, iface: string | null = null): string | undefined {
    const holders = this.exact.get(ip);
    const other = holders?.find((h) => h.owner !== owner && collides(h.iface, iface));
    if (other) return other.owner;
    if (!holders) this.exact.set(ip, [{ owner, iface }]);
    else if (!holders.some((h) => h.owner === owner && h.iface === iface)) holders.push({ owner, iface });
    return undefined;
  }

  releaseExact(ip: string, owner: string, iface: string | null = null): void {
    const holders = this.exact.get(ip);
    if (!holders) return;
    const rest = holders.filter((h) => !(h.owner === owner && h.iface === iface));
    if (rest.length === 0) this.exact.delete(ip);
    else this.exact.set(ip, rest);
  }

  /** Returns the owner of an overlapping range on a colliding device, or undefined after taking it. */
  claimAlias(text: string, owner: string, iface: string | null = null): string | undefined {
    const cidr = parseCidr(text) as Cidr;
    for (const held of this.aliases.values()) {
      if (held.cidr.start > cidr.end || cidr.start > held.cidr.end) continue;
      const same = held.cidr.start === cidr.start && held.cidr.end === cidr.end;
      const other = held.holders.find((h) => collides(h.iface, iface) && !(same && h.owner === owner));
      if (other) return other.owner;
    }
    const entry = this.aliases.get(text);
    if (!entry) this.aliases.set(text, { cidr, holders: [{ owner, iface }] });
    else if (!entry.holders.some((h) => h.owner === owner && h.iface === iface)) entry.holders.push({ owner, iface });
    return undefined;
  }

  releaseAlias(text: string, owner: string, iface: string | null = null): void {
    const entry = this.aliases.get(text);
    if (!entry) return;
    entry.holders = entry.holders.filter((h) => !(h.owner === owner && h.iface === iface));
    if (entry.holders.length === 0) this.aliases.delete(text);
  }

  /** Claims every source of an endpoint; returns the problems (nothing is claimed when any). */
  claimEndpoint(gatewayId: string, e: HostEndpoint, path: string): FieldError[] {
    const owner = SourceOwners.ownerOf(gatewayId, e.id);
    const iface = e.hostInterface ?? null;
    const errors: FieldError[] = [];
    const claimed: (() => void)[] = [];
    const where = iface === null ? 'on this host' : `on this host for ${iface}`;
    if (e.natPrimary) {
      const held = this.claimExact(e.networkIp, owner, iface);
      if (held !== undefined) errors.push({ field: `${path}.networkIp`, message: `${e.networkIp} is already NATed ${where} by ${describeOwner(held)}` });
      else claimed.push(() => this.releaseExact(e.networkIp, owner, iface));
    }
    e.aliasRanges.forEach((a, j) => {
      const held = this.claimAlias(a, owner, iface);
      if (held !== undefined) errors.push({ field: `${path}.aliasRanges[${j}]`, message: `${a} overlaps a range NATed ${where} by ${describeOwner(held)}` });
      else claimed.push(() => this.releaseAlias(a, owner, iface));
    });
    // ranges forwarded by the VM are its sources on the host as much as its alias ranges
    (e.forwardedRanges ?? []).forEach((a, j) => {
      const held = this.claimAlias(a, owner, iface);
      if (held !== undefined) errors.push({ field: `${path}.forwardedRanges[${j}]`, message: `${a} overlaps a range NATed ${where} by ${describeOwner(held)}` });
      else claimed.push(() => this.releaseAlias(a, owner, iface));
    });
    if (errors.length > 0) for (const undo of claimed) undo();
    return errors;
  }

  releaseEndpoint(gatewayId: string, e: HostEndpoint): void {
    const owner = SourceOwners.ownerOf(gatewayId, e.id);
    const iface = e.hostInterface ?? null;
    if (e.natPrimary) this.releaseExact(e.networkIp, owner, iface);
    for (const a of e.aliasRanges) this.releaseAlias(a, owner, iface);
    for (const a of e.forwardedRanges ?? []) this.releaseAlias(a, owner, iface);
  }
}

function describeOwner(owner: string): string {
  const [g, e] = owner.split('\u0000');
  return `endpoint ${e} of gateway ${g}`;
}

/**
 * Validates a whole document received from the wire. Endpoints whose sources collide on the host
 * with an earlier endpoint's are refused (the default), or, with `collisions: 'exclude'`, left out
 * of the value and listed in `excluded`: a programmer then applies what it can and says what it
 * left out (the control plane never sends such a document; this keeps one bad pair from stopping
 * the programming of every other tenant on the host).
 */
export function validateHostDocument(input: unknown, opts: { collisions?: 'refuse' | 'exclude' } = {}): Validated<HostDocument> & { excluded?: FieldError[] } {
  const c = new Checker();
  if (!isObject(input)) return { ok: false, errors: [{ field: '.', message: 'must be a JSON object' }] };
  if (input.apiVersion !== HOST_DOCUMENT_API_VERSION) c.fail('apiVersion', `must be ${HOST_DOCUMENT_API_VERSION}`);
  c.string(input, 'host', '');
  if (!isInt(input.generation, 0, Number.MAX_SAFE_INTEGER)) c.fail('generation', 'must be a non-negative integer');
  const gateways = c.array(input, 'gateways', '');
  if (!gateways) return { ok: false, errors: c.errors };
  const keys = new Map<string, number>();
  const owners = new SourceOwners();
  const excluded: FieldError[] = [];
  const left = new Set<unknown>();
  gateways.forEach((g, i) => {
    const path = `gateways[${i}]`;
    const rules = checkGatewaySettings(c, g, path);
    if (isObject(g) && typeof g.id === 'string') {
      const key = gatewayKey(g.id);
      const other = keys.get(key);
      if (other !== undefined) c.fail(`${path}.id`, `gateway id collides with gateways[${other}].id (nftables key ${key})`);
      keys.set(key, i);
    }
    if (!rules || !isObject(g)) return;
    const endpoints = c.array(g, 'endpoints', `${path}.`);
    const ids = new Set<string>();
    endpoints?.forEach((e, j) => {
      const ep = `${path}.endpoints[${j}]`;
      if (!checkEndpoint(c, e, ep, rules)) return;
      const endpoint = e as HostEndpoint;
      if (ids.has(endpoint.id)) {
        c.fail(`${ep}.id`, `duplicate endpoint id ${endpoint.id} in this gateway`);
        return;
      }
      ids.add(endpoint.id);
      const collisions = owners.claimEndpoint(g.id as string, endpoint, ep);
      if (collisions.length > 0 && opts.collisions === 'exclude') {
        excluded.push(...collisions);
        left.add(e);
      } else for (const err of collisions) c.fail(err.field, err.message);
    });
  });
  if (c.errors.length > 0) return { ok: false, errors: c.errors };
  const doc = input as unknown as HostDocument;
  if (left.size === 0) return { ok: true, value: doc };
  return { ok: true, value: { ...doc, gateways: doc.gateways.map((g) => ({ ...g, endpoints: g.endpoints.filter((e) => !left.has(e)) })) }, excluded };
}

/**
 * Validates the shape of a patch (each piece on its own); how it fits the applied document is
 * checked by HostModel.planPatch.
 */
export function validateHostPatchShape(input: unknown): Validated<HostDocumentPatch> {
  const c = new Checker();
  if (!isObject(input)) return { ok: false, errors: [{ field: '.', message: 'must be a JSON object' }] };
  if (input.apiVersion !== HOST_DOCUMENT_API_VERSION) c.fail('apiVersion', `must be ${HOST_DOCUMENT_API_VERSION}`);
  c.string(input, 'host', '');
  if (!isInt(input.baseGeneration, 0, Number.MAX_SAFE_INTEGER)) c.fail('baseGeneration', 'must be a non-negative integer');
  if (!isInt(input.generation, 0, Number.MAX_SAFE_INTEGER)) c.fail('generation', 'must be a non-negative integer');
  else if (typeof input.baseGeneration === 'number' && input.generation <= input.baseGeneration) c.fail('generation', 'must be greater than baseGeneration');
  const optionalArray = (key: string): unknown[] => {
    if (input[key] === undefined) return [];
    return c.array(input, key, '') ?? [];
  };
  optionalArray('deleteGateways').forEach((id, i) => {
    if (typeof id !== 'string' || id.length === 0) c.fail(`deleteGateways[${i}]`, 'must be a gateway id');
  });
  optionalArray('putGateways').forEach((g, i) => {
    checkGatewaySettings(c, g, `putGateways[${i}]`);
    if (isObject(g) && 'endpoints' in g) c.fail(`putGateways[${i}].endpoints`, 'is not allowed: endpoints are put with putEndpoints');
  });
  optionalArray('deleteEndpoints').forEach((d, i) => {
    if (!isObject(d) || typeof d.gatewayId !== 'string' || typeof d.endpointId !== 'string') {
      c.fail(`deleteEndpoints[${i}]`, 'must be {gatewayId, endpointId}');
    }
  });
  optionalArray('putEndpoints').forEach((d, i) => {
    if (!isObject(d) || typeof d.gatewayId !== 'string') c.fail(`putEndpoints[${i}].gatewayId`, 'must be a gateway id');
    // rule numbers are checked against the gateway by planPatch; here every number is allowed
    else checkEndpoint(c, d.endpoint, `putEndpoints[${i}].endpoint`, 'any');
  });
  return c.errors.length > 0 ? { ok: false, errors: c.errors } : { ok: true, value: input as unknown as HostDocumentPatch };
}

/** Checks one endpoint against a gateway's settings (used for patches). */
export function endpointRuleErrors(e: HostEndpoint, gw: HostGatewaySettings, path: string): FieldError[] {
  const rules = new Set(gw.rules.map((r) => r.ruleNumber));
  const sources = new Set(gw.rules.filter((r) => r.sources !== undefined).map((r) => r.ruleNumber));
  const errors: FieldError[] = [];
  e.mappings.forEach((m, j) => {
    if (m.ruleNumber !== DEFAULT_RULE && !rules.has(m.ruleNumber)) {
      errors.push({ field: `${path}.mappings[${j}].ruleNumber`, message: `gateway ${gw.id} has no rule ${m.ruleNumber}` });
    } else if (m.sources !== undefined && !sources.has(m.ruleNumber)) {
      errors.push({ field: `${path}.mappings[${j}].sources`, message: `rule ${m.ruleNumber} of gateway ${gw.id} is not source-based` });
    }
  });
  if ((e.forwardedRanges ?? []).length > 0 && sources.size === 0) {
    errors.push({ field: `${path}.forwardedRanges`, message: `gateway ${gw.id} has no source-based rule to translate them` });
  }
  return errors;
}
