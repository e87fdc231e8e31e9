/** Small documents for specs and examples. */
import { DEFAULT_RULE, HostDocument, HostGateway } from '@natplane/contracts';

export const TIMEOUTS = {
  udpIdleTimeoutSec: 30,
  icmpIdleTimeoutSec: 30,
  tcpEstablishedIdleTimeoutSec: 1200,
  tcpTransitoryIdleTimeoutSec: 30,
  tcpTimeWaitTimeoutSec: 30,
};

export function gateway(over: Partial<HostGateway> = {}): HostGateway {
  return {
    id: '7f3c2a10-0000-4000-8000-000000000001',
    name: 'projects/p/natGateways/nat-1',
    mapping: 'ENDPOINT_DEPENDENT',
    timeouts: TIMEOUTS,
    logging: { enable: false, filter: 'ALL' },
    rules: [],
    endpoints: [],
    ...over,
  };
}

/** Two endpoints, one rule: the example of docs/nftables-backend.md. */
export function exampleDocument(generation = 1): HostDocument {
  return {
    apiVersion: 'natplane.host/v1',
    host: 'host-a',
    generation,
    gateways: [
      gateway({
        rules: [{ ruleNumber: 100, destinations: ['198.51.100.0/24'] }],
        endpoints: [
          {
            id: 'e1',
            name: 'projects/p/endpoints/vm-1',
            networkIp: '10.99.0.2',
            aliasRanges: [],
            natPrimary: true,
            mappings: [
              { ruleNumber: DEFAULT_RULE, active: { natIp: '203.0.113.5', portLo: 1024, portHi: 1087 }, drain: [] },
              { ruleNumber: 100, active: { natIp: '203.0.113.9', portLo: 1024, portHi: 1087 }, drain: [] },
            ],
          },
          {
            id: 'e2',
            name: 'projects/p/endpoints/vm-2',
            networkIp: '10.99.0.3',
            aliasRanges: [],
            natPrimary: true,
            mappings: [
              {
                ruleNumber: DEFAULT_RULE,
                active: { natIp: '203.0.113.5', portLo: 1088, portHi: 1151 },
                drain: [{ natIp: '203.0.113.6', portLo: 1024, portHi: 1087 }],
              },
              { ruleNumber: 100, active: { natIp: '203.0.113.9', portLo: 1088, portHi: 1151 }, drain: [] },
            ],
          },
        ],
      }),
    ],
  };
}
