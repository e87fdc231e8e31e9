import type { HostDocument } from '@natplane/contracts';
import { BlockIndex } from '@natplane/nftables';
import type { ConntrackEntry } from '../conntrack';
import { computeCounters, forgetLeftEndpoints, ratchet, type Tally } from './counters';
import { SourceIndex } from './sources';
import { parseTraceLine } from './trace';

const doc: HostDocument = {
  apiVersion: 'natplane.host/v1',
  host: 'h',
  generation: 1,
  gateways: [
    {
      id: 'g1',
      name: 'projects/p/natGateways/g',
      mapping: 'ENDPOINT_DEPENDENT',
      timeouts: { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 30, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 30, tcpTimeWaitTimeoutSec: 30 },
      logging: { enable: false, filter: 'ALL' },
      rules: [{ ruleNumber: 100, destinations: ['198.51.100.0/24'] }],
      endpoints: [
        {
          id: 'e1',
          name: 'projects/p/endpoints/vm-1',
          networkIp: '10.0.0.2',
          natPrimary: true,
          aliasRanges: ['10.4.0.0/28'],
          mappings: [
            { ruleNumber: -1, active: { natIp: '203.0.113.5', portLo: 1024, portHi: 1087 }, drain: [] },
            { ruleNumber: 100, drain: [] },
          ],
        },
        { id: 'e2', name: 'projects/p/endpoints/vm-2', hostInterface: 'tap2', networkIp: '10.0.0.2', natPrimary: true, aliasRanges: [], mappings: [{ ruleNumber: -1, active: { natIp: '203.0.113.5', portLo: 1088, portHi: 1151 }, drain: [] }] },
      ],
    },
  ],
};

const udp = (sport: number, natPort: number, acct = { origPackets: 2, origBytes: 60, replyPackets: 1, replyBytes: 30 }): ConntrackEntry => ({
  proto: 'udp',
  origSrc: '10.0.0.2',
  origDst: '203.0.113.100',
  origSport: sport,
  origDport: 9090,
  replyDst: '203.0.113.5',
  replyPort: natPort,
  acct,
});

describe('computeCounters (nftables)', () => {
  const base = { since: '2026-12-01T00:00:00.000Z', sources: new SourceIndex(doc), blocks: new BlockIndex(doc), accounting: true };

  it('counts drops as translated minus confirmed, fail-closed attempts on the rule without a block, other protocols apart', () => {
    const tally = new Map<string, Tally>([['e1|-1', { confirmed: 64, ended: { origPackets: 10, origBytes: 1000, replyPackets: 5, replyBytes: 500 } }]]);
    const out = computeCounters({
      ...base,
      tally,
      live: [udp(40000, 1024), udp(40001, 1025)],
      attempts: [
        { key: ['br0', '10.0.0.2', 'udp'], packets: 70, bytes: 0 },
        { key: ['br0', '10.4.0.3', 'tcp'], packets: 2, bytes: 0 },
        { key: ['br0', '10.0.0.2', 'gre'], packets: 3, bytes: 0 },
        { key: ['tap2', '10.0.0.2', 'udp'], packets: 1, bytes: 0 },
      ],
      translated: [
        { key: ['br0', '10.0.0.2', '203.0.113.5'], packets: 70, bytes: 0 },
        { key: ['tap2', '10.0.0.2', '203.0.113.5'], packets: 1, bytes: 0 },
      ],
    });
    const e1 = out.find((e) => e.endpoint === 'e1' && e.ruleNumber === -1)!;
    expect(e1).toEqual(
      expect.objectContaining({
        newConnections: 64,
        openConnections: 2,
        sentPackets: 14,
        sentBytes: 1120,
        receivedPackets: 7,
        receivedBytes: 560,
        droppedSentPackets: { OUT_OF_RESOURCES: 6, ENDPOINT_INDEPENDENT_CONFLICT: 0, UNTRANSLATABLE_FRAGMENT: null, UNTRANSLATABLE_PROTOCOL: 3 },
      }),
    );
    // the alias range's 2 TCP attempts were never translated: no block for... the endpoint's blockless rule 100
    expect(out.find((e) => e.endpoint === 'e1' && e.ruleNumber === 100)!.droppedSentPackets.OUT_OF_RESOURCES).toBe(2);
    // the same address behind tap2 is vm-2's: translated once, never confirmed
    expect(out.find((e) => e.endpoint === 'e2')!.droppedSentPackets.OUT_OF_RESOURCES).toBe(1);
  });

  it('says packets and bytes are not measured without conntrack accounting', () => {
    const out = computeCounters({ ...base, accounting: false, tally: new Map(), live: [udp(1, 1030, undefined)], attempts: [], translated: [] });
    expect(out[0]).toEqual(expect.objectContaining({ openConnections: 1, sentPackets: null, receivedBytes: null }));
  });

  it('never lets a cumulative figure go down between readings of one since', () => {
    const [a] = computeCounters({ ...base, tally: new Map([['e1|-1', { confirmed: 5, ended: { origPackets: 9, origBytes: 9, replyPackets: 9, replyBytes: 9 } }]]), live: [], attempts: [], translated: [] });
    const [b] = computeCounters({ ...base, tally: new Map([['e1|-1', { confirmed: 4, ended: { origPackets: 1, origBytes: 1, replyPackets: 1, replyBytes: 1 } }]]), live: [], attempts: [], translated: [] });
    const [r] = ratchet(new Map([['e1|-1', a]]), [b]);
    expect([r.newConnections, r.sentPackets]).toEqual([5, 9]);
  });
});

describe('forgetLeftEndpoints', () => {
  it("keeps the tallies of the document's endpoints only, every rule of each", () => {
    const t = (): Tally => ({ confirmed: 1, ended: { origPackets: 0, origBytes: 0, replyPackets: 0, replyBytes: 0 } });
    const tally = new Map<string, Tally>([
      ['e1|-1', t()],
      ['e1|100', t()],
      ['e2|-1', t()],
      ['gone|-1', t()],
      ['gone|100', t()],
      ['e1x|-1', t()],
    ]);
    forgetLeftEndpoints(tally, doc);
    expect([...tally.keys()]).toEqual(['e1|-1', 'e1|100', 'e2|-1']);
    forgetLeftEndpoints(tally, { ...doc, gateways: [] });
    expect(tally.size).toBe(0);
  });
});

describe('parseTraceLine', () => {
  it('reads packets and verdicts of nft monitor trace', () => {
    expect(
      parseTraceLine('trace id 6887684f ip natplane_obs before_nat packet: iif "vm-h" oif "up0" ether saddr 8a:d2 ip saddr 10.99.0.2 ip daddr 203.0.113.100 ip dscp cs0 udp sport 58445 udp dport 9090 udp length 10'),
    ).toEqual({ id: '6887684f', table: 'natplane_obs', chain: 'before_nat', kind: 'packet', iif: 'vm-h', saddr: '10.99.0.2', daddr: '203.0.113.100', proto: 'udp', sport: 58445, dport: 9090 });
    expect(parseTraceLine('trace id 6887684f ip natplane g_1 rule drop (verdict drop)')).toEqual({ id: '6887684f', table: 'natplane', chain: 'g_1', kind: 'verdict', verdict: 'drop' });
    expect(parseTraceLine('something else')).toBeUndefined();
  });
});
