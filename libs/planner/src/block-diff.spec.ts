import fc from 'fast-check';
import type { Block } from '@natplane/allocator';
import { blockDiff, reuseUnchanged } from './block-diff';
import { fromBlock } from './planner';
import type { StoredBlock } from './types';

const Q = 120;
const IPS = ['203.0.113.1', '203.0.113.2', '198.51.100.7'];
const IDS = ['e1', 'e2', 'e3', 'e4'];

/** A block at place `slot` (a NAT IP and an aligned 64-port range) with random holder and state. */
const blockAt = (slot: number): fc.Arbitrary<Block> =>
  fc.record({
    endpointId: fc.constantFrom(...IDS),
    ruleNumber: fc.constantFrom(-1, 10),
    state: fc.constantFrom('ACTIVE' as const, 'DRAIN' as const, 'QUARANTINE' as const),
    until: fc.constantFrom(undefined, 1_000_000, 2_000_000),
    cut: fc.constantFrom(undefined, true as const),
  }).map((r) => ({
    endpointId: r.endpointId,
    ruleNumber: r.ruleNumber,
    natIp: IPS[slot % IPS.length],
    portLo: 1024 + 64 * Math.floor(slot / IPS.length),
    size: 64,
    state: r.state,
    since: 0,
    ...(r.state === 'QUARANTINE' ? { until: r.until ?? 1_000_000 } : {}),
    ...(r.state === 'QUARANTINE' && r.cut ? { cut: true as const } : {}),
  }));

/** Blocks at distinct places chosen from 0..29. */
const blocksArb = fc.uniqueArray(fc.integer({ min: 0, max: 29 }), { maxLength: 20 }).chain((slots) => fc.tuple(...slots.map(blockAt)));

/** A stored block as content (object identity and since aside). */
const content = (b: StoredBlock) => JSON.stringify([b.natIp, b.portLo, b.portHi, b.endpointId, b.ruleNumber, b.state, b.until?.getTime() ?? null, b.cut === true, b.quarantineSec]);
const sorted = (bs: StoredBlock[]) => bs.map(content).sort();

describe('block difference', () => {
  it('from the kept prior (reuseUnchanged) equals the one from what is stored (blockDiff), and applying it gives the new blocks', () => {
    fc.assert(
      fc.property(blocksArb, blocksArb, (prior, next) => {
        const stored: StoredBlock[] = prior.map((b) => ({ ...fromBlock(b), quarantineSec: Q }));
        const scratch = blockDiff(stored, next, Q);
        const kept = reuseUnchanged(prior, stored, next, Q);
        expect(sorted(kept.removed)).toEqual(sorted(scratch.removed));
        expect(sorted(kept.added)).toEqual(sorted(scratch.added));
        // The stored blocks minus the removed plus the added are the allocator's blocks.
        const removed = new Set(kept.removed);
        const applied = stored.filter((b) => !removed.has(b)).concat(kept.added);
        const wanted = next.map((b) => ({ ...fromBlock(b), quarantineSec: Q }));
        expect(sorted(applied)).toEqual(sorted(wanted));
        expect(sorted(kept.next)).toEqual(sorted(wanted));
        // An unchanged block keeps its stored object (nothing is written for it).
        for (const b of kept.next) if (!kept.added.includes(b)) expect(stored).toContain(b);
      }),
      { numRuns: 300 },
    );
  });

  it('a block stored with another quarantine length is rewritten', () => {
    const b: Block = { endpointId: 'e1', ruleNumber: -1, natIp: IPS[0], portLo: 1024, size: 64, state: 'ACTIVE', since: 0 };
    const d = blockDiff([{ ...fromBlock(b), quarantineSec: 300 }], [b], Q);
    expect(d.removed).toHaveLength(1);
    expect(d.added).toEqual([{ ...fromBlock(b), quarantineSec: Q }]);
  });
});
