import { DEFAULT_RULE, HostEndpoint, HostGatewaySettings } from '@natplane/contracts';
import { EntryTable, OpList, describeEntries, endpointEntries, fromHex, gatewayEntries, idKey, ip4, opLine, sourceRuleEntries, tag, toHex } from './maps';

const settings = (rules: HostGatewaySettings['rules'], mapping: HostGatewaySettings['mapping'] = 'ENDPOINT_DEPENDENT'): HostGatewaySettings => ({
  id: 'g1',
  name: 'projects/p/natGateways/g1',
  mapping,
  timeouts: { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 31, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 32, tcpTimeWaitTimeoutSec: 120 },
  logging: { enable: false, filter: 'ALL' },
  rules,
});

/** The rule an address gets from the LPM entries, as the kernel looks it up: the longest prefix containing it. */
function lookup(entries: ReturnType<typeof describeEntries>, addr: string): number | undefined {
  const a = Buffer.from(ip4(addr), 'latin1').readUInt32BE(0);
  let best: { len: number; rule: number } | undefined;
  for (const e of entries) {
    const k = Buffer.from(e.key, 'hex');
    const len = k.readUInt32LE(0) - 32;
    const base = k.readUInt32BE(8);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if (((a & mask) >>> 0) !== base) continue;
    if (!best || len > best.len) best = { len, rule: Buffer.from(e.value as string, 'hex').readInt32LE(0) };
  }
  return best?.rule;
}

describe('gatewayEntries', () => {
  it('gives every address the first rule (ascending) whose destinations hold it, through longest-prefix lookups', () => {
    const entries = describeEntries(gatewayEntries(
      settings([
        { ruleNumber: 20, destinations: ['10.1.2.0/24'] },
        { ruleNumber: 10, destinations: ['10.0.0.0/8'] },
        { ruleNumber: 30, destinations: ['192.0.2.7/32', '10.1.0.0/16'] },
      ]),
      1,
    ));
    expect(lookup(entries, '10.1.2.3')).toBe(10); // inside rule 20's /24, but rule 10's /8 comes first
    expect(lookup(entries, '10.1.9.9')).toBe(10);
    expect(lookup(entries, '192.0.2.7')).toBe(30);
    expect(lookup(entries, '192.0.2.8')).toBeUndefined(); // the default rule
  });
});

describe('endpointEntries', () => {
  const e: HostEndpoint = {
    id: 'e1',
    name: 'projects/p/endpoints/e1',
    networkIp: '10.0.0.2',
    aliasRanges: ['10.8.0.0/24'],
    natPrimary: true,
    mappings: [{ ruleNumber: DEFAULT_RULE, active: { natIp: '203.0.113.5', portLo: 1024, portHi: 1087 }, drain: [{ natIp: '203.0.113.6', portLo: 2048, portHi: 2111 }] }],
  };
  it('keys sources by device and prefix, and writes the block with the gateway settings', () => {
    const out = describeEntries(endpointEntries(e, { slot: 7, gw: 2, settings: settings([], 'ENDPOINT_INDEPENDENT'), ifkey: 5, since: () => 1000 }));
    const src = out.filter((x) => x.map === 'np_src').map((x) => x.key);
    expect(src).toEqual(['40000000' + '05000000' + '0a000002', '38000000' + '05000000' + '0a080000']);
    expect(out.find((x) => x.map === 'np_named')?.key).toBe('05000000');
    const blk = Buffer.from(out.find((x) => x.map === 'np_blk')?.value as string, 'hex');
    expect(blk.subarray(0, 4).toString('hex')).toBe(toHex(ip4('203.0.113.5')));
    expect([blk.readUInt16LE(4), blk.readUInt16LE(6), blk.readUInt32LE(8), blk.readUInt32LE(12), blk.readUInt32LE(16)]).toEqual([1024, 1087, 1, 30, 31]);
    expect(Number(blk.readBigUInt64LE(32))).toBe(1000);
    expect(out.filter((x) => x.map === 'np_natip').map((x) => x.key)).toEqual(['cb007105', 'cb007106']);
    expect(out.find((x) => x.map === 'np_cnt')).toEqual({ map: 'np_cnt', key: '07000000' + 'ffffffff', value: null });
  });
});

describe('endpointEntries of a gateway whose unmatched flows PASS (Private NAT)', () => {
  const e: HostEndpoint = {
    id: 'e1',
    name: 'projects/p/endpoints/e1',
    networkIp: '10.0.0.2',
    aliasRanges: [],
    natPrimary: true,
    mappings: [{ ruleNumber: 10, active: { natIp: '100.64.1.1', portLo: 1024, portHi: 1087 }, drain: [] }],
  };
  const pass = { ...settings([{ ruleNumber: 10, destinations: ['10.20.0.0/24'] }]), unmatched: 'PASS' as const };
  it('writes a DEFAULT_RULE np_blk entry flagged NP_BLK_PASS (2), with no counters; the rule keeps its block', () => {
    const out = describeEntries(endpointEntries(e, { slot: 7, gw: 2, settings: pass, ifkey: 0, since: () => 0 }));
    const blks = out.filter((x) => x.map === 'np_blk');
    expect(blks.map((x) => x.key)).toEqual(['07000000' + 'ffffffff', '07000000' + '0a000000']);
    const def = Buffer.from(blks[0].value as string, 'hex');
    expect([def.readUInt32BE(0), def.readUInt16LE(4), def.readUInt16LE(6), def.readUInt32LE(8)]).toEqual([0, 0, 0, 2]);
    const rule = Buffer.from(blks[1].value as string, 'hex');
    expect([rule.readUInt16LE(4), rule.readUInt16LE(6), rule.readUInt32LE(8)]).toEqual([1024, 1087, 0]);
    expect(out.filter((x) => x.map === 'np_cnt').map((x) => x.key)).toEqual(['07000000' + '0a000000']);
  });
  it('writes none on a gateway without it (no default block there: the program fails closed)', () => {
    const out = describeEntries(endpointEntries(e, { slot: 7, gw: 2, settings: settings(pass.rules), ifkey: 0, since: () => 0 }));
    expect(out.filter((x) => x.map === 'np_blk').map((x) => x.key)).toEqual(['07000000' + '0a000000']);
  });
});

describe('EntryTable', () => {
  const natip = tag('np_natip', fromHex('aa'));
  const s1 = tag('np_src', fromHex('51'));
  const s2 = tag('np_src', fromHex('52'));
  const cnt = tag('np_cnt', fromHex('cc'));
  it('writes what changed and deletes shared entries only with their last owner, writes before deletes', () => {
    const t = new EntryTable();
    const ops = new OpList();
    t.set('a', [natip, fromHex('01'), s1, fromHex('a1')], ops);
    t.set('b', [natip, fromHex('01'), s2, fromHex('a2')], ops);
    expect(ops.ops().map(opLine)).toEqual(['u np_natip aa 01', 'u np_src 51 a1', 'u np_src 52 a2']);
    const next = new OpList();
    t.set('a', null, next);
    expect(next.ops().map(opLine)).toEqual(['d np_src 51']);
    const last = new OpList();
    t.set('b', [s2, fromHex('a3'), cnt, null], last);
    expect(last.ops().map(opLine)).toEqual(['z np_cnt cc', 'u np_src 52 a3', 'd np_natip aa']);
    const again = new OpList();
    t.set('b', [s2, fromHex('a3'), cnt, null], again);
    expect(again.size).toBe(0);
  });
});

describe('OpList.encode', () => {
  it('frames each map and operation as one group: header, keys back to back, then values', () => {
    const ops = new OpList();
    ops.remove(tag('np_natip', fromHex('c0000201')));
    ops.write(tag('np_src', fromHex('40000000' + '00000000' + '0a000001')), fromHex('0100000002000000'));
    ops.write(tag('np_src', fromHex('40000000' + '00000000' + '0a000002')), fromHex('0300000002000000'));
    ops.write(tag('np_cnt', fromHex('0100000000000000')), null);
    const hex = ops.encode().toString('hex');
    const group = (op: string, map: string, ks: number, vs: number, n: number, body: string) =>
      Buffer.from(op).toString('hex') + Buffer.from([map.length]).toString('hex') + Buffer.from(map).toString('hex') + Buffer.from([ks, 0, vs, 0, n, 0, 0, 0]).toString('hex') + body;
    expect(hex).toBe(
      group('z', 'np_cnt', 8, 0, 1, '0100000000000000') +
        group('u', 'np_src', 12, 8, 2, '40000000000000000a000001' + '40000000000000000a000002' + '0100000002000000' + '0300000002000000') +
        group('d', 'np_natip', 4, 0, 1, 'c0000201'),
    );
  });

  it('refuses a key of the wrong size rather than misalign the batch', () => {
    const ops = new OpList();
    ops.write(tag('np_blk', fromHex('01000000')), fromHex('00'.repeat(40)));
    expect(() => ops.encode()).toThrow(/np_blk: a key of 4 bytes, the map's are 8/);
  });
});

describe('idKey', () => {
  it('gives 16 bytes, the same for the same owner and apart for near names', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 100_000; i++) keys.add(idKey(`e\0gw\0ep-${i}`));
    expect(keys.size).toBe(100_000);
    expect(idKey('e\0gw\0ep-1')).toBe(idKey('e\0gw\0ep-1'));
    expect(idKey('e\0gw\0ep-1')).toHaveLength(16);
    expect(toHex(idKey('h'))).toBe(toHex(idKey('h')));
  });
});

describe('sourceRuleEntries', () => {
  const e: HostEndpoint = {
    id: 'e1',
    name: 'projects/p/endpoints/e1',
    networkIp: '10.0.0.2',
    aliasRanges: [],
    natPrimary: true,
    forwardedRanges: ['192.168.0.0/16'],
    mappings: [
      { ruleNumber: DEFAULT_RULE, drain: [] },
      { ruleNumber: 20, drain: [], sources: ['192.168.1.0/24', '10.0.0.2/32'] },
      { ruleNumber: 10, drain: [], sources: ['192.168.0.0/16'] },
    ],
  };
  const entries = describeEntries(sourceRuleEntries(e, 7));
  const val = (addr: string) => {
    const a = Buffer.from(ip4(addr), 'latin1').readUInt32BE(0);
    let best: { len: number; v: Buffer } | undefined;
    for (const x of entries) {
      expect(x.map).toBe('np_ssrc');
      const k = Buffer.from(x.key, 'hex');
      expect(k.readUInt32LE(4)).toBe(7); // keyed by the endpoint's slot
      const len = k.readUInt32LE(0) - 32;
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      if (((a & mask) >>> 0) === k.readUInt32BE(8) && (!best || len > best.len)) best = { len, v: Buffer.from(x.value as string, 'hex') };
    }
    return best && { rule: best.v.readInt32LE(0), fwd: best.v.readUInt32LE(4) };
  };

  it('gives each source the first source rule whose sources hold it, and marks forwarded ones', () => {
    expect(val('192.168.1.5')).toEqual({ rule: 10, fwd: 1 }); // in rule 20's /24, but rule 10's /16 comes first
    expect(val('192.168.9.9')).toEqual({ rule: 10, fwd: 1 });
    expect(val('10.0.0.2')).toEqual({ rule: 20, fwd: 0 });
    expect(val('10.0.0.3')).toBeUndefined();
  });

  it("are among the endpoint's entries, with its forwarded ranges as its sources", () => {
    const settings: HostGatewaySettings = { id: 'g1', name: 'g', mapping: 'ENDPOINT_DEPENDENT', timeouts: { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 30, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 30, tcpTimeWaitTimeoutSec: 30 }, logging: { enable: false, filter: 'ALL' }, rules: [] };
    const all = describeEntries(endpointEntries(e, { slot: 7, gw: 1, settings, ifkey: 0, since: () => 0 }));
    expect(all.filter((x) => x.map === 'np_ssrc')).toEqual(entries);
    expect(all.filter((x) => x.map === 'np_src').map((x) => x.key)).toEqual(['40000000' + '00000000' + '0a000002', '30000000' + '00000000' + 'c0a80000']); // (32 + prefix, no device, address): its own /32, the forwarded /16
  });
});
