import fc from 'fast-check';
import {
  cidr,
  cidrContains,
  cidrContainsCidr,
  cidrRange,
  cidrsOverlap,
  findOverlappingPairs,
  firstFreeAddress,
  formatCidr,
  formatIpv4,
  hostCount,
  isHostAddressOf,
  networkOf,
  parseCidr,
  parseIpv4,
} from './cidr';

const uint32 = fc.nat({ max: 2 ** 32 - 1 });
const block = fc.record({ ip: uint32, prefix: fc.integer({ min: 0, max: 32 }) }).map(({ ip, prefix }) => ({
  network: networkOf(ip, prefix),
  prefix,
}));

describe('parseIpv4 / formatIpv4', () => {
  it.each([
    ['0.0.0.0', 0],
    ['255.255.255.255', 2 ** 32 - 1],
    ['10.0.0.1', 0x0a000001],
    ['192.168.1.200', 0xc0a801c8],
  ])('parses %s', (text, value) => {
    expect(parseIpv4(text)).toEqual({ ok: true, value });
    expect(formatIpv4(value)).toBe(text);
  });

  it.each([
    '',
    '10.0.0',
    '10.1',
    '10',
    '10.0.0.0.0',
    '010.0.0.1',
    '10.0.0.01',
    '0x0a.0.0.1',
    '256.0.0.1',
    '1.2.3.1000',
    ' 10.0.0.1',
    '10.0.0.1 ',
    '10..0.1',
    '+1.2.3.4',
    '1.2.3.-4',
    '1e1.0.0.1',
    '１.2.3.4',
  ])('rejects %j', (text) => {
    const parsed = parseIpv4(text);
    expect(parsed.ok).toBe(false);
  });

  it('agrees with the plain definition on strings of digits and dots', () => {
    // four parts split at dots, each 0 or 1-3 digits without a leading zero, each at most 255
    const reference = (text: string): number | null => {
      const parts = text.split('.');
      if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return null;
      return parts.reduce((v, p) => v * 256 + Number(p), 0);
    };
    const text = fc.array(fc.constantFrom('0', '1', '2', '5', '9', '.', 'x'), { maxLength: 16 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(text, (t) => {
        const parsed = parseIpv4(t);
        expect(parsed.ok ? parsed.value : null).toBe(reference(t));
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips every uint32', () => {
    fc.assert(fc.property(uint32, (n) => parseIpv4(formatIpv4(n)).ok && (parseIpv4(formatIpv4(n)) as { value: number }).value === n));
  });

  it('formatIpv4 refuses non-uint32 values', () => {
    expect(() => formatIpv4(-1)).toThrow(RangeError);
    expect(() => formatIpv4(2 ** 32)).toThrow(RangeError);
    expect(() => formatIpv4(1.5)).toThrow(RangeError);
  });
});

describe('parseCidr', () => {
  it('parses valid blocks', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ ok: true, value: { network: 0x0a000000, prefix: 8 } });
    expect(parseCidr('0.0.0.0/0')).toEqual({ ok: true, value: { network: 0, prefix: 0 } });
    expect(parseCidr('192.0.2.7/32')).toEqual({ ok: true, value: { network: 0xc0000207, prefix: 32 } });
  });

  it('rejects host bits set and suggests the network', () => {
    expect(parseCidr('10.0.0.1/24')).toEqual({ ok: false, message: 'host bits set; did you mean 10.0.0.0/24' });
    expect(parseCidr('255.255.255.255/0')).toEqual({ ok: false, message: 'host bits set; did you mean 0.0.0.0/0' });
  });

  it.each(['10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/-1', '10.0.0/24', '10.0.0.0/24/1', '/24', '10.0.0.0/ 24'])(
    'rejects %j',
    (text) => {
      const parsed = parseCidr(text);
      expect(parsed).toEqual({ ok: false, message: `'${text}' is not an IPv4 CIDR like 10.0.0.0/24` });
    },
  );

  it('round-trips every valid block', () => {
    fc.assert(fc.property(block, (b) => formatCidr(cidr(formatCidr(b))) === formatCidr(b)));
  });

  it('cidr() throws on invalid input', () => {
    expect(() => cidr('10.0.0.1/24')).toThrow('host bits set');
  });
});

describe('ranges, containment and overlap', () => {
  it('computes ranges', () => {
    expect(cidrRange(cidr('10.0.0.0/24'))).toEqual([0x0a000000, 0x0a0000ff]);
    expect(cidrRange(cidr('0.0.0.0/0'))).toEqual([0, 2 ** 32 - 1]);
    expect(cidrRange(cidr('1.2.3.4/32'))).toEqual([0x01020304, 0x01020304]);
  });

  it('contains', () => {
    const b = cidr('10.1.0.0/16');
    expect(cidrContains(b, (parseIpv4('10.1.255.255') as { value: number }).value)).toBe(true);
    expect(cidrContains(b, (parseIpv4('10.2.0.0') as { value: number }).value)).toBe(false);
    expect(cidrContains(cidr('0.0.0.0/0'), 2 ** 32 - 1)).toBe(true);
  });

  it('overlaps and cidrContainsCidr', () => {
    expect(cidrsOverlap(cidr('10.0.0.0/8'), cidr('10.5.0.0/16'))).toBe(true);
    expect(cidrsOverlap(cidr('10.0.0.0/24'), cidr('10.0.1.0/24'))).toBe(false);
    expect(cidrContainsCidr(cidr('10.0.0.0/8'), cidr('10.5.0.0/16'))).toBe(true);
    expect(cidrContainsCidr(cidr('10.5.0.0/16'), cidr('10.0.0.0/8'))).toBe(false);
    expect(cidrContainsCidr(cidr('10.5.0.0/16'), cidr('10.5.0.0/16'))).toBe(true);
  });

  it('two blocks overlap exactly when one contains the other', () => {
    fc.assert(
      fc.property(block, block, (a, b) => cidrsOverlap(a, b) === (cidrContainsCidr(a, b) || cidrContainsCidr(b, a))),
    );
  });

  it('contains agrees with the network of the address', () => {
    fc.assert(fc.property(block, uint32, (b, ip) => cidrContains(b, ip) === (networkOf(ip, b.prefix) === b.network)));
  });
});

describe('findOverlappingPairs', () => {
  it('finds nested and equal blocks', () => {
    const list = ['10.0.0.0/24', '10.0.1.0/24', '10.0.0.0/16', '192.168.0.0/16', '10.0.1.0/24'].map(cidr);
    expect(findOverlappingPairs(list)).toEqual([
      [0, 2],
      [1, 2],
      [1, 4],
      [2, 4],
    ]);
    expect(findOverlappingPairs([])).toEqual([]);
  });

  it('agrees with the quadratic definition', () => {
    fc.assert(
      fc.property(fc.array(block, { maxLength: 25 }), (blocks) => {
        const expected: Array<[number, number]> = [];
        for (let i = 0; i < blocks.length; i++) {
          for (let j = i + 1; j < blocks.length; j++) if (cidrsOverlap(blocks[i], blocks[j])) expected.push([i, j]);
        }
        expect(findOverlappingPairs(blocks)).toEqual(expected);
      }),
    );
  });

  it('agrees on small dense address spaces too', () => {
    const small = fc
      .record({ ip: fc.nat({ max: 255 }), prefix: fc.integer({ min: 24, max: 32 }) })
      .map(({ ip, prefix }) => ({ network: networkOf(0x0a000000 + ip, prefix), prefix }));
    fc.assert(
      fc.property(fc.array(small, { maxLength: 30 }), (blocks) => {
        const pairs = findOverlappingPairs(blocks);
        let count = 0;
        for (let i = 0; i < blocks.length; i++) {
          for (let j = i + 1; j < blocks.length; j++) if (cidrsOverlap(blocks[i], blocks[j])) count++;
        }
        expect(pairs).toHaveLength(count);
        for (const [i, j] of pairs) expect(cidrsOverlap(blocks[i], blocks[j])).toBe(true);
      }),
    );
  });
});

describe('pool addresses', () => {
  const ip = (text: string) => (parseIpv4(text) as { value: number }).value;

  it('skips network and broadcast below /31', () => {
    const pool = [cidr('203.0.113.0/30')];
    expect(hostCount(pool[0])).toBe(2);
    expect(firstFreeAddress(pool, new Set())).toBe(ip('203.0.113.1'));
    expect(firstFreeAddress(pool, new Set([ip('203.0.113.1')]))).toBe(ip('203.0.113.2'));
    expect(firstFreeAddress(pool, new Set([ip('203.0.113.1'), ip('203.0.113.2')]))).toBeUndefined();
  });

  it('uses both addresses of a /31 and the one of a /32', () => {
    expect(hostCount(cidr('198.51.100.0/31'))).toBe(2);
    expect(firstFreeAddress([cidr('198.51.100.0/31')], new Set())).toBe(ip('198.51.100.0'));
    expect(firstFreeAddress([cidr('198.51.100.9/32')], new Set())).toBe(ip('198.51.100.9'));
  });

  it('moves on to the next block when one is full', () => {
    const pool = [cidr('198.51.100.9/32'), cidr('203.0.113.0/24')];
    expect(firstFreeAddress(pool, new Set([ip('198.51.100.9')]))).toBe(ip('203.0.113.1'));
    expect(firstFreeAddress([], new Set())).toBeUndefined();
  });

  it('isHostAddressOf', () => {
    const pool = [cidr('203.0.113.0/24')];
    expect(isHostAddressOf(pool, ip('203.0.113.0'))).toBe(false);
    expect(isHostAddressOf(pool, ip('203.0.113.255'))).toBe(false);
    expect(isHostAddressOf(pool, ip('203.0.113.77'))).toBe(true);
    expect(isHostAddressOf(pool, ip('203.0.114.1'))).toBe(false);
  });

  it('the free address is a host address of the pool and not taken', () => {
    const small = fc
      .record({ ip: fc.nat({ max: 63 }), prefix: fc.integer({ min: 27, max: 32 }) })
      .map(({ ip: i, prefix }) => ({ network: networkOf(0xcb007100 + i, prefix), prefix }));
    fc.assert(
      fc.property(fc.array(small, { maxLength: 4 }), fc.uniqueArray(fc.nat({ max: 63 })), (pool, offsets) => {
        const taken = new Set(offsets.map((o) => 0xcb007100 + o));
        const free = firstFreeAddress(pool, taken);
        const anyFree = pool.some((b) => {
          for (let a = 0xcb007100; a < 0xcb007140; a++) if (isHostAddressOf([b], a) && !taken.has(a)) return true;
          return false;
        });
        if (free === undefined) return !anyFree;
        return isHostAddressOf(pool, free) && !taken.has(free);
      }),
    );
  });
});
