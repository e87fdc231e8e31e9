/**
 * What a document asks for that this backend does not do exactly, in words for the host report.
 */
import { HostDocument } from '@natplane/contracts';

/** Linux's default (net.netfilter.nf_conntrack_icmp_timeout); nft 1.0.6 has no ICMP ct timeout policy. */
export const KERNEL_ICMP_TIMEOUT_SEC = 30;

export function documentWarnings(doc: HostDocument): string[] {
  const out: string[] = [];
  for (const g of doc.gateways) {
    if (g.timeouts.icmpIdleTimeoutSec !== KERNEL_ICMP_TIMEOUT_SEC) {
      out.push(
        `gateway ${g.name}: icmpIdleTimeoutSec=${g.timeouts.icmpIdleTimeoutSec} is not applied per gateway ` +
          `(nftables 1.0.6 has no ICMP ct timeout policy); ICMP uses the host's net.netfilter.nf_conntrack_icmp_timeout`,
      );
    }
  }
  return out;
}
