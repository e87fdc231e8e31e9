import { DEFAULT_RULE, HostEndpoint } from '@natplane/contracts';
import { BlockIndex, releasedBetween, releasedRanges } from './blocks';
import { exampleDocument } from './testing/fixtures';

const ep = (mappings: HostEndpoint['mappings']): HostEndpoint => ({ id: 'e1', name: 'n', networkIp: '10.99.0.2', aliasRanges: ['10.200.0.0/24'], natPrimary: true, mappings });
const A = '203.0.113.5';

describe('releasedRanges', () => {
  it('releases nothing when an active block becomes a drain block', () => {
    const before = ep([{ ruleNumber: DEFAULT_RULE, active: { natIp: A, portLo: 1024, portHi: 1087 }, drain: [] }]);
    const after = ep([{ ruleNumber: DEFAULT_RULE, active: { natIp: A, portLo: 1088, portHi: 1151 }, drain: [{ natIp: A, portLo: 1024, portHi: 1087 }] }]);
    expect(releasedRanges('g', before, after)).toEqual([]);
  });

  it('releases a drain block that leaves the document, with the sources that used it', () => {
    const before = ep([{ ruleNumber: DEFAULT_RULE, active: { natIp: A, portLo: 1088, portHi: 1151 }, drain: [{ natIp: A, portLo: 1024, portHi: 1087 }] }]);
    const after = ep([{ ruleNumber: DEFAULT_RULE, active: { natIp: A, portLo: 1088, portHi: 1151 }, drain: [] }]);
    expect(releasedRanges('g', before, after)).toEqual([{ gatewayId: 'g', endpointId: 'e1', natIp: A, portLo: 1024, portHi: 1087, sources: ['10.99.0.2', '10.200.0.0/24'] }]);
  });

  it('releases only the part a shrunk block gives back', () => {
    const before = ep([{ ruleNumber: DEFAULT_RULE, active: { natIp: A, portLo: 1024, portHi: 1151 }, drain: [] }]);
    const after = ep([{ ruleNumber: DEFAULT_RULE, active: { natIp: A, portLo: 1024, portHi: 1087 }, drain: [] }]);
    expect(releasedRanges('g', before, after).map((r) => [r.portLo, r.portHi])).toEqual([[1088, 1151]]);
  });

  it('releases everything of an endpoint that leaves', () => {
    const before = ep([
      { ruleNumber: DEFAULT_RULE, active: { natIp: A, portLo: 1024, portHi: 1087 }, drain: [{ natIp: A, portLo: 1088, portHi: 1151 }] },
      { ruleNumber: 7, active: { natIp: '203.0.113.9', portLo: 2048, portHi: 2111 }, drain: [] },
    ]);
    expect(releasedRanges('g', before, undefined).map((r) => `${r.natIp}:${r.portLo}-${r.portHi}`)).toEqual([`${A}:1024-1151`, '203.0.113.9:2048-2111']);
  });

  it('over whole documents: removing e2 releases its active and drain blocks', () => {
    const a = exampleDocument();
    const b = structuredClone(a);
    b.gateways[0].endpoints.pop();
    expect(releasedBetween(a, b).map((r) => `${r.endpointId} ${r.natIp}:${r.portLo}-${r.portHi}`)).toEqual([
      'e2 203.0.113.5:1088-1151',
      'e2 203.0.113.6:1024-1087',
      'e2 203.0.113.9:1088-1151',
    ]);
  });
});

describe('BlockIndex', () => {
  const index = new BlockIndex(exampleDocument());
  it('finds the endpoint and rule of a NAT IP and port, active or draining', () => {
    expect(index.lookup(A, 1024)).toEqual({ gatewayId: '7f3c2a10-0000-4000-8000-000000000001', endpointId: 'e1', ruleNumber: DEFAULT_RULE });
    expect(index.lookup(A, 1151)?.endpointId).toBe('e2');
    expect(index.lookup('203.0.113.6', 1050)?.endpointId).toBe('e2');
    expect(index.lookup('203.0.113.9', 1100)).toEqual({ gatewayId: '7f3c2a10-0000-4000-8000-000000000001', endpointId: 'e2', ruleNumber: 100 });
  });
  it('finds nothing outside every block', () => {
    expect(index.lookup(A, 1152)).toBeUndefined();
    expect(index.lookup('198.51.100.1', 1024)).toBeUndefined();
  });
});
