import { forwardedRangeErrors, intersectCidrs, matchSourceRule } from './source-rules';
import { cidr, formatCidr, parseIpv4 } from './cidr';

describe('matchSourceRule', () => {
  const ep = { networkIp: '10.1.1.2', aliasRanges: ['10.2.1.0/24'], forwardedRanges: ['192.168.0.0/16'] };

  it('matches the part of a forwarded range the rule names', () => {
    expect(matchSourceRule(['192.168.1.0/24'], ep)).toEqual({ own: [], forwarded: ['192.168.1.0/24'] });
  });

  it('matches own addresses and the whole forwarded range under a wider rule', () => {
    expect(matchSourceRule(['10.0.0.0/8', '192.0.0.0/2'], ep)).toEqual({ own: ['10.1.1.2/32', '10.2.1.0/24'], forwarded: ['192.168.0.0/16'] });
  });

  it('matches nothing outside the endpoint', () => {
    expect(matchSourceRule(['172.16.0.0/12'], ep)).toBeUndefined();
    expect(matchSourceRule(['10.1.1.3/32'], ep)).toBeUndefined();
  });

  it('leaves out the primary address the gateway does not translate', () => {
    expect(matchSourceRule(['10.1.1.2/32'], { ...ep, networkIp: undefined })).toBeUndefined();
  });
});

describe('intersectCidrs', () => {
  it('keeps the more specific of each overlapping pair, disjoint and sorted', () => {
    const out = intersectCidrs([cidr('10.0.0.0/8'), cidr('10.1.0.0/16')], [cidr('10.1.2.0/24'), cidr('10.200.0.0/16'), cidr('11.0.0.0/8')]);
    expect(out.map(formatCidr)).toEqual(['10.1.2.0/24', '10.200.0.0/16']);
  });
});

describe('forwardedRangeErrors', () => {
  const ip = (parseIpv4('10.0.0.2') as { ok: true; value: number }).value;
  const alias = [{ ipCidrRange: '10.4.0.0/24' }];

  it('accepts disjoint ranges with canIpForward', () => {
    expect(forwardedRangeErrors(true, ['192.168.1.0/24', '192.168.2.0/24'], ip, alias)).toEqual([]);
    expect(forwardedRangeErrors(false, [], ip, alias)).toEqual([]);
  });

  it('names each wrong field', () => {
    expect(forwardedRangeErrors(false, ['192.168.1.0/24'], ip, alias)).toEqual([
      { field: 'forwardedIpRanges', message: 'requires canIpForward: true (the VM must be allowed to forward traffic)' },
    ]);
    expect(forwardedRangeErrors(true, ['192.168.1.1/24', 'x'], ip, alias).map((e) => e.field)).toEqual(['forwardedIpRanges[0]', 'forwardedIpRanges[1]']);
    expect(forwardedRangeErrors(true, ['192.168.0.0/16', '192.168.1.0/24'], ip, alias)).toEqual([
      { field: 'forwardedIpRanges[1]', message: 'overlaps forwardedIpRanges[0] 192.168.0.0/16' },
    ]);
    expect(forwardedRangeErrors(true, ['10.0.0.0/24'], ip, alias)).toEqual([
      { field: 'forwardedIpRanges[0]', message: "contains the endpoint's own networkIp: its own addresses are not forwarded" },
    ]);
    expect(forwardedRangeErrors(true, ['10.4.0.128/25'], ip, alias)).toEqual([
      { field: 'forwardedIpRanges[0]', message: "overlaps the endpoint's own aliasIpRanges[0] 10.4.0.0/24" },
    ]);
  });
});
