import { DEFAULT_RULE, withGatewayDefaults, type HostBlockRow } from '@natplane/domain';
import { validateHostDocument } from '../../nftables/src/validate';
import { buildHostDocument } from './build-host-document';

const spec = withGatewayDefaults({ network: 'net-1', region: 'r1', natIps: ['nat-1'] });

function row(gateway: string, endpoint: string, over: Partial<HostBlockRow>): HostBlockRow {
  return {
    gatewayId: gateway,
    gatewayName: gateway,
    projectName: 'p',
    spec,
    endpointId: endpoint,
    endpointName: endpoint,
    hostInterface: null,
    networkIp: '10.0.0.2',
    aliasIpRanges: [],
    subnetName: 's',
    ruleNumber: DEFAULT_RULE,
    natIp: '192.0.2.1',
    portLo: 1024,
    portHi: 1087,
    state: 'ACTIVE',
    ...over,
  };
}

describe('buildHostDocument on a host shared by networks', () => {
  it('carries each endpoint device', () => {
    const doc = buildHostDocument('h', 1, [row('g1', 'e1', { hostInterface: 'tapA' }), row('g2', 'e2', { hostInterface: 'tapB', natIp: '192.0.2.2' })]);
    expect(doc.gateways.map((g) => g.endpoints.map((e) => [e.id, e.hostInterface, e.networkIp]))).toEqual([[['e1', 'tapA', '10.0.0.2']], [['e2', 'tapB', '10.0.0.2']]]);
    expect(validateHostDocument(doc).ok).toBe(true);
  });

  it('leaves out the newer of two endpoints the host could not tell apart, whatever their order', () => {
    const older = row('g1', 'e-old', { endpointCreatedAt: '2026-01-01T00:00:00Z', hostInterface: 'tapA' });
    const newer = row('g2', 'e-new', { endpointCreatedAt: '2026-02-01T00:00:00Z', natIp: '192.0.2.2' }); // no device: collides with any
    const other = row('g2', 'e-alias', { endpointCreatedAt: '2026-03-01T00:00:00Z', networkIp: '10.0.0.9', hostInterface: 'tapB', natIp: '192.0.2.3' });
    for (const rows of [
      [older, newer, other],
      [newer, other, older],
    ]) {
      const doc = buildHostDocument('h', 1, rows);
      expect(doc.gateways.flatMap((g) => g.endpoints.map((e) => e.id)).sort()).toEqual(['e-alias', 'e-old']);
      expect(validateHostDocument(doc).ok).toBe(true);
    }
  });

  it('an alias range over another endpoint address collides too; a gateway section alone is never filtered', () => {
    const a = row('g1', 'e1', { endpointCreatedAt: '2026-01-01T00:00:00Z' });
    const b = row('g1', 'e2', {
      endpointCreatedAt: '2026-01-02T00:00:00Z',
      networkIp: '10.0.0.3',
      aliasIpRanges: [{ ipCidrRange: '10.0.0.0/30', subnetworkRangeName: '' }],
      natIp: '192.0.2.2',
    });
    expect(buildHostDocument('h', 1, [a, b]).gateways[0].endpoints.map((e) => e.id)).toEqual(['e1']);
    expect(buildHostDocument('', 0, [a, b]).gateways[0].endpoints.map((e) => e.id)).toEqual(['e1', 'e2']);
  });
});

describe('buildHostDocument and drains that ended by their deadline', () => {
  it('keeps DRAIN and QUARANTINE blocks as drain blocks, but not a cut QUARANTINE block', () => {
    const doc = buildHostDocument('h', 1, [
      row('g1', 'e1', {}),
      row('g1', 'e1', { natIp: '192.0.2.9', state: 'DRAIN' }),
      row('g1', 'e1', { natIp: '192.0.2.9', portLo: 1088, portHi: 1151, state: 'QUARANTINE' }),
      row('g1', 'e1', { natIp: '192.0.2.8', state: 'QUARANTINE', cut: true }),
    ]);
    const [m] = doc.gateways[0].endpoints[0].mappings;
    expect(m.active).toEqual({ natIp: '192.0.2.1', portLo: 1024, portHi: 1087 });
    expect(m.drain).toEqual([
      { natIp: '192.0.2.9', portLo: 1024, portHi: 1087 },
      { natIp: '192.0.2.9', portLo: 1088, portHi: 1151 },
    ]);
    expect(validateHostDocument(doc).ok).toBe(true);
  });

  it('an endpoint left with cut blocks only is not in the document', () => {
    const doc = buildHostDocument('h', 1, [row('g1', 'e1', {}), row('g1', 'e2', { networkIp: '10.0.0.3', natIp: '192.0.2.8', state: 'QUARANTINE', cut: true })]);
    expect(doc.gateways[0].endpoints.map((e) => e.id)).toEqual(['e1']);
  });
});

describe('buildHostDocument with a source-based rule', () => {
  const srcSpec = withGatewayDefaults({
    network: 'net-1',
    region: 'r1',
    natIpAllocateOption: 'MANUAL_ONLY',
    natIps: ['nat-1'],
    rules: [{ ruleNumber: 10, match: "inIpRange(source.ip, '192.168.1.0/24') || source.ip == '10.0.0.3'", action: { sourceNatActiveIps: ['nat-2'] } }],
  });

  it("carries the rule's sources, the endpoint's forwarded ranges and what the rule applies to", () => {
    const fwd = { spec: srcSpec, forwardedIpRanges: ['192.168.0.0/16'] };
    const doc = buildHostDocument('h', 1, [row('g1', 'e1', fwd), row('g1', 'e1', { ...fwd, ruleNumber: 10, natIp: '192.0.2.9' })]);
    const g = doc.gateways[0];
    expect(g.rules).toEqual([{ ruleNumber: 10, destinations: [], sources: ['192.168.1.0/24', '10.0.0.3/32'] }]);
    expect(g.endpoints[0].forwardedRanges).toEqual(['192.168.1.0/24']);
    expect(g.endpoints[0].mappings).toEqual([
      { ruleNumber: DEFAULT_RULE, drain: [], active: { natIp: '192.0.2.1', portLo: 1024, portHi: 1087 } },
      { ruleNumber: 10, drain: [], sources: ['192.168.1.0/24'], active: { natIp: '192.0.2.9', portLo: 1024, portHi: 1087 } },
    ]);
    expect(validateHostDocument(doc)).toMatchObject({ ok: true });
  });

  it('own addresses the rule names are in its mapping, with no forwarded ranges', () => {
    const doc = buildHostDocument('h', 1, [row('g1', 'e1', { spec: srcSpec, networkIp: '10.0.0.3', ruleNumber: 10 })]);
    expect(doc.gateways[0].endpoints[0].forwardedRanges).toBeUndefined();
    expect(doc.gateways[0].endpoints[0].mappings[0].sources).toEqual(['10.0.0.3/32']);
  });

  it('two endpoints forwarding the same range on a host without devices: the newer is left out', () => {
    const fwd = { spec: srcSpec, forwardedIpRanges: ['192.168.1.0/24'], ruleNumber: 10 };
    const a = row('g1', 'e1', { ...fwd, endpointCreatedAt: '2026-01-01T00:00:00Z' });
    const b = row('g1', 'e2', { ...fwd, networkIp: '10.0.0.4', endpointCreatedAt: '2026-01-02T00:00:00Z', portLo: 1088, portHi: 1151 });
    expect(buildHostDocument('h', 1, [b, a]).gateways[0].endpoints.map((e) => e.id)).toEqual(['e1']);
  });
});

describe('buildHostDocument with a PRIVATE gateway (Private NAT)', () => {
  const privateSpec = withGatewayDefaults({
    network: 'net-1',
    region: 'r1',
    type: 'PRIVATE',
    rules: [{ ruleNumber: 10, match: "inIpRange(destination.ip, '10.20.0.0/16')", action: { sourceNatActiveRanges: ['pnat-1'] } }],
  });

  it('says that unmatched flows PASS, and carries the rule with its destinations and the block on it only', () => {
    const doc = buildHostDocument('h', 1, [row('g1', 'e1', { spec: privateSpec, ruleNumber: 10, natIp: '100.64.1.1' })]);
    expect(validateHostDocument(doc).ok).toBe(true);
    const g = doc.gateways[0];
    expect(g.unmatched).toBe('PASS');
    expect(g.rules).toEqual([{ ruleNumber: 10, destinations: ['10.20.0.0/16'] }]);
    expect(g.endpoints[0].mappings).toEqual([{ ruleNumber: 10, active: { natIp: '100.64.1.1', portLo: 1024, portHi: 1087 }, drain: [] }]);
  });

  it('a PUBLIC gateway has no unmatched field', () => {
    expect(buildHostDocument('h', 1, [row('g1', 'e1', {})]).gateways[0].unmatched).toBeUndefined();
  });
});
