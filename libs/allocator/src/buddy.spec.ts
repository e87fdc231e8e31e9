import * as fc from 'fast-check';
import { BuddyPool, SPACE } from './buddy';
import { blocksPerIp, freshIpsNeeded } from './ports';

describe('BuddyPool', () => {
  it.each(Array.from({ length: 16 }, (_, k) => k))('holds exactly floor(64512 / 2^%i) blocks, lowest first', (k) => {
    for (const leaf of [0, k]) {
      const pool = new BuddyPool(leaf);
      const offs: number[] = [];
      for (let off = pool.alloc(k); off >= 0; off = pool.alloc(k)) offs.push(off);
      expect(offs.length).toBe(blocksPerIp(2 ** k));
      expect(offs).toEqual(offs.map((_, i) => i * 2 ** k));
      expect(offs.every((o) => o + 2 ** k <= SPACE)).toBe(true);
    }
  });

  it('releases, merges buddies and reserves given blocks', () => {
    const pool = new BuddyPool(6);
    expect(pool.alloc(6)).toBe(0);
    expect(pool.alloc(6)).toBe(64);
    expect(pool.isFree(0, 7)).toBe(false);
    pool.release(0, 6);
    expect(pool.isFree(0, 6)).toBe(true);
    expect(pool.tryReserve(0, 7)).toBe(false);
    pool.release(64, 6);
    expect(pool.tryReserve(0, 7)).toBe(true);
    expect(pool.used).toBe(128);
    // release as a whole what was reserved in parts
    expect(pool.tryReserve(128, 6)).toBe(true);
    expect(pool.tryReserve(192, 6)).toBe(true);
    pool.release(128, 7);
    expect(pool.isFree(128, 7)).toBe(true);
    expect(pool.tryReserve(192, 6)).toBe(true);
    expect(pool.alloc(6)).toBe(128);
    expect(pool.free).toBe(SPACE - 256);
  });

  it('reservePieces takes only what is free', () => {
    const pool = new BuddyPool(0);
    expect(pool.tryReserve(64, 6)).toBe(true);
    const pieces: [number, number][] = [];
    expect(pool.reservePieces(0, 8, (o, k) => pieces.push([o, k]))).toBe(192);
    expect(pieces).toEqual([
      [0, 6],
      [128, 7],
    ]);
    expect(pool.isFree(0, 0)).toBe(false);
    expect(pool.alloc(8)).toBe(256);
  });

  it('agrees with a port bitmap under random operations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ op: fc.constantFrom('alloc', 'reserve', 'release'), k: fc.integer({ min: 2, max: 15 }), at: fc.nat(1000) }), {
          maxLength: 60,
        }),
        (ops) => {
          const pool = new BuddyPool(2);
          const used = new Uint8Array(SPACE);
          const held: [number, number][] = [];
          const free = (o: number, k: number) => o + 2 ** k <= SPACE && used.subarray(o, o + 2 ** k).every((x) => x === 0);
          for (const { op, k, at } of ops) {
            if (op === 'alloc') {
              let expected = -1;
              for (let o = 0; o + 2 ** k <= SPACE; o += 2 ** k) {
                if (free(o, k)) {
                  expected = o;
                  break;
                }
              }
              const got = pool.alloc(k);
              expect(got).toBe(expected);
              if (got >= 0) {
                used.fill(1, got, got + 2 ** k);
                held.push([got, k]);
              }
            } else if (op === 'reserve') {
              const o = (at * 2 ** k) % 65536;
              const ok = free(o, k);
              expect(pool.isFree(o, k)).toBe(ok);
              expect(pool.tryReserve(o, k)).toBe(ok);
              if (ok) {
                used.fill(1, o, o + 2 ** k);
                held.push([o, k]);
              }
            } else if (held.length > 0) {
              const [o, kk] = held.splice(at % held.length, 1)[0];
              pool.release(o, kk);
              used.fill(0, o, o + 2 ** kk);
            }
            expect(pool.used).toBe(used.reduce((a, b) => a + b, 0));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('freshIpsNeeded', () => {
  it('is ceil(n / floor(64512 / P)) for equal sizes', () => {
    expect(freshIpsNeeded(counts({ 6: 1008 }))).toBe(1);
    expect(freshIpsNeeded(counts({ 6: 1009 }))).toBe(2);
    expect(freshIpsNeeded(counts({ 12: 85 }))).toBe(6);
    expect(freshIpsNeeded(counts({ 15: 9 }))).toBe(9);
    expect(freshIpsNeeded(counts({}))).toBe(0);
  });

  it('equals first fit, larger blocks first, on empty buddy trees', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(40), { minLength: 16, maxLength: 16 }), (raw) => {
        const c = raw.map((x, k) => (k < 5 ? 0 : x));
        const pools: BuddyPool[] = [];
        for (let k = 15; k >= 0; k--) {
          for (let i = 0; i < c[k]; i++) {
            let placed = false;
            for (const p of pools) if ((placed = p.alloc(k) >= 0)) break;
            if (!placed) {
              const p = new BuddyPool(5);
              pools.push(p);
              expect(p.alloc(k)).toBeGreaterThanOrEqual(0);
            }
          }
        }
        expect(freshIpsNeeded(c)).toBe(pools.length);
      }),
      { numRuns: 200 },
    );
  });
});

function counts(m: Record<number, number>): number[] {
  const c = new Array<number>(16).fill(0);
  for (const [k, v] of Object.entries(m)) c[Number(k)] = v;
  return c;
}
