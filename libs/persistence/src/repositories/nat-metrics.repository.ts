import { COUNTER_FIELDS, type CounterReading, type CounterValues, addCounters, counterStep, nullCounters } from '@natplane/domain';
import type { Db } from '../db';

/** The gateway's own row in nat_metric_samples and nat_counter_totals. */
export const GATEWAY_ROW = '00000000-0000-0000-0000-000000000000';
/** 1-minute buckets, kept 6 hours; 1-hour buckets (downsampled from them), kept 14 days. */
export const RESOLUTIONS = [
  { sec: 60, keep: '6 hours' },
  { sec: 3600, keep: '14 days' },
] as const;
/** An endpoint is out of ports when it used its whole allocation, or dropped packets within this window. */
export const EXHAUSTION_WINDOW_SEC = 30;

const SNAKE: Record<string, string> = {
  newConnections: 'new_connections',
  sentPackets: 'sent_packets',
  sentBytes: 'sent_bytes',
  receivedPackets: 'received_packets',
  receivedBytes: 'received_bytes',
  droppedOutOfResources: 'dropped_out_of_resources',
  droppedEndpointIndependenceConflict: 'dropped_endpoint_independence_conflict',
  droppedUntranslatableFragment: 'dropped_untranslatable_fragment',
  droppedUntranslatableProtocol: 'dropped_untranslatable_protocol',
};
const COLS = COUNTER_FIELDS.map((f) => SNAKE[f]);
/** `sum(x)::float8 AS "x"` for every counter column. */
const sums = (alias: string) => COUNTER_FIELDS.map((f) => `sum(${alias}.${SNAKE[f]})::float8 AS "${f}"`).join(', ');

export interface ReportedPair {
  endpoint: string;
  ruleNumber: number;
  reading: CounterReading;
}

/** Figures of a gateway or an endpoint, as status and mappings show them (null: not measured). */
export interface NatFigures extends CounterValues {
  portsInUse: number;
  allocatedPorts: number;
  openConnections: number | null;
}

export interface SamplePoint extends CounterValues {
  time: Date;
  allocatedPorts: number | null;
  portsInUse: number | null;
  openConnections: number | null;
  endpointsWithoutMapping: number | null;
}

export interface GatewayMetricRow extends CounterValues {
  gatewayId: string;
  project: string;
  gateway: string;
  portUsage: number;
  portUsageRatio: number;
  outOfPorts: number;
  openConnections: number | null;
  endpointsWithoutMapping: number;
  allocationFailed: number;
}

export interface EndpointMetricRow extends CounterValues {
  gatewayId: string;
  endpoint: string;
  allocatedPorts: number;
  portsInUse: number;
  openConnections: number | null;
}

/**
 * Data-plane counters and the time series (docs/observability.md): written by the api on every host
 * report, read by status, mappings, the time-series route and /metrics; sampled, downsampled and
 * pruned by the worker.
 */
export class NatMetricsRepository {
  constructor(private readonly db: Db) {}

  /**
   * A host's report: each (endpoint, rule) of an endpoint placed on this host and holding a block
   * is attributed to that block's gateway; its increase over the last reading is added to the
   * totals and to the current minute's sample of its endpoint, with the ports in use (from the
   * report's usage), the open connections and the ports allocated. `complete`: pairs of this host
   * not listed have no open connection.
   */
  async recordReport(hostId: string, pairs: ReportedPair[], usage: { endpoint: string; ruleNumber: number; portsInUse: number }[], complete: boolean): Promise<void> {
    if (pairs.length === 0 && usage.length === 0) return;
    await this.db.transaction(async () => {
      const keys = new Map<string, { endpoint: string; ruleNumber: number }>();
      for (const p of [...pairs, ...usage]) keys.set(`${p.endpoint}|${p.ruleNumber}`, { endpoint: p.endpoint, ruleNumber: p.ruleNumber });
      const list = [...keys.values()];
      const { rows } = await this.db.query<Record<string, unknown> & { ep: string; rn: number; gatewayId: string; since: Date | null; openConnections: number | null }>(
        `SELECT r.ep, r.rn, g.gateway_id AS "gatewayId", s.since, s.open_connections::float8 AS "openConnections",
                ${COLS.map((c, i) => `s.${c}::float8 AS "${COUNTER_FIELDS[i]}"`).join(', ')}
         FROM unnest($2::uuid[], $3::int[]) AS r(ep, rn)
         JOIN endpoints e ON e.id = r.ep AND e.host_id = $1
         JOIN LATERAL (SELECT a.gateway_id FROM allocations a WHERE a.endpoint_id = r.ep AND a.rule_number = r.rn AND a.state <> 'QUARANTINE'
                       ORDER BY a.gateway_id LIMIT 1) g ON true
         LEFT JOIN nat_counter_state s ON s.endpoint_id = r.ep AND s.rule_number = r.rn AND s.host_id = $1
         ORDER BY r.ep, r.rn
         FOR UPDATE OF e`,
        [hostId, list.map((k) => k.endpoint), list.map((k) => k.ruleNumber)],
      );
      const known = new Map(rows.map((r) => [`${r.ep}|${r.rn}`, r]));
      const usageOf = new Map(usage.map((u) => [`${u.endpoint}|${u.ruleNumber}`, u.portsInUse]));
      // per (gateway, endpoint): the deltas, ports in use and open connections of this report
      const perEndpoint = new Map<string, { gatewayId: string; endpoint: string; delta: CounterValues; portsInUse: number; open: number | null }>();
      const state: { ep: string; rn: number; gw: string; r: CounterReading; dropped: boolean }[] = [];
      const entry = (gatewayId: string, endpoint: string) => {
        const k = `${gatewayId}|${endpoint}`;
        let e = perEndpoint.get(k);
        if (!e) perEndpoint.set(k, (e = { gatewayId, endpoint, delta: nullCounters(), portsInUse: 0, open: null }));
        return e;
      };
      for (const p of pairs) {
        const row = known.get(`${p.endpoint}|${p.ruleNumber}`);
        if (!row) continue;
        const prev: CounterReading | undefined = row.since ? ({ ...(row as unknown as CounterValues), since: row.since, openConnections: row.openConnections }) : undefined;
        const step = counterStep(prev, p.reading);
        const e = entry(row.gatewayId, p.endpoint);
        e.delta = addCounters(e.delta, step.delta);
        if (step.keep) {
          state.push({ ep: p.endpoint, rn: p.ruleNumber, gw: row.gatewayId, r: p.reading, dropped: step.dropped });
          if (p.reading.openConnections !== null) e.open = (e.open ?? 0) + p.reading.openConnections;
        }
      }
      for (const [k, n] of usageOf) {
        const row = known.get(k);
        if (row) entry(row.gatewayId, k.split('|')[0]).portsInUse += n;
      }
      if (state.length) {
        await this.db.query(
          `INSERT INTO nat_counter_state (endpoint_id, rule_number, host_id, gateway_id, since, read_at, reported_at, last_drop_at, open_connections, ${COLS.join(', ')})
           SELECT u.ep, u.rn, $1, u.gw, u.since, u.since, now(), CASE WHEN u.dropped THEN now() END, u.open, ${COLS.map((c) => `u.${c}`).join(', ')}
           FROM unnest($2::uuid[], $3::int[], $4::uuid[], $5::timestamptz[], $6::bool[], $7::bigint[], ${COLS.map((_, i) => `$${i + 8}::bigint[]`).join(', ')})
             AS u(ep, rn, gw, since, dropped, open, ${COLS.join(', ')})
           ON CONFLICT (endpoint_id, rule_number, host_id) DO UPDATE SET gateway_id = excluded.gateway_id, since = excluded.since, read_at = excluded.read_at,
             reported_at = now(), last_drop_at = COALESCE(excluded.last_drop_at, nat_counter_state.last_drop_at), open_connections = excluded.open_connections,
             ${COLS.map((c) => `${c} = excluded.${c}`).join(', ')}`,
          [
            hostId,
            state.map((s) => s.ep),
            state.map((s) => s.rn),
            state.map((s) => s.gw),
            state.map((s) => s.r.since.toISOString()),
            state.map((s) => s.dropped),
            state.map((s) => s.r.openConnections),
            ...COUNTER_FIELDS.map((f) => state.map((s) => s.r[f])),
          ],
        );
      }
      if (complete && pairs.length >= 0) {
        await this.db.query(
          `UPDATE nat_counter_state s SET open_connections = 0, reported_at = now() WHERE s.host_id = $1 AND s.open_connections <> 0
             AND NOT EXISTS (SELECT 1 FROM unnest($2::uuid[], $3::int[]) AS l(ep, rn) WHERE l.ep = s.endpoint_id AND l.rn = s.rule_number)`,
          [hostId, pairs.map((p) => p.endpoint), pairs.map((p) => p.ruleNumber)],
        );
      }
      const eps = [...perEndpoint.values()];
      if (eps.length === 0) return;
      const args = [eps.map((e) => e.gatewayId), eps.map((e) => e.endpoint), ...COUNTER_FIELDS.map((f) => eps.map((e) => e.delta[f]))];
      const unnest = `unnest($1::uuid[], $2::uuid[], ${COLS.map((_, i) => `$${i + 3}::bigint[]`).join(', ')}) AS d(gw, ep, ${COLS.join(', ')})`;
      await this.db.query(
        `INSERT INTO nat_counter_totals (gateway_id, endpoint_id, ${COLS.join(', ')})
         SELECT d.gw, d.ep, ${COLS.map((c) => `d.${c}`).join(', ')} FROM ${unnest}
         WHERE ${COLS.map((c) => `d.${c} IS NOT NULL`).join(' OR ')}
         ON CONFLICT (gateway_id, endpoint_id) DO UPDATE SET
           ${COLS.map((c) => `${c} = CASE WHEN excluded.${c} IS NULL THEN nat_counter_totals.${c} ELSE COALESCE(nat_counter_totals.${c}, 0) + excluded.${c} END`).join(', ')}`,
        args,
      );
      const n = COLS.length + 3;
      await this.db.query(
        `INSERT INTO nat_metric_samples (gateway_id, endpoint_id, resolution_sec, bucket, allocated_ports, ports_in_use, open_connections, ${COLS.join(', ')})
         SELECT d.gw, d.ep, 60, date_trunc('minute', now()),
                (SELECT COALESCE(sum(a.port_hi - a.port_lo + 1), 0) FROM allocations a WHERE a.gateway_id = d.gw AND a.endpoint_id = d.ep AND a.state = 'ACTIVE'),
                p.ports, p.open, ${COLS.map((c) => `d.${c}`).join(', ')}
         FROM ${unnest} JOIN unnest($1::uuid[], $2::uuid[], $${n}::int[], $${n + 1}::bigint[]) AS p(gw, ep, ports, open) ON p.gw = d.gw AND p.ep = d.ep
         ON CONFLICT (gateway_id, endpoint_id, resolution_sec, bucket) DO UPDATE SET
           allocated_ports = excluded.allocated_ports,
           ports_in_use = GREATEST(nat_metric_samples.ports_in_use, excluded.ports_in_use),
           open_connections = GREATEST(nat_metric_samples.open_connections, excluded.open_connections),
           ${COLS.map((c) => `${c} = CASE WHEN excluded.${c} IS NULL THEN nat_metric_samples.${c} ELSE COALESCE(nat_metric_samples.${c}, 0) + excluded.${c} END`).join(', ')}`,
        [...args, eps.map((e) => e.portsInUse), eps.map((e) => e.open)],
      );
    });
  }

  /** A gateway's figures now: totals, ports in use and allocated, open connections. */
  async gatewayFigures(gatewayId: string): Promise<NatFigures> {
    const r = await this.db.one<NatFigures>(
      `SELECT ${sums('t')},
              (SELECT COALESCE(sum(a.port_hi - a.port_lo + 1), 0)::float8 FROM allocations a WHERE a.gateway_id = $1 AND a.state = 'ACTIVE') AS "allocatedPorts",
              (SELECT COALESCE(sum(u.ports_in_use), 0)::float8 FROM (${LATEST_USAGE}) u WHERE u.gateway_id = $1) AS "portsInUse",
              (SELECT sum(s.open_connections)::float8 FROM nat_counter_state s WHERE s.gateway_id = $1 AND s.reported_at > now() - interval '15 minutes') AS "openConnections"
       FROM nat_counter_totals t WHERE t.gateway_id = $1`,
      [gatewayId],
    );
    return r!;
  }

  /** Figures per endpoint of a gateway, by endpoint name (those of `names`, in the gateway's project). */
  async endpointFigures(gatewayId: string, projectId: string, names: string[]): Promise<Map<string, NatFigures>> {
    const { rows } = await this.db.query<NatFigures & { name: string }>(
      `SELECT e.name, ${sums('t')},
              (SELECT COALESCE(sum(a.port_hi - a.port_lo + 1), 0)::float8 FROM allocations a WHERE a.gateway_id = $1 AND a.endpoint_id = e.id AND a.state = 'ACTIVE') AS "allocatedPorts",
              (SELECT COALESCE(sum(u.ports_in_use), 0)::float8 FROM (${LATEST_USAGE}) u WHERE u.gateway_id = $1 AND u.endpoint_id = e.id) AS "portsInUse",
              (SELECT sum(s.open_connections)::float8 FROM nat_counter_state s WHERE s.gateway_id = $1 AND s.endpoint_id = e.id AND s.reported_at > now() - interval '15 minutes') AS "openConnections"
       FROM endpoints e LEFT JOIN nat_counter_totals t ON t.gateway_id = $1 AND t.endpoint_id = e.id
       WHERE e.project_id = $2 AND e.name = ANY($3::text[])
       GROUP BY e.id, e.name`,
      [gatewayId, projectId, names],
    );
    return new Map(rows.map((r) => [r.name, r]));
  }

  /** An endpoint's id by name in a project. */
  async endpointId(projectId: string, name: string): Promise<string | undefined> {
    return (await this.db.one<{ id: string }>('SELECT id FROM endpoints WHERE project_id = $1 AND name = $2', [projectId, name]))?.id;
  }

  /**
   * The series of a gateway (endpointId undefined: its own row for allocated ports, the sums of its
   * endpoints' rows for the rest) or of one endpoint, from `from` to `to`, in buckets of
   * `resolutionSec`.
   */
  async series(gatewayId: string, endpointId: string | undefined, from: Date, to: Date, resolutionSec: number): Promise<SamplePoint[]> {
    const own = `s.endpoint_id = '${GATEWAY_ROW}'`;
    const { rows } = await this.db.query<SamplePoint>(
      `SELECT s.bucket AS "time",
              max(s.allocated_ports) FILTER (WHERE (${own}) = ($2::uuid IS NULL))::float8 AS "allocatedPorts",
              max(s.endpoints_without_mapping) FILTER (WHERE ${own})::float8 AS "endpointsWithoutMapping",
              sum(s.ports_in_use) FILTER (WHERE NOT ${own})::float8 AS "portsInUse",
              sum(s.open_connections) FILTER (WHERE NOT ${own})::float8 AS "openConnections", ${sums('s')}
       FROM nat_metric_samples s
       WHERE s.gateway_id = $1 AND s.resolution_sec = $3 AND s.bucket >= $4 AND s.bucket <= $5
         AND ($2::uuid IS NULL OR s.endpoint_id = $2::uuid)
       GROUP BY s.bucket ORDER BY s.bucket`,
      [gatewayId, endpointId ?? null, resolutionSec, from, to],
    );
    return rows;
  }

  /** Every gateway's figures for /metrics (a few passes over the tables, whatever the number of gateways). */
  async gatewayMetrics(): Promise<GatewayMetricRow[]> {
    const { rows } = await this.db.query<GatewayMetricRow>(
      `WITH ep AS (${ENDPOINT_NOW}),
       epg AS (SELECT ep.gateway_id, max(ep.ports_in_use) AS usage, max(ep.ports_in_use::float8 / NULLIF(ep.allocated, 0)) AS ratio,
                      count(*) FILTER (WHERE ep.allocated > 0 AND ep.ports_in_use >= ep.allocated
                                          OR ep.last_drop_at > now() - make_interval(secs => ${EXHAUSTION_WINDOW_SEC})) AS oop
               FROM ep GROUP BY 1),
       st AS (SELECT s.gateway_id, sum(s.open_connections) AS open FROM nat_counter_state s WHERE s.reported_at > now() - interval '15 minutes' GROUP BY 1),
       tot AS (SELECT t.gateway_id, ${COLS.map((c) => `sum(t.${c}) AS ${c}`).join(', ')} FROM nat_counter_totals t GROUP BY 1)
       SELECT g.id AS "gatewayId", p.name AS project, g.name AS gateway,
              COALESCE(epg.usage, 0)::float8 AS "portUsage", COALESCE(epg.ratio, 0)::float8 AS "portUsageRatio", COALESCE(epg.oop, 0)::float8 AS "outOfPorts",
              st.open::float8 AS "openConnections",
              COALESCE((g.nat_status->>'endpointsWithoutMappings')::float8, 0) AS "endpointsWithoutMapping",
              CASE WHEN COALESCE((g.nat_status->>'endpointsWithoutMappings')::int, 0) > 0 OR COALESCE((g.nat_status->>'minExtraNatIpsNeeded')::int, 0) > 0 THEN 1 ELSE 0 END::float8 AS "allocationFailed",
              ${COLS.map((c, i) => `tot.${c}::float8 AS "${COUNTER_FIELDS[i]}"`).join(', ')}
       FROM nat_gateways g JOIN projects p ON p.id = g.project_id
       LEFT JOIN epg ON epg.gateway_id = g.id LEFT JOIN st ON st.gateway_id = g.id LEFT JOIN tot ON tot.gateway_id = g.id
       ORDER BY p.name, g.name`,
    );
    return rows;
  }

  /** Allocated ports per gateway and NAT IP. */
  async allocatedByNatIp(): Promise<{ gatewayId: string; natIp: string; ports: number }[]> {
    const { rows } = await this.db.query<{ gatewayId: string; natIp: string; ports: number }>(
      `SELECT a.gateway_id AS "gatewayId", host(a.nat_ip) AS "natIp", sum(a.port_hi - a.port_lo + 1)::float8 AS ports
       FROM allocations a WHERE a.state = 'ACTIVE' GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    return rows;
  }

  /** Every endpoint's figures for /metrics (the per-endpoint switch). */
  async endpointMetrics(): Promise<EndpointMetricRow[]> {
    const { rows } = await this.db.query<EndpointMetricRow>(
      `WITH ep AS (${ENDPOINT_NOW})
       SELECT ep.gateway_id AS "gatewayId", e.name AS endpoint, ep.allocated::float8 AS "allocatedPorts", ep.ports_in_use::float8 AS "portsInUse",
              (SELECT sum(s.open_connections) FROM nat_counter_state s WHERE s.gateway_id = ep.gateway_id AND s.endpoint_id = ep.endpoint_id
                 AND s.reported_at > now() - interval '15 minutes')::float8 AS "openConnections",
              ${COLS.map((c, i) => `t.${c}::float8 AS "${COUNTER_FIELDS[i]}"`).join(', ')}
       FROM ep JOIN endpoints e ON e.id = ep.endpoint_id
       LEFT JOIN nat_counter_totals t ON t.gateway_id = ep.gateway_id AND t.endpoint_id = ep.endpoint_id
       ORDER BY ep.gateway_id, e.name`,
    );
    return rows;
  }

  // ---- the worker's sampler ------------------------------------------------------------------

  /** Writes every gateway's own row of the current minute: allocated ports, endpoints without a mapping. */
  async sampleGateways(): Promise<number> {
    const r = await this.db.query(
      `INSERT INTO nat_metric_samples (gateway_id, endpoint_id, resolution_sec, bucket, allocated_ports, endpoints_without_mapping)
       SELECT g.id, '${GATEWAY_ROW}', 60, date_trunc('minute', now()),
              (SELECT COALESCE(sum(a.port_hi - a.port_lo + 1), 0) FROM allocations a WHERE a.gateway_id = g.id AND a.state = 'ACTIVE'),
              COALESCE((g.nat_status->>'endpointsWithoutMappings')::int, 0)
       FROM nat_gateways g
       ON CONFLICT (gateway_id, endpoint_id, resolution_sec, bucket) DO UPDATE SET
         allocated_ports = GREATEST(nat_metric_samples.allocated_ports, excluded.allocated_ports),
         endpoints_without_mapping = GREATEST(nat_metric_samples.endpoints_without_mapping, excluded.endpoints_without_mapping)`,
    );
    return r.rowCount;
  }

  /**
   * Downsamples the complete hours of 1-minute rows into 1-hour rows (gauges: the maximum;
   * counters: the sum), then deletes what is past each resolution's retention, and the samples
   * and counter readings nothing will read again. Idempotent.
   */
  async downsampleAndPrune(): Promise<{ downsampled: number; deleted: number }> {
    const down = await this.db.query(
      `INSERT INTO nat_metric_samples (gateway_id, endpoint_id, resolution_sec, bucket, allocated_ports, ports_in_use, endpoints_without_mapping, open_connections, ${COLS.join(', ')})
       SELECT s.gateway_id, s.endpoint_id, 3600, date_trunc('hour', s.bucket), max(s.allocated_ports), max(s.ports_in_use), max(s.endpoints_without_mapping),
              max(s.open_connections), ${COLS.map((c) => `sum(s.${c})`).join(', ')}
       FROM nat_metric_samples s WHERE s.resolution_sec = 60 AND s.bucket < date_trunc('hour', now()) AND s.bucket >= date_trunc('hour', now()) - interval '6 hours'
       GROUP BY 1, 2, 4
       ON CONFLICT (gateway_id, endpoint_id, resolution_sec, bucket) DO UPDATE SET
         allocated_ports = excluded.allocated_ports, ports_in_use = excluded.ports_in_use, endpoints_without_mapping = excluded.endpoints_without_mapping,
         open_connections = excluded.open_connections, ${COLS.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    );
    let deleted = 0;
    for (const r of RESOLUTIONS) {
      deleted += (await this.db.query(`DELETE FROM nat_metric_samples WHERE resolution_sec = $1 AND bucket < now() - $2::interval`, [r.sec, r.keep])).rowCount;
    }
    // Samples of ports in use past their 15 minutes, whoever held them: a report prunes only its
    // own host's endpoints, so a deleted endpoint's samples (no host any more) were kept for ever,
    // a row per minute of its life (the soak's churn: the table and each report's read of it grew
    // all run long).
    await this.db.query(`DELETE FROM endpoint_usage WHERE reported_at < now() - interval '15 minutes'`);
    // A counter reading is kept to take the next one's difference from; none comes from a host an
    // endpoint moved off (a deleted endpoint's go with it: a foreign key's cascade).
    await this.db.query(
      `DELETE FROM nat_counter_state s USING endpoints e
       WHERE e.id = s.endpoint_id AND e.host_id <> s.host_id AND s.reported_at < now() - interval '15 minutes'`,
    );
    // the totals of deleted endpoints move into their gateway's own row (its sums stay the same)
    await this.db.query(
      `WITH gone AS (DELETE FROM nat_counter_totals t WHERE t.endpoint_id <> '${GATEWAY_ROW}' AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.id = t.endpoint_id) RETURNING t.*),
            folded AS (SELECT gateway_id, ${COLS.map((c) => `sum(${c}) AS ${c}`).join(', ')} FROM gone GROUP BY gateway_id)
       INSERT INTO nat_counter_totals (gateway_id, endpoint_id, ${COLS.join(', ')}) SELECT gateway_id, '${GATEWAY_ROW}', ${COLS.join(', ')} FROM folded
       ON CONFLICT (gateway_id, endpoint_id) DO UPDATE SET
         ${COLS.map((c) => `${c} = CASE WHEN excluded.${c} IS NULL THEN nat_counter_totals.${c} ELSE COALESCE(nat_counter_totals.${c}, 0) + excluded.${c} END`).join(', ')}`,
    );
    return { downsampled: down.rowCount, deleted };
  }

  /** Keeps host_convergence: hosts behind their desired generation since when (first seen behind). */
  async trackConvergence(): Promise<void> {
    await this.db.query(`DELETE FROM host_convergence c USING hosts h WHERE h.id = c.host_id AND h.applied_generation >= h.desired_generation`);
    await this.db.query(
      `INSERT INTO host_convergence (host_id, behind_since) SELECT id, now() FROM hosts WHERE applied_generation < desired_generation ON CONFLICT DO NOTHING`,
    );
  }

  /** Hosts for the worker's /metrics: name, how long behind (0: converged), last report, unreachable. */
  async hostStates(): Promise<{ host: string; behindSeconds: number; lastReport: number | null; unreachable: boolean }[]> {
    const { rows } = await this.db.query<{ host: string; behindSeconds: number; lastReport: number | null; unreachable: boolean }>(
      `SELECT h.name AS host, COALESCE(extract(epoch FROM now() - c.behind_since), 0)::float8 AS "behindSeconds",
              extract(epoch FROM h.last_report_time)::float8 AS "lastReport", h.push_failures >= 3 AS unreachable
       FROM hosts h LEFT JOIN host_convergence c ON c.host_id = h.id AND h.applied_generation < h.desired_generation ORDER BY h.name`,
    );
    return rows;
  }

  /** Gateways whose observed generation lags their generation. */
  async unconvergedGateways(): Promise<number> {
    return (await this.db.one<{ n: number }>(`SELECT count(*)::float8 AS n FROM nat_gateways WHERE observed_generation < generation`))!.n;
  }
}

/** The latest ports in use per (endpoint, rule), within 15 minutes, with the gateway of its block. */
const LATEST_USAGE = `SELECT DISTINCT ON (u.endpoint_id, u.rule_number) u.endpoint_id, u.rule_number, u.ports_in_use,
    (SELECT a.gateway_id FROM allocations a WHERE a.endpoint_id = u.endpoint_id AND a.rule_number = u.rule_number AND a.state <> 'QUARANTINE' ORDER BY a.gateway_id LIMIT 1) AS gateway_id
  FROM endpoint_usage u WHERE u.reported_at > now() - interval '15 minutes' ORDER BY u.endpoint_id, u.rule_number, u.reported_at DESC`;

/** Per (gateway, endpoint) holding active blocks: ports allocated, ports in use now, last drop. */
const ENDPOINT_NOW = `SELECT a.gateway_id, a.endpoint_id, a.allocated, COALESCE(u.ports, 0) AS ports_in_use, d.last_drop_at
  FROM (SELECT gateway_id, endpoint_id, sum(port_hi - port_lo + 1) AS allocated FROM allocations WHERE state = 'ACTIVE' GROUP BY 1, 2) a
  LEFT JOIN (SELECT l.endpoint_id, l.gateway_id, sum(l.ports_in_use) AS ports FROM (${LATEST_USAGE}) l GROUP BY 1, 2) u
    ON u.endpoint_id = a.endpoint_id AND u.gateway_id = a.gateway_id
  LEFT JOIN (SELECT endpoint_id, gateway_id, max(last_drop_at) AS last_drop_at FROM nat_counter_state GROUP BY 1, 2) d
    ON d.endpoint_id = a.endpoint_id AND d.gateway_id = a.gateway_id`;
