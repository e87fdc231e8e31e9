import { FieldError } from './errors';
import { NatGatewaySpec } from './gateway-spec';

/**
 * The 409 rules of API.md natGateways that compare one gateway with the others of its project:
 * - an address used by another gateway;
 * - a second gateway in a network and region where one covers ALL_SUBNETWORKS_ALL_IP_RANGES;
 * - a subnet range NATed twice (by two gateways of the same network and region).
 * Pure: the caller loads the other gateways (any network or region: those of another one are
 * ignored here) and throws a ConflictError with the returned errors when there are any.
 * Coverage is compared symbolically, so no subnet list is needed: ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES
 * covers every primary range, present or future, and a subnet's ALL_IP_RANGES every secondary one.
 */
export interface OtherGateway {
  name: string;
  spec: NatGatewaySpec;
}

/** Every address of `spec` that another gateway references, with its JSON path. */
export function addressConflicts(name: string, spec: NatGatewaySpec, others: readonly OtherGateway[]): FieldError[] {
  const owner = new Map<string, string>();
  for (const other of others) {
    if (other.name === name) continue;
    for (const ip of addressesOf(other.spec)) if (!owner.has(ip.name)) owner.set(ip.name, other.name);
  }
  const errors: FieldError[] = [];
  for (const ip of addressesOf(spec)) {
    const user = owner.get(ip.name);
    if (user !== undefined) errors.push({ field: ip.field, message: `address '${ip.name}' is used by natGateway '${user}'` });
  }
  return errors;
}

/** Coverage conflicts of `spec` with the other gateways of its network and region. */
export function coverageConflicts(name: string, spec: NatGatewaySpec, others: readonly OtherGateway[]): FieldError[] {
  const errors: FieldError[] = [];
  const mine = coverageOf(spec);
  for (const other of others) {
    if (other.name === name || other.spec.network !== spec.network || other.spec.region !== spec.region) continue;
    const theirs = coverageOf(other.spec);
    if (mine.everything || theirs.everything) {
      errors.push({
        field: 'sourceSubnetworkIpRangesToNat',
        message: theirs.everything
          ? `natGateway '${other.name}' already NATs every subnet of network '${spec.network}' in region '${spec.region}' (ALL_SUBNETWORKS_ALL_IP_RANGES)`
          : `ALL_SUBNETWORKS_ALL_IP_RANGES must be the only gateway of network '${spec.network}' in region '${spec.region}'; natGateway '${other.name}' is there`,
      });
      continue;
    }
    if (mine.allPrimary && theirs.allPrimary) {
      errors.push({
        field: 'sourceSubnetworkIpRangesToNat',
        message: `the primary ranges of every subnet are already NATed by natGateway '${other.name}' (ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES)`,
      });
      continue;
    }
    spec.subnetworks.forEach((subnet, i) => {
      const a = mine.subnets.get(subnet.name);
      const b = theirs.subnets.get(subnet.name);
      const ranges = overlap(a, b, theirs.allPrimary);
      if (ranges) {
        errors.push({ field: `subnetworks[${i}]`, message: `subnet '${subnet.name}': ${ranges} already NATed by natGateway '${other.name}'` });
      }
    });
    if (mine.allPrimary) {
      for (const subnet of other.spec.subnetworks) {
        if (theirs.subnets.get(subnet.name)?.primary) {
          errors.push({
            field: 'sourceSubnetworkIpRangesToNat',
            message: `subnet '${subnet.name}': primary range already NATed by natGateway '${other.name}'`,
          });
        }
      }
    }
  }
  return errors;
}

interface SubnetCoverage {
  primary: boolean;
  allSecondaries: boolean;
  secondaries: Set<string>;
}
interface Coverage {
  everything: boolean;
  allPrimary: boolean;
  subnets: Map<string, SubnetCoverage>;
}

function coverageOf(spec: NatGatewaySpec): Coverage {
  const subnets = new Map<string, SubnetCoverage>();
  if (spec.sourceSubnetworkIpRangesToNat === 'LIST_OF_SUBNETWORKS') {
    for (const s of spec.subnetworks) {
      const all = s.sourceIpRangesToNat.includes('ALL_IP_RANGES');
      subnets.set(s.name, {
        primary: all || s.sourceIpRangesToNat.includes('PRIMARY_IP_RANGE'),
        allSecondaries: all,
        secondaries: new Set(s.sourceIpRangesToNat.includes('LIST_OF_SECONDARY_IP_RANGES') ? s.secondaryIpRangeNames : []),
      });
    }
  }
  return {
    everything: spec.sourceSubnetworkIpRangesToNat === 'ALL_SUBNETWORKS_ALL_IP_RANGES',
    allPrimary: spec.sourceSubnetworkIpRangesToNat === 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES',
    subnets,
  };
}

/** A description of the ranges of one subnet that both cover, or undefined. */
function overlap(a: SubnetCoverage | undefined, b: SubnetCoverage | undefined, otherAllPrimary: boolean): string | undefined {
  if (!a) return undefined;
  if (a.primary && (otherAllPrimary || b?.primary)) return 'primary range';
  if (!b) return undefined;
  if (a.allSecondaries && (b.allSecondaries || b.secondaries.size > 0)) return 'secondary ranges';
  if (b.allSecondaries && a.secondaries.size > 0) return 'secondary ranges';
  const shared = [...a.secondaries].filter((r) => b.secondaries.has(r));
  return shared.length > 0 ? `secondary ranges ${shared.map((r) => `'${r}'`).join(', ')}` : undefined;
}

function addressesOf(spec: NatGatewaySpec): Array<{ field: string; name: string }> {
  const out: Array<{ field: string; name: string }> = [];
  const push = (list: readonly string[], field: string) => list.forEach((name, i) => out.push({ field: `${field}[${i}]`, name }));
  push(spec.natIps, 'natIps');
  push(spec.drainNatIps, 'drainNatIps');
  spec.rules.forEach((r, i) => {
    push(r.action.sourceNatActiveIps, `rules[${i}].action.sourceNatActiveIps`);
    push(r.action.sourceNatDrainIps, `rules[${i}].action.sourceNatDrainIps`);
  });
  return out;
}
