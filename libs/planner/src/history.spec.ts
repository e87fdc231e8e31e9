import fc from 'fast-check';
import { historyChanges } from './history';
import type { HistoryRow, ScopeEndpoint, StoredBlock } from './types';

const GW = { id: 'g1', name: 'gw', projectId: 'p1', projectName: 'proj' };
const IDS = ['e1', 'e2', 'e3', 'e4', 'e5'];

const endpoint = (id: string, host: number, ip: number): ScopeEndpoint => ({
  id,
  name: `vm-${id}`,
  hostInterface: null,
  networkIp: `10.0.0.${ip}`,
  aliasIpRanges: [],
  forwardedIpRanges: [],
  hostId: `h${host}`,
  hostName: `host-${host}`,
  subnetName: 's1',
});

/** An endpoint's record (absent: deleted) and its blocks, each at its own ports. */
const stateArb = (id: string, at: number) =>
  fc.record({
    endpoint: fc.option(fc.record({ host: fc.integer({ min: 1, max: 2 }), ip: fc.integer({ min: 2, max: 3 }) }), { nil: undefined }),
    blocks: fc.subarray([0, 1, 2]).chain((slots) =>
      fc.tuple(
        ...slots.map((k) =>
          fc.record({ state: fc.constantFrom('ACTIVE' as const, 'DRAIN' as const, 'QUARANTINE' as const), cut: fc.boolean(), rule: fc.constantFrom(-1, 10) }).map(
            (r): StoredBlock => ({
              natIp: '203.0.113.1',
              portLo: 1024 + 64 * (at * 3 + k),
              portHi: 1024 + 64 * (at * 3 + k) + 63,
              endpointId: id,
              ruleNumber: r.rule,
              state: r.state,
              since: new Date(0),
              until: r.state === 'QUARANTINE' ? new Date(1) : null,
              ...(r.state === 'QUARANTINE' && r.cut ? { cut: true } : {}),
            }),
          ),
        ),
      ),
    ),
  });

/** Per endpoint its state before and after, and whether it changed at all. */
const worldArb = fc.tuple(...IDS.map((id, i) => fc.tuple(stateArb(id, i), fc.boolean(), stateArb(id, i))));

function world(states: { endpoint?: { host: number; ip: number }; blocks: StoredBlock[] }[]) {
  const endpoints = new Map<string, ScopeEndpoint>();
  states.forEach((s, i) => s.endpoint && endpoints.set(IDS[i], endpoint(IDS[i], s.endpoint.host, s.endpoint.ip)));
  return { endpoints, blocks: states.flatMap((s) => s.blocks) };
}

let nextId = 0;
const withIds = (rows: Omit<HistoryRow, 'id'>[]): HistoryRow[] =>
  rows.map((r) => ({ id: `r${++nextId}`, endpointId: r.endpointId, ruleNumber: r.ruleNumber, natIp: r.natIp, portLo: r.portLo, portHi: r.portHi, hostName: r.hostName, sourceIp: r.sourceIp, state: r.state }));
const rowKey = (r: Omit<HistoryRow, 'id'>) => `${r.endpointId}|${r.ruleNumber}|${r.natIp}|${r.portLo}|${r.hostName}|${r.sourceIp}|${r.state}`;

describe('history changes', () => {
  it('from the kept open rows of the touched endpoints equal those from all open rows', () => {
    fc.assert(
      fc.property(worldArb, (ws) => {
        // Before: the open rows are exactly those of the held blocks (a committed computation).
        const before = world(ws.map(([b]) => b));
        const opened = withIds(historyChanges(GW, before.blocks, before.endpoints, []).open);
        const byEndpoint = () => {
          const m = new Map<string, HistoryRow[]>();
          for (const r of opened) m.set(r.endpointId, [...(m.get(r.endpointId) ?? []), r]);
          return m;
        };
        // After: an endpoint either keeps its state or takes a new one (then it is touched).
        const after = world(ws.map(([b, changes, a]) => (changes ? a : b)));
        const touched = new Set(IDS.filter((_, i) => ws[i][1]));

        const scratch = historyChanges(GW, after.blocks, after.endpoints, opened);
        const prior = byEndpoint();
        const kept = historyChanges(
          GW,
          after.blocks.filter((b) => touched.has(b.endpointId)),
          after.endpoints,
          [...touched].flatMap((id) => prior.get(id) ?? []),
          { prior, touched },
        );
        expect([...kept.close].sort()).toEqual([...scratch.close].sort());
        expect(kept.open.map(rowKey).sort()).toEqual(scratch.open.map(rowKey).sort());
        expect([...kept.moves].sort()).toEqual([...scratch.moves].sort());
        const newRows = withIds(scratch.open);
        const flat = (m: Map<string, HistoryRow[]>) => [...m.values()].flat().map((r) => r.id).sort();
        expect(flat(kept.after(newRows))).toEqual(flat(scratch.after(newRows)));
      }),
      { numRuns: 300 },
    );
  });

  it('opens a row per held block and none for a cut quarantine or a deleted endpoint', () => {
    const e = endpoint('e1', 1, 2);
    const block = (portLo: number, state: StoredBlock['state'], cut?: boolean): StoredBlock => ({ natIp: '203.0.113.1', portLo, portHi: portLo + 63, endpointId: 'e1', ruleNumber: -1, state, since: new Date(0), until: null, ...(cut ? { cut } : {}) });
    const h = historyChanges(GW, [block(1024, 'ACTIVE'), block(1088, 'QUARANTINE', true), { ...block(1152, 'ACTIVE'), endpointId: 'gone' }], new Map([['e1', e]]), []);
    expect(h.open.map((r) => r.portLo)).toEqual([1024]);
    expect(h.open[0]).toMatchObject({ gatewayId: 'g1', hostName: 'host-1', sourceIp: '10.0.0.2', endpointName: 'vm-e1' });
  });
});
