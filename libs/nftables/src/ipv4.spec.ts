import { disjointCidrs, formatCidr, parseCidr, parseIpv4 } from './ipv4';

describe('ipv4', () => {
  it('parses strict dotted quads only', () => {
    expect(parseIpv4('10.0.0.1')).toBe(0x0a000001);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['10.0.0', '10.0.0.01', '10.0.0.256', ' 10.0.0.1', '10.0.0.1/32', '']) expect(parseIpv4(bad)).toBeNull();
  });
  it('parses CIDRs, a bare address being /32, and refuses host bits unless lenient', () => {
    expect(parseCidr('10.1.0.0/16')).toEqual({ start: 0x0a010000, end: 0x0a01ffff, prefixLength: 16 });
    expect(formatCidr(parseCidr('203.0.113.7') as never)).toBe('203.0.113.7/32');
    expect(parseCidr('10.1.2.3/16')).toBeNull();
    expect(formatCidr(parseCidr('10.1.2.3/16', true) as never)).toBe('10.1.0.0/16');
    expect(parseCidr('0.0.0.0/0')?.end).toBe(0xffffffff);
    expect(parseCidr('10.0.0.0/33')).toBeNull();
  });
  it('keeps only the outermost of nested CIDRs', () => {
    const out = disjointCidrs(['10.1.0.0/16', '198.51.100.0/24', '10.0.0.0/8', '10.0.0.0/8'].map((c) => parseCidr(c) as never)).map(formatCidr);
    expect(out).toEqual(['10.0.0.0/8', '198.51.100.0/24']);
  });
});
