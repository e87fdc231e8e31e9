import { InterfaceIds } from '@natplane/nftables';
import { exampleDocument } from '../../../libs/nftables/src/testing/fixtures';
import { parseInterfaceZones } from './interface-ids';
import { RULE_PRIORITY, desiredRouting, routingCommands } from './reply-routing';
import { deleteArgs, parseConntrack } from './conntrack';

function sharedDocument() {
  const doc = exampleDocument();
  const [e1, e2] = doc.gateways[0].endpoints;
  doc.gateways[0].endpoints = [
    { ...e1, hostInterface: 'tapA', aliasRanges: ['10.200.0.0/28'] },
    { ...e2, hostInterface: 'tapB', networkIp: '10.99.0.2' },
  ];
  return doc;
}

describe('reply routing', () => {
  it('routes each named device its VM addresses and alias ranges, in the table of its mark', () => {
    const ids = new InterfaceIds();
    const r = desiredRouting(sharedDocument(), ids);
    expect([...r].map(([dev, d]) => [dev, d.mark, [...d.prefixes]])).toEqual([
      ['tapA', 0x4e500001, ['10.99.0.2/32', '10.200.0.0/28']],
      ['tapB', 0x4e500002, ['10.99.0.2/32']],
    ]);
    expect(desiredRouting(exampleDocument(), ids).size).toBe(0);
  });

  it('turns what the kernel has into what the document asks for, routes before rules, for devices present only', () => {
    const desired = desiredRouting(sharedDocument(), new InterfaceIds());
    const current = new Map([
      [0x4e500001, new Set(['10.99.0.2/32', '10.7.0.0/24'])],
      [0x4e500009, new Set(['10.99.0.9/32'])],
    ]);
    expect(routingCommands(current, desired, new Set(['tapA']))).toEqual([
      'route del 10.7.0.0/24 table 1313865729',
      'route flush table 1313865737',
      'route replace 10.99.0.2/32 dev tapA table 1313865729',
      'route replace 10.200.0.0/28 dev tapA table 1313865729',
      `rule del pref ${RULE_PRIORITY} fwmark 0x4e500009 lookup 1313865737`,
    ]);
    // tapB appears: its routes, then its rule
    expect(routingCommands(new Map([[0x4e500001, new Set(['10.99.0.2/32', '10.200.0.0/28'])]]), desired, new Set(['tapA', 'tapB']))).toEqual([
      'route replace 10.99.0.2/32 dev tapA table 1313865729',
      'route replace 10.200.0.0/28 dev tapA table 1313865729',
      'route replace 10.99.0.2/32 dev tapB table 1313865730',
      `rule add pref ${RULE_PRIORITY} fwmark 0x4e500002 lookup 1313865730`,
    ]);
  });
});

describe('device ids and zones read back from the kernel', () => {
  it('reads the if_zones map of nft -j', () => {
    const json = '{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"map": {"family": "ip", "name": "if_zones", "table": "natplane", "type": "ifname", "map": "integer", "elem": [["tapA", 1], ["tapB", 7]]}}]}';
    expect(parseInterfaceZones(json)).toEqual([
      ['tapA', 1],
      ['tapB', 7],
    ]);
    // and the allocator keeps them, handing out the next id after the highest seen
    const ids = new InterfaceIds(parseInterfaceZones(json));
    expect([ids.of('tapB'), ids.of('tapC')]).toEqual([7, 8]);
  });

  it('deletes a leftover connection in its zone', () => {
    const [e] = parseConntrack(
      'udp      17 27 src=10.0.0.2 dst=203.0.113.100 sport=40000 dport=9090 zone-orig=2 src=203.0.113.100 dst=203.0.113.34 sport=9090 dport=1077 mark=1313865730 use=1\n',
    );
    expect(e.origZone).toBe(2);
    expect(deleteArgs(e)).toEqual(['-D', '-p', 'udp', '-s', '10.0.0.2', '-d', '203.0.113.100', '--orig-zone', '2', '--sport', '40000', '--dport', '9090']);
  });
});
