import { DEFAULT_RULE, type NatGatewaySpec } from './gateway-spec';

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
