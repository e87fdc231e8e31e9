import { withGatewayDefaults } from '@natplane/domain';
import { fullHosts, goneCommit, hostsLeft } from './commit';
import { decide, type Run } from './decide';
import { hostSections } from './host-sections';
import { planWith, type PlanTarget } from './planner';
import type { GatewayHostState, HistoryRow, LockedGateway, ScopeEndpoint, StoredBlock } from './types';

const NOW = new Date('2026-12-04T00:00:00Z');
const LATER = new Date(NOW.getTime() + 1000);
const t: PlanTarget = {
  id: 'gw',
  networkId: 'n1',
  region: 'r1',
  spec: withGatewayDefaults({ network: 'n1', region: 'r1', natIps: ['a1'] }),
  ips: [{ ip: '203.0.113.1', ruleNumber: -1, draining: false }],
};
const gw: LockedGateway = { id: 'gw', name: 'gw', projectId: 'p1', projectName: 'proj', networkId: 'n1', region: 'r1', spec: t.spec, generation: 2, observedGeneration: 1, reconcileSeq: 1 };
const vm = (n: number, host: string): ScopeEndpoint => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  name: `vm-${n}`,
  hostInterface: null,
  networkIp: `10.0.0.${n + 2}`,
  aliasIpRanges: [],
  forwardedIpRanges: [],
  hostId: host,
  hostName: `host-${host}`,
  subnetName: 's1',
});
let rowIds = 0;
const opened = (rows: Omit<HistoryRow, 'id'>[]): HistoryRow[] => rows.map((r) => ({ ...r, id: `row-${++rowIds}` }));

/** Two VMs on h1 and h2, computed and committed; then vm 1 moves from h1 to h3. */
function moved() {
  const before = [vm(1, 'h1'), vm(2, 'h2')];
  const run0: Run = { plan: planWith(t, { candidates: before, previous: [], foreign: [], usage: [] }, NOW), ips: t.ips };
  const d0 = decide({ ...gw, generation: 1, observedGeneration: 0 }, run0, []);
  const open = opened(d0.history.open);
  const old: GatewayHostState[] = [...hostSections(gw, d0.next, d0.byId)].map(([h, s]) => ({ hostId: h, requiredGeneration: 5, fingerprint: s.fingerprint, waitHostId: null, waitGeneration: null }));
  const after = [vm(1, 'h3'), vm(2, 'h2')];
  const run: Run = { plan: planWith(t, { candidates: after, previous: d0.next, foreign: [], usage: [] }, LATER), ips: t.ips };
  const d = decide(gw, run, open);
  return { open, old, after, run, d };
}

describe('fullHosts', () => {
  it('a VM that moved: its new host is raised, its old host is leaving (waits on the new one), the others are untouched', () => {
    const { open, old, after, run, d } = moved();
    expect(hostsLeft(after, open)).toEqual(['host-h1']);
    const hosts = fullHosts(gw, run.plan, d, old, new Map([['host-h1', 'h1']]));
    expect(hosts.bump).toEqual(['h3']);
    expect(hosts.leaving).toEqual([{ hostId: 'h1', waitHostId: 'h3', fingerprint: old.find((h) => h.hostId === 'h1')!.fingerprint, requiredGeneration: 5 }]);
    // h1 has nothing of the gateway unless it waits: its state goes (the commit keeps it while it waits).
    expect(hosts.drop).toEqual(['h1']);
    expect(hosts.states.map((s) => [s.hostId, s.requiredGeneration]).sort()).toEqual([
      ['h2', 5],
      ['h3', null],
    ]);
  });

  it('a host left whose name is not resolved is raised like any changed host (no wait)', () => {
    const { old, run, d } = moved();
    const hosts = fullHosts(gw, run.plan, d, old, new Map());
    expect([...hosts.bump].sort()).toEqual(['h1', 'h3']);
    expect(hosts.leaving).toEqual([]);
  });

  it('nothing changed: nothing raised, every state written again as it was', () => {
    const { run, d } = moved();
    const sections = hostSections(gw, d.next, d.byId);
    const now = [...sections].map(([h, s]) => ({ hostId: h, requiredGeneration: 9, fingerprint: s.fingerprint, waitHostId: null, waitGeneration: null }));
    const hosts = fullHosts(gw, run.plan, d, now, new Map());
    expect(hosts.bump).toEqual([]);
    expect(hosts.drop).toEqual([]);
    expect(hosts.states.every((s) => s.requiredGeneration === 9)).toBe(true);
    expect(hosts.states.map((s) => s.hostId).sort()).toEqual(['h2', 'h3']);
  });
});

describe('goneCommit', () => {
  const block = (portLo: number, state: StoredBlock['state'], until: Date | null): StoredBlock => ({
    natIp: '203.0.113.1',
    portLo,
    portHi: portLo + 63,
    endpointId: 'e1',
    ruleNumber: -1,
    state,
    since: NOW,
    until,
    quarantineSec: 300,
  });

  it('held blocks go to quarantine for their recorded length, an ended quarantine goes, a running one stays, history closes', () => {
    const cooling = block(1152, 'QUARANTINE', new Date(LATER.getTime() + 1000));
    const c = goneCommit([block(1024, 'ACTIVE', null), block(1088, 'QUARANTINE', NOW), cooling], opened([{ endpointId: 'e1', ruleNumber: -1, natIp: '203.0.113.1', portLo: 1024, portHi: 1087, hostName: 'host-h1', sourceIp: '10.0.0.3', state: 'ACTIVE' }]), ['h1'], LATER);
    expect(c.status).toBeUndefined();
    expect(c.blocks.removed.map((b) => b.portLo)).toEqual([1024, 1088]);
    expect(c.blocks.added).toEqual([{ ...block(1024, 'QUARANTINE', new Date(LATER.getTime() + 300_000)) }]);
    expect(c.history.close).toHaveLength(1);
    expect(c.hosts.bump).toEqual(['h1']);
  });
});
