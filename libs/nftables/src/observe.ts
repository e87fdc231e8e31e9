/**
 * The observation table `ip natplane_obs` (docs/observability.md "What the nftables backend
 * measures"): two filter chains around natplane's SNAT in postrouting, each updating a dynamic set
 * whose elements carry counters, keyed so that the agent can tell endpoints apart.
 *
 *   before_nat (priority srcnat - 1): the first packet of every connection not yet confirmed that
 *     leaves by the uplink, by (input device, source address, protocol): translation attempts;
 *   after_nat (priority srcnat + 1): the same packets once translated, by (input device, original
 *     source address, NAT IP): translated ones.
 *
 * Attempts that were not translated were dropped by natplane's own rules (fail closed: no block
 * for the rule, or a protocol it cannot translate); translated ones that conntrack never confirmed
 * (no NEW event) were dropped by nf_nat's clash on insertion: no free port in the block. The table
 * is separate from `ip natplane`, so that loading that one whole keeps these counters; the agent
 * creates it afresh when it starts (its counters then start from 0, with a new `since`).
 * With `trace`, before_nat also marks those packets for `nft monitor trace` (NAT logs of drops).
 */
export const OBS_TABLE = 'ip natplane_obs';

export function renderObservation(uplink: string, opts: { trace: boolean }): string {
  const dev = JSON.stringify(uplink);
  return [
    `add table ${OBS_TABLE}`,
    `delete table ${OBS_TABLE}`,
    `add table ${OBS_TABLE}`,
    `add set ${OBS_TABLE} attempts { type ifname . ipv4_addr . inet_proto; size 262144; flags dynamic; counter; }`,
    `add set ${OBS_TABLE} translated { type ifname . ipv4_addr . ipv4_addr; size 262144; flags dynamic; counter; }`,
    `add chain ${OBS_TABLE} before_nat { type filter hook postrouting priority srcnat - 1; policy accept; }`,
    `add chain ${OBS_TABLE} after_nat { type filter hook postrouting priority srcnat + 1; policy accept; }`,
    `add rule ${OBS_TABLE} before_nat oifname ${dev} ct status & confirmed == 0 update @attempts { iifname . ip saddr . meta l4proto }`,
    ...(opts.trace ? [traceRule(uplink)] : []),
    `add rule ${OBS_TABLE} after_nat oifname ${dev} ct status & (confirmed | snat) == snat update @translated { iifname . ct original ip saddr . ct reply ip daddr }`,
    '',
  ].join('\n');
}

/** The rule that marks new flows for `nft monitor trace` (added while some gateway logs errors). */
export function traceRule(uplink: string): string {
  return `add rule ${OBS_TABLE} before_nat oifname ${JSON.stringify(uplink)} ct status & confirmed == 0 meta nftrace set 1`;
}

export interface SetCounter {
  key: (string | number)[];
  packets: number;
  bytes: number;
}

/** The elements and counters of `nft -j list set ...` output. */
export function parseSetCounters(json: string): SetCounter[] {
  const out: SetCounter[] = [];
  const parsed = JSON.parse(json) as { nftables?: { set?: { elem?: unknown[] } }[] };
  for (const o of parsed.nftables ?? []) {
    for (const e of o.set?.elem ?? []) {
      const el = (e as { elem?: { val?: { concat?: (string | number)[] }; counter?: { packets: number; bytes: number } } }).elem;
      if (!el?.val?.concat || !el.counter) continue;
      out.push({ key: el.val.concat, packets: el.counter.packets, bytes: el.counter.bytes });
    }
  }
  return out;
}
