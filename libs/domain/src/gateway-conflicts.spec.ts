import fc from 'fast-check';
import { addressConflicts, coverageConflicts } from './gateway-conflicts';
import { NatGatewayInput, withGatewayDefaults } from './gateway-rules';
import { SourceIpRangesToNat } from './gateway-spec';

const gw = (over: NatGatewayInput = {}) => withGatewayDefaults({ network: 'net', region: 'r1', ...over });
const listed = (subnetworks: NatGatewayInput['subnetworks']) => gw({ sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks });
const primaries = gw({ sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES' });

describe('addressConflicts', () => {
  it('reports each address used by another gateway, with its path', () => {
    const mine = gw({ natIps: ['a', 'b'], rules: [{ ruleNumber: 1, match: 'm', action: { sourceNatActiveIps: ['c'] } }] });
    const others = [
      { name: 'other', spec: gw({ natIps: ['x'], drainNatIps: ['b'] }) },
      { name: 'third', spec: gw({ natIps: ['c'] }) },
      { name: 'me', spec: gw({ natIps: ['a'] }) },
    ];
    expect(addressConflicts('me', mine, others)).toEqual([
      { field: 'natIps[1]', message: "address 'b' is used by natGateway 'other'" },
      { field: 'rules[0].action.sourceNatActiveIps[0]', message: "address 'c' is used by natGateway 'third'" },
    ]);
  });
});

describe('coverageConflicts', () => {
  it('ALL_SUBNETWORKS_ALL_IP_RANGES excludes any other gateway of the network and region', () => {
    expect(coverageConflicts('b', listed([{ name: 's1' }]), [{ name: 'a', spec: gw() }])).toEqual([
      {
        field: 'sourceSubnetworkIpRangesToNat',
        message: "natGateway 'a' already NATs every subnet of network 'net' in region 'r1' (ALL_SUBNETWORKS_ALL_IP_RANGES)",
      },
    ]);
    expect(coverageConflicts('b', gw(), [{ name: 'a', spec: primaries }])).toHaveLength(1);
  });

  it('ignores other networks, other regions and the gateway itself', () => {
    expect(coverageConflicts('b', gw(), [{ name: 'a', spec: gw({ network: 'other' }) }])).toEqual([]);
    expect(coverageConflicts('b', gw(), [{ name: 'a', spec: gw({ region: 'r2' }) }])).toEqual([]);
    expect(coverageConflicts('b', gw(), [{ name: 'b', spec: gw() }])).toEqual([]);
  });

  it('two gateways on all primary ranges conflict', () => {
    expect(coverageConflicts('b', primaries, [{ name: 'a', spec: primaries }])).toHaveLength(1);
  });

  it('all primary ranges conflict with a listed primary range, both ways', () => {
    const mine = listed([{ name: 's1', sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }]);
    expect(coverageConflicts('b', mine, [{ name: 'a', spec: primaries }])).toEqual([
      { field: 'subnetworks[0]', message: "subnet 's1': primary range already NATed by natGateway 'a'" },
    ]);
    expect(coverageConflicts('a', primaries, [{ name: 'b', spec: mine }])).toEqual([
      { field: 'sourceSubnetworkIpRangesToNat', message: "subnet 's1': primary range already NATed by natGateway 'b'" },
    ]);
  });

  it('all primary ranges leave secondary ranges free', () => {
    const mine = listed([{ name: 's1', sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods'] }]);
    expect(coverageConflicts('b', mine, [{ name: 'a', spec: primaries }])).toEqual([]);
  });

  it('listed subnets conflict on shared ranges only', () => {
    const sec = (names: string[]) => ({ name: 's1', sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES' as const], secondaryIpRangeNames: names });
    expect(coverageConflicts('b', listed([sec(['pods'])]), [{ name: 'a', spec: listed([sec(['svc'])]) }])).toEqual([]);
    expect(coverageConflicts('b', listed([sec(['pods', 'svc'])]), [{ name: 'a', spec: listed([sec(['svc'])]) }])).toEqual([
      { field: 'subnetworks[0]', message: "subnet 's1': secondary ranges 'svc' already NATed by natGateway 'a'" },
    ]);
    expect(coverageConflicts('b', listed([sec(['pods'])]), [{ name: 'a', spec: listed([{ name: 's1' }]) }])).toHaveLength(1);
    expect(coverageConflicts('b', listed([{ name: 's2' }]), [{ name: 'a', spec: listed([{ name: 's1' }]) }])).toEqual([]);
    expect(
      coverageConflicts('b', listed([{ name: 's1', sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }]), [{ name: 'a', spec: listed([sec(['pods'])]) }]),
    ).toEqual([]);
  });

  it('conflicts are symmetric', () => {
    const ranges = fc.constantFrom<SourceIpRangesToNat[]>(['ALL_IP_RANGES'], ['PRIMARY_IP_RANGE'], ['LIST_OF_SECONDARY_IP_RANGES'], [
      'PRIMARY_IP_RANGE',
      'LIST_OF_SECONDARY_IP_RANGES',
    ]);
    const subnet = fc.record({
      name: fc.constantFrom('s1', 's2', 's3'),
      sourceIpRangesToNat: ranges,
      secondaryIpRangeNames: fc.subarray(['pods', 'svc', 'x'], { minLength: 1 }),
    });
    const spec = fc.oneof(
      fc.constant(gw()),
      fc.constant(primaries),
      fc.uniqueArray(subnet, { selector: (s) => s.name, minLength: 1, maxLength: 3 }).map((subs) =>
        listed(subs.map((s) => ({ ...s, secondaryIpRangeNames: s.sourceIpRangesToNat.includes('LIST_OF_SECONDARY_IP_RANGES') ? s.secondaryIpRangeNames : [] }))),
      ),
    );
    fc.assert(
      fc.property(spec, spec, (a, b) => {
        const ab = coverageConflicts('a', a, [{ name: 'b', spec: b }]).length > 0;
        const ba = coverageConflicts('b', b, [{ name: 'a', spec: a }]).length > 0;
        expect(ab).toBe(ba);
      }),
    );
  });
});
