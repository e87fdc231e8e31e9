/**
 * A gateway's time series as charts (uPlot): ports in use against ports allocated, and packets
 * dropped by reason (Cloud NAT's), per minute over the last 6 hours, so that exhaustion shows where
 * the gateway is configured. Drawn from GET .../timeSeries (docs/observability.md "Time series").
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { NatTraffic, TimeSeries } from '@natplane/sdk';

const REASONS = ['OUT_OF_RESOURCES', 'ENDPOINT_INDEPENDENCE_CONFLICT', 'UNTRANSLATABLE_FRAGMENT', 'UNTRANSLATABLE_PROTOCOL'] as const;
const COLORS = ['#c62828', '#ef6c00', '#6a1b9a', '#455a64'];

function Chart({ id, title, series, data, range }: { id: string; title: string; series: uPlot.Series[]; data: uPlot.AlignedData; range: [number, number] }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const opts: uPlot.Options = {
      width: Math.max(320, el.current.clientWidth || 640),
      height: 220,
      // the whole window asked for, so one point sits at its time, not across years
      scales: { x: { time: true, range: () => range }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      series: [{}, ...series.map((x) => ({ points: { show: true, size: 5 }, ...x }))],
      axes: [{}, { size: 60 }],
      legend: { show: true },
    };
    const plot = new uPlot(opts, data, el.current);
    return () => plot.destroy();
  }, [series, data, range]);
  return (
    <figure className="chart" aria-labelledby={`${id}-caption`} data-testid={id}>
      <figcaption id={`${id}-caption`}>{title}</figcaption>
      <div ref={el} />
    </figure>
  );
}

/** Figures of the gateway now (from the status) and its charts. */
export function TrafficCharts({ series, traffic }: { series: TimeSeries; traffic: NatTraffic | undefined }) {
  const t = series.points.map((p) => Date.parse(p.time) / 1000);
  const range: [number, number] = [Date.parse(series.startTime) / 1000, Date.parse(series.endTime) / 1000];
  const n = (v: number | null | undefined) => (v === null || v === undefined ? null : v);
  const ports: uPlot.AlignedData = [t, series.points.map((p) => n(p.portsInUse)), series.points.map((p) => n(p.allocatedPorts))];
  const drops: uPlot.AlignedData = [t, ...REASONS.map((r) => series.points.map((p) => n(p.droppedSentPackets[r])))];
  const shown = (v: number | null | undefined) => (v === null || v === undefined ? 'not measured' : v.toLocaleString());
  return (
    <>
      {traffic && (
        <dl className="facts" data-testid="traffic-now">
          <dt>Ports in use / allocated</dt>
          <dd>
            {traffic.portsInUse.toLocaleString()} / {traffic.allocatedPorts.toLocaleString()}
          </dd>
          <dt>Open connections</dt>
          <dd>{shown(traffic.openConnections)}</dd>
          <dt>Dropped (out of resources)</dt>
          <dd data-testid="dropped-oor">{shown(traffic.droppedSentPackets.OUT_OF_RESOURCES)}</dd>
          <dt>New connections</dt>
          <dd>{shown(traffic.newConnections)}</dd>
        </dl>
      )}
      {series.points.length === 0 ? (
        <p>No samples yet: hosts report every few seconds, the gateway is sampled every 15 s.</p>
      ) : (
        <div className="charts">
          <Chart
            id="chart-ports"
            title={`Ports in use against ports allocated, per ${series.resolutionSec === 60 ? 'minute' : 'hour'}`}
            series={[
              { label: 'ports in use', stroke: '#1565c0', width: 2 },
              { label: 'allocated', stroke: '#2e7d32', width: 2, dash: [6, 4] },
            ]}
            data={ports}
            range={range}
          />
          <Chart
            id="chart-drops"
            title={`Packets dropped by reason, per ${series.resolutionSec === 60 ? 'minute' : 'hour'}`}
            series={REASONS.map((r, i) => ({ label: r, stroke: COLORS[i], width: 2, fill: `${COLORS[i]}22` }))}
            data={drops}
            range={range}
          />
        </div>
      )}
    </>
  );
}
