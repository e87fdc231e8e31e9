import fc from 'fast-check';
import { withGatewayDefaults, type NatGatewayInput } from '@natplane/domain';
import { advance, decide, incrementalHosts, keptOf, type Decision, type Run } from './decide';
import { hostSections } from './host-sections';
import { planWith, type PlanTarget } from './planner';
import type { EndpointChange, HistoryRow, LockedGateway, ScopeEndpoint, StoredBlock } from './types';

/** Endpoint ids as uuids sort (the allocator's order); each stays on its host (a move is the full path's). */
const IDS = Array.from({ length: 12 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
const hostOf = (id: string) => (Number(id.slice(-2)) % 3 === 0 ? 'h1' : Number(id.slice(-2)) % 3 === 1 ? 'h2' : 'h3');

const endpointArb = (id: string): fc.Arbitrary<ScopeEndpoint> =>
  fc.record({
    id: fc.constant(id),
    name: fc.constantFrom(`vm-${id.slice(-2)}`, `vm-${id.slice(-2)}-renamed`),
    hostInterface: fc.constantFrom(null, `tap${id.slice(-2)}`),
    networkIp: fc.constantFrom(`10.0.0.${Number(id.slice(-2)) + 2}`, `10.0.0.${Number(id.slice(-2)) + 100}`),
    aliasIpRanges: fc.constantFrom([], [{ ipCidrRange: '10.1.0.0/28', subnetworkRangeName: 'pods' }]),
    forwardedIpRanges: fc.constantFrom([], ['192.168.1.0/24']),
    hostId: fc.constant(hostOf(id)),
    hostName: fc.constant(`host-${hostOf(id)}`),
    subnetName: fc.constantFrom('s1', 's2', 's3'),
  });

const RANGES: NatGatewayInput[] = [
  { sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES' },
  { sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES' },
  { sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS', subnetworks: [{ name: 's1', sourceIpRangesToNat: ['ALL_IP_RANGES'] }, { name: 's2', sourceIpRangesToNat: ['PRIMARY_IP_RANGE'] }] },
];
const targetArb: fc.Arbitrary<PlanTarget> = fc.constantFrom(...RANGES).map((ranges) => ({
  id: 'gw',
  networkId: 'n1',
  region: 'r1',
  spec: withGatewayDefaults({ network: 'n1', region: 'r1', natIps: ['a1', 'a2'], ...ranges }),
  ips: [
    { ip: '203.0.113.1', ruleNumber: -1, draining: false },
    { ip: '203.0.113.2', ruleNumber: -1, draining: false },
  ],
}));
const candidatesArb = fc.subarray(IDS).chain((ids) => fc.tuple(...ids.map(endpointArb)));
/** Endpoint writes since the kept result: a new or replaced endpoint, or a delete (null). */
const writesArb = fc.array(fc.constantFrom(...IDS).chain((id) => fc.option(endpointArb(id), { nil: null }).map((e) => ({ id, e }))), { maxLength: 12 });

const NOW = new Date('2026-12-04T00:00:00Z');
const LATER = new Date(NOW.getTime() + 1000);
const gateway = (t: PlanTarget, generation: number, observedGeneration: number, reconcileSeq: number): LockedGateway => ({
  id: t.id!,
  name: 'gw',
  projectId: 'p1',
  projectName: 'proj',
  networkId: t.networkId,
  region: t.region,
  spec: t.spec,
  generation,
  observedGeneration,
  reconcileSeq,
});
const byIdOrder = (es: Iterable<ScopeEndpoint>) => [...es].sort((a, b) => (a.id < b.id ? -1 : 1));

let rowIds = 0;
const withIds = (rows: Omit<HistoryRow, 'id'>[]): HistoryRow[] =>
  rows.map((r) => ({ id: `row-${++rowIds}`, endpointId: r.endpointId, ruleNumber: r.ruleNumber, natIp: r.natIp, portLo: r.portLo, portHi: r.portHi, hostName: r.hostName, sourceIp: r.sourceIp, state: r.state }));
const blockText = (b: StoredBlock) => JSON.stringify([b.natIp, b.portLo, b.portHi, b.endpointId, b.ruleNumber, b.state, b.since.getTime(), b.until?.getTime() ?? null, b.cut === true, b.quarantineSec]);
const rowText = (r: Omit<HistoryRow, 'id'>) => JSON.stringify([r.endpointId, r.ruleNumber, r.natIp, r.portLo, r.portHi, r.hostName, r.sourceIp, r.state]);
const sortedBlocks = (bs: StoredBlock[]) => bs.map(blockText).sort();

/** What a decision writes, as comparable text. */
function written(d: Decision) {
  return {
    removed: sortedBlocks(d.removed),
    added: sortedBlocks(d.added),
    close: [...d.history.close].sort(),
    open: d.history.open.map(rowText).sort(),
    moves: [...d.history.moves].sort(),
    status: d.status,
  };
}

describe('decide', () => {
  it('from a kept prior advanced by endpoint writes equals the decision from scratch', () => {
    fc.assert(
      fc.property(targetArb, candidatesArb, writesArb, (t, initial, writes) => {
        // A full computation, committed: what the worker keeps of it.
        const gw0 = gateway(t, 1, 0, 0);
        const run0: Run = { plan: planWith(t, { candidates: initial, previous: [], foreign: [], usage: [] }, NOW), ips: t.ips };
        const d0 = decide(gw0, run0, []);
        const opened0 = withIds(d0.history.open);
        const before = hostSections(gw0, d0.next, d0.byId);
        const states = new Map([...before].map(([h, s]) => [h, { hostId: h, requiredGeneration: 7, fingerprint: s.fingerprint, waitHostId: null, waitGeneration: null }]));
        const kept = keptOf(gw0, run0, d0, 1, d0.history.after(opened0), states);

        // Endpoint writes, one generation each.
        const current = new Map(initial.map((e) => [e.id, e]));
        for (const { id, e } of writes) {
          if (e) current.set(id, e);
          else current.delete(id);
        }
        // Each change carries the endpoint as it is when read (readIncremental joins the endpoints).
        const changes: EndpointChange[] = writes.map(({ id }, i) => ({ generation: 2 + i, endpointId: id, endpoint: current.get(id) ?? null }));
        const gw1 = gateway(t, 1 + writes.length, 1, 1);

        // From scratch: everything read again (the committed blocks and open rows).
        const scratchRun: Run = { plan: planWith(t, { candidates: byIdOrder(current.values()), previous: d0.next, foreign: [], usage: [] }, LATER), ips: t.ips };
        const scratch = decide(gw1, scratchRun, opened0);

        // From the kept prior.
        const run1 = advance(gw1, kept, changes, LATER);
        expect(run1).toBeDefined();
        const incremental = decide(gw1, run1!);

        expect(written(incremental)).toEqual(written(scratch));
        expect(sortedBlocks(incremental.next)).toEqual(sortedBlocks(scratch.next));
        // The affected hosts' sections are those from scratch; every other host's is unchanged.
        const affected = run1!.incremental.hosts;
        const now = hostSections(gw1, scratch.next, scratch.byId);
        const hosts = incrementalHosts(gw1, run1!, incremental);
        for (const h of ['h1', 'h2', 'h3']) {
          if (affected.has(h)) expect(hosts.sections.get(h)?.fingerprint).toEqual(now.get(h)?.fingerprint);
          else expect(now.get(h)?.fingerprint).toEqual(before.get(h)?.fingerprint);
        }
        // A new generation for exactly the hosts whose section changed.
        const changed = ['h1', 'h2', 'h3'].filter((h) => now.get(h)?.fingerprint !== before.get(h)?.fingerprint);
        expect([...hosts.bump].sort()).toEqual(changed);
      }),
      { numRuns: 300 },
    );
  });

  it('a full computation needs the open history rows', () => {
    const t: PlanTarget = { id: 'gw', networkId: 'n1', region: 'r1', spec: withGatewayDefaults({ network: 'n1', region: 'r1', natIps: ['a1'] }), ips: [] };
    const run: Run = { plan: planWith(t, { candidates: [], previous: [], foreign: [], usage: [] }, NOW), ips: [] };
    expect(() => decide(gateway(t, 1, 0, 0), run)).toThrow(/open history rows/);
  });

  it('advance gives up (undefined) when another computation committed since, the spec changed or a change is not an endpoint write', () => {
    const t: PlanTarget = { id: 'gw', networkId: 'n1', region: 'r1', spec: withGatewayDefaults({ network: 'n1', region: 'r1', natIps: ['a1'] }), ips: [{ ip: '203.0.113.1', ruleNumber: -1, draining: false }] };
    const gw0 = gateway(t, 1, 0, 0);
    const run0: Run = { plan: planWith(t, { candidates: [], previous: [], foreign: [], usage: [] }, NOW), ips: t.ips };
    const d0 = decide(gw0, run0, []);
    const fresh = () => keptOf(gw0, run0, d0, 1, new Map(), new Map());
    expect(advance(gateway(t, 1, 1, 2), fresh(), [], LATER)).toBeUndefined(); // reconcile_seq moved
    expect(advance({ ...gateway(t, 1, 1, 1), spec: { ...t.spec, minPortsPerVm: 128 } }, fresh(), [], LATER)).toBeUndefined();
    expect(advance(gateway(t, 2, 1, 1), fresh(), [], LATER)).toBeUndefined(); // generation 2 has no endpoint write
    expect(advance(gateway(t, 1, 1, 1), fresh(), [], LATER)).toBeDefined();
  });
});
