import {
  Allocator,
  DEFAULT_RULE,
  allocate,
  blocksPerIp,
  verifyAllocation,
  type AllocationResult,
  type AllocatorInput,
  type AllocatorRule,
  type AllocatorSpec,
  type Block,
  type UsageSample,
} from './index';

const T0 = 1_800_000_000_000;
const ips = (n: number, prefix = '203.0.113.') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
const eps = (n: number, alias = false, prefix = 'vm-') =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${String(i).padStart(6, '0')}`, aliasRangesNated: alias }));

function spec(over: Partial<AllocatorSpec> & { natIps?: string[]; drainNatIps?: string[]; extraRules?: AllocatorRule[] } = {}): AllocatorSpec {
  const { natIps = ips(1), drainNatIps = [], extraRules = [], ...rest } = over;
  return {
    minPortsPerVm: 64,
    maxPortsPerVm: 65536,
    enableDynamicPortAllocation: false,
    natIpAllocateOption: 'MANUAL_ONLY',
    idleTimeoutsSec: [30, 30, 1200, 30, 30],
    rules: [{ ruleNumber: DEFAULT_RULE, activeIps: natIps, drainIps: drainNatIps }, ...extraRules],
    ...rest,
  };
}

function run(input: Partial<AllocatorInput> & { spec: AllocatorSpec }): AllocationResult {
  const full: AllocatorInput = { endpoints: [], previous: [], foreign: [], usage: [], now: T0, ...input };
  const r = allocate(full);
  expect(verifyAllocation(full, r)).toEqual([]);
  return r;
}

const active = (r: AllocationResult, rule = DEFAULT_RULE) => r.blocks.filter((b) => b.state === 'ACTIVE' && b.ruleNumber === rule);
const of = (r: AllocationResult, id: string, state?: Block['state']) => r.blocks.filter((b) => b.endpointId === id && (!state || b.state === state));
const at = (b: Block) => `${b.natIp}:${b.portLo}+${b.size}`;

describe('capacity (invariant 3)', () => {
  it('1 IP at 64 ports holds 1,008 endpoints, 2 IPs 2,016', () => {
    const one = run({ spec: spec(), endpoints: eps(1100) });
    expect(active(one)).toHaveLength(1008);
    expect(one.status.endpointsWithMappings).toBe(1008);
    expect(one.status.endpointsWithoutMappings).toBe(92);
    const two = run({ spec: spec({ natIps: ips(2) }), endpoints: eps(2100) });
    expect(active(two)).toHaveLength(2016);
    expect(new Set(active(two).map((b) => b.natIp)).size).toBe(2);
  });

  it('1 IP at 4,096 ports holds 15, at 32,768 ports 1', () => {
    expect(active(run({ spec: spec({ minPortsPerVm: 4096 }), endpoints: eps(20) }))).toHaveLength(15);
    const big = run({ spec: spec({ minPortsPerVm: 32768 }), endpoints: eps(3) });
    expect(active(big).map(at)).toEqual(['203.0.113.1:1024+32768']);
  });

  it.each(Array.from({ length: 15 }, (_, i) => 2 ** (i + 1)))('P = %i: floor(64512 / P) endpoints per IP', (p) => {
    const n = blocksPerIp(p);
    const r = run({ spec: spec({ minPortsPerVm: p }), endpoints: eps(n + 3) });
    const a = active(r);
    expect(a).toHaveLength(n);
    expect(a.every((b) => b.size === p && (b.portLo - 1024) % p === 0 && b.portLo + p - 1 <= 65535)).toBe(true);
    expect(r.status.minExtraNatIpsNeeded).toBe(Math.ceil(3 / n));
  });

  it('packs in listed IP order, lowest aligned block first', () => {
    const r = run({ spec: spec({ natIps: ['198.51.100.9', '198.51.100.2'] }), endpoints: eps(1010) });
    expect(at(active(r)[0])).toBe('198.51.100.9:1024+64');
    expect(at(active(r)[1007])).toBe('198.51.100.9:65472+64');
    expect(at(active(r)[1008])).toBe('198.51.100.2:1024+64');
  });
});

describe('static sizes (invariant 4)', () => {
  it('minPortsPerVm 50 gives 64, NATed alias ranges give 1,024', () => {
    const r = run({ spec: spec({ minPortsPerVm: 50 }), endpoints: [...eps(2), ...eps(2, true, 'alias-')] });
    const size = (id: string) => of(r, id, 'ACTIVE')[0].size;
    expect(size('vm-000000')).toBe(64);
    expect(size('alias-000000')).toBe(1024);
    // larger blocks are placed first
    expect(of(r, 'alias-000000')[0].portLo).toBe(1024);
    expect(of(r, 'alias-000001')[0].portLo).toBe(2048);
    expect(of(r, 'vm-000000')[0].portLo).toBe(3072);
  });

  it('a 65,536 minimum cannot fit in 64,512 ports: clamped to 32,768', () => {
    const r = run({ spec: spec({ minPortsPerVm: 57344 }), endpoints: eps(1) });
    expect(active(r)[0].size).toBe(32768);
  });

  it('gives every endpoint a block on every rule', () => {
    const rule: AllocatorRule = { ruleNumber: 10, activeIps: ['192.0.2.1'], drainIps: [] };
    const r = run({ spec: spec({ extraRules: [rule] }), endpoints: eps(3) });
    expect(active(r, DEFAULT_RULE)).toHaveLength(3);
    expect(active(r, 10).map((b) => b.natIp)).toEqual(['192.0.2.1', '192.0.2.1', '192.0.2.1']);
  });

  it('raising minPortsPerVm grows in place where the buddy is free, else moves, else keeps the old block', () => {
    const s64 = spec({ natIps: ips(2) });
    const first = run({ spec: s64, endpoints: eps(3) });
    // vm-0 at 1024, vm-1 at 1088, vm-2 at 1152 (all on IP 1); remove vm-1 so vm-0's buddy is quarantined
    const second = run({ spec: s64, endpoints: [eps(3)[0], eps(3)[2]], previous: first.blocks, now: T0 + 1000 });
    const third = run({ spec: spec({ natIps: ips(2), minPortsPerVm: 128 }), endpoints: [eps(3)[0], eps(3)[2]], previous: second.blocks, now: T0 + 2000 });
    // vm-2 at 1152: its buddy 1216 is free -> grows in place to 1152+128
    expect(of(third, 'vm-000002', 'ACTIVE').map(at)).toEqual(['203.0.113.1:1152+128']);
    // vm-0 at 1024: buddy 1088 is vm-1's quarantine -> moves to a fresh 128 block
    expect(of(third, 'vm-000000', 'ACTIVE').map(at)).toEqual(['203.0.113.1:1280+128']);
    expect(third.changes.filter((c) => c.kind === 'RESIZED').map((c) => c.endpointId)).toEqual(['vm-000002']);
    expect(third.changes.find((c) => c.endpointId === 'vm-000000')).toMatchObject({ kind: 'MOVED', breaksConnections: false });
    expect(of(third, 'vm-000000', 'QUARANTINE').map(at)).toEqual(['203.0.113.1:1024+64']);

    // full IP, no room: everybody keeps the old block and the status says how many IPs would do
    const full = run({ spec: spec(), endpoints: eps(1008) });
    const bigger = run({ spec: spec({ minPortsPerVm: 128 }), endpoints: eps(1008), previous: full.blocks, now: T0 + 1 });
    expect(active(bigger).every((b) => b.size === 64)).toBe(true);
    expect(bigger.status.rules[0].endpointsBelowMinPorts).toBe(1008);
    expect(bigger.status.minExtraNatIpsNeeded).toBe(2); // 1,008 blocks of 128 = 504 per IP
    const more = run({ spec: spec({ natIps: ips(3), minPortsPerVm: 128 }), endpoints: eps(1008), previous: full.blocks, now: T0 + 1 });
    expect(active(more).every((b) => b.size === 128)).toBe(true);
    expect(more.status.minExtraNatIpsNeeded).toBe(0);
  });

  it('lowering minPortsPerVm shrinks in place and quarantines the rest', () => {
    const a = run({ spec: spec({ minPortsPerVm: 4096 }), endpoints: eps(2) });
    const b = run({ spec: spec({ minPortsPerVm: 1024 }), endpoints: eps(2), previous: a.blocks, now: T0 + 1 });
    expect(of(b, 'vm-000001', 'ACTIVE').map(at)).toEqual(['203.0.113.1:5120+1024']);
    expect(of(b, 'vm-000001', 'QUARANTINE').map(at)).toEqual(['203.0.113.1:6144+1024', '203.0.113.1:7168+2048']);
    expect(b.changes.find((c) => c.endpointId === 'vm-000001')?.kind).toBe('RESIZED');
  });
});

describe('draining (invariant 7) and IP removal', () => {
  it('a drained IP keeps its blocks as drain blocks; endpoints get active blocks elsewhere', () => {
    const before = run({ spec: spec({ natIps: ips(1) }), endpoints: eps(3) });
    const after = run({
      spec: spec({ natIps: ['203.0.113.2'], drainNatIps: ['203.0.113.1'] }),
      endpoints: eps(3),
      previous: before.blocks,
      now: T0 + 1000,
    });
    for (const b of active(before)) {
      expect(of(after, b.endpointId, 'DRAIN').map(at)).toEqual([at(b)]);
      expect(of(after, b.endpointId, 'ACTIVE')[0].natIp).toBe('203.0.113.2');
    }
    expect(after.changes.map((c) => [c.kind, c.breaksConnections])).toEqual([
      ['DRAINED', false],
      ['DRAINED', false],
      ['DRAINED', false],
    ]);
    expect(after.status.portUtilization.find((u) => u.natIp === '203.0.113.1')).toMatchObject({ draining: true, drainPorts: 192, activePorts: 0 });
    // nothing new lands on a drain IP, even when the active ones are full
    const crowd = run({
      spec: spec({ natIps: ['203.0.113.2'], drainNatIps: ['203.0.113.1'], minPortsPerVm: 16384 }),
      endpoints: eps(5),
      previous: after.blocks,
      now: T0 + 2000,
    });
    expect(crowd.blocks.filter((b) => b.natIp === '203.0.113.1').every((b) => b.state === 'DRAIN')).toBe(true);

    // the drain IP removed: its blocks go to quarantine, connections break
    const removed = run({ spec: spec({ natIps: ['203.0.113.2'] }), endpoints: eps(3), previous: after.blocks, now: T0 + 3000 });
    expect(removed.blocks.filter((b) => b.natIp === '203.0.113.1').every((b) => b.state === 'QUARANTINE')).toBe(true);
    expect(removed.changes.every((c) => c.kind === 'RELEASED' && c.breaksConnections)).toBe(true);
  });

  it('a drain that reached its deadline: its blocks go to quarantine marked cut, and stay so until it ends', () => {
    const before = run({ spec: spec({ natIps: ips(1) }), endpoints: eps(3) });
    const drained = run({ spec: spec({ natIps: ['203.0.113.2'], drainNatIps: ['203.0.113.1'] }), endpoints: eps(3), previous: before.blocks, now: T0 + 1000 });
    // the deadline: the IP leaves the drain list, named in endedDrains
    const ended = run({
      spec: spec({ natIps: ['203.0.113.2'] }),
      endpoints: eps(3),
      previous: drained.blocks,
      endedDrains: [{ natIp: '203.0.113.1', ruleNumber: DEFAULT_RULE }],
      now: T0 + 5000,
    });
    const cut = ended.blocks.filter((b) => b.natIp === '203.0.113.1');
    expect(cut).toHaveLength(3);
    expect(cut.every((b) => b.state === 'QUARANTINE' && b.cut === true && b.until === T0 + 5000 + 1200 * 1000)).toBe(true);
    expect(ended.changes.every((c) => c.kind === 'RELEASED' && c.breaksConnections)).toBe(true);
    // the active blocks did not move
    expect(active(ended).map(at)).toEqual(active(drained).map(at));
    // a later run keeps them cut, and they end with their quarantine
    const later = run({ spec: spec({ natIps: ['203.0.113.2'] }), endpoints: eps(3), previous: ended.blocks, now: T0 + 6000 });
    expect(later.blocks.filter((b) => b.natIp === '203.0.113.1').every((b) => b.cut === true)).toBe(true);
    const over = run({ spec: spec({ natIps: ['203.0.113.2'] }), endpoints: eps(3), previous: later.blocks, now: T0 + 5000 + 1200 * 1000 });
    expect(over.blocks.filter((b) => b.natIp === '203.0.113.1')).toHaveLength(0);
    // a drain removed by hand (no deadline) is released as before: not cut
    const byHand = run({ spec: spec({ natIps: ['203.0.113.2'] }), endpoints: eps(3), previous: drained.blocks, now: T0 + 5000 });
    expect(byHand.blocks.filter((b) => b.natIp === '203.0.113.1').every((b) => b.state === 'QUARANTINE' && b.cut === undefined)).toBe(true);
    // only the named rule's drain is cut
    const other = run({
      spec: spec({ natIps: ['203.0.113.2'] }),
      endpoints: eps(3),
      previous: drained.blocks,
      endedDrains: [{ natIp: '203.0.113.1', ruleNumber: 7 }],
      now: T0 + 5000,
    });
    expect(other.blocks.some((b) => b.cut === true)).toBe(false);
  });

  it('an IP removed without draining: blocks quarantined, endpoints moved, connections broken', () => {
    const before = run({ spec: spec({ natIps: ips(2) }), endpoints: eps(1010) });
    const after = run({ spec: spec({ natIps: ['203.0.113.2'] }), endpoints: eps(1010), previous: before.blocks, now: T0 + 1 });
    const moved = after.changes.filter((c) => c.kind === 'MOVED');
    // IP 2 held 2 endpoints and has room for 1,006 more: 1,006 move, 2 lose their mapping
    expect(moved).toHaveLength(1006);
    expect(moved.every((c) => c.breaksConnections && c.from?.natIp === '203.0.113.1')).toBe(true);
    const unmapped = after.changes.filter((c) => c.kind === 'UNMAPPED');
    expect(unmapped.map((c) => [c.endpointId, c.from?.natIp, c.breaksConnections])).toEqual([
      ['vm-001006', '203.0.113.1', true],
      ['vm-001007', '203.0.113.1', true],
    ]);
    expect(after.status.minExtraNatIpsNeeded).toBe(1);
    expect(after.blocks.filter((b) => b.natIp === '203.0.113.1' && b.state === 'QUARANTINE')).toHaveLength(1008);
    // the two endpoints already on IP 2 did not move
    expect(active(after).filter((b) => b.natIp === '203.0.113.2' && b.portLo < 1024 + 128)).toHaveLength(2);
  });
});

describe('quarantine (invariant 8)', () => {
  it('a released block is not handed to another endpoint before its quarantine ends', () => {
    const s = spec({ minPortsPerVm: 32768 });
    const a = run({ spec: s, endpoints: eps(1) });
    expect(a.blocks.map(at)).toEqual(['203.0.113.1:1024+32768']);
    const b = run({ spec: s, endpoints: eps(1, false, 'other-'), previous: a.blocks, now: T0 + 1000 });
    const q = of(b, 'vm-000000', 'QUARANTINE');
    expect(q).toHaveLength(1);
    expect(q[0].until).toBe(T0 + 1000 + 1200 * 1000); // longest idle timeout: 1,200 s
    expect(active(b)).toHaveLength(0);
    expect(b.changes.map((c) => c.kind).sort()).toEqual(['RELEASED', 'UNMAPPED']);
    expect(b.status.nextEventAt).toBe(q[0].until);
    const early = run({ spec: s, endpoints: eps(1, false, 'other-'), previous: b.blocks, now: q[0].until! - 1 });
    expect(active(early)).toHaveLength(0);
    const later = run({ spec: s, endpoints: eps(1, false, 'other-'), previous: early.blocks, now: q[0].until! });
    expect(active(later).map((x) => [x.endpointId, at(x)])).toEqual([['other-000000', '203.0.113.1:1024+32768']]);
    expect(later.blocks.filter((x) => x.state === 'QUARANTINE')).toHaveLength(0);
  });

  it('lasts at least 120 s', () => {
    const s = spec({ idleTimeoutsSec: [30, 30] });
    const a = run({ spec: s, endpoints: eps(1) });
    const b = run({ spec: s, endpoints: [], previous: a.blocks, now: T0 + 5 });
    expect(b.blocks[0]).toMatchObject({ state: 'QUARANTINE', until: T0 + 5 + 120_000 });
  });

  it('the same endpoint may take its quarantined block back', () => {
    const s = spec({ natIps: ips(2) });
    const a = run({ spec: s, endpoints: eps(3) });
    const b = run({ spec: s, endpoints: [eps(3)[0], eps(3)[2]], previous: a.blocks, now: T0 + 1 });
    const c = run({ spec: s, endpoints: eps(3), previous: b.blocks, now: T0 + 2 });
    expect(of(c, 'vm-000001').map(at)).toEqual(of(a, 'vm-000001').map(at));
    expect(c.blocks.filter((x) => x.state === 'QUARANTINE')).toHaveLength(0);
  });

  it('foreign reservations are never allocated over', () => {
    const r = run({
      spec: spec({ minPortsPerVm: 1024 }),
      endpoints: eps(3),
      foreign: [
        { natIp: '203.0.113.1', portLo: 1024, size: 1024 },
        { natIp: '203.0.113.1', portLo: 2100, size: 5, until: T0 + 10 },
        { natIp: '203.0.113.1', portLo: 3072, size: 1024, until: T0 },
      ],
    });
    expect(active(r).map(at)).toEqual(['203.0.113.1:3072+1024', '203.0.113.1:4096+1024', '203.0.113.1:5120+1024']);
    expect(r.status.portUtilization[0].foreignPorts).toBe(2048);
    expect(r.status.nextEventAt).toBe(T0 + 10);
  });
});

describe('stability (invariant 6)', () => {
  it('adding IPs, adding and removing other endpoints, changing timeouts moves nobody', () => {
    const a = run({ spec: spec(), endpoints: eps(1200) });
    const steps: Partial<AllocatorInput>[] = [
      { spec: spec({ natIps: ['203.0.113.9', ...ips(2)] }) },
      { spec: spec({ natIps: ['203.0.113.9', ...ips(2)] }), endpoints: eps(1300).filter((_, i) => i % 7 !== 3) },
      { spec: spec({ natIps: ['203.0.113.9', ...ips(2)], idleTimeoutsSec: [3600] }), endpoints: eps(1300).filter((_, i) => i % 7 !== 3) },
    ];
    let prev = a;
    let now = T0;
    for (const st of steps) {
      now += 1000;
      const next = run({ spec: spec(), endpoints: eps(1200), ...st, previous: prev.blocks, now });
      const nextById = new Map(active(next).map((b) => [b.endpointId, at(b)]));
      for (const b of active(prev)) if (nextById.has(b.endpointId)) expect(nextById.get(b.endpointId)).toBe(at(b));
      expect(next.changes.some((c) => c.kind === 'MOVED' || c.kind === 'RESIZED')).toBe(false);
      prev = next;
    }
  });
});

describe('dynamic port allocation (invariant 5)', () => {
  const dyn = (over: Partial<AllocatorSpec> = {}) =>
    spec({ enableDynamicPortAllocation: true, minPortsPerVm: 32, maxPortsPerVm: 256, natIps: ips(1), ...over });
  const use = (id: string, portsInUse: number, t: number): UsageSample => ({ endpointId: id, ruleNumber: DEFAULT_RULE, portsInUse, at: t });

  it('starts at min, doubles in place above 75% usage, never above max', () => {
    const a = run({ spec: dyn(), endpoints: eps(1) });
    expect(active(a).map(at)).toEqual(['203.0.113.1:1024+32']);
    let prev = a;
    const sizes: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const now = T0 + i * 60_000;
      const size = active(prev)[0].size;
      prev = run({ spec: dyn(), endpoints: eps(1), previous: prev.blocks, usage: [use('vm-000000', Math.floor(size * 0.8), now - 1)], now });
      sizes.push(active(prev)[0].size);
    }
    expect(sizes).toEqual([64, 128, 256, 256, 256]);
    expect(active(prev)[0].portLo).toBe(1024); // always in place: one contiguous block
    expect(prev.blocks).toHaveLength(1);
  });

  it('75% exactly does not grow', () => {
    const a = run({ spec: dyn(), endpoints: eps(1) });
    const b = run({ spec: dyn(), endpoints: eps(1), previous: a.blocks, usage: [use('vm-000000', 24, T0 + 5)], now: T0 + 10 });
    expect(active(b)[0].size).toBe(32);
  });

  it('moves to a fresh doubled block when the buddy is taken; the old block is quarantined', () => {
    const a = run({ spec: dyn(), endpoints: eps(3) });
    const b = run({ spec: dyn(), endpoints: eps(3), previous: a.blocks, usage: [use('vm-000000', 30, T0 + 5)], now: T0 + 10 });
    expect(of(b, 'vm-000000', 'ACTIVE').map(at)).toEqual(['203.0.113.1:1152+64']);
    expect(of(b, 'vm-000000', 'QUARANTINE').map(at)).toEqual(['203.0.113.1:1024+32']);
    expect(b.changes).toEqual([
      expect.objectContaining({ endpointId: 'vm-000000', kind: 'MOVED', breaksConnections: false }),
    ]);
  });

  it('stays as is when there is no room to grow', () => {
    const s = dyn({ minPortsPerVm: 32768, maxPortsPerVm: 65536 });
    const a = run({ spec: s, endpoints: eps(1) });
    const b = run({ spec: s, endpoints: eps(1), previous: a.blocks, usage: [use('vm-000000', 32000, T0 + 5)], now: T0 + 10 });
    expect(b.blocks).toEqual(a.blocks);
    expect(b.changes).toEqual([]);
  });

  it('shrinks only after 10 minutes of at least 3 reports at <= 25%', () => {
    const s = dyn();
    const a = run({ spec: s, endpoints: eps(1) });
    const grown = run({ spec: s, endpoints: eps(1), previous: a.blocks, usage: [use('vm-000000', 30, T0 + 5)], now: T0 + 10 });
    expect(active(grown)[0].size).toBe(64);
    const since = active(grown)[0].since;
    const low = (n: number, from: number) => Array.from({ length: n }, (_, i) => use('vm-000000', 16, from + i * 60_000));
    // 10 low reports but the block is younger than the window
    const young = run({ spec: s, endpoints: eps(1), previous: grown.blocks, usage: low(9, since + 1000), now: since + 9 * 60_000 });
    expect(active(young)[0].size).toBe(64);
    // one report above 25% in the window: no shrink
    const noisy = run({
      spec: s,
      endpoints: eps(1),
      previous: grown.blocks,
      usage: [...low(12, since + 1000), use('vm-000000', 17, since + 11 * 60_000 + 1)],
      now: since + 12 * 60_000,
    });
    expect(active(noisy)[0].size).toBe(64);
    const calm = run({ spec: s, endpoints: eps(1), previous: grown.blocks, usage: low(12, since + 1000), now: since + 12 * 60_000 });
    expect(active(calm).map(at)).toEqual(['203.0.113.1:1024+32']);
    expect(of(calm, 'vm-000000', 'QUARANTINE').map(at)).toEqual(['203.0.113.1:1056+32']);
    expect(calm.changes[0]).toMatchObject({ kind: 'RESIZED', from: { size: 64 }, to: { size: 32 } });
  });

  it('growth over its own quarantined half is allowed (un-release)', () => {
    const s = dyn();
    const a = run({ spec: s, endpoints: eps(1) });
    const g = run({ spec: s, endpoints: eps(1), previous: a.blocks, usage: [use('vm-000000', 30, T0 + 5)], now: T0 + 10 });
    const low = Array.from({ length: 12 }, (_, i) => use('vm-000000', 10, T0 + 1000 + i * 60_000));
    const shrunk = run({ spec: s, endpoints: eps(1), previous: g.blocks, usage: low, now: T0 + 12 * 60_000 });
    expect(shrunk.blocks.map((b) => b.state).sort()).toEqual(['ACTIVE', 'QUARANTINE']);
    const regrown = run({ spec: s, endpoints: eps(1), previous: shrunk.blocks, usage: [use('vm-000000', 30, T0 + 12 * 60_000 + 5)], now: T0 + 13 * 60_000 });
    expect(regrown.blocks.map(at)).toEqual(['203.0.113.1:1024+64']);
  });

  it('switching static <-> dynamic resizes to the new bounds', () => {
    const st = run({ spec: spec({ minPortsPerVm: 1024 }), endpoints: eps(2) });
    const d = run({ spec: dyn({ minPortsPerVm: 32, maxPortsPerVm: 512 }), endpoints: eps(2), previous: st.blocks, now: T0 + 1 });
    expect(active(d).map((b) => b.size)).toEqual([512, 512]);
    expect(active(d).map((b) => b.portLo)).toEqual([1024, 2048]);
  });
});

describe('shortage (invariant 9)', () => {
  function exact(input: Partial<AllocatorInput> & { spec: AllocatorSpec }, rule: number, expected: number) {
    const r = run(input);
    const rs = r.status.rules.find((x) => x.ruleNumber === rule)!;
    expect(rs.minExtraIpsNeeded).toBe(expected);
    const withExtra = (k: number) => {
      const s: AllocatorSpec = {
        ...input.spec,
        rules: input.spec.rules.map((x) => (x.ruleNumber === rule ? { ...x, activeIps: [...x.activeIps, ...ips(k, '100.64.0.')] } : x)),
      };
      const rr = run({ ...input, spec: s }).status.rules.find((x) => x.ruleNumber === rule)!;
      return rr.endpointsWithoutMappings + rr.endpointsBelowMinPorts;
    };
    expect(withExtra(expected)).toBe(0);
    if (expected > 0) expect(withExtra(expected - 1)).toBeGreaterThan(0);
    return r;
  }

  it('equal sizes: ceil(unplaced / floor(64512 / P))', () => {
    const r = exact({ spec: spec(), endpoints: eps(2000) }, DEFAULT_RULE, 1);
    expect(r.status.minExtraNatIpsNeeded).toBe(1);
    expect(r.changes.filter((c) => c.kind === 'UNMAPPED')).toHaveLength(992);
    exact({ spec: spec({ minPortsPerVm: 4096 }), endpoints: eps(100) }, DEFAULT_RULE, 6); // 85 left, 15 per IP
    exact({ spec: spec({ minPortsPerVm: 32768 }), endpoints: eps(10) }, DEFAULT_RULE, 9);
    exact({ spec: spec({ natIps: [] }), endpoints: eps(3000) }, DEFAULT_RULE, 3);
  });

  it('mixed sizes on a partly used IP', () => {
    // 60 alias endpoints (1,024) take 61,440 ports; 3,072 left hold 48 of the 500 at 64; 452 left -> 1 IP
    exact({ spec: spec(), endpoints: [...eps(60, true, 'a-'), ...eps(500)] }, DEFAULT_RULE, 1);
    // 70 alias endpoints: 63 fit, 7 x 1,024 + 500 x 64 = 39,168 ports -> 1 IP
    exact({ spec: spec(), endpoints: [...eps(70, true, 'a-'), ...eps(500)] }, DEFAULT_RULE, 1);
    // 130 alias: 63 fit, 67 left need 2 IPs (63 + 4, the second holding also the 500 x 64)
    exact({ spec: spec(), endpoints: [...eps(130, true, 'a-'), ...eps(500)] }, DEFAULT_RULE, 2);
  });

  it('rules count on their own IPs; the gateway figure is the default rule one', () => {
    const rule: AllocatorRule = { ruleNumber: 7, activeIps: ['192.0.2.1'], drainIps: [] };
    const input = { spec: spec({ minPortsPerVm: 4096, natIps: ips(3), extraRules: [rule] }), endpoints: eps(40) };
    const r = exact(input, 7, 2); // 25 left on rule 7 -> 2 IPs of 15
    exact(input, DEFAULT_RULE, 0);
    expect(r.status.minExtraNatIpsNeeded).toBe(0);
    expect(r.status.endpointsWithMappings).toBe(15);
    expect(r.status.endpointsWithoutMappings).toBe(25);
  });

  it('dynamic: endpoints of different sizes on quarantined-fragmented IPs', () => {
    const s = spec({ enableDynamicPortAllocation: true, minPortsPerVm: 8192, maxPortsPerVm: 32768, natIps: ips(1) });
    const a = run({ spec: s, endpoints: eps(7) });
    const grown = run({
      spec: s,
      endpoints: eps(7),
      previous: a.blocks,
      usage: [{ endpointId: 'vm-000000', ruleNumber: DEFAULT_RULE, portsInUse: 8000, at: T0 + 1 }],
      now: T0 + 2,
    });
    // vm-0 could not grow (no room): still 7 x 8,192
    expect(active(grown).every((b) => b.size === 8192)).toBe(true);
    exact({ spec: s, endpoints: [...eps(7), ...eps(5, true, 'z-')], previous: grown.blocks, now: T0 + 3 }, DEFAULT_RULE, 1);
    exact({ spec: s, endpoints: [...eps(7), ...eps(9, true, 'z-')], previous: grown.blocks, now: T0 + 3 }, DEFAULT_RULE, 2);
  });

  it('AUTO_ONLY: IPs to add, drained IPs to give back', () => {
    const auto = (natIps: string[], drainNatIps: string[] = []) => spec({ natIpAllocateOption: 'AUTO_ONLY', natIps, drainNatIps });
    const r0 = run({ spec: auto([]), endpoints: eps(2500) });
    expect(r0.status.autoIpsToAdd).toBe(3);
    const r1 = run({ spec: auto(ips(3)), endpoints: eps(2500), previous: r0.blocks, now: T0 + 1 });
    expect(r1.status.autoIpsToAdd).toBe(0);
    expect(r1.status.endpointsWithMappings).toBe(2500);
    const r2 = run({ spec: auto(ips(3).slice(0, 2), ['203.0.113.3']), endpoints: eps(1000), previous: r1.blocks, now: T0 + 2 });
    // IP 3 held endpoints 2016..2499, all gone (quarantined): it still holds blocks
    expect(r2.status.autoIpsToRelease).toEqual([]);
    const r3 = run({ spec: auto(ips(3).slice(0, 2), ['203.0.113.3']), endpoints: eps(1000), previous: r2.blocks, now: T0 + 2 + 1200_000 });
    expect(r3.status.autoIpsToRelease).toEqual(['203.0.113.3']);
  });
});

describe('determinism', () => {
  it('does not depend on the order of endpoints or previous blocks', () => {
    const s = spec({ natIps: ips(2), minPortsPerVm: 4096 });
    const a = run({ spec: s, endpoints: eps(40) });
    const input = { spec: spec({ natIps: ['203.0.113.2'], drainNatIps: ['203.0.113.1'], minPortsPerVm: 4096 }), endpoints: eps(35), previous: a.blocks, now: T0 + 9 };
    const r1 = run(input);
    const r2 = run({ ...input, endpoints: [...input.endpoints].reverse(), previous: [...input.previous].reverse() });
    expect(r2).toEqual(r1);
  });
});

describe('Allocator (incremental)', () => {
  it('adds and removes one endpoint without recomputing the rest', () => {
    const input: AllocatorInput = { spec: spec({ natIps: ips(2) }), endpoints: eps(1500), previous: [], foreign: [], usage: [], now: T0 };
    const a = new Allocator(input);
    expect(a.addEndpoint({ id: 'new-1', aliasRangesNated: false })).toBe(true);
    expect(a.blocksOf('new-1').map(at)).toEqual(['203.0.113.2:32512+64']) // 492 already there;
    expect(a.addEndpoint({ id: 'new-1', aliasRangesNated: false })).toBe(false);
    expect(a.removeEndpoint('vm-000003')).toBe(true);
    expect(a.blocksOf('vm-000003')).toEqual([expect.objectContaining({ state: 'QUARANTINE', portLo: 1024 + 3 * 64 })]);
    const r = a.result();
    expect(verifyAllocation({ ...input, endpoints: [...eps(1500).filter((e) => e.id !== 'vm-000003'), { id: 'new-1', aliasRangesNated: false }] }, r)).toEqual([]);
    expect(r.changes.find((c) => c.endpointId === 'new-1')?.kind).toBe('ADDED');
    // same answer as a full run from the same state
    const base = allocate(input);
    const again = allocate({
      ...input,
      endpoints: [...eps(1500).filter((e) => e.id !== 'vm-000003'), { id: 'new-1', aliasRangesNated: false }],
      previous: base.blocks,
    });
    expect(again.blocks).toEqual(r.blocks);
  });
});

describe('source-based rules', () => {
  const src: AllocatorRule = { ruleNumber: 10, activeIps: ['198.51.100.1'], drainIps: [], source: true };

  it('serve only the endpoints they match; status counts only those', () => {
    const [a, b] = eps(2);
    const r = run({ spec: spec({ extraRules: [src] }), endpoints: [{ ...a, sourceRules: [10] }, b] });
    expect(active(r, 10).map((x) => x.endpointId)).toEqual([a.id]);
    expect(active(r).map((x) => x.endpointId)).toEqual([a.id, b.id]);
    expect(r.status.endpointsWithMappings).toBe(2);
    const st = r.status.rules.find((x) => x.ruleNumber === 10)!;
    expect(st).toMatchObject({ source: true, endpointsWithMappings: 1, endpointsWithoutMappings: 0, minExtraIpsNeeded: 0 });
  });

  it('an endpoint the rule stops matching releases its block (quarantined), the others stay put', () => {
    const [a, b] = eps(2);
    const first = run({ spec: spec({ extraRules: [src] }), endpoints: [{ ...a, sourceRules: [10] }, { ...b, sourceRules: [10] }] });
    const next = run({ spec: spec({ extraRules: [src] }), endpoints: [a, { ...b, sourceRules: [10] }], previous: first.blocks, now: T0 + 1000 });
    expect(of(next, a.id).filter((x) => x.ruleNumber === 10).map((x) => x.state)).toEqual(['QUARANTINE']);
    expect(next.changes).toContainEqual(expect.objectContaining({ endpointId: a.id, ruleNumber: 10, kind: 'RELEASED', breaksConnections: true }));
    expect(active(next, 10).map(at)).toEqual(active(first, 10).filter((x) => x.endpointId === b.id).map(at));
  });

  it('Allocator.addEndpoint places only on the rules that serve it', () => {
    const al = new Allocator({ spec: spec({ extraRules: [src] }), endpoints: [], previous: [], foreign: [], usage: [], now: T0 });
    expect(al.addEndpoint({ id: 'x', aliasRangesNated: false })).toBe(true);
    expect(al.blocksOf('x').map((x) => x.ruleNumber)).toEqual([DEFAULT_RULE]);
    expect(al.addEndpoint({ id: 'y', aliasRangesNated: false, sourceRules: [10] })).toBe(true);
    expect(al.blocksOf('y').map((x) => x.ruleNumber)).toEqual([DEFAULT_RULE, 10]);
  });
});
