import { DEFAULT_RULE, type NatGatewaySpec } from './gateway-spec';
import { cidr, formatIpv4, hostRange } from './cidr';

/** One use of an address by a gateway: which rule's list names it, draining or not, and where. */
export interface AddressUse {
  /** The address's name as the spec lists it. */
  name: string;
  /** DEFAULT_RULE for natIps / drainNatIps, else the rule's ruleNumber. */
  ruleNumber: number;
  draining: boolean;
  /** The spec field naming it: `natIps[0]`, `rules[1].action.sourceNatDrainIps[0]`. */
  field: string;
}

/**
 * Every address the spec names, in the order it lists them (natIps, drainNatIps, then per rule
 * its active and drain IPs): the one place a gateway's address list is built. Placement fills
 * IPs in this order; the api checks each use and reports it by `field`.
 */
export function gatewayAddressUses(spec: Pick<NatGatewaySpec, 'natIps' | 'drainNatIps' | 'rules'>): AddressUse[] {
  const uses: AddressUse[] = [];
  const add = (names: readonly string[], ruleNumber: number, draining: boolean, field: string) =>
    names.forEach((name, i) => uses.push({ name, ruleNumber, draining, field: `${field}[${i}]` }));
  add(spec.natIps, DEFAULT_RULE, false, 'natIps');
  add(spec.drainNatIps, DEFAULT_RULE, true, 'drainNatIps');
  spec.rules.forEach((r, i) => {
    add(r.action.sourceNatActiveIps, r.ruleNumber, false, `rules[${i}].action.sourceNatActiveIps`);
    add(r.action.sourceNatDrainIps, r.ruleNumber, true, `rules[${i}].action.sourceNatDrainIps`);
  });
  return uses;
}

/** One subnet a PRIVATE gateway's rule takes its NAT IPs from (rules[].action.sourceNatActiveRanges). */
export interface RangeUse {
  /** The subnet's name as the spec lists it. */
  name: string;
  ruleNumber: number;
  /** `rules[0].action.sourceNatActiveRanges[1]` */
  field: string;
}

/** Every PRIVATE_NAT subnet the spec names, in rule order (a spec stored before the field existed has none). */
export function gatewayRangeUses(spec: Pick<NatGatewaySpec, 'rules'>): RangeUse[] {
  return spec.rules.flatMap((r, i) =>
    (r.action.sourceNatActiveRanges ?? []).map((name, j) => ({ name, ruleNumber: r.ruleNumber, field: `rules[${i}].action.sourceNatActiveRanges[${j}]` })),
  );
}

/**
 * The NAT IPs a PRIVATE_NAT subnet supplies: every usable address of its primary range, in
 * ascending order (network and broadcast addresses skipped below /31). DECISION: all of them, not
 * taken as needed: a rule's IPs are then fixed by its ranges, as a PUBLIC rule's by its addresses,
 * and the api bounds a range by the same limit as an address list (300: a /24 at most).
 */
export function privateNatAddresses(range: string): string[] {
  const [first, last] = hostRange(cidr(range));
  const out: string[] = [];
  for (let ip = first; ip <= last; ip++) out.push(formatIpv4(ip));
  return out;
}
