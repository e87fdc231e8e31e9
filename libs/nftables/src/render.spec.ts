import { DEFAULT_RULE, HostDocument } from '@natplane/contracts';
import { renderDiff, renderFull } from './render';
import { exampleDocument, gateway } from './testing/fixtures';

const opts = { uplink: 'up0' };
const GW = 'g_7f3c2a10000040008000000000000001';

function lines(script: string): string[] {
  return script.split('\n').filter((l) => l !== '');
}

function withEndpoint(doc: HostDocument, id: string, change: (e: HostDocument['gateways'][0]['endpoints'][0]) => void): HostDocument {
  const next = structuredClone(doc);
  next.generation += 1;
  change(next.gateways[0].endpoints.find((e) => e.id === id) as HostDocument['gateways'][0]['endpoints'][0]);
  return next;
}

describe('renderFull with endpoints that name their device (hosts shared by networks)', () => {
  const doc = exampleDocument();
  const [vm1] = doc.gateways[0].endpoints;
  doc.gateways[0].endpoints = [{ ...vm1, hostInterface: 'tapA', aliasRanges: ['10.200.0.0/28'] }];
  doc.gateways.push(gateway({ id: 'gw-2', endpoints: [{ ...vm1, id: 'x1', hostInterface: 'tapB', mappings: [{ ruleNumber: DEFAULT_RULE, drain: [], active: { natIp: '203.0.113.7', portLo: 1024, portHi: 1087 } }] }] }));
  const script = lines(renderFull(doc, opts));

  it('gives each device a mark and a conntrack zone, set on the way in', () => {
    expect(script).toContain('add element ip natplane if_marks { "tapA" : 0x4e500001, "tapB" : 0x4e500002 }');
    expect(script).toContain('add element ip natplane if_zones { "tapA" : 1, "tapB" : 2 }');
    expect(script).toContain('add rule ip natplane prerouting_raw meta mark set iifname map @if_marks ct original zone set iifname map @if_zones');
    expect(script).toContain('add rule ip natplane prerouting_mangle ct direction reply ct mark & 0xffff0000 == 0x4e500000 meta mark set ct mark');
  });

  it('keys both VMs at 10.99.0.2 by their device mark, each to its own gateway and block', () => {
    expect(script).toContain(`add element ip natplane if_sources { 0x4e500001 . 10.99.0.2 : jump ${GW}_if, 0x4e500002 . 10.99.0.2 : jump g_gw2_if }`);
    expect(script).toContain(`add element ip natplane ${GW}_def_if { 0x4e500001 . 10.99.0.2 : 203.0.113.5 . 1024-1087 }`);
    expect(script).toContain('add element ip natplane g_gw2_def_if { 0x4e500002 . 10.99.0.2 : 203.0.113.7 . 1024-1087 }');
    expect(script).toContain(`add element ip natplane ${GW}_def_if_alias { 0x4e500001 . 10.200.0.0/28 : 203.0.113.5 . 1024-1087 }`);
    expect(script).toContain(`add rule ip natplane ${GW}_if meta l4proto { tcp, udp, icmp } snat ip to ct mark . ip saddr map @${GW}_def_if fully-random`);
    // nothing of theirs in the address-keyed maps
    expect(script.filter((l) => l.startsWith(`add element ip natplane ${GW}_def {`) || l.startsWith('add element ip natplane g_gw2_def {'))).toEqual([]);
  });
});

describe('renderFull', () => {
  const script = lines(renderFull(exampleDocument(), opts));

  it('replaces the table atomically: create, delete, create again, in one script', () => {
    expect(script.slice(0, 3)).toEqual(['add table ip natplane', 'delete table ip natplane', 'add table ip natplane']);
  });

  it('hooks postrouting on the uplink and finds the gateway by its default map (or rest set)', () => {
    expect(script).toContain('add chain ip natplane postrouting { type nat hook postrouting priority srcnat; policy accept; }');
    expect(script).toContain('add rule ip natplane postrouting oifname "up0" jump sources');
    expect(script.filter((l) => l.startsWith('add rule ip natplane sources '))).toEqual([
      'add rule ip natplane sources ct mark . ip saddr vmap @if_sources',
      'add rule ip natplane sources ct mark . ip saddr vmap @if_aliases',
      'add rule ip natplane sources ct mark & 0xffff0000 == 0x4e500000 return',
      `add rule ip natplane sources ip saddr @${GW}_def jump ${GW}`,
      `add rule ip natplane sources ip saddr @${GW}_rest jump ${GW}`,
      'add rule ip natplane sources ip saddr vmap @aliases',
    ]);
  });

  it('puts each active block in its rule map, keyed by the exact source address', () => {
    expect(script).toContain(`add map ip natplane ${GW}_def { type ipv4_addr : interval ipv4_addr . inet_service; }`);
    expect(script).toContain(`add element ip natplane ${GW}_def { 10.99.0.2 : 203.0.113.5 . 1024-1087, 10.99.0.3 : 203.0.113.5 . 1088-1151 }`);
    expect(script).toContain(`add element ip natplane ${GW}_r100 { 10.99.0.2 : 203.0.113.9 . 1024-1087, 10.99.0.3 : 203.0.113.9 . 1088-1151 }`);
  });

  it('leaves drain blocks out of nftables', () => {
    expect(script.join('\n')).not.toContain('203.0.113.6');
  });

  it('evaluates rules before the default map and fails closed', () => {
    const chain = script.filter((l) => l.startsWith(`add rule ip natplane ${GW} `)).map((l) => l.slice(`add rule ip natplane ${GW} `.length));
    expect(chain).toEqual([
      `ct timeout set meta l4proto map { tcp : "${GW}_tcp_1200_30_30", udp : "${GW}_udp_30" }`,
      `ip daddr @${GW}_r100_dst meta l4proto { tcp, udp, icmp } snat ip to ip saddr map @${GW}_r100 fully-random`,
      `ip daddr @${GW}_r100_dst drop`,
      `meta l4proto { tcp, udp, icmp } snat ip to ip saddr map @${GW}_def fully-random`,
      'drop',
    ]);
  });

  it('a gateway whose unmatched flows PASS (Private NAT) returns after its rules: no default snat, no drop', () => {
    const doc = exampleDocument();
    const g = doc.gateways[0];
    g.unmatched = 'PASS';
    for (const e of g.endpoints) e.mappings = e.mappings.filter((m) => m.ruleNumber !== DEFAULT_RULE);
    const all = lines(renderFull(doc, opts));
    const chain = all.filter((l) => l.startsWith(`add rule ip natplane ${GW} `)).map((l) => l.slice(`add rule ip natplane ${GW} `.length));
    expect(chain).toEqual([
      `ct timeout set meta l4proto map { tcp : "${GW}_tcp_1200_30_30", udp : "${GW}_udp_30" }`,
      `ip daddr @${GW}_r100_dst meta l4proto { tcp, udp, icmp } snat ip to ip saddr map @${GW}_r100 fully-random`,
      `ip daddr @${GW}_r100_dst drop`,
      'return',
    ]);
    // the endpoints reach the gateway through its rest set (no default block)
    expect(all).toContain(`add element ip natplane ${GW}_rest { 10.99.0.2, 10.99.0.3 }`);
  });

  it('has no port flag for endpoint-independent mapping (nf_nat then reuses the mapping of the same source ip:port)', () => {
    const doc = exampleDocument();
    doc.gateways[0].mapping = 'ENDPOINT_INDEPENDENT';
    expect(renderFull(doc, opts)).not.toContain('random');
  });

  it('turns the gateway timeouts into ct timeout policies', () => {
    const doc = exampleDocument();
    doc.gateways[0].timeouts = { ...doc.gateways[0].timeouts, udpIdleTimeoutSec: 120, tcpEstablishedIdleTimeoutSec: 7440, tcpTransitoryIdleTimeoutSec: 240, tcpTimeWaitTimeoutSec: 60 };
    const s = renderFull(doc, opts);
    expect(s).toContain(
      `add ct timeout ip natplane ${GW}_tcp_7440_240_60 { protocol tcp; l3proto ip; policy = { established: 7440, syn_sent: 240, syn_recv: 240, fin_wait: 240, close_wait: 240, last_ack: 240, time_wait: 60 }; }`,
    );
    expect(s).toContain(`add ct timeout ip natplane ${GW}_udp_120 { protocol udp; l3proto ip; policy = { unreplied: 120, replied: 120 }; }`);
  });

  it('puts alias ranges in the interval maps, reached by their own dispatch', () => {
    const doc = withEndpoint(exampleDocument(), 'e1', (e) => {
      e.aliasRanges = ['10.200.0.0/24'];
    });
    const s = lines(renderFull(doc, opts));
    expect(s).toContain(`add element ip natplane aliases { 10.200.0.0/24 : jump ${GW}_alias }`);
    expect(s).toContain(`add element ip natplane ${GW}_def_alias { 10.200.0.0/24 : 203.0.113.5 . 1024-1087 }`);
  });

  it('merges nested destinations (interval sets refuse overlaps)', () => {
    const doc: HostDocument = { ...exampleDocument(), gateways: [gateway({ rules: [{ ruleNumber: 1, destinations: ['10.1.0.0/16', '10.0.0.0/8', '198.51.100.7/32'] }] })] };
    expect(renderFull(doc, opts)).toContain(`add element ip natplane ${GW}_r1_dst { 10.0.0.0/8, 198.51.100.7/32 }`);
  });

  it('refuses an uplink name nft would misread', () => {
    expect(() => renderFull(exampleDocument(), { uplink: 'eth0"; flush ruleset' })).toThrow(/invalid uplink/);
  });
});

describe('renderDiff', () => {
  const a = exampleDocument(1);

  it('is empty when nothing changes', () => {
    expect(renderDiff(a, exampleDocument(2), opts)).toBe('');
  });

  it('moves one endpoint to another block with delete + add of its one element', () => {
    const b = withEndpoint(a, 'e2', (e) => {
      e.mappings[0] = { ruleNumber: DEFAULT_RULE, active: { natIp: '203.0.113.5', portLo: 1152, portHi: 1215 }, drain: [{ natIp: '203.0.113.5', portLo: 1088, portHi: 1151 }] };
    });
    expect(lines(renderDiff(a, b, opts))).toEqual([
      `delete element ip natplane ${GW}_def { 10.99.0.3 }`,
      `add element ip natplane ${GW}_def { 10.99.0.3 : 203.0.113.5 . 1152-1215 }`,
    ]);
  });

  it('a drained block only leaves the map (existing connections live on in conntrack); the source stays NATed by its gateway', () => {
    const b = withEndpoint(a, 'e1', (e) => {
      e.mappings[0] = { ruleNumber: DEFAULT_RULE, drain: [{ natIp: '203.0.113.5', portLo: 1024, portHi: 1087 }] };
    });
    expect(lines(renderDiff(a, b, opts))).toEqual([`delete element ip natplane ${GW}_def { 10.99.0.2 }`, `add element ip natplane ${GW}_rest { 10.99.0.2 }`]);
  });

  it('a new endpoint adds its dispatch and map elements', () => {
    const b = structuredClone(a);
    b.gateways[0].endpoints.push({
      id: 'e3',
      name: 'projects/p/endpoints/vm-3',
      networkIp: '10.99.0.4',
      aliasRanges: [],
      natPrimary: true,
      mappings: [{ ruleNumber: DEFAULT_RULE, active: { natIp: '203.0.113.5', portLo: 1152, portHi: 1215 }, drain: [] }],
    });
    expect(lines(renderDiff(a, b, opts))).toEqual([`add element ip natplane ${GW}_def { 10.99.0.4 : 203.0.113.5 . 1152-1215 }`]);
  });

  it('a timeout change swaps the policy objects under a rewritten chain', () => {
    const b = structuredClone(a);
    b.gateways[0].timeouts.udpIdleTimeoutSec = 120;
    const d = lines(renderDiff(a, b, opts));
    expect(d[0]).toBe(`add ct timeout ip natplane ${GW}_udp_120 { protocol udp; l3proto ip; policy = { unreplied: 120, replied: 120 }; }`);
    expect(d).toContain(`flush chain ip natplane ${GW}`);
    expect(d).toContain(`flush chain ip natplane ${GW}_alias`);
    expect(d[d.length - 1]).toBe(`delete ct timeout ip natplane ${GW}_udp_30`);
    expect(d.filter((l) => l.includes('element'))).toEqual([]);
  });

  it('removing the gateway unhooks it from the sources chain, then deletes its chains, maps and policies', () => {
    const b: HostDocument = { ...a, generation: 2, gateways: [] };
    const d = lines(renderDiff(a, b, opts));
    expect(d.slice(0, 5)).toEqual([
      `flush chain ip natplane sources`,
      `flush chain ip natplane ${GW}`,
      `flush chain ip natplane ${GW}_alias`,
      `flush chain ip natplane ${GW}_if`,
      `flush chain ip natplane ${GW}_if_alias`,
    ]);
    expect(d.filter((l) => l.startsWith('add rule ip natplane sources '))).toEqual([
      'add rule ip natplane sources ct mark . ip saddr vmap @if_sources',
      'add rule ip natplane sources ct mark . ip saddr vmap @if_aliases',
      'add rule ip natplane sources ct mark & 0xffff0000 == 0x4e500000 return',
      'add rule ip natplane sources ip saddr vmap @aliases',
    ]);
    expect(d).toContain(`delete chain ip natplane ${GW}`);
    expect(d).toContain(`delete map ip natplane ${GW}_r100`);
    expect(d).toContain(`delete set ip natplane ${GW}_r100_dst`);
    expect(d[d.length - 1]).toMatch(/^delete ct timeout /);
    expect(d.some((l) => l.startsWith(`delete element ip natplane ${GW}_`))).toBe(false);
  });
});

describe('renderFull with a source-based rule and a VM that forwards', () => {
  const doc = exampleDocument();
  const g = doc.gateways[0];
  g.rules = [{ ruleNumber: 50, destinations: [], sources: ['192.168.1.0/24'] }, ...g.rules];
  const [vm1] = g.endpoints;
  g.endpoints = [
    {
      ...vm1,
      forwardedRanges: ['192.168.1.0/24'],
      mappings: [...vm1.mappings, { ruleNumber: 50, drain: [], sources: ['192.168.1.0/24'], active: { natIp: '203.0.113.9', portLo: 2048, portHi: 2111 } }],
    },
  ];
  const script = lines(renderFull(doc, opts));

  it("dispatches the forwarded range to the gateway's forwarded chain, keyed in the rule's alias map", () => {
    expect(script).toContain(`add element ip natplane aliases { 192.168.1.0/24 : jump ${GW}_fwd }`);
    expect(script).toContain(`add element ip natplane ${GW}_r50_alias { 192.168.1.0/24 : 203.0.113.9 . 2048-2111 }`);
    expect(script).toContain(`add element ip natplane ${GW}_r50_src { 192.168.1.0/24 }`);
    // the VM's own address is not in the source rule's maps: its traffic keeps the default IPs
    expect(script.some((l) => l.startsWith(`add element ip natplane ${GW}_r50 {`))).toBe(false);
  });

  it('translates forwarded sources by the source rules only, fail-closed', () => {
    expect(script.filter((l) => l.startsWith(`add rule ip natplane ${GW}_fwd `))).toEqual([
      `add rule ip natplane ${GW}_fwd ct timeout set meta l4proto map { tcp : "${GW}_tcp_1200_30_30", udp : "${GW}_udp_30" }`,
      `add rule ip natplane ${GW}_fwd ip saddr @${GW}_r50_src meta l4proto { tcp, udp, icmp } snat ip to ip saddr map @${GW}_r50_alias fully-random`,
      `add rule ip natplane ${GW}_fwd ip saddr @${GW}_r50_src drop`,
      `add rule ip natplane ${GW}_fwd drop`,
    ]);
    // in the VM's own chain a source rule matches by source, before the destination rules
    expect(script).toContain(`add rule ip natplane ${GW} ip saddr @${GW}_r50_src meta l4proto { tcp, udp, icmp } snat ip to ip saddr map @${GW}_r50 fully-random`);
  });
});
