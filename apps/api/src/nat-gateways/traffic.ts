import { DROP_REASON_FIELDS, nullCounters, type CounterValues } from '@natplane/domain';
import type { NatFigures, SamplePoint } from '@natplane/persistence';
import type { DroppedSentPacketsDto, NatTrafficDto, TimeSeriesPointDto } from './insights.dto';

function dropped(v: CounterValues): DroppedSentPacketsDto {
  return Object.fromEntries(Object.entries(DROP_REASON_FIELDS).map(([reason, field]) => [reason, v[field]])) as unknown as DroppedSentPacketsDto;
}

/** The traffic figures of a gateway or an endpoint (nothing reported yet: 0 ports in use, the rest not measured). */
export function trafficView(f: NatFigures | undefined): NatTrafficDto {
  const v = f ?? { ...nullCounters(), allocatedPorts: 0, portsInUse: 0, openConnections: null };
  return {
    allocatedPorts: v.allocatedPorts,
    portsInUse: v.portsInUse,
    openConnections: v.openConnections,
    newConnections: v.newConnections,
    sentPackets: v.sentPackets,
    sentBytes: v.sentBytes,
    receivedPackets: v.receivedPackets,
    receivedBytes: v.receivedBytes,
    droppedSentPackets: dropped(v),
  };
}

export function pointView(p: SamplePoint): TimeSeriesPointDto {
  return {
    time: p.time.toISOString(),
    allocatedPorts: p.allocatedPorts,
    portsInUse: p.portsInUse,
    openConnections: p.openConnections,
    endpointsWithoutMapping: p.endpointsWithoutMapping,
    newConnections: p.newConnections,
    sentPackets: p.sentPackets,
    sentBytes: p.sentBytes,
    receivedPackets: p.receivedPackets,
    receivedBytes: p.receivedBytes,
    droppedSentPackets: dropped(p),
  };
}
