/**
 * A gateway's section of each host's document, and its fingerprint. Pure; moved from the
 * worker's reconcile handler as it was.
 */
import { createHash } from 'node:crypto';
import { buildHostDocument, type HostGateway } from '@natplane/contracts';
import type { HostBlockRow } from '@natplane/domain';
import type { LockedGateway, ScopeEndpoint, StoredBlock } from './types';

/**
 * Per host, this gateway's section of the host document and a hash of it, built by the same
 * code as the document itself (buildHostDocument), so "changed" means exactly "the host would
 * get different programming for this gateway", and the section is what the host gets.
 */
export function hostSections(gw: Pick<LockedGateway, 'id' | 'name' | 'projectName' | 'spec'>, blocks: StoredBlock[], endpoints: Map<string, ScopeEndpoint>, only?: Set<string>): Map<string, { fingerprint: string; section: HostGateway }> {
  const rows = new Map<string, HostBlockRow[]>();
  for (const b of blocks) {
    const e = endpoints.get(b.endpointId);
    if (!e) continue; // a deleted endpoint: on no host any more
    if (only && !only.has(e.hostId)) continue;
    const row: HostBlockRow = {
      gatewayId: gw.id,
      gatewayName: gw.name,
      projectName: gw.projectName,
      spec: gw.spec,
      endpointId: e.id,
      endpointName: e.name,
      hostInterface: e.hostInterface,
      networkIp: e.networkIp,
      aliasIpRanges: e.aliasIpRanges,
      forwardedIpRanges: e.forwardedIpRanges,
      subnetName: e.subnetName,
      ruleNumber: b.ruleNumber,
      natIp: b.natIp,
      portLo: b.portLo,
      portHi: b.portHi,
      state: b.state,
      ...(b.cut === true ? { cut: true } : {}),
    };
    const list = rows.get(e.hostId);
    if (list) list.push(row);
    else rows.set(e.hostId, [row]);
  }
  const out = new Map<string, { fingerprint: string; section: HostGateway }>();
  for (const [host, rs] of rows) {
    rs.sort((a, b) => (a.endpointId < b.endpointId ? -1 : a.endpointId > b.endpointId ? 1 : a.ruleNumber - b.ruleNumber || a.natIp.localeCompare(b.natIp) || a.portLo - b.portLo));
    const section = buildHostDocument('', 0, rs).gateways[0];
    out.set(host, { fingerprint: createHash('sha256').update(JSON.stringify(section)).digest('base64url'), section });
  }
  return out;
}
