import { DEFAULT_RULE, HOST_DOCUMENT_API_VERSION, type HostDocument, type HostEndpoint, type HostGateway } from '@natplane/contracts';
import { endpointNatScope, parseRuleMatch } from '@natplane/domain';
import type { HostBlockRow } from './repositories/host-programming.repository';

/**
 * The host's whole desired state (natplane.host/v1) from its blocks: per gateway its mapping
 * mode, timeouts, rules and, per endpoint on the host, one ACTIVE block per rule plus drain
 * blocks (DRAIN and QUARANTINE: existing flows live on, no new ones).
 */
export function buildHostDocument(host: string, generation: number, rows: HostBlockRow[]): HostDocument {
  const gateways = new Map<string, HostGateway>();
  const endpoints = new Map<string, HostEndpoint>();
  for (const r of rows) {
    let gw = gateways.get(r.gatewayId);
    if (!gw) {
      const s = r.spec;
      gw = {
        id: r.gatewayId,
        name: `projects/${r.projectName}/natGateways/${r.gatewayName}`,
        mapping: s.enableEndpointIndependentMapping ? 'ENDPOINT_INDEPENDENT' : 'ENDPOINT_DEPENDENT',
        timeouts: {
          udpIdleTimeoutSec: s.udpIdleTimeoutSec,
          icmpIdleTimeoutSec: s.icmpIdleTimeoutSec,
          tcpEstablishedIdleTimeoutSec: s.tcpEstablishedIdleTimeoutSec,
          tcpTransitoryIdleTimeoutSec: s.tcpTransitoryIdleTimeoutSec,
          tcpTimeWaitTimeoutSec: s.tcpTimeWaitTimeoutSec,
        },
        logging: { enable: s.logConfig.enable, filter: s.logConfig.filter },
        rules: [...s.rules]
          .sort((a, b) => a.ruleNumber - b.ruleNumber)
          .map((rule) => {
            const m = parseRuleMatch(rule.match);
            return { ruleNumber: rule.ruleNumber, destinations: m.ok ? m.destinations : [] };
          }),
        endpoints: [],
      };
      gateways.set(r.gatewayId, gw);
    }
    const key = `${r.gatewayId}/${r.endpointId}`;
    let ep = endpoints.get(key);
    if (!ep) {
      const scope = endpointNatScope(r.spec, { subnetName: r.subnetName, aliasIpRanges: r.aliasIpRanges });
      ep = {
        id: r.endpointId,
        name: `projects/${r.projectName}/endpoints/${r.endpointName}`,
        networkIp: r.networkIp,
        aliasRanges: scope?.aliasRanges ?? [],
        natPrimary: scope?.natPrimary ?? false,
        mappings: [],
      };
      endpoints.set(key, ep);
      gw.endpoints.push(ep);
    }
    let m = ep.mappings.find((x) => x.ruleNumber === r.ruleNumber);
    if (!m) {
      m = { ruleNumber: r.ruleNumber, drain: [] };
      ep.mappings.push(m);
    }
    const block = { natIp: r.natIp, portLo: r.portLo, portHi: r.portHi };
    if (r.state === 'ACTIVE') m.active = block;
    else m.drain.push(block);
  }
  for (const ep of endpoints.values()) ep.mappings.sort((a, b) => (a.ruleNumber === DEFAULT_RULE ? -1 : b.ruleNumber === DEFAULT_RULE ? 1 : a.ruleNumber - b.ruleNumber));
  return { apiVersion: HOST_DOCUMENT_API_VERSION, host, generation, gateways: [...gateways.values()] };
}
