/**
 * The attribution history (who held which NAT IP port range when, RFC 7422) in two tables:
 *
 * - `allocation_history_open`: the rows of blocks held now (one per block, holder, host and source
 *   address), small and rewritten all the time, so the reconciler's writes never touch the
 *   partitioned table's many partitions;
 * - `allocation_history_closed`: closed rows, partitioned by day (UTC) on `piece_from`. A row that
 *   spans days is stored once per day it spans (its pieces), each piece carrying the whole row's
 *   `valid_from` and `valid_to`: a lookup at an instant reads one partition, and a day's partition
 *   can be dropped when it ages out without touching the others.
 *
 * The view `allocation_history` shows whole rows (open, and closed ones by their first kept
 * piece) for people and tests. These are the only statements that write history.
 */
import type { NewHistoryRow } from '@natplane/planner';

/** A statement's parameter: appends v to the statement's values and returns its placeholder. */
export type Param = (v: unknown) => string;

/** A statement's parameters, built with its text: `$(v)` appends v and returns its placeholder. */
export function parameters(): { values: unknown[]; $: Param } {
  const values: unknown[] = [];
  return { values, $: (v) => `$${values.push(v)}` };
}

export const OPEN_HISTORY = 'allocation_history_open';
export const CLOSED_HISTORY = 'allocation_history_closed';
export const HISTORY_RETENTION = 'allocation_history_retention';

/** How the reconciler reads an open row. */
export const HISTORY_COLUMNS = `id::text, endpoint_id AS "endpointId", rule_number AS "ruleNumber", host(nat_ip) AS "natIp", port_lo AS "portLo", port_hi AS "portHi",
  host_name AS "hostName", host(source_ip) AS "sourceIp", state`;

const ROW = 'nat_ip, port_lo, port_hi, project_id, project_name, gateway_id, gateway_name, endpoint_id, endpoint_name, host_name, source_ip, rule_number, state';

/** INSERT of open history rows valid from `at` (a placeholder), returning them as openHistory reads them. */
export function insertOpenHistory($: Param, rows: NewHistoryRow[], at: string, guard = 'true'): string {
  const col = <K extends keyof NewHistoryRow>(k: K) => $(rows.map((r) => r[k]));
  return `INSERT INTO ${OPEN_HISTORY} (${ROW}, valid_from)
    SELECT a::inet, b, c, d, e, f, g, h, i, j, k::inet, l, m, ${at}
    FROM unnest(${col('natIp')}::text[], ${col('portLo')}::int[], ${col('portHi')}::int[], ${col('projectId')}::uuid[], ${col('projectName')}::text[],
                ${col('gatewayId')}::uuid[], ${col('gatewayName')}::text[], ${col('endpointId')}::uuid[], ${col('endpointName')}::text[],
                ${col('hostName')}::text[], ${col('sourceIp')}::text[], ${col('ruleNumber')}::int[], ${col('state')}::text[])
      AS x(a, b, c, d, e, f, g, h, i, j, k, l, m)
    WHERE ${guard}
    RETURNING ${HISTORY_COLUMNS}`;
}

/**
 * Two items of a WITH list, named `${name}_rows` and `${name}`: the open rows `ids` are closed at
 * `at` (a placeholder), i.e. moved to the closed table as one piece per day they span (days
 * before the retention's start are gone already and skipped).
 */
export function closeHistoryCte($: Param, name: string, ids: string[], at: string, guard = 'true'): string {
  return `${name}_rows AS (DELETE FROM ${OPEN_HISTORY} WHERE id = ANY(${$(ids)}::bigint[]) AND ${guard} RETURNING *),
       ${name} AS (INSERT INTO ${CLOSED_HISTORY} (id, ${ROW}, valid_from, valid_to, piece_from, piece_to)
         SELECT r.id, ${ROW.split(', ')
           .map((c) => `r.${c}`)
           .join(', ')}, r.valid_from, ${at}, greatest(r.valid_from, d), least(${at}::timestamptz, d + interval '24 hours')
         FROM ${name}_rows r, LATERAL generate_series(date_trunc('day', r.valid_from, 'UTC'), ${at}::timestamptz, interval '24 hours') d
         WHERE greatest(r.valid_from, d) < least(${at}::timestamptz, d + interval '24 hours')
           AND d >= (SELECT kept_from FROM ${HISTORY_RETENTION}))`;
}

/** The partition of closed history that holds the instant `at` (its UTC day). */
export function closedPartition(at: Date): string {
  return `${CLOSED_HISTORY}_p${at.toISOString().slice(0, 10).replace(/-/g, '')}`;
}

export const SELECT_OPEN_HISTORY = `SELECT ${HISTORY_COLUMNS} FROM ${OPEN_HISTORY} WHERE gateway_id = $1`;
