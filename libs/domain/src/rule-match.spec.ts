import fc from 'fast-check';
import { formatIpv4, networkOf } from './cidr';
import { formatRuleMatch, parseRuleMatch } from './rule-match';

describe('parseRuleMatch: valid expressions', () => {
  it.each([
    ["inIpRange(destination.ip, '1.1.0.0/16')", ['1.1.0.0/16']],
    ["destination.ip == '8.8.8.8'", ['8.8.8.8/32']],
    [`destination.ip == "8.8.8.8"`, ['8.8.8.8/32']],
    [
      "inIpRange(destination.ip, '1.1.0.0/16') || inIpRange(destination.ip, \"2.2.0.0/16\") || destination.ip == '9.9.9.9'",
      ['1.1.0.0/16', '2.2.0.0/16', '9.9.9.9/32'],
    ],
    ["  inIpRange ( destination . ip , '0.0.0.0/0' )\n||\tdestination.ip=='1.2.3.4'  ", ['0.0.0.0/0', '1.2.3.4/32']],
    ["destination.ip=='1.2.3.4'||destination.ip=='1.2.3.4'", ['1.2.3.4/32', '1.2.3.4/32']],
  ])('%s', (text, destinations) => {
    expect(parseRuleMatch(text)).toEqual({ ok: true, side: 'destination', destinations, sources: [] });
  });
});

describe('parseRuleMatch: source-based rules', () => {
  it.each([
    ["inIpRange(source.ip, '192.168.1.0/24')", ['192.168.1.0/24']],
    ["source.ip == '10.1.1.2'", ['10.1.1.2/32']],
    [" source . ip=='10.1.1.2' || inIpRange( source.ip ,\"10.2.0.0/16\")", ['10.1.1.2/32', '10.2.0.0/16']],
  ])('%s', (text, sources) => {
    expect(parseRuleMatch(text)).toEqual({ ok: true, side: 'source', destinations: [], sources });
  });

  it.each([
    ["source.ip == '1.2.3.4' || destination.ip == '1.2.3.5'", 26, "expected source.ip, found 'destination': source and destination conditions cannot be combined in one rule"],
    ["inIpRange(destination.ip, '1.0.0.0/8') || inIpRange(source.ip, '2.0.0.0/8')", 52, "expected destination.ip, found 'source': source and destination conditions cannot be combined in one rule"],
    ["inIpRange(source.port, '1.0.0.0/8')", 17, "expected source.ip, found 'port'"],
    ["inIpRange(sources.ip, '1.0.0.0/8')", 10, "expected destination.ip or source.ip, found 'sources'"],
    ["source.ip == '1.2.3.4' || inIpRange(source.ip, '1.0.0.0/33')", 48, "expected a CIDR: '1.0.0.0/33' is not an IPv4 CIDR like 10.0.0.0/24"],
  ])('%j fails at %d', (text, position, message) => {
    expect(parseRuleMatch(text)).toEqual({ ok: false, position, message });
  });
});

describe('parseRuleMatch: errors name the position and what was expected', () => {
  it.each([
    ['', 0, "expected inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP' (or the same over source.ip) but the expression ended"],
    ['   ', 3, "expected inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP' (or the same over source.ip) but the expression ended"],
    ["inIpRange destination.ip, '1.0.0.0/8')", 10, "expected '(', found 'destination'"],
    ["inIpRange(destination.port, '1.0.0.0/8')", 22, "expected destination.ip, found 'port'"],
    ["inIpRange(dest.ip, '1.0.0.0/8')", 10, "expected destination.ip or source.ip, found 'dest'"],
    ["inIpRange(destination.ip '1.0.0.0/8')", 25, "expected ',', found '''"],
    ['inIpRange(destination.ip, 1.0.0.0/8)', 26, "expected a quoted CIDR, found '1'"],
    ["inIpRange(destination.ip, '1.0.0.0/8'", 37, "expected ')' but the expression ended"],
    ["inIpRange(destination.ip, '1.0.0.1/8')", 27, 'expected a CIDR: host bits set; did you mean 1.0.0.0/8'],
    ["inIpRange(destination.ip, '1.0.0.0')", 27, "expected a CIDR: '1.0.0.0' is not an IPv4 CIDR like 10.0.0.0/24"],
    ["inIpRange(destination.ip, '1.0.0.0/8)", 26, "unterminated string: expected a quoted CIDR closed by '"],
    ["destination.ip = '1.2.3.4'", 15, "expected '==', found '='"],
    ["destination.ip != '1.2.3.4'", 15, "expected '==', found '!'"],
    ["destination.ip == '1.2.3.0/24'", 19, "expected an IPv4 address: '1.2.3.0/24' is not an IPv4 address like 192.0.2.10"],
    ["destination.ip == '01.2.3.4'", 19, "expected an IPv4 address: '01.2.3.4' is not an IPv4 address like 192.0.2.10"],
    ["destination.ip == '1.2.3.4' ||", 30, "expected inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP' (or the same over source.ip) but the expression ended"],
    ["destination.ip == '1.2.3.4' && destination.ip == '1.2.3.5'", 28, "expected '||' or the end of the expression, found '&'"],
    ["destination.ip == '1.2.3.4' | destination.ip == '1.2.3.5'", 28, "expected '||' or the end of the expression, found '|'"],
    ["(destination.ip == '1.2.3.4')", 0, "expected inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP' (or the same over source.ip), found '('"],
    ["destination.ipx == '1.2.3.4'", 12, "expected destination.ip, found 'ipx'"],
    ["inIpRangeX(destination.ip, '1.0.0.0/8')", 0, "expected inIpRange(destination.ip, 'CIDR') or destination.ip == 'IP' (or the same over source.ip), found 'inIpRangeX'"],
  ])('%j fails at %d', (text, position, message) => {
    expect(parseRuleMatch(text)).toEqual({ ok: false, position, message });
  });
});

const octets = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
const ipText = octets.map((o) => o.join('.'));
const cidrText = fc
  .tuple(octets, fc.integer({ min: 0, max: 32 }))
  .map(([o, prefix]) => `${formatIpv4(networkOf(((o[0] * 256 + o[1]) * 256 + o[2]) * 256 + o[3], prefix))}/${prefix}`);
const ws = fc.stringMatching(/^[ \t\n]{0,2}$/);
const quote = fc.constantFrom("'", '"');

/** A valid term, written with random spacing and quotes, with the destination it stands for. */
const term = fc.oneof(
  fc.tuple(cidrText, quote, ws, ws, ws, ws).map(([c, q, a, b, d, e]) => ({
    text: `inIpRange${a}(${b}destination.ip${d},${e}${q}${c}${q}${a})`,
    destination: c,
  })),
  fc.tuple(ipText, quote, ws, ws).map(([ip, q, a, b]) => ({
    text: `destination${a}.${b}ip${a}==${b}${q}${ip}${q}`,
    destination: `${ip}/32`,
  })),
);

describe('parseRuleMatch: properties', () => {
  it('never throws; an error points inside the text (or at its end)', () => {
    const alphabet = fc.constantFrom(...`inIpRange(destination.ip,'"0123456789./=|) \t\nxyz&!`.split(''));
    const noisy = fc.oneof(fc.string({ unit: alphabet, maxLength: 80 }), fc.string({ maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }));
    fc.assert(
      fc.property(noisy, (text) => {
        const result = parseRuleMatch(text);
        if (!result.ok) {
          expect(result.position).toBeGreaterThanOrEqual(0);
          expect(result.position).toBeLessThanOrEqual(text.length);
          expect(result.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('valid expressions parse to their destinations', () => {
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 6 }), ws, ws, (terms, lead, trail) => {
        const text = lead + terms.map((t) => t.text).join(' || ') + trail;
        expect(parseRuleMatch(text)).toEqual({ ok: true, side: 'destination', destinations: terms.map((t) => t.destination), sources: [] });
      }),
    );
  });

  it('mutating a valid expression either still parses or fails inside the text', () => {
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 3 }), fc.nat(), fc.string({ maxLength: 3 }), (terms, at, insert) => {
        const valid = terms.map((t) => t.text).join('||');
        const cut = at % (valid.length + 1);
        const text = valid.slice(0, cut) + insert + valid.slice(cut + 1);
        const result = parseRuleMatch(text);
        if (!result.ok) expect(result.position).toBeLessThanOrEqual(text.length);
      }),
    );
  });

  it('formatRuleMatch round-trips', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(cidrText, ipText.map((ip) => `${ip}/32`)), { minLength: 1, maxLength: 6 }), (destinations) => {
        expect(parseRuleMatch(formatRuleMatch(destinations))).toEqual({ ok: true, side: 'destination', destinations, sources: [] });
        expect(parseRuleMatch(formatRuleMatch(destinations, 'source'))).toEqual({ ok: true, side: 'source', destinations: [], sources: destinations });
      }),
    );
  });
});
