/**
 * Lines of `nft monitor trace` (nftables 1.0.6 prints text only): the packets the observation table
 * marked (new flows), the verdicts natplane's chains gave them, and their header after SNAT.
 */
export interface TraceLine {
  id: string;
  table: string;
  chain: string;
  /** `packet`: a header dump; `verdict`: a rule's or policy's verdict. */
  kind: 'packet' | 'verdict';
  verdict?: string;
  iif?: string;
  saddr?: string;
  daddr?: string;
  proto?: string;
  sport?: number;
  dport?: number;
}

export function parseTraceLine(line: string): TraceLine | undefined {
  const m = /^trace id (\S+) ip (\S+) (\S+) (.*)$/.exec(line.trim());
  if (!m) return undefined;
  const [, id, table, chain, rest] = m;
  if (rest.startsWith('packet:')) {
    const t: TraceLine = { id, table, chain, kind: 'packet' };
    const iif = /\biif "([^"]+)"/.exec(rest);
    if (iif) t.iif = iif[1];
    const sa = /\bip saddr (\S+)/.exec(rest);
    const da = /\bip daddr (\S+)/.exec(rest);
    if (sa) t.saddr = sa[1];
    if (da) t.daddr = da[1];
    const l4 = /\b(tcp|udp) sport (\d+) \1 dport (\d+)/.exec(rest);
    if (l4) {
      t.proto = l4[1];
      t.sport = Number(l4[2]);
      t.dport = Number(l4[3]);
    } else if (/\bicmp type /.test(rest)) {
      t.proto = 'icmp';
      const idm = /\bicmp id (\d+)/.exec(rest);
      t.sport = idm ? Number(idm[1]) : 0;
      t.dport = 0;
    }
    return t;
  }
  const v = /\(verdict (\w+)/.exec(rest) ?? /^policy (\w+)/.exec(rest);
  return v ? { id, table, chain, kind: 'verdict', verdict: v[1] } : undefined;
}
