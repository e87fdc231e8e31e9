/**
 * Validation of a host document (and of the pieces of an incremental patch) as it arrives from
 * the wire. The shape (every field, type, range and pattern) is checked by the validators compiled
 * from libs/contracts' JSON Schemas (hostDocumentShapeErrors); this file adds, once the shape is
 * right, what a JSON Schema cannot say and the data plane needs:
 * - a CIDR has no host bits set; rules are in ascending ruleNumber, without duplicates; a
 *   source-based rule has no destinations,
 * - a gateway id yields a unique nftables key (see names.ts),
 * - sources are keyed by (hostInterface, address): an exact source address (networkIp of an
 *   endpoint with natPrimary) is NATed by one endpoint of one gateway per interface, alias ranges
 *   of one interface never overlap, and an endpoint without hostInterface (matched on any device
 *   no endpoint names) collides with every other endpoint's sources, whatever their interface,
 * - a mapping names the default rule or a rule of its gateway, once; only a mapping on a
 *   source-based rule has sources; a block's portHi is not below its portLo.
 * Every problem is reported with its JSON path.
 */
import {
  DEFAULT_RULE,
  FieldError,
  HostDocument,
  HostDocumentPatch,
  HostEndpoint,
  HostGatewaySettings,
  HostPortBlock,
  MAX_FIELD_ERRORS,
  hostDocumentShapeErrors,
  hostPatchShapeErrors,
} from '@natplane/contracts';
import { Cidr, parseCidr } from './ipv4';
import { gatewayKey } from './names';

export type { FieldError } from '@natplane/contracts';

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export const PORT_MIN = 1024;
export const PORT_MAX = 65535;

const CIDR_RULE = 'must be an IPv4 CIDR with no host bits set';

class Checker {
  readonly errors: FieldError[] = [];
  fail(field: string, message: string): false {
    if (this.errors.length < MAX_FIELD_ERRORS) this.errors.push({ field, message });
    return false;
  }
  /** Host bits of CIDRs whose text the schema checked. */
  cidrs(list: readonly string[] | undefined, path: string): boolean {
    let ok = true;
    list?.forEach((d, j) => {
      if (!parseCidr(d)) ok = this.fail(`${path}[${j}]`, CIDR_RULE);
    });
    return ok;
  }
}

/** The rule numbers of a gateway and, among them, its source-based rules. */
type RuleNumbers = Set<number> & { sources?: Set<number> };

/** A gateway's settings (shape already checked). Returns the rule numbers when valid. */
function checkGatewaySettings(c: Checker, g: HostGatewaySettings, p: string): RuleNumbers | null {
  let ok = true;
  const numbers: RuleNumbers = new Set<number>();
  numbers.sources = new Set<number>();
  let previous = -Infinity;
  g.rules.forEach((r, i) => {
    const rp = `${p}rules[${i}]`;
    if (numbers.has(r.ruleNumber)) ok = c.fail(`${rp}.ruleNumber`, `duplicate rule number ${r.ruleNumber}`);
    else {
      if (r.ruleNumber < previous) ok = c.fail(`${rp}.ruleNumber`, 'rules must be in ascending ruleNumber');
      previous = r.ruleNumber;
      numbers.add(r.ruleNumber);
    }
    if (!c.cidrs(r.destinations, `${rp}.destinations`)) ok = false;
    if (r.sources !== undefined) {
      if (!c.cidrs(r.sources, `${rp}.sources`)) ok = false;
      if (r.destinations.length > 0) ok = c.fail(`${rp}.destinations`, 'must be empty on a source-based rule (one with sources)');
      numbers.sources!.add(r.ruleNumber);
    }
  });
  return ok ? numbers : null;
}

function checkBlock(c: Checker, b: HostPortBlock, path: string): boolean {
  return b.portHi < b.portLo ? c.fail(`${path}.portHi`, 'must not be below portLo') : true;
}

/** One endpoint (shape already checked), against the rule numbers of its gateway. */
function checkEndpoint(c: Checker, e: HostEndpoint, path: string, rules: RuleNumbers | 'any'): boolean {
  const p = `${path}.`;
  let ok = c.cidrs(e.aliasRanges, `${p}aliasRanges`);
  if (e.forwardedRanges !== undefined) {
    if (!c.cidrs(e.forwardedRanges, `${p}forwardedRanges`)) ok = false;
    if (e.forwardedRanges.length > 0 && rules !== 'any' && rules.sources?.size === 0) {
      ok = c.fail(`${p}forwardedRanges`, 'the gateway has no source-based rule to translate them');
    }
  }
  const seen = new Set<number>();
  e.mappings.forEach((m, j) => {
    const mp = `${p}mappings[${j}]`;
    if (m.ruleNumber !== DEFAULT_RULE && rules !== 'any' && !rules.has(m.ruleNumber)) {
      ok = c.fail(`${mp}.ruleNumber`, `must be ${DEFAULT_RULE} (default) or a ruleNumber of the gateway's rules`);
    } else if (seen.has(m.ruleNumber)) ok = c.fail(`${mp}.ruleNumber`, `duplicate mapping for rule ${m.ruleNumber}`);
    else seen.add(m.ruleNumber);
    if (m.active !== undefined && !checkBlock(c, m.active, `${mp}.active`)) ok = false;
    if (m.sources !== undefined) {
      if (!c.cidrs(m.sources, `${mp}.sources`)) ok = false;
      if (rules !== 'any' && !rules.sources?.has(m.ruleNumber)) ok = c.fail(`${mp}.sources`, 'only a mapping on a source-based rule has sources');
    }
    m.drain.forEach((b, k) => {
      if (!checkBlock(c, b, `${mp}.drain[${k}]`)) ok = false;
    });
  });
  return ok;
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
  const shape = hostDocumentShapeErrors(input);
  if (shape.length > 0) return { ok: false, errors: shape };
  const doc = input as HostDocument;
  const c = new Checker();
  const keys = new Map<string, number>();
  const owners = new SourceOwners();
  const excluded: FieldError[] = [];
  const left = new Set<unknown>();
  doc.gateways.forEach((g, i) => {
    const path = `gateways[${i}]`;
    const rules = checkGatewaySettings(c, g, `${path}.`);
    const key = gatewayKey(g.id);
    const other = keys.get(key);
    if (other !== undefined) c.fail(`${path}.id`, `gateway id collides with gateways[${other}].id (nftables key ${key})`);
    keys.set(key, i);
    if (!rules) return;
    const ids = new Set<string>();
    g.endpoints.forEach((e, j) => {
      const ep = `${path}.endpoints[${j}]`;
      if (!checkEndpoint(c, e, ep, rules)) return;
      if (ids.has(e.id)) {
        c.fail(`${ep}.id`, `duplicate endpoint id ${e.id} in this gateway`);
        return;
      }
      ids.add(e.id);
      const collisions = owners.claimEndpoint(g.id, e, ep);
      if (collisions.length > 0 && opts.collisions === 'exclude') {
        excluded.push(...collisions);
        left.add(e);
      } else for (const err of collisions) c.fail(err.field, err.message);
    });
  });
  if (c.errors.length > 0) return { ok: false, errors: c.errors };
  if (left.size === 0) return { ok: true, value: doc };
  return { ok: true, value: { ...doc, gateways: doc.gateways.map((g) => ({ ...g, endpoints: g.endpoints.filter((e) => !left.has(e)) })) }, excluded };
}

/**
 * Validates the shape of a patch (each piece on its own); how it fits the applied document is
 * checked by HostModel.planPatch.
 */
export function validateHostPatchShape(input: unknown): Validated<HostDocumentPatch> {
  const shape = hostPatchShapeErrors(input);
  if (shape.length > 0) return { ok: false, errors: shape };
  const patch = input as HostDocumentPatch;
  const c = new Checker();
  if (patch.generation <= patch.baseGeneration) c.fail('generation', 'must be greater than baseGeneration');
  (patch.putGateways ?? []).forEach((g, i) => {
    checkGatewaySettings(c, g, `putGateways[${i}].`);
    if ('endpoints' in g) c.fail(`putGateways[${i}].endpoints`, 'is not allowed: endpoints are put with putEndpoints');
  });
  // rule numbers are checked against the gateway by planPatch; here every number is allowed
  (patch.putEndpoints ?? []).forEach((d, i) => checkEndpoint(c, d.endpoint, `putEndpoints[${i}].endpoint`, 'any'));
  return c.errors.length > 0 ? { ok: false, errors: c.errors } : { ok: true, value: patch };
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
