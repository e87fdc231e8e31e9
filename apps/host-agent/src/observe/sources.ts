/**
 * Which endpoint a packet's (input device, source address) belongs to, by the host document's rules
 * (docs/host-protocol.md "Which packets"): endpoints naming that device first, else those naming
 * none; an endpoint's exact address (natPrimary) before its alias ranges.
 */
import type { HostDocument, HostEndpoint, HostGateway } from '@natplane/contracts';
import { parseCidr, parseIpv4 } from '@natplane/nftables';

export interface SourceOwner {
  gateway: HostGateway;
  endpoint: HostEndpoint;
}

interface Candidate extends SourceOwner {
  lo: number;
  hi: number;
  exact: boolean;
}

export class SourceIndex {
  private readonly byDevice = new Map<string, Candidate[]>();
  private readonly unnamed: Candidate[] = [];
  readonly endpoints = new Map<string, SourceOwner[]>();

  constructor(doc: HostDocument) {
    for (const gateway of doc.gateways) {
      for (const endpoint of gateway.endpoints) {
        const list = endpoint.hostInterface === undefined ? this.unnamed : this.device(endpoint.hostInterface);
        const ip = parseIpv4(endpoint.networkIp);
        if (endpoint.natPrimary && ip !== null) list.push({ gateway, endpoint, lo: ip, hi: ip, exact: true });
        for (const r of endpoint.aliasRanges) {
          const c = parseCidr(r);
          if (c) list.push({ gateway, endpoint, lo: c.start, hi: c.end, exact: false });
        }
        this.endpoints.set(endpoint.id, [...(this.endpoints.get(endpoint.id) ?? []), { gateway, endpoint }]);
      }
    }
  }

  private device(name: string): Candidate[] {
    let l = this.byDevice.get(name);
    if (!l) this.byDevice.set(name, (l = []));
    return l;
  }

  lookup(device: string, address: string): SourceOwner | undefined {
    const ip = parseIpv4(address);
    if (ip === null) return undefined;
    const list = this.byDevice.get(device) ?? this.unnamed;
    return list.find((c) => c.exact && c.lo === ip) ?? list.find((c) => !c.exact && c.lo <= ip && ip <= c.hi);
  }
}

/** The rule of `owner` whose active or drain blocks are on `natIp` (-1 when none says so). */
export function ruleOfNatIp(owner: SourceOwner, natIp: string): number {
  for (const m of owner.endpoint.mappings) {
    if (m.active?.natIp === natIp || m.drain.some((b) => b.natIp === natIp)) return m.ruleNumber;
  }
  return -1;
}
