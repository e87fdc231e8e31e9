import { DEFAULT_RULE, HostEndpoint, HostGatewaySettings } from '@natplane/contracts';
import { EntryTable, OpList, endpointEntries, gatewayEntries, ip4, opLine, sourceRuleEntries } from './maps';

const settings = (rules: HostGatewaySettings['rules'], mapping: HostGatewaySettings['mapping'] = 'ENDPOINT_DEPENDENT'): HostGatewaySettings => ({
  id: 'g1',
  name: 'projects/p/natGateways/g1',
  mapping,
  timeouts: { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 31, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 32, tcpTimeWaitTimeoutSec: 120 },
  logging: { enable: false, filter: 'ALL' },
  rules,
});

/** The rule an address gets from the LPM entries, as the kernel looks it up: the longest prefix containing it. */
function lookup(entries: ReturnType<typeof gatewayEntries>, addr: string): number | undefined {
  const a = Buffer.from(ip4(addr), 'hex').readUInt32BE(0);
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
    const entries = gatewayEntries(
      settings([
        { ruleNumber: 20, destinations: ['10.1.2.0/24'] },
        { ruleNumber: 10, destinations: ['10.0.0.0/8'] },
        { ruleNumber: 30, destinations: ['192.0.2.7/32', '10.1.0.0/16'] },
      ]),
      1,
    );
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
    const out = endpointEntries(e, { slot: 7, gw: 2, settings: settings([], 'ENDPOINT_INDEPENDENT'), ifkey: 5, since: () => 1000 });
    const src = out.filter((x) => x.map === 'np_src').map((x) => x.key);
    expect(src).toEqual(['40000000' + '05000000' + '0a000002', '38000000' + '05000000' + '0a080000']);
    expect(out.find((x) => x.map === 'np_named')?.key).toBe('05000000');
    const blk = Buffer.from(out.find((x) => x.map === 'np_blk')?.value as string, 'hex');
    expect(blk.subarray(0, 4).toString('hex')).toBe(ip4('203.0.113.5'));
    expect([blk.readUInt16LE(4), blk.readUInt16LE(6), blk.readUInt32LE(8), blk.readUInt32LE(12), blk.readUInt32LE(16)]).toEqual([1024, 1087, 1, 30, 31]);
    expect(Number(blk.readBigUInt64LE(32))).toBe(1000);
    expect(out.filter((x) => x.map === 'np_natip').map((x) => x.key)).toEqual([ip4('203.0.113.5'), ip4('203.0.113.6')]);
  });
});

describe('EntryTable', () => {
  it('writes what changed and deletes shared entries only with their last owner, writes before deletes', () => {
    const t = new EntryTable();
    const ops = new OpList();
    t.set('a', [{ map: 'np_natip', key: 'aa', value: '01' }, { map: 'np_src', key: 's1', value: 'v1' }], ops);
    t.set('b', [{ map: 'np_natip', key: 'aa', value: '01' }, { map: 'np_src', key: 's2', value: 'v2' }], ops);
    expect(ops.ops().map(opLine)).toEqual(['u np_natip aa 01', 'u np_src s1 v1', 'u np_src s2 v2']);
    const next = new OpList();
    t.set('a', null, next);
    expect(next.ops().map(opLine)).toEqual(['d np_src s1']);
    const last = new OpList();
    t.set('b', [{ map: 'np_src', key: 's2', value: 'v3' }, { map: 'np_cnt', key: 'c', value: null }], last);
    expect(last.ops().map(opLine)).toEqual(['z np_cnt c', 'u np_src s2 v3', 'd np_natip aa']);
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
  const entries = sourceRuleEntries(e, 7);
  const val = (addr: string) => {
    const a = Buffer.from(ip4(addr), 'hex').readUInt32BE(0);
    let best: { len: number; v: Buffer } | undefined;
    for (const x of entries) {
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
});
