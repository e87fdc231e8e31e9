import { validateHostDocument, validateHostPatchShape } from './validate';
import { exampleDocument, gateway } from './testing/fixtures';

function errorsOf(doc: unknown): string[] {
  const v = validateHostDocument(doc);
  return v.ok ? [] : v.errors.map((e) => `${e.field}: ${e.message}`);
}

describe('validateHostDocument', () => {
  it('accepts the example', () => {
    expect(errorsOf(exampleDocument())).toEqual([]);
  });

  it('names the field that is wrong', () => {
    const doc = exampleDocument() as unknown as { gateways: { endpoints: { networkIp: string; mappings: { active: { portLo: number } }[] }[] }[] };
    doc.gateways[0].endpoints[1].networkIp = '10.99.0.300';
    doc.gateways[0].endpoints[0].mappings[0].active.portLo = 80;
    expect(errorsOf(doc)).toEqual([
      'gateways[0].endpoints[0].mappings[0].active.portLo: must be an integer from 1024 to 65535',
      'gateways[0].endpoints[1].networkIp: must be an IPv4 address',
    ]);
  });

  it('refuses another apiVersion, a negative generation and a non-object', () => {
    expect(errorsOf({ ...exampleDocument(), apiVersion: 'natplane.host/v2', generation: -1 })).toEqual([
      'apiVersion: must be natplane.host/v1',
      'generation: must be a non-negative integer',
    ]);
    expect(errorsOf([])).toEqual(['.: must be a JSON object']);
  });

  it("a gateway's unmatched is PASS or absent", () => {
    const doc = exampleDocument();
    (doc.gateways[0] as { unmatched?: unknown }).unmatched = 'PASS';
    expect(errorsOf(doc)).toEqual([]);
    (doc.gateways[0] as { unmatched?: unknown }).unmatched = 'DROP';
    expect(errorsOf(doc)).toEqual(['gateways[0].unmatched: must be PASS or absent']);
  });

  it('refuses a mapping on a rule the gateway does not have', () => {
    const doc = exampleDocument();
    doc.gateways[0].rules = [];
    expect(errorsOf(doc)).toContain("gateways[0].endpoints[0].mappings[1].ruleNumber: must be -1 (default) or a ruleNumber of the gateway's rules");
  });

  it('refuses one source address NATed twice on the host, even by two gateways', () => {
    const doc = exampleDocument();
    const other = gateway({ id: 'gw-2', endpoints: [{ ...doc.gateways[0].endpoints[0], id: 'x1', mappings: [] }] });
    doc.gateways.push(other);
    expect(errorsOf(doc)).toEqual(['gateways[1].endpoints[0].networkIp: 10.99.0.2 is already NATed on this host by endpoint e1 of gateway 7f3c2a10-0000-4000-8000-000000000001']);
  });

  describe('hosts shared by networks: sources are keyed by (hostInterface, address)', () => {
    const twoNetworks = (a?: string, b?: string) => {
      const doc = exampleDocument();
      const e = doc.gateways[0].endpoints[0];
      doc.gateways[0].endpoints = [{ ...e, ...(a === undefined ? {} : { hostInterface: a }), aliasRanges: ['10.200.0.0/24'] }];
      doc.gateways.push(gateway({ id: 'gw-2', endpoints: [{ ...e, id: 'x1', ...(b === undefined ? {} : { hostInterface: b }), aliasRanges: ['10.200.0.0/28'], mappings: [] }] }));
      return doc;
    };

    it('lets two endpoints share an address and overlapping alias ranges on two devices', () => {
      expect(errorsOf(twoNetworks('tapA', 'tapB'))).toEqual([]);
    });

    it('refuses them on one device, and when either names no device', () => {
      const held = 'endpoint e1 of gateway 7f3c2a10-0000-4000-8000-000000000001';
      expect(errorsOf(twoNetworks('tapA', 'tapA'))).toEqual([
        `gateways[1].endpoints[0].networkIp: 10.99.0.2 is already NATed on this host for tapA by ${held}`,
        `gateways[1].endpoints[0].aliasRanges[0]: 10.200.0.0/28 overlaps a range NATed on this host for tapA by ${held}`,
      ]);
      expect(errorsOf(twoNetworks(undefined, 'tapB'))).toEqual([
        `gateways[1].endpoints[0].networkIp: 10.99.0.2 is already NATed on this host for tapB by ${held}`,
        `gateways[1].endpoints[0].aliasRanges[0]: 10.200.0.0/28 overlaps a range NATed on this host for tapB by ${held}`,
      ]);
      expect(errorsOf(twoNetworks('tapA', undefined))).toEqual([
        `gateways[1].endpoints[0].networkIp: 10.99.0.2 is already NATed on this host by ${held}`,
        `gateways[1].endpoints[0].aliasRanges[0]: 10.200.0.0/28 overlaps a range NATed on this host by ${held}`,
      ]);
    });

    it('refuses a device name Linux would not take', () => {
      for (const bad of ['', '.', '..', 'tap/1', 'tap:1', 'tap 1', 'a-name-too-long-1']) {
        expect(errorsOf(twoNetworks(bad, 'tapB'))).toContain(
          "gateways[0].endpoints[0].hostInterface: must be a network device name: 1-15 characters of [A-Za-z0-9_.@+-], not '.' or '..'",
        );
      }
      expect(errorsOf(twoNetworks('a.b@c+d-e_f', 'tapB'))).toEqual([]);
    });
  });

  it('lets an endpoint without natPrimary share its address (it is not NATed)', () => {
    const doc = exampleDocument();
    doc.gateways.push(gateway({ id: 'gw-2', endpoints: [{ ...doc.gateways[0].endpoints[0], id: 'x1', natPrimary: false, aliasRanges: ['10.200.0.0/24'], mappings: [] }] }));
    expect(errorsOf(doc)).toEqual([]);
  });

  it('refuses overlapping alias ranges', () => {
    const doc = exampleDocument();
    doc.gateways[0].endpoints[0].aliasRanges = ['10.200.0.0/16'];
    doc.gateways[0].endpoints[1].aliasRanges = ['10.200.7.0/24'];
    expect(errorsOf(doc)).toEqual(['gateways[0].endpoints[1].aliasRanges[0]: 10.200.7.0/24 overlaps a range NATed on this host by endpoint e1 of gateway 7f3c2a10-0000-4000-8000-000000000001']);
  });

  it('refuses CIDRs with host bits and gateway ids that give the same nftables name', () => {
    const doc = exampleDocument();
    doc.gateways[0].rules[0].destinations = ['198.51.100.1/24'];
    doc.gateways.push(gateway({ id: '7F3C2A10-0000-4000-8000-000000000001' }));
    expect(errorsOf(doc)).toEqual([
      'gateways[0].rules[0].destinations[0]: must be an IPv4 CIDR with no host bits set',
      'gateways[1].id: gateway id collides with gateways[0].id (nftables key g_7f3c2a10000040008000000000000001)',
    ]);
  });
});

describe('validateHostPatchShape', () => {
  it('accepts a one-endpoint patch and refuses a generation that does not move forward', () => {
    const e = exampleDocument().gateways[0].endpoints[0];
    const patch = { apiVersion: 'natplane.host/v1', host: 'host-a', baseGeneration: 1, generation: 2, putEndpoints: [{ gatewayId: 'g', endpoint: e }] };
    expect(validateHostPatchShape(patch).ok).toBe(true);
    const bad = validateHostPatchShape({ ...patch, generation: 1 });
    expect(bad.ok ? [] : bad.errors).toEqual([{ field: 'generation', message: 'must be greater than baseGeneration' }]);
  });
});
