import fc from 'fast-check';
import { Allocator, DEFAULT_RULE, allocate, type AllocationResult, type AllocatorEndpoint, type AllocatorInput, type Block } from './index';

const T0 = 1_800_000_000_000;
const IDS = Array.from({ length: 14 }, (_, i) => `vm-${String(i).padStart(2, '0')}`);
const text = (b: Block) => JSON.stringify([b.natIp, b.portLo, b.size, b.endpointId, b.ruleNumber, b.state, b.since, b.until ?? null, b.cut === true]);
const sorted = (bs: Block[]) => bs.map(text).sort();

/** Static allocation, a source rule some endpoints match: 512 ports (1,024 with NATed alias ranges), or 16,384 (room for 3 per IP: shortages). */
const input = (minPortsPerVm: number, endpoints: AllocatorEndpoint[], previous: Block[], now: number): AllocatorInput => ({
  spec: {
    minPortsPerVm,
    maxPortsPerVm: 65536,
    enableDynamicPortAllocation: false,
    natIpAllocateOption: 'MANUAL_ONLY',
    idleTimeoutsSec: [30, 30, 1200, 30, 30],
    rules: [
      { ruleNumber: DEFAULT_RULE, activeIps: ['203.0.113.1', '203.0.113.2'], drainIps: [] },
      { ruleNumber: 7, source: true, activeIps: ['203.0.113.9'], drainIps: [] },
    ],
  },
  endpoints: [...endpoints].sort((a, b) => (a.id < b.id ? -1 : 1)),
  previous,
  foreign: [],
  usage: [],
  now,
});

const endpointArb = (id: string): fc.Arbitrary<AllocatorEndpoint> =>
  fc.record({ id: fc.constant(id), aliasRangesNated: fc.boolean(), source: fc.boolean() }).map(({ source, ...e }) => (source ? { ...e, sourceRules: [7] } : e));
/** Steps of endpoint writes: each id enters (an endpoint) or leaves (null) the scope; some steps wait past the quarantine. */
const stepsArb = fc.array(
  fc.record({
    writes: fc.array(fc.constantFrom(...IDS).chain((id) => fc.option(endpointArb(id), { nil: null }).map((e) => ({ id, e }))), { maxLength: 4 }),
    ms: fc.constantFrom(1000, 1000, 1000, 1_300_000),
  }),
  { maxLength: 8 },
);

describe('Allocator.update', () => {
  it('gives, step after step, the blocks and status of a run from scratch on the blocks it gave last, or undefined', () => {
    fc.assert(
      fc.property(fc.constantFrom(512, 16384), fc.subarray(IDS).chain((ids) => fc.tuple(...ids.map(endpointArb))), stepsArb, (min, initial, steps) => {
        let now = T0;
        const scope = new Map(initial.map((e) => [e.id, e]));
        let kept: Allocator | undefined = new Allocator(input(min, [...scope.values()], [], now));
        let last: AllocationResult = kept.result();
        let blocks = last.blocks;
        for (const { writes, ms } of steps) {
          now += ms;
          const gone: string[] = [];
          const added: AllocatorEndpoint[] = [];
          let replaced = false; // the allocator takes an endpoint changed in scope in full
          const prior = new Map(scope);
          for (const { id, e } of writes) {
            if (e) scope.set(id, e);
            else scope.delete(id);
          }
          // The allocator's view of a step: every id written, once, as it ends (a replace is the full path's).
          for (const id of new Set(writes.map((w) => w.id))) {
            const had = prior.has(id);
            const is = scope.get(id);
            if (had && !is) gone.push(id);
            if (!had && is) added.push(is);
            if (had && is && JSON.stringify(prior.get(id)) !== JSON.stringify(is)) replaced = true;
          }
          const scratch = allocate(input(min, [...scope.values()], blocks, now));
          const u = kept && !replaced ? kept.update(now, gone, added, last.status) : undefined;
          if (u) {
            const before = new Map(blocks.map((b) => [text(b), b]));
            for (const b of u.removed) expect(before.delete(text(b))).toBe(true);
            for (const b of u.added) before.set(text(b), b);
            expect(sorted([...before.values()])).toEqual(sorted(scratch.blocks));
            expect(u.status).toEqual(scratch.status);
            last = { blocks: [...before.values()], changes: [], status: u.status };
          } else {
            kept = new Allocator(input(min, [...scope.values()], blocks, now));
            last = kept.result();
            expect(sorted(last.blocks)).toEqual(sorted(scratch.blocks));
          }
          blocks = last.blocks;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('an allocator kept under churn (Allocator.update)', () => {
  /** One update of the kept allocator, applied to `blocks` (by text); throws when it declines. */
  const step = (kept: Allocator, blocks: Map<string, Block>, now: number, gone: string[], added: AllocatorEndpoint[], last: AllocationResult, at: string): AllocationResult => {
    const u = kept.update(now, gone, added, last.status);
    if (!u) throw new Error(`update declined at ${at}`);
    for (const b of u.removed) expect(blocks.delete(text(b))).toBe(true);
    for (const b of u.added) blocks.set(text(b), b);
    return { blocks: [...blocks.values()], changes: [], status: u.status };
  };
  /** The kept allocator's blocks and status are a run from scratch's on the same scope. */
  const expectScratch = (min: number, live: AllocatorEndpoint[], last: AllocationResult, now: number) => {
    const scratch = allocate(input(min, live, last.blocks, now));
    expect(sorted(last.blocks)).toEqual(sorted(scratch.blocks));
    expect(last.status).toEqual(scratch.status);
  };

  it('holds as many endpoint indexes as endpoints at once, not one per endpoint it ever saw', () => {
    // 64 ports, 2 IPs: 2,016 blocks, room for 20 endpoints and 1,500 quarantined (1,200 s) blocks
    let now = T0;
    const ep = (n: number): AllocatorEndpoint => ({ id: `ep-${String(n).padStart(5, '0')}`, aliasRangesNated: false });
    const live = Array.from({ length: 20 }, (_, n) => ep(n));
    const kept = new Allocator(input(64, live, [], now));
    let last = kept.result();
    const blocks = new Map(last.blocks.map((b) => [text(b), b]));
    for (let n = 20; n < 1520; n++) {
      now += 100;
      const gone = live.shift()!;
      live.push(ep(n));
      last = step(kept, blocks, now, [gone.id], [ep(n)], last, `step ${n}`);
      if (n % 500 === 0 || n === 1519) expectScratch(64, live, last, now);
    }
    // before indexes were reused: 1,520 (every endpoint ever added)
    expect(kept.footprint.indexes).toBeLessThanOrEqual(21);
    // one QUARANTINE block per endpoint removed, all live (1,200 s): state, not a leak
    expect(kept.footprint.held).toBe(1500);
  });

  it('drops the held blocks its endpoints took back: remove and re-add cycles leave it bounded', () => {
    let now = T0;
    const live = Array.from({ length: 10 }, (_, n): AllocatorEndpoint => ({ id: `vm-${n}`, aliasRangesNated: n % 3 === 0 }));
    const kept = new Allocator(input(512, live, [], now));
    let last = kept.result();
    const blocks = new Map(last.blocks.map((b) => [text(b), b]));
    for (let cycle = 0; cycle < 1000; cycle++) {
      const e = live[cycle % live.length];
      for (const [gone, added] of [
        [[e.id], []],
        [[], [e]],
      ] as [string[], AllocatorEndpoint[]][]) {
        now += 1000;
        last = step(kept, blocks, now, gone, added, last, `cycle ${cycle}`);
      }
      if (cycle % 250 === 0 || cycle === 999) expectScratch(512, live, last, now);
    }
    // every re-added endpoint took its own quarantined block back (un-release): nothing is held
    expect(last.blocks.filter((b) => b.state !== 'ACTIVE')).toEqual([]);
    // before dead entries were dropped: 1,000 of each (one per removal), and 10 owners
    expect(kept.footprint.held).toBeLessThanOrEqual(2);
    expect(kept.footprint.quarantineOwners).toBeLessThanOrEqual(1);
    expect(kept.footprint.indexes).toBe(10);
  });
});
