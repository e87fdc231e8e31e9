import fc from 'fast-check';
import { withGatewayDefaults, type NatGatewayInput } from '@natplane/domain';
import type { ScopeEndpoint } from './types';
import { allocatorSpec, ipUsesInSpecOrder, keptScope, planWith, updateKeptScope, type PlanTarget } from './planner';

/** Endpoint ids as uuids sort (the allocator's order), from a small set so that writes hit the same ones. */
const IDS = Array.from({ length: 12 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);

const endpointArb = (id: string): fc.Arbitrary<ScopeEndpoint> =>
  fc.record({
    id: fc.constant(id),
    name: fc.constant(`vm-${id.slice(-2)}`),
    hostInterface: fc.constantFrom(null, `tap${id.slice(-2)}`),
    networkIp: fc.constant(`10.0.0.${Number(id.slice(-2)) + 2}`),
    aliasIpRanges: fc.constantFrom([], [{ ipCidrRange: '10.1.0.0/28', subnetworkRangeName: 'pods' }], [{ ipCidrRange: '10.0.1.0/28', subnetworkRangeName: '' }]),
    forwardedIpRanges: fc.constantFrom([], ['192.168.1.0/24'], ['192.168.0.0/16']),
    hostId: fc.constantFrom('h1', 'h2'),
    hostName: fc.constant('h'),
    subnetName: fc.constantFrom('s1', 's2', 's3'),
  });

/** A gateway's range choice: every subnet, primaries only, or a list with various ranges. */
const RANGES: NatGatewayInput[] = [
  { sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES' },
  { sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES' },
  {
    sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
    subnetworks: [
      { name: 's1', sourceIpRangesToNat: ['ALL_IP_RANGES'] },
      { name: 's2', sourceIpRangesToNat: ['LIST_OF_SECONDARY_IP_RANGES'], secondaryIpRangeNames: ['pods'] },
    ],
  },
];
/** Without rules, or with a source-based rule over a forwarded range and some own addresses. */
const RULES = [[], [{ ruleNumber: 10, description: '', match: "inIpRange(source.ip, '192.168.1.0/24') || inIpRange(source.ip, '10.0.0.0/29')", action: { sourceNatActiveIps: ['a2'], sourceNatDrainIps: [] } }]];
const targetArb: fc.Arbitrary<PlanTarget> = fc.tuple(fc.constantFrom(...RANGES), fc.constantFrom(...RULES)).map(([ranges, rules]) => ({
  id: 'gw',
  networkId: 'n1',
  region: 'r1',
  spec: withGatewayDefaults({ network: 'n1', region: 'r1', natIpAllocateOption: 'MANUAL_ONLY', natIps: ['a1'], rules, ...ranges }),
  ips: [
    { ip: '203.0.113.1', ruleNumber: -1, draining: false },
    { ip: '203.0.113.2', ruleNumber: 10, draining: false },
  ],
}));

/** Candidates sorted by id, as the reconciler keeps them. */
const candidatesArb = fc.subarray(IDS).chain((ids) => fc.tuple(...ids.map(endpointArb)));
/** Endpoint writes: a new or replaced endpoint, or a delete (null). */
const writesArb = fc.array(fc.constantFrom(...IDS).chain((id) => fc.option(endpointArb(id), { nil: null }).map((e) => ({ id, e }))), { maxLength: 20 });

const NOW = new Date('2026-12-04T00:00:00Z');
const inputs = (candidates: ScopeEndpoint[]) => ({ candidates, previous: [], foreign: [], usage: [] });

describe('updateKeptScope', () => {
  it('after any endpoint writes, the kept candidates and scope are what planWith derives from scratch', () => {
    fc.assert(
      fc.property(targetArb, candidatesArb, writesArb, (t, initial, writes) => {
        const kept = keptScope(planWith(t, inputs(initial), NOW));
        const byId = new Map(initial.map((e) => [e.id, e]));
        for (const { id, e } of writes) {
          if (e) byId.set(id, e);
          else byId.delete(id);
          updateKeptScope(t.spec, kept, id, e ?? undefined);
        }
        const fresh = planWith(t, inputs([...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1))), NOW);
        expect(kept.candidates).toEqual(fresh.candidates);
        expect(kept.inScope).toEqual(fresh.inScope);
        expect(kept.endpoints).toEqual(fresh.input.endpoints);
        // every candidate's kept scope is its scope now (absent or null: out of scope)
        for (const id of IDS) {
          const now = fresh.inScope.find((x) => x.endpoint.id === id)?.scope ?? null;
          expect(kept.scope.get(id) ?? null).toEqual(now);
        }
        // and the allocator, given the kept lists, computes what it computes from scratch
        const incremental = planWith(t, inputs(kept.candidates), NOW, kept.inScope, { scope: kept.scope, endpoints: kept.endpoints });
        expect(incremental.result).toEqual(fresh.result);
      }),
      { numRuns: 300 },
    );
  });
});

describe('a PRIVATE gateway in the planner', () => {
  const spec = withGatewayDefaults({
    network: 'n',
    region: 'r1',
    type: 'PRIVATE',
    rules: [{ ruleNumber: 10, match: "inIpRange(destination.ip, '10.20.0.0/16')", action: { sourceNatActiveRanges: ['pnat-a', 'pnat-b'] } }],
  });
  const ranges = new Map([
    ['pnat-a', '100.64.1.0/30'],
    ['pnat-b', '100.64.2.8/31'],
  ]);

  it("takes every usable address of the rule's ranges as its active IPs, in rule and range order", () => {
    expect(ipUsesInSpecOrder(spec, () => undefined, (s) => ranges.get(s))).toEqual(
      ['100.64.1.1', '100.64.1.2', '100.64.2.8', '100.64.2.9'].map((ip) => ({ ip, ruleNumber: 10, draining: false })),
    );
  });

  it('gives the allocator no default rule: endpoints get blocks on the rules only', () => {
    const ips = ipUsesInSpecOrder(spec, () => undefined, (s) => ranges.get(s));
    expect(allocatorSpec(spec, ips).rules.map((r) => [r.ruleNumber, r.activeIps.length])).toEqual([[10, 4]]);
    const pub = withGatewayDefaults({ network: 'n', region: 'r1', natIps: ['a'] });
    expect(allocatorSpec(pub, [{ ip: '192.0.2.1', ruleNumber: -1, draining: false }]).rules.map((r) => r.ruleNumber)).toEqual([-1]);
  });
});
