import { DEFAULT_RULE } from '@natplane/contracts';
import { BlockIndex } from '@natplane/nftables';
import { exampleDocument } from '../../../libs/nftables/src/testing/fixtures';
import { countUsage, deleteArgs, leftovers, parseConntrack } from './conntrack';

const LISTING = `tcp      6 431995 ESTABLISHED src=10.99.0.2 dst=203.0.113.100 sport=40000 dport=8080 src=203.0.113.100 dst=203.0.113.5 sport=8080 dport=1030 [ASSURED] mark=0 use=1
tcp      6 117 TIME_WAIT src=10.99.0.2 dst=203.0.113.100 sport=40002 dport=8081 src=203.0.113.100 dst=203.0.113.5 sport=8081 dport=1030 [ASSURED] mark=0 use=1
udp      17 28 src=10.99.0.2 dst=203.0.113.100 sport=5353 dport=9090 [UNREPLIED] src=203.0.113.100 dst=203.0.113.5 sport=9090 dport=1031 mark=0 use=1
icmp     1 29 src=10.99.0.3 dst=203.0.113.100 type=8 code=0 id=7 src=203.0.113.100 dst=203.0.113.5 type=0 code=0 id=1100 mark=0 use=1
tcp      6 86399 ESTABLISHED src=10.99.0.3 dst=198.51.100.10 sport=41000 dport=443 src=198.51.100.10 dst=203.0.113.9 sport=443 dport=1090 [ASSURED] mark=0 use=1
tcp      6 86399 ESTABLISHED src=192.168.1.5 dst=192.168.1.1 sport=41000 dport=22 src=192.168.1.1 dst=192.168.1.5 sport=22 dport=41000 [ASSURED] mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 6 flow entries have been shown.
`;

describe('parseConntrack', () => {
  const entries = parseConntrack(LISTING);
  it('reads the original tuple and the reply destination (the NAT IP and port)', () => {
    expect(entries).toHaveLength(6);
    expect(entries[0]).toEqual({ proto: 'tcp', origSrc: '10.99.0.2', origDst: '203.0.113.100', origSport: 40000, origDport: 8080, replyDst: '203.0.113.5', replyPort: 1030 });
    expect(entries[2]).toMatchObject({ proto: 'udp', replyDst: '203.0.113.5', replyPort: 1031 });
  });
  it('reads ICMP ids', () => {
    expect(entries[3]).toEqual({ proto: 'icmp', origSrc: '10.99.0.3', origDst: '203.0.113.100', icmp: { type: 8, code: 0, id: 7 }, replyDst: '203.0.113.5', replyPort: 1100 });
  });
});

describe('countUsage', () => {
  it('counts distinct NAT ports per endpoint and rule, whatever the protocol or destination', () => {
    const usage = countUsage(parseConntrack(LISTING), new BlockIndex(exampleDocument()));
    expect(usage).toEqual([
      { endpoint: 'e1', ruleNumber: DEFAULT_RULE, portsInUse: 2 },
      { endpoint: 'e2', ruleNumber: DEFAULT_RULE, portsInUse: 1 },
      { endpoint: 'e2', ruleNumber: 100, portsInUse: 1 },
    ]);
  });
});

describe('leftovers and deleteArgs', () => {
  const entries = parseConntrack(LISTING);
  it('selects the connections NATed into released ports from the endpoint sources only', () => {
    const found = leftovers(entries, [{ gatewayId: 'g', endpointId: 'e1', natIp: '203.0.113.5', portLo: 1024, portHi: 1087, sources: ['10.99.0.2'] }]);
    expect(found.map((e) => e.origSport)).toEqual([40000, 40002, 5353]);
    expect(leftovers(entries, [{ gatewayId: 'g', endpointId: 'x', natIp: '203.0.113.5', portLo: 1024, portHi: 1087, sources: ['10.99.0.9'] }])).toEqual([]);
  });
  it('matches alias ranges by CIDR', () => {
    const found = leftovers(entries, [{ gatewayId: 'g', endpointId: 'e2', natIp: '203.0.113.5', portLo: 1088, portHi: 1151, sources: ['10.99.0.0/24'] }]);
    expect(found.map((e) => e.proto)).toEqual(['icmp']);
  });
  it('deletes one connection by its original tuple', () => {
    expect(deleteArgs(entries[0])).toEqual(['-D', '-p', 'tcp', '-s', '10.99.0.2', '-d', '203.0.113.100', '--sport', '40000', '--dport', '8080']);
    expect(deleteArgs(entries[3])).toEqual(['-D', '-p', 'icmp', '-s', '10.99.0.3', '-d', '203.0.113.100', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', '7']);
  });
});
