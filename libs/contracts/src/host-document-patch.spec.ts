import fc from 'fast-check';
import { HOST_DOCUMENT_API_VERSION, type HostDocument, type HostEndpoint, type HostGateway } from './host-document';
import { applyHostPatch, diffHostDocuments, gatewaySectionPatch } from './host-document-patch';

const GATEWAYS = ['g1', 'g2', 'g3'];
const ENDPOINTS = ['e1', 'e2', 'e3', 'e4'];

const endpointArb = (id: string): fc.Arbitrary<HostEndpoint> =>
  fc.record({
    id: fc.constant(id),
    name: fc.constant(`projects/p/endpoints/${id}`),
    networkIp: fc.constantFrom('10.0.0.2', '10.0.0.3'),
    aliasRanges: fc.constantFrom([], ['10.1.0.0/24']),
    natPrimary: fc.boolean(),
    mappings: fc.constantFrom(
      [{ ruleNumber: -1, active: { natIp: '203.0.113.1', portLo: 1024, portHi: 1087 }, drain: [] }],
      [{ ruleNumber: -1, active: { natIp: '203.0.113.1', portLo: 1088, portHi: 1151 }, drain: [{ natIp: '203.0.113.2', portLo: 1024, portHi: 1087 }] }],
      [{ ruleNumber: -1, drain: [] }],
    ),
  });

const sectionArb = (id: string): fc.Arbitrary<HostGateway> =>
  fc.record({
    id: fc.constant(id),
    name: fc.constant(`projects/p/natGateways/${id}`),
    mapping: fc.constantFrom('ENDPOINT_DEPENDENT' as const, 'ENDPOINT_INDEPENDENT' as const),
    timeouts: fc.constantFrom(
      { udpIdleTimeoutSec: 30, icmpIdleTimeoutSec: 30, tcpEstablishedIdleTimeoutSec: 1200, tcpTransitoryIdleTimeoutSec: 30, tcpTimeWaitTimeoutSec: 30 },
      { udpIdleTimeoutSec: 120, icmpIdleTimeoutSec: 60, tcpEstablishedIdleTimeoutSec: 7440, tcpTransitoryIdleTimeoutSec: 240, tcpTimeWaitTimeoutSec: 120 },
    ),
    logging: fc.constant({ enable: false, filter: 'ALL' as const }),
    rules: fc.constantFrom([], [{ ruleNumber: 10, destinations: ['198.51.100.0/24'] }]),
    endpoints: fc.subarray(ENDPOINTS).chain((ids) => fc.tuple(...ids.map(endpointArb))),
  });

const documentArb: fc.Arbitrary<HostDocument> = fc
  .record({ generation: fc.integer({ min: 1, max: 100 }), ids: fc.subarray(GATEWAYS) })
  .chain(({ generation, ids }) =>
    fc.tuple(...ids.map(sectionArb)).map((gateways) => ({ apiVersion: HOST_DOCUMENT_API_VERSION, host: 'h1', generation, gateways })),
  );

/** A document as a comparable value: gateways and their endpoints by id (order carries no meaning). */
function canonical(doc: HostDocument): unknown {
  return {
    host: doc.host,
    generation: doc.generation,
    gateways: Object.fromEntries(
      doc.gateways.map((g) => [g.id, { ...g, endpoints: Object.fromEntries(g.endpoints.map((e) => [e.id, e])) }]),
    ),
  };
}

/** `a` at `generation` with gateway `id`'s section replaced by `section` (undefined: removed). */
function replaced(a: HostDocument, generation: number, id: string, section: HostGateway | undefined): HostDocument {
  const gateways = a.gateways.filter((g) => g.id !== id);
  return { ...a, generation, gateways: section ? [...gateways, section] : gateways };
}

describe('gatewaySectionPatch', () => {
  const doc: HostDocument = {
    apiVersion: HOST_DOCUMENT_API_VERSION,
    host: 'h1',
    generation: 7,
    gateways: [],
  };

  it('adds a gateway new on the host with its settings and endpoints', () => {
    const section = fc.sample(sectionArb('g1'), { seed: 1, numRuns: 1 })[0];
    const patch = gatewaySectionPatch(doc, 8, 'g1', section);
    expect(patch).toMatchObject({ baseGeneration: 7, generation: 8, host: 'h1', deleteGateways: [] });
    expect(patch.putGateways).toHaveLength(1);
    expect(patch.putEndpoints).toHaveLength(section.endpoints.length);
    expect(canonical(applyHostPatch(doc, patch))).toEqual(canonical(replaced(doc, 8, 'g1', section)));
  });

  it('removes a gateway with nothing left on the host, and asks nothing for one that was never there', () => {
    const section = fc.sample(sectionArb('g1'), { seed: 2, numRuns: 1 })[0];
    const withG1 = { ...doc, gateways: [section] };
    expect(gatewaySectionPatch(withG1, 8, 'g1', undefined).deleteGateways).toEqual(['g1']);
    const none = gatewaySectionPatch(doc, 8, 'g2', undefined);
    expect([none.deleteGateways, none.putGateways, none.deleteEndpoints, none.putEndpoints]).toEqual([[], [], [], []]);
  });

  it('puts only the endpoints that changed, and not the settings when they are the same', () => {
    const e1 = fc.sample(endpointArb('e1'), { seed: 3, numRuns: 1 })[0];
    const e2 = fc.sample(endpointArb('e2'), { seed: 4, numRuns: 1 })[0];
    const g = fc.sample(sectionArb('g1'), { seed: 5, numRuns: 1 })[0];
    const before = { ...doc, gateways: [{ ...g, endpoints: [e1, e2] }] };
    const e2moved: HostEndpoint = { ...e2, mappings: [{ ruleNumber: -1, active: { natIp: '203.0.113.9', portLo: 2048, portHi: 2111 }, drain: [] }] };
    const patch = gatewaySectionPatch(before, 8, 'g1', { ...g, endpoints: [structuredClone(e1), e2moved] });
    expect(patch.putGateways).toEqual([]);
    expect(patch.deleteEndpoints).toEqual([]);
    expect(patch.putEndpoints).toEqual([{ gatewayId: 'g1', endpoint: e2moved }]);
  });

  it('applied to a document, gives the document with that one section replaced, as diffHostDocuments does', () => {
    fc.assert(
      fc.property(documentArb, fc.constantFrom(...GATEWAYS), fc.option(fc.constantFrom(...GATEWAYS).chain(sectionArb), { nil: undefined }), (a, id, s) => {
        const section = s && { ...s, id, name: `projects/p/natGateways/${id}` };
        const b = replaced(a, a.generation + 1, id, section);
        const patch = gatewaySectionPatch(a, a.generation + 1, id, section);
        expect(canonical(applyHostPatch(a, patch))).toEqual(canonical(b));
        // the same changes as the whole-document difference (which sees only this gateway change)
        const whole = diffHostDocuments(a, b);
        expect(canonical(applyHostPatch(a, whole))).toEqual(canonical(applyHostPatch(a, patch)));
        expect(patch.putEndpoints?.length).toBe(whole.putEndpoints?.length);
        expect(patch.deleteEndpoints?.length).toBe(whole.deleteEndpoints?.length);
      }),
      { numRuns: 500 },
    );
  });
});
