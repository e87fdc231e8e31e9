/**
 * From the counters a host reports to what natplane keeps (docs/observability.md, "From host
 * counters to series"). A host reports, per (endpoint, rule), figures that are cumulative since a
 * stated instant (`since`) or snapshots; natplane keeps the last report per (endpoint, rule, host)
 * and adds each new report's increase (its delta) to totals that never decrease, whatever hosts
 * restart or VMs move. A figure a host cannot measure is null, never 0: null stays null.
 */

/** The cumulative figures, in natplane's names (Cloud NAT's drop reasons). */
export const COUNTER_FIELDS = [
  'newConnections',
  'sentPackets',
  'sentBytes',
  'receivedPackets',
  'receivedBytes',
  'droppedOutOfResources',
  'droppedEndpointIndependenceConflict',
  'droppedUntranslatableFragment',
  'droppedUntranslatableProtocol',
] as const;
export type CounterField = (typeof COUNTER_FIELDS)[number];
export type CounterValues = Record<CounterField, number | null>;

/** Cloud NAT's drop reasons (the `reason` label), and the field each is kept in. */
export const DROP_REASON_FIELDS = {
  OUT_OF_RESOURCES: 'droppedOutOfResources',
  ENDPOINT_INDEPENDENCE_CONFLICT: 'droppedEndpointIndependenceConflict',
  UNTRANSLATABLE_FRAGMENT: 'droppedUntranslatableFragment',
  UNTRANSLATABLE_PROTOCOL: 'droppedUntranslatableProtocol',
} as const satisfies Record<string, CounterField>;
export type NatDropReason = keyof typeof DROP_REASON_FIELDS;

/** One (endpoint, rule)'s reading: cumulative figures from `since`, and the open connections now. */
export interface CounterReading extends CounterValues {
  since: Date;
  openConnections: number | null;
}

/** The same pair's reading as a host reports it (libs/contracts HostEndpointCounters). */
export interface ReportedCounters {
  since: string;
  newConnections: number | null;
  openConnections: number | null;
  sentPackets: number | null;
  sentBytes: number | null;
  receivedPackets: number | null;
  receivedBytes: number | null;
  droppedSentPackets: { [reason: string]: number | null | undefined } | { OUT_OF_RESOURCES: number | null };
}

export function readingOf(r: ReportedCounters): CounterReading {
  const d = r.droppedSentPackets as Record<string, number | null | undefined>;
  return {
    since: new Date(r.since),
    newConnections: r.newConnections,
    openConnections: r.openConnections,
    sentPackets: r.sentPackets,
    sentBytes: r.sentBytes,
    receivedPackets: r.receivedPackets,
    receivedBytes: r.receivedBytes,
    droppedOutOfResources: d.OUT_OF_RESOURCES ?? null,
    // the report names it ENDPOINT_INDEPENDENT_CONFLICT, Cloud NAT ENDPOINT_INDEPENDENCE_CONFLICT
    droppedEndpointIndependenceConflict: d.ENDPOINT_INDEPENDENT_CONFLICT ?? d.ENDPOINT_INDEPENDENCE_CONFLICT ?? null,
    droppedUntranslatableFragment: d.UNTRANSLATABLE_FRAGMENT ?? null,
    droppedUntranslatableProtocol: d.UNTRANSLATABLE_PROTOCOL ?? null,
  };
}

export interface CounterStep {
  /** What the report adds to the totals (null: not measured by the report). */
  delta: CounterValues;
  /** Whether the reading replaces the one kept (false: a report older than the kept one). */
  keep: boolean;
  /** Whether the report brought dropped packets. */
  dropped: boolean;
}

/**
 * The increase a reading brings over the last one kept for the same pair and host:
 * - nothing kept, or counters restarted (a later `since`): the whole reading, counted from 0;
 * - the same `since`: the increase of each figure (a figure that went down adds nothing);
 * - an earlier `since` (a report that arrived after a newer one): nothing, and it is not kept;
 * - a figure that was null before and is measured now counts from 0.
 */
export function counterStep(prev: CounterReading | undefined, next: CounterReading): CounterStep {
  const delta = {} as CounterValues;
  if (prev && next.since.getTime() < prev.since.getTime()) {
    for (const f of COUNTER_FIELDS) delta[f] = next[f] === null ? null : 0;
    return { delta, keep: false, dropped: false };
  }
  const restarted = !prev || next.since.getTime() > prev.since.getTime();
  for (const f of COUNTER_FIELDS) {
    const v = next[f];
    if (v === null) delta[f] = null;
    else if (restarted || prev[f] === null) delta[f] = v;
    else delta[f] = Math.max(0, v - prev[f]);
  }
  const dropped = Object.values(DROP_REASON_FIELDS).some((f) => (delta[f] ?? 0) > 0);
  return { delta, keep: true, dropped };
}

/** Adds deltas (null + null = null: never measured; null + n = n). */
export function addCounters(a: CounterValues, b: CounterValues): CounterValues {
  const out = {} as CounterValues;
  for (const f of COUNTER_FIELDS) out[f] = a[f] === null && b[f] === null ? null : (a[f] ?? 0) + (b[f] ?? 0);
  return out;
}

export function nullCounters(): CounterValues {
  const out = {} as CounterValues;
  for (const f of COUNTER_FIELDS) out[f] = null;
  return out;
}
