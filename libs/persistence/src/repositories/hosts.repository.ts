import type { Db } from '../db';
import { ResourceTable, type ResourceRecord } from '../resource-table';

export interface HostRecord extends ResourceRecord {
  region: string;
  zone: string;
  agentUrl: string;
  pushSecret: string;
  desiredGeneration: number;
  appliedGeneration: number;
  lastReportTime: Date | null;
  lastPushTime: Date | null;
  lastError: string | null;
  pushFailures: number;
  lastPushStatus: number | null;
}

/** The largest generation a document carries (an exact JSON integer). */
const MAX_GENERATION = Number.MAX_SAFE_INTEGER;

/** What lastError says of a host found holding a generation the control plane never gave it. */
export function aheadMessage(held: number, movedTo: number): string {
  return (
    `the host holds generation ${held}, which this control plane never gave it (a database restored from a backup? ` +
    `a host registered again under its name?): its generation moved to ${movedTo}, and its whole document goes out again`
  );
}

export class HostsRepository extends ResourceTable<HostRecord> {
  constructor(db: Db) {
    super(db, {
      table: 'hosts',
      columns: {
        region: 'region',
        zone: 'zone',
        agentUrl: 'agent_url',
        pushSecret: 'push_secret',
        desiredGeneration: 'desired_generation',
        appliedGeneration: 'applied_generation',
        lastReportTime: 'last_report_time',
        lastPushTime: 'last_push_time',
        lastError: 'last_error',
        pushFailures: 'push_failures',
        lastPushStatus: 'last_push_status',
      },
      reads: { desiredGeneration: 't.desired_generation::float8', appliedGeneration: 't.applied_generation::float8' },
      filterable: { region: 't.region', zone: 't.zone' },
      uniques: { hosts_name_key: 'name' },
    });
  }

  /** Endpoints placed on the host (they keep it from being deleted). */
  async users(hostId: string, limit = 20): Promise<string[]> {
    const { rows } = await this.db.query<{ path: string }>(
      `SELECT 'projects/' || p.name || '/endpoints/' || e.name AS path FROM endpoints e JOIN projects p ON p.id = e.project_id
       WHERE e.host_id = $1 ORDER BY 1 LIMIT $2`,
      [hostId, limit],
    );
    return rows.map((r) => r.path);
  }

  async idsByNames(names: string[]): Promise<Map<string, string>> {
    if (names.length === 0) return new Map();
    const { rows } = await this.db.query<{ id: string; name: string }>('SELECT id, name FROM hosts WHERE name = ANY($1::text[])', [names]);
    return new Map(rows.map((r) => [r.name, r.id]));
  }

  async ofEndpoints(endpointIds: string[]): Promise<string[]> {
    if (endpointIds.length === 0) return [];
    const { rows } = await this.db.query<{ id: string }>('SELECT DISTINCT host_id AS id FROM endpoints WHERE id = ANY($1::uuid[])', [endpointIds]);
    return rows.map((r) => r.id);
  }

  /**
   * An agent's report: its applied generation (never backwards) and errors. A generation above
   * the desired one is one this control plane never gave it (a database restored from a backup, a
   * host registered again under its name): it is not taken as applied; the host's generation
   * moves past it instead, so that the next document is newer than what the agent holds. Returns
   * the desired generation it moved to, if it did.
   */
  async recordReport(hostId: string, appliedGeneration: number, errors: string[]): Promise<{ movedTo: number | undefined }> {
    const errorText = errors.length ? errors.join('; ') : null;
    const row = await this.db.one<{ movedTo: number | null }>(
      `WITH cur AS (SELECT desired_generation AS d FROM hosts WHERE id = $1 FOR NO KEY UPDATE)
       UPDATE hosts h SET
         applied_generation = CASE WHEN $2::bigint > cur.d THEN h.applied_generation ELSE GREATEST(h.applied_generation, $2::bigint) END,
         desired_generation = CASE WHEN $2::bigint > cur.d THEN LEAST($2::bigint + 1, $5::bigint) ELSE h.desired_generation END,
         last_report_time = now(), push_failures = 0, last_push_status = NULL,
         last_error = left(CASE WHEN $2::bigint > cur.d THEN $3 || coalesce('; ' || $4, '') ELSE $4 END, 1000)
       FROM cur WHERE h.id = $1
       RETURNING CASE WHEN $2::bigint > cur.d THEN h.desired_generation::float8 END AS "movedTo"`,
      [hostId, appliedGeneration, aheadMessage(appliedGeneration, Math.min(appliedGeneration + 1, MAX_GENERATION)), errorText, MAX_GENERATION],
    );
    return { movedTo: row?.movedTo ?? undefined };
  }

  /**
   * The agent answered a push of an older generation with the generation it holds (`held`): when
   * that is past the desired generation, the host's generation moves past it (the agent holds one
   * this control plane never gave it) and the new desired generation is returned; otherwise
   * (a newer push of ours got there first) undefined, and nothing changes.
   */
  async movePast(hostId: string, held: number): Promise<number | undefined> {
    const row = await this.db.one<{ desired: number }>(
      `UPDATE hosts SET desired_generation = LEAST($2::bigint + 1, $4::bigint), last_error = $3, last_push_time = now()
       WHERE id = $1 AND desired_generation < $2::bigint RETURNING desired_generation::float8 AS desired`,
      [hostId, held, aheadMessage(held, Math.min(held + 1, MAX_GENERATION)), MAX_GENERATION],
    );
    return row?.desired;
  }

  /**
   * Stores ports-in-use samples for endpoints placed on this host (others are ignored): a pair a
   * report no longer lists is back to 0; a sample is kept when usage rose or the last one is a
   * minute old (samples older than 15 minutes are read by nobody; the worker's metrics upkeep
   * deletes them, NatMetricsRepository.downsampleAndPrune). Returns the dynamic-allocation
   * gateways the reported endpoints belong to.
   */
  async recordUsage(hostId: string, usage: { endpoint: string; ruleNumber: number; portsInUse: number }[]): Promise<string[]> {
    const eps = usage.map((u) => u.endpoint);
    await this.db.query(
      `WITH reported AS (
         SELECT u.ep, u.rn, u.n FROM unnest($2::uuid[], $3::int[], $4::int[]) AS u(ep, rn, n) JOIN endpoints e ON e.id = u.ep AND e.host_id = $1
         UNION ALL
         SELECT DISTINCT s.endpoint_id, s.rule_number, 0 FROM endpoint_usage s JOIN endpoints e ON e.id = s.endpoint_id AND e.host_id = $1
         WHERE s.reported_at > now() - interval '15 minutes'
           AND NOT EXISTS (SELECT 1 FROM unnest($2::uuid[], $3::int[]) AS l(ep, rn) WHERE l.ep = s.endpoint_id AND l.rn = s.rule_number)
       ), latest AS (
         SELECT DISTINCT ON (endpoint_id, rule_number) endpoint_id, rule_number, ports_in_use, reported_at FROM endpoint_usage
         WHERE endpoint_id IN (SELECT ep FROM reported) ORDER BY endpoint_id, rule_number, reported_at DESC
       )
       INSERT INTO endpoint_usage (endpoint_id, rule_number, ports_in_use, reported_at)
       SELECT r.ep, r.rn, r.n, now() FROM reported r LEFT JOIN latest l ON l.endpoint_id = r.ep AND l.rule_number = r.rn
       WHERE l.endpoint_id IS NULL OR r.n > l.ports_in_use OR l.reported_at < now() - interval '1 minute'
       ON CONFLICT DO NOTHING`,
      [hostId, eps, usage.map((u) => u.ruleNumber), usage.map((u) => u.portsInUse)],
    );
    if (eps.length === 0) return [];
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT DISTINCT a.gateway_id AS id FROM allocations a JOIN nat_gateways g ON g.id = a.gateway_id
       WHERE a.endpoint_id = ANY($1::uuid[]) AND (g.spec->>'enableDynamicPortAllocation')::boolean`,
      [eps],
    );
    return rows.map((r) => r.id);
  }

  /** A failed push: `status` is what the agent answered, undefined when it answered nothing (it is then unreachable). */
  async recordPushFailure(hostId: string, error: string, status?: number): Promise<void> {
    await this.db.query('UPDATE hosts SET push_failures = push_failures + 1, last_error = $2, last_push_time = now(), last_push_status = $3 WHERE id = $1', [
      hostId,
      error.slice(0, 1000),
      status ?? null,
    ]);
  }

  /** Marks the host's programming as changed: a new document generation must be pushed. */
  async bumpDesired(hostIds: string[]): Promise<{ id: string; desiredGeneration: number }[]> {
    if (hostIds.length === 0) return [];
    const { rows } = await this.db.query<{ id: string; desiredGeneration: number }>(
      `UPDATE hosts SET desired_generation = desired_generation + 1 WHERE id = ANY($1::uuid[])
       RETURNING id, desired_generation::float8 AS "desiredGeneration"`,
      [hostIds],
    );
    return rows;
  }
}
