import { hostDocumentSchema } from './schema';
import { hostDocumentShapeErrors, hostPatchShapeErrors } from './shape';
import { exampleDocument } from '../../nftables/src/testing/fixtures';

const errorsOf = (doc: unknown) => hostDocumentShapeErrors(doc).map((e) => `${e.field}: ${e.message}`);

describe('the shape check compiled from the JSON Schema', () => {
  it('accepts the example and ignores fields it does not know (docs/host-protocol.md)', () => {
    const doc = { ...exampleDocument(), futureField: 1 } as Record<string, unknown>;
    (doc.gateways as Record<string, unknown>[])[0].futureGatewayField = { any: 'thing' };
    expect(errorsOf(doc)).toEqual([]);
  });

  it('writes each message from the schema of the field, once per field', () => {
    const doc = exampleDocument() as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    doc.gateways[0].timeouts.tcpTimeWaitTimeoutSec = 0;
    doc.gateways[0].logging = { enable: 'yes' };
    doc.gateways[0].endpoints[0].hostInterface = 'tap/1';
    doc.gateways[0].endpoints[0].mappings[0].ruleNumber = -2;
    delete doc.gateways[0].endpoints[1].natPrimary;
    doc.gateways[0].rules[0].destinations = ['198.51.100.0/33'];
    const max = (hostDocumentSchema.$defs.TimeoutSec as { maximum: number }).maximum;
    expect(errorsOf(doc)).toEqual([
      `gateways[0].timeouts.tcpTimeWaitTimeoutSec: must be an integer from 1 to ${max}`,
      'gateways[0].logging: must be {enable: boolean, filter: ALL|ERRORS_ONLY|TRANSLATIONS_ONLY}',
      'gateways[0].rules[0].destinations[0]: must be an IPv4 CIDR with no host bits set',
      "gateways[0].endpoints[0].hostInterface: must be a network device name: 1-15 characters of [A-Za-z0-9_.@+-], not '.' or '..'",
      "gateways[0].endpoints[0].mappings[0].ruleNumber: must be -1 (default) or a ruleNumber of the gateway's rules",
      'gateways[0].endpoints[1].natPrimary: must be a boolean',
    ]);
  });

  it('patches: the same messages, and the ones of their own fields', () => {
    const base = { apiVersion: 'natplane.host/v1', host: 'host-a', baseGeneration: 1, generation: 2 };
    expect(hostPatchShapeErrors(base)).toEqual([]);
    expect(hostPatchShapeErrors({ ...base, baseGeneration: -1, deleteGateways: [''], deleteEndpoints: [{ gatewayId: 'g' }], putEndpoints: [{ endpoint: {} }] })).toEqual([
      { field: 'baseGeneration', message: 'must be a non-negative integer' },
      { field: 'deleteGateways[0]', message: 'must be a gateway id' },
      { field: 'deleteEndpoints[0]', message: 'must be {gatewayId, endpointId}' },
      { field: 'putEndpoints[0].gatewayId', message: 'must be a gateway id' },
      { field: 'putEndpoints[0].endpoint.id', message: 'must be a non-empty string of at most 256 characters' },
      { field: 'putEndpoints[0].endpoint.name', message: 'must be a non-empty string of at most 1024 characters' },
      { field: 'putEndpoints[0].endpoint.networkIp', message: 'must be an IPv4 address' },
      { field: 'putEndpoints[0].endpoint.aliasRanges', message: 'must be an array' },
      { field: 'putEndpoints[0].endpoint.natPrimary', message: 'must be a boolean' },
      { field: 'putEndpoints[0].endpoint.mappings', message: 'must be an array' },
    ]);
    expect(hostPatchShapeErrors('x')).toEqual([{ field: '.', message: 'must be a JSON object' }]);
  });

  it('lists at most 100 problems', () => {
    const doc = exampleDocument();
    doc.gateways[0].endpoints = Array.from({ length: 300 }, () => ({ ...doc.gateways[0].endpoints[0], networkIp: 'x' }));
    expect(errorsOf(doc)).toHaveLength(100);
  });
});
